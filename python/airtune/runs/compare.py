"""The differences between two runs: which steps each ran, the options and inputs that differ, and
the figures that moved (curation counts, split sizes, final loss, every score and verdict, the cost
case, the drift recommendation)."""

from __future__ import annotations

from typing import Any

from ..pipeline.report import _e, _table


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def _figures(name: str, d: Any) -> dict[str, Any]:
    """The comparable figures of one step's main output."""
    if d is None:
        return {}
    if name == "curate":
        out = {f"accounting.{k}": v for k, v in d["accounting"].items()}
        out.update({f"kept after {f['stage']}": f["kept"] for f in d["funnel"]})
        return out
    if name == "split":
        return {"train": d["train"], "test": d["test"], "leaking rows": d["leakage"]["rows"]}
    if name == "train":
        return {
            "final loss": d.get("final_loss"),
            "steps": d.get("steps"),
            "tokens/s": d.get("tokens_per_second"),
        }
    if name == "evaluate":
        out = {f"{r['model']} {r['metric']}": r["score"] for r in d["table"]}
        for cand, c in (d.get("decision") or {}).get("candidates", {}).items():
            out[f"verdict {cand}"] = c.get("verdict")
        return out
    if name == "cost":
        r = d["replacement"]
        return {
            "monthly savings (USD)": r["monthly_savings_usd"],
            "one-time (USD)": r["one_time_usd"]["total"],
            "payback (months)": r["payback_months"],
        }
    if name == "monitor":
        return {
            "recommendation": d["recommendation"],
            "far share": d["coverage"]["far_share"],
            "MMD p-value": d["embedding"]["p_value"],
            "cluster PSI": d["clusters"]["psi"],
        }
    return {}


def compare(this: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Differences of two :func:`airtune.runs.report.collect` results (``this`` against ``other``)."""
    a, b = this["manifest"]["steps"], other["manifest"]["steps"]
    steps = []
    figures = []
    for name in list(a) + [n for n in b if n not in a]:
        sa, sb = a.get(name), b.get(name)
        entry: dict[str, Any] = {"step": name, "in_this": sa is not None, "in_other": sb is not None}
        if sa is not None and sb is not None:
            fa, fb = _flatten(sa.get("options", {})), _flatten(sb.get("options", {}))
            entry["options"] = [
                {"key": k, "this": fa.get(k), "other": fb.get(k)}
                for k in sorted(set(fa) | set(fb))
                if fa.get(k) != fb.get(k)
            ]
            ia, ib = sa.get("inputs", {}), sb.get("inputs", {})
            entry["inputs"] = [
                {"name": k, "this": (ia.get(k) or {}).get("sha256"), "other": (ib.get(k) or {}).get("sha256")}
                for k in sorted(set(ia) | set(ib))
                if (ia.get(k) or {}).get("sha256") != (ib.get(k) or {}).get("sha256")
            ]
            entry["exit_code"] = [sa["exit_code"], sb["exit_code"]]
            entry["same"] = sa["key"] == sb["key"]
        steps.append(entry)
        ga = _figures(name, this["steps"].get(name))
        gb = _figures(name, other["steps"].get(name))
        for k in list(ga) + [k for k in gb if k not in ga]:
            x, y = ga.get(k), gb.get(k)
            if x == y:
                continue
            delta = (
                x - y
                if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool)
                else None
            )
            figures.append({"step": name, "figure": k, "this": x, "other": y, "delta": delta})
    return {"this": this["path"], "other": other["path"], "steps": steps, "figures": figures}


def _v(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def text_compare(c: dict[str, Any]) -> str:
    lines = [f"{c['this']} against {c['other']}:"]
    for s in c["steps"]:
        if not s["in_other"]:
            lines.append(f"  {s['step']}: only in this run")
            continue
        if not s["in_this"]:
            lines.append(f"  {s['step']}: only in {c['other']}")
            continue
        if s["same"]:
            lines.append(f"  {s['step']}: same inputs and options")
            continue
        what = [f"{o['key']} {_v(o['other'])} -> {_v(o['this'])}" for o in s["options"]]
        what += [f"input {i['name']} changed" for i in s["inputs"]]
        lines.append(f"  {s['step']}: " + ("; ".join(what) or "another airtune version"))
    if c["figures"]:
        lines.append("figures (other -> this):")
        for f in c["figures"]:
            d = "" if f["delta"] is None else f" ({f['delta']:+.4g})"
            lines.append(f"  {f['step']:<9} {f['figure']:<34} {_v(f['other'])} -> {_v(f['this'])}{d}")
    else:
        lines.append("no figure differs")
    return "\n".join(lines)


def render_compare(c: dict[str, Any]) -> str:
    rows = []
    for s in c["steps"]:
        if not (s["in_this"] and s["in_other"]):
            rows.append([s["step"], "only in this run" if s["in_this"] else "only in the other run"])
        elif s["same"]:
            rows.append([s["step"], "same inputs and options"])
        else:
            what = [f"{o['key']}: {_v(o['other'])} → {_v(o['this'])}" for o in s["options"]]
            what += [f"input {i['name']} changed" for i in s["inputs"]]
            rows.append([s["step"], "; ".join(what) or "another airtune version"])
    figs = [
        [
            f["step"],
            f["figure"],
            _v(f["other"]),
            _v(f["this"]),
            "" if f["delta"] is None else f"{f['delta']:+.4g}",
        ]
        for f in c["figures"]
    ]
    return (
        f"<p>This run against <code>{_e(c['other'])}</code>.</p>"
        + _table(rows, ["step", "what differs"])
        + "<h3>Figures that moved</h3>"
        + (
            _table(figs, ["step", "figure", "other run", "this run", "difference"], {2, 3, 4})
            if figs
            else "<p class='muted'>none</p>"
        )
    )
