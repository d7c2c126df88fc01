"""The curation report: one JSON document and one self-contained HTML page (inline CSS and SVG,
no external resource): the funnel, counts per reason, examples of dropped rows per reason,
duplicate clusters side by side, outliers, system-prompt concentration before and after
diversification, label balance of each split, and plots."""

from __future__ import annotations

import html
import json
from typing import Any

from .. import __version__

#: Section ids of the HTML page, in order (a test checks that each is rendered).
SECTIONS = ("summary", "funnel", "reasons", "examples", "clusters", "outliers", "system-prompts", "labels")


def build_report(
    *,
    stats: list[dict[str, Any]],
    accounting: dict[str, int],
    quarantine: dict[str, Any],
    labels: dict[str, dict[str, int]],
    prompts: dict[str, Any],
    input_id: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    funnel = [
        {k: s[k] for k in ("stage", "rows_in", "kept", "dropped", "quarantined", "cached", "seconds")}
        for s in stats
    ]
    return {
        "airtune": __version__,
        "input": input_id,
        "seconds": round(seconds, 3),
        "accounting": accounting,
        "balanced": accounting["rows_in"]
        == accounting["kept"] + accounting["dropped"] + accounting["quarantined"],
        "funnel": funnel,
        "reasons": {s["stage"]: s["reasons"] for s in stats if s["reasons"]},
        "stages": stats,
        "quarantine": quarantine,
        "labels": labels,
        "system_prompts": prompts,
    }


# ----------------------------------------------------------------------------------------------
# HTML

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c4cad6}main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:16px;margin:0 0 10px}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{background:#f2f4f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17803d;font-weight:600}.bad{color:#b42318;font-weight:600}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{flex:1 1 150px;background:#f2f4f7;border-radius:6px;padding:10px}
.card b{display:block;font-size:20px}.side{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:8px}
pre{white-space:pre-wrap;word-break:break-word;background:#f7f8fa;border:1px solid #eceff3;border-radius:4px;padding:6px;margin:0;font-size:12px;max-height:220px;overflow:auto}
.muted{color:#667085}details{margin:6px 0}summary{cursor:pointer;font-weight:600}
svg text{font:12px system-ui,sans-serif}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _table(rows: list[list[Any]], head: list[str], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        cells = "".join(
            f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>" for i, c in enumerate(r)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def _bars(
    items: list[tuple[str, float]], *, width: int = 640, color: str = "#3e63dd", title: str = ""
) -> str:
    """A horizontal bar chart as inline SVG."""
    if not items:
        return '<p class="muted">nothing to plot</p>'
    top = max(v for _, v in items) or 1
    row, label_w = 22, 190
    h = row * len(items) + 10
    parts = [
        f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{h}" viewBox="0 0 {width} {h}">'
    ]
    for i, (label, v) in enumerate(items):
        y = 5 + i * row
        w = (width - label_w - 70) * (v / top)
        parts.append(f'<text x="0" y="{y + 14}">{_e(label[:28])}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{color}" rx="2"/>'
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 14}">{v:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _funnel(report: dict[str, Any]) -> str:
    rows = [
        [
            f["stage"],
            f["rows_in"],
            f["kept"],
            f["dropped"],
            f["quarantined"],
            "yes" if f["cached"] else "",
            f"{f['seconds']:.3f}",
        ]
        for f in report["funnel"]
    ]
    chart = _bars([(f["stage"], f["kept"]) for f in report["funnel"]], title="rows kept after each stage")
    return (
        _table(
            rows, ["stage", "rows in", "kept", "dropped", "quarantined", "cached", "seconds"], {1, 2, 3, 4, 6}
        )
        + "<h3>Rows kept after each stage</h3>"
        + chart
    )


def _reasons(report: dict[str, Any]) -> str:
    rows = [[stage, r, c] for stage, rs in report["reasons"].items() for r, c in rs.items()]
    if not rows:
        return '<p class="muted">no row was dropped</p>'
    warns = [
        s for s in report["stages"] if isinstance(s.get("details"), dict) and s["details"].get("warning")
    ]
    notes = "".join(f'<pre class="bad">{_e(s["details"]["warning"])}</pre>' for s in warns)
    chart = _bars(
        [(f"{s}: {r}", c) for s, r, c in rows[:25]], color="#e5484d", title="dropped rows per reason"
    )
    return notes + _table(rows, ["stage", "reason", "rows"], {2}) + "<h3>Dropped rows per reason</h3>" + chart


def _examples(report: dict[str, Any]) -> str:
    out = []
    for s in report["stages"]:
        for reason, ex in s["examples"].items():
            items = "".join(
                f'<div><div class="muted">{_e(e["id"])} (line {_e(e["line"])}) {_e(e.get("reason", ""))}</div><pre>{_e(e["text"])}</pre></div>'
                for e in ex
            )
            out.append(
                f'<details><summary>{_e(s["stage"])}: {_e(reason)} ({s["reasons"].get(reason, len(ex))} rows)</summary><div class="side">{items}</div></details>'
            )
    return "".join(out) or '<p class="muted">no row was dropped</p>'


def _clusters(report: dict[str, Any]) -> str:
    out = []
    for s in report["stages"]:
        clusters = s["details"].get("clusters") if isinstance(s.get("details"), dict) else None
        if not clusters:
            continue
        out.append(f"<h3>{_e(s['stage'])}</h3>")
        table = s["details"].get("threshold_table")
        if table:
            out.append(_table([[t, v] for t, v in table.items()], ["threshold", "rows removed"], {1}))
        for c in clusters:
            cells = "".join(
                f'<div><div class="muted">{_e(m["id"])}</div><pre>{_e(m["text"])}</pre></div>' for m in c
            )
            out.append(f'<div class="side">{cells}</div><hr>')
        conflicts = s["details"].get("n_conflicts")
        if conflicts:
            out.append(f"<p>{conflicts} duplicate groups carry conflicting labels.</p>")
            if s["details"].get("conflicts"):
                out.append(
                    _table(
                        [
                            [", ".join(c["ids"][:5]), json.dumps(c["labels"]), c["resolution"]]
                            for c in s["details"]["conflicts"]
                        ],
                        ["rows", "labels", "resolution"],
                    )
                )
    return "".join(out) or '<p class="muted">no duplicate clusters</p>'


def _outliers(report: dict[str, Any]) -> str:
    s = next((s for s in report["stages"] if s["stage"] == "outliers"), None)
    if s is None or not s["details"]:
        return '<p class="muted">no outlier stage in this run</p>'
    d = s["details"]
    rows = [[t["id"], t["score"], "yes" if t["flagged"] else "", t["text"][:160]] for t in d.get("top", [])]
    return (
        f"<p>{d.get('flagged', 0)} rows flagged ({_e(d.get('method'))}, fence {d.get('fence')}).</p>"
        + _table(rows, ["id", "score", "flagged", "text"], {1})
    )


def _prompt_block(p: dict[str, Any] | None, title: str) -> str:
    if not p:
        return f"<h3>{_e(title)}</h3><p class='muted'>not measured</p>"
    rows = [[g["rows"], g["prompt"]] for g in p.get("top", [])]
    return (
        f"<h3>{_e(title)}</h3><p>{p.get('with_system', 0)} of {p.get('rows', 0)} rows have a system prompt; "
        f"{p.get('distinct', 0)} distinct; top prompt share {100 * p.get('top_share', 0):.1f}%; "
        f"effective prompts {p.get('effective_prompts', 0)}; risk <b>{_e(p.get('risk', ''))}</b></p>"
        + _table(rows, ["rows", "prompt"], {0})
    )


def _labels(report: dict[str, Any]) -> str:
    out = []
    for side in ("train", "test"):
        counts = report["labels"].get(side) or {}
        if not counts:
            continue
        total = sum(counts.values())
        out.append(f"<h3>{side} ({total} rows)</h3>")
        out.append(
            _bars([(k, v) for k, v in list(counts.items())[:20]], color="#30a46c", title=f"labels of {side}")
        )
    return "".join(out) or '<p class="muted">no labels</p>'


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    a = report["accounting"]
    ok = report["balanced"]
    summary = (
        '<div class="cards">'
        f"<div class='card'><b>{a['rows_in']}</b>rows in</div>"
        f"<div class='card'><b>{a['kept']}</b>kept</div>"
        f"<div class='card'><b>{a['dropped']}</b>dropped</div>"
        f"<div class='card'><b>{a['quarantined']}</b>quarantined</div>"
        "</div>"
        f"<p>Accounting: <span class='{'ok' if ok else 'bad'}'>{'balanced' if ok else 'NOT balanced'}</span> "
        f"(rows in = kept + dropped + quarantined). Run time {report['seconds']} s.</p>"
    )
    prompts = report.get("system_prompts") or {}
    sections = {
        "summary": ("Summary", summary),
        "funnel": ("Funnel", _funnel(report)),
        "reasons": ("Dropped rows by reason", _reasons(report)),
        "examples": ("Examples of dropped rows", _examples(report)),
        "clusters": ("Duplicate clusters", _clusters(report)),
        "outliers": ("Outliers", _outliers(report)),
        "system-prompts": (
            "System prompts",
            _prompt_block(prompts.get("before"), "before diversification")
            + _prompt_block(prompts.get("after"), "after (training side)"),
        ),
        "labels": ("Label balance", _labels(report)),
    }
    body = "".join(
        f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>'
        for sid, (title, content) in sections.items()
    )
    source = report["input"].get("path") or f"{report['input'].get('records', '?')} in-memory records"
    script = (
        "<script>(function(){var want=" + json.dumps(list(SECTIONS)) + ";"
        "var missing=want.filter(function(id){return !document.getElementById(id);});"
        "document.body.setAttribute('data-rendered',missing.length?'missing:'+missing.join(','):'ok');})();</script>"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>airtune curation report</title><style>{_CSS}</style></head><body>"
        f"<header><h1>airtune curation report</h1><p>{_e(source)} · airtune {_e(report['airtune'])}</p></header>"
        f"<main>{body}</main>{script}</body></html>"
    )
