"""The report of a run: one self-contained HTML page (inline CSS and SVG, one inline script that
checks the sections) rebuilt from the run's manifest and the outputs of its steps: the summary
(steps, timings, versions, whether each step's files still match the manifest), the curation
funnel, the split, the training curves, the evaluation with the verdict, the cost case and, when
the run has a monitor step, the drift. ``compare=`` adds the differences with another run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..pipeline.report import _CSS, _bars, _e, _table
from .charts import interval_chart, line_chart
from .folder import RunFolder

#: Section ids of the page, in order (the test checks that each is rendered).
SECTIONS = ("summary", "curation", "split", "training", "evaluation", "cost", "drift")

_OUTPUTS = {
    "ingest": "summary.json",
    "curate": "report.json",
    "split": "split.json",
    "train": "train.json",
    "evaluate": "report.json",
    "cost": "cost.json",
    "monitor": "drift.json",
}

_EXTRA_CSS = """
.verdict{font-size:16px;padding:10px 14px;border-radius:6px;margin:8px 0}
.v-ok{background:#e9f7ef;color:#17803d}.v-bad{background:#fdecec;color:#b42318}.v-warn{background:#fff6e5;color:#9a6700}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}
ul.assumptions{margin:6px 0;padding-left:18px;font-size:13px}
"""


def _load_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except (OSError, ValueError) as exc:
        return None, f"{path.name} is unreadable ({exc})"


def collect(run: RunFolder) -> dict[str, Any]:
    """Everything the page shows, read from the run folder: the manifest, each step's main output
    (None when absent) and whether each step's files still match their recorded SHA-256."""
    cache = run._hash_cache()
    data: dict[str, Any] = {"path": str(run.path), "manifest": run.manifest, "steps": {}, "integrity": {}}
    for name, st in run.steps.items():
        changed = []
        for rel, out in st["outputs"].items():
            p = run.path / rel
            if not p.is_file() or p.stat().st_size != out.get("bytes") or cache.file(p) != out["sha256"]:
                changed.append(rel)
        data["integrity"][name] = changed
        main = _OUTPUTS.get(name)
        if main is not None:
            obj, err = _load_json(run.path / name / main)
            data["steps"][name] = obj
            if err:
                data["integrity"][name] = [*changed, err]
    cache.save()
    return data


# ----------------------------------------------------------------------------------------------
# sections


def _absent(step: str, how: str) -> str:
    return f'<p class="muted">No {step} step in this run ({_e(how)}).</p>'


def _summary(d: dict[str, Any]) -> str:
    m = d["manifest"]
    v = m.get("versions", {})
    rows = []
    for name, st in m["steps"].items():
        changed = d["integrity"].get(name) or []
        state = "intact" if not changed else "CHANGED: " + ", ".join(changed[:3])
        rows.append([name, st["exit_code"], f"{st.get('seconds', 0):.1f}", st.get("started", ""), state])
    hist = [
        [h.get("step"), h.get("started"), h.get("exit_code"), "reused" if h.get("reused") else "ran"]
        for h in m.get("history", [])[-12:]
    ]
    versions = ", ".join(
        f"{k} {v[k]}" for k in ("airtune", "python", "torch", "numpy", "platform") if v.get(k)
    )
    return (
        f"<p>Run folder <code>{_e(d['path'])}</code>, created {_e(m.get('created'))}, updated {_e(m.get('updated'))}; "
        f"{_e(versions)}.</p>"
        + _table(rows, ["step", "exit code", "seconds", "started", "outputs vs manifest"], {1, 2})
        + "<h3>History (last runs of a verb here)</h3>"
        + _table(hist, ["step", "started", "exit code", ""], {2})
    )


def _curation(d: dict[str, Any]) -> str:
    rep = d["steps"].get("curate")
    if rep is None:
        return _absent("curate", "airtune curate CONFIG --run RUN")
    a = rep["accounting"]
    cards = (
        '<div class="cards">'
        + "".join(
            f"<div class='card'><b>{a[k]:,}</b>{label}</div>"
            for k, label in (
                ("rows_in", "rows in"),
                ("kept", "kept"),
                ("dropped", "dropped"),
                ("quarantined", "quarantined"),
            )
        )
        + "</div>"
    )
    funnel = _bars([(f["stage"], f["kept"]) for f in rep["funnel"]], title="rows kept after each stage")
    reasons = [[s, r, c] for s, rs in rep.get("reasons", {}).items() for r, c in rs.items()]
    reasons.sort(key=lambda r: -r[2])
    ok = rep.get("balanced")
    return (
        cards
        + f"<p>Accounting: <span class='{'ok' if ok else 'bad'}'>{'balanced' if ok else 'NOT balanced'}</span> "
        "(rows in = kept + dropped + quarantined). The full curation report: "
        "<a href='curate/report.html'>curate/report.html</a>.</p>"
        + "<h3>Funnel</h3>"
        + funnel
        + "<h3>Dropped rows by reason</h3>"
        + (_table(reasons[:15], ["stage", "reason", "rows"], {2}) if reasons else "<p class='muted'>none</p>")
    )


def _split(d: dict[str, Any]) -> str:
    s = d["steps"].get("split")
    if s is None:
        return _absent("split", "airtune split --run RUN")
    lk = s["leakage"]
    return _table(
        [
            ["rows", s["rows"]],
            ["train", s["train"]],
            ["test", s["test"]],
            ["stratified on", s["stratify"] or "not stratified"],
            ["strata (singletons kept in train)", f"{s['strata']} ({s['singleton_strata']})"],
            ["duplicate groups kept on one side", s["duplicate_groups"]],
            [
                "leaking train rows (exact / near)",
                f"{lk['rows']} ({lk['counts'].get('exact', 0)} / {lk['counts'].get('near', 0)}): {lk['action']}",
            ],
        ],
        ["", ""],
    )


def _training(d: dict[str, Any]) -> str:
    t = d["steps"].get("train")
    if t is None:
        return _absent("train", "airtune train --run RUN --base MODEL")
    hist = t.get("history") or []
    series = [("train loss", [h["step"] for h in hist], [h["loss"] for h in hist])]
    ev = t.get("eval_history") or []
    if ev:
        series.append(("eval loss", [s for s, _ in ev], [v for _, v in ev]))
    chart = line_chart(
        series, title="loss per optimizer step", xlabel="step", ylabel="loss", markers=bool(ev)
    )
    cfg = t.get("config") or {}
    tr = t.get("train_report") or {}
    rows = [
        ["steps", f"{t['steps']} of {t['total_steps']} ({t['stop_reason']})"],
        ["final loss", "" if t.get("final_loss") is None else f"{t['final_loss']:.4f}"],
        [
            "rows used",
            f"{tr.get('kept', '?')} of {tr.get('total', '?')} ({tr.get('truncated', 0)} truncated; dropped {tr.get('dropped') or 'none'})",
        ],
        ["throughput", f"{t['tokens_per_second']:.0f} tokens/s ({t['train_seconds']:.1f} s)"],
        ["trainable parameters", f"{t['num_trainable']:,}"],
        [
            "LoRA",
            f"r {cfg.get('r')}, alpha {cfg.get('lora_alpha')}, targets {cfg.get('target_modules')}, mode {cfg.get('mode')}",
        ],
        [
            "optimisation",
            f"lr {cfg.get('learning_rate')} ({cfg.get('lr_scheduler')}), epochs {cfg.get('epochs')}, batch {cfg.get('batch_size')}",
        ],
    ]
    return chart + _table(rows, ["", ""])


def _verdict_box(decision: dict[str, Any], baseline: str) -> str:
    out = []
    for name, c in (decision.get("candidates") or {}).items():
        v = c.get("verdict")
        cls = {"replaceable": "v-ok", "not replaceable": "v-bad"}.get(v, "v-warn")
        readings = "; ".join(f"{m}: {r['reading']}" for m, r in c.get("metrics", {}).items())
        out.append(
            f"<div class='verdict {cls}'><b>{_e(name)}</b> against <b>{_e(baseline)}</b>: <b>{_e(v)}</b><br><small>{_e(readings)}</small></div>"
        )
    if not out:
        return "<p class='muted'>No verdict: no margin was given (airtune evaluate --margin).</p>"
    return "".join(out)


def _evaluation(d: dict[str, Any]) -> str:
    e = d["steps"].get("evaluate")
    if e is None:
        return _absent("evaluate", "airtune evaluate --run RUN --model NAME=SPEC")
    parts = [
        f"<p>{e['items']} items, baseline <b>{_e(e['baseline'])}</b>"
        + (
            f", {e['dropped_unreferenced']} rows without a reference left out"
            if e.get("dropped_unreferenced")
            else ""
        )
        + ". The full evaluation report: <a href='evaluate/report.html'>evaluate/report.html</a>.</p>",
        _verdict_box(e.get("decision") or {}, e["baseline"]),
    ]
    charts = []
    for metric in e["metrics"]:
        rows = [
            (r["model"], r["score"], r["ci_low"], r["ci_high"]) for r in e["table"] if r["metric"] == metric
        ]
        charts.append(interval_chart(rows, title=f"{metric} (95% interval)", highlight=e["baseline"]))
    parts.append(f"<div class='grid2'>{''.join(charts)}</div>")
    parts.append(
        _table(
            [
                [
                    r["metric"],
                    r["model"],
                    f"{r['score']:.4f}",
                    f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]",
                    r["n"],
                    r.get("invalid", 0),
                ]
                for r in e["table"]
            ],
            ["metric", "model", "score", "95% CI", "n", "invalid"],
            {2, 4, 5},
        )
    )
    if e.get("verdicts"):
        parts.append("<h3>Verdicts</h3>")
        parts.append(
            _table(
                [
                    [
                        v["model"],
                        v["metric"],
                        v["margin"],
                        f"{v['difference']:+.4f}",
                        f"[{v['lower_bound']:+.4f}, {v['upper_bound']:+.4f}]",
                        v["outcome"],
                        v["n_items"],
                    ]
                    for v in e["verdicts"]
                ],
                ["model", "metric", "margin", "difference", "interval", "outcome", "items"],
                {2, 3, 6},
            )
        )
    return "".join(parts)


def _money(v: Any) -> str:
    return "never" if v is None else f"${v:,.0f}"


def payback_text(months: float | None) -> str:
    """A payback period as a reader says it: in days under a month (30.4 days)."""
    if months is None:
        return "never"
    return f"{months * 30.4:.1f} days" if months < 1 else f"{months:.1f} months"


def _cost(d: dict[str, Any]) -> str:
    c = d["steps"].get("cost")
    if c is None:
        return _absent("cost", "airtune cost --run RUN")
    r = c["replacement"]
    pay = r["payback_months"]
    be = r["break_even_tokens_per_month"]
    cards = (
        '<div class="cards">'
        f"<div class='card'><b>{_money(r['api_monthly_usd'])}</b>{_e(r['api_option'])} a month</div>"
        f"<div class='card'><b>{_money(r['self_monthly_usd'])}</b>{_e(r['self_option'])} a month ({r['machines']} machine(s))</div>"
        f"<div class='card'><b>{_money(r['monthly_savings_usd'])}</b>saved a month</div>"
        f"<div class='card'><b>{_money(r['one_time_usd']['total'])}</b>one-time</div>"
        f"<div class='card'><b>{_e(payback_text(pay))}</b>payback</div>"
        f"<div class='card'><b>{'never' if be is None else f'{be / 1e6:,.1f}M'}</b>break-even tokens a month</div>"
        "</div>"
    )
    cum = c["cumulative"]
    chart = line_chart(
        [
            (f"{r['api_option']} (API)", cum["month"], cum["api_usd"]),
            (f"{r['self_option']} incl. one-time", cum["month"], cum["self_hosted_usd"]),
        ],
        title="cumulative cost",
        xlabel="months",
        ylabel="USD",
        vlines=[(pay, "payback")] if pay is not None else [],
    )
    table = _table(
        [
            [
                x["option"],
                x["kind"],
                f"{x['monthly_usd']:,.0f}",
                x["gpus"] or "",
                f"{x['load']:.0%}" if x["kind"] != "api" else "",
                x["assumption"],
            ]
            for x in c["table"]
        ],
        ["option", "kind", "USD a month", "machines", "load", "assumption"],
        {2, 3, 4},
    )
    t = c["traffic"]
    assumptions = "".join(f"<li>{_e(a)}</li>" for a in r["assumptions"])
    return (
        f"<p>{t['input_tokens'] / 1e6:,.0f}M input + {t['output_tokens'] / 1e6:,.0f}M output tokens a month; prices of {_e(c['prices_date'])}.</p>"
        + cards
        + chart
        + "<h3>Assumptions</h3>"
        + f"<ul class='assumptions'>{assumptions}</ul>"
        + "<h3>Every option</h3>"
        + table
    )


def _drift(d: dict[str, Any]) -> str:
    r = d["steps"].get("monitor")
    if r is None:
        return _absent("monitor", "airtune monitor TRAIN PRODUCTION --run RUN")
    rec = r["recommendation"]
    cls = {"retrain": "v-bad", "watch": "v-warn"}.get(rec, "v-ok")
    flags = r.get("flags", {})

    def yes(k: str) -> str:
        return "DRIFT" if flags.get(k) else "ok"

    cov, emb, cl, ln = r["coverage"], r["embedding"], r["clusters"], r["length"]
    rows = [
        ["embedding MMD²", f"{emb['mmd2']:.4g}", f"p = {emb['p_value']:.3g}", yes("embedding")],
        [
            "far from training",
            f"{cov['far_share']:.1%}",
            f"calibrated rate {cov['far_alpha']:.0%}, p = {cov['p_value']:.3g}",
            yes("coverage"),
        ],
        [
            "cluster shares (PSI)",
            f"{cl['psi']:.3f}",
            f"{len(cl.get('under_covered', []))} under-covered",
            yes("clusters"),
        ],
    ]
    if r["labels"].get("psi") is not None:
        rows.append(["label mix (PSI)", f"{r['labels']['psi']:.3f}", "", yes("labels")])
    sp = r.get("system_prompt", {})
    if sp.get("unseen_share") is not None:
        rows.append(
            [
                "unseen system prompts",
                f"{sp['unseen_share']:.1%}",
                f"PSI {sp['psi']:.3f}",
                yes("system_prompt"),
            ]
        )
    rows.append(["length (KS)", f"{ln['ks']:.3f}", f"p = {ln['p_value']:.3g}", yes("length")])
    out = [
        f"<div class='verdict {cls}'>Recommendation: <b>{_e(rec)}</b>"
        + (f"<br><small>{_e('; '.join(r.get('reasons', [])))}</small>" if r.get("reasons") else "")
        + "</div>",
        f"<p>{r['n_production']} production rows against {r['n_train']} training rows; "
        f"{len(r.get('drifted_rows', []))} drifted rows exported (monitor/candidates.jsonl for the next curation, "
        "monitor/regression_cases.jsonl for the regression checks)."
        + (f" Drift began in the window of <b>{_e(r['drift_began'])}</b>." if r.get("drift_began") else "")
        + "</p>",
        _table(rows, ["test", "value", "", ""]),
    ]
    wins = r.get("windows") or []
    if wins:
        xs = list(range(len(wins)))
        out.append(
            line_chart(
                [("far share", xs, [w["far_share"] for w in wins])],
                title="share of production rows far from training, per window ("
                + _e(wins[0]["start"][:10])
                + " on)",
                xlabel="window",
                hlines=[(cov["far_alpha"], "calibrated rate")],
                vlines=[(float(i), "drift") for i, w in enumerate(wins) if w["drifted"]][:1],
                markers=True,
            )
        )
    top = sorted(cl.get("table", []), key=lambda x: -abs(x.get("psi_term", 0)))[:8]
    if top:
        out.append("<h3>Clusters that moved most</h3>")
        out.append(
            _table(
                [
                    [
                        x["cluster"],
                        f"{x['train_share']:.1%}",
                        f"{x['production_share']:.1%}",
                        " | ".join(map(str, x.get("examples", [])[:2]))[:160],
                    ]
                    for x in top
                ],
                ["cluster", "train", "production", "examples"],
                {1, 2},
            )
        )
    return "".join(out)


def render(data: dict[str, Any], compare: dict[str, Any] | None = None) -> str:
    """The page for ``collect(run)``; ``compare``: :func:`airtune.runs.compare.compare` of two runs."""
    from .compare import render_compare

    sections = {
        "summary": ("Run", _summary(data)),
        "curation": ("Curation funnel", _curation(data)),
        "split": ("Holdout split", _split(data)),
        "training": ("Training", _training(data)),
        "evaluation": ("Evaluation and verdict", _evaluation(data)),
        "cost": ("Cost", _cost(data)),
        "drift": ("Drift", _drift(data)),
    }
    if compare is not None:
        sections["compare"] = (f"Compared with {compare['other']}", render_compare(compare))
    body = "".join(
        f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>'
        for sid, (title, content) in sections.items()
    )
    want = list(sections)
    script = (
        "<script>(function(){var want=" + json.dumps(want) + ";"
        "var missing=want.filter(function(id){return !document.getElementById(id);});"
        "document.body.setAttribute('data-rendered',missing.length?'missing:'+missing.join(','):'ok');})();</script>"
    )
    v = data["manifest"].get("versions", {})
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>airtune run report</title><style>{_CSS}{_EXTRA_CSS}</style></head><body>"
        f"<header><h1>airtune run report</h1><p>{_e(data['path'])} · airtune {_e(v.get('airtune'))}</p></header>"
        f"<main>{body}</main>{script}</body></html>"
    )
