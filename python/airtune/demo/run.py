"""The demo end to end: ``run_demo(out_dir)`` replays the e-commerce case on generated traffic.

generate the logs (malformed lines included) -> curate them with :class:`airtune.Pipeline` (read,
HTML to text, chat quality, exact and near dedup, system-prompt check, holdout split, write) ->
build the small Llama (pretrained on the generated corpus, cached) -> LoRA fine-tune on the
training side (cached) -> :func:`airtune.evaluate.evaluate` of the untuned base, the fine-tuned
model and the API model's logged answers on the holdout (accuracy and hierarchical F1 against the
audited labels, intervals, the three-way verdict of the fine-tuned model against the API) ->
:func:`airtune.cost.replacement` (what serving it would save).

Every step shows a progress bar and is timed. With ``reuse`` a second run in the same folder
reuses the curation stages, the base model, the adapter and every prediction (the cache keys
cover the data, the settings and the versions), and gives the same numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .data import API_MODEL, DemoSizes, generate
from .model import BaseRecipe, build_base
from .recipe import FinetuneRecipe, finetune, gold_label, logged_answer, prompt_of, torch_threads

#: The verdict in words, from airtune.evaluate's three outcomes for the fine-tuned model.
VERDICTS = {"replaceable": "replace", "not replaceable": "keep", "inconclusive": "need more data"}

API_PRICE = "gpt-4o"  # the price row of the logged API model (gpt-4o-2024-08-06)
SELF_HOSTED = "l4-7b"  # serving: the demo's model stands in for a fine-tuned 7B on one L4 (the case study)
WORK_MACHINE = "cpu-7b"  # curation and training: priced as CPU hours (this demo trains on CPUs)


@dataclass
class DemoSettings:
    """Sizes of one demo run (``quick`` selects the reduced ones of the test suite)."""

    sizes: DemoSizes
    base: BaseRecipe
    finetune: FinetuneRecipe
    holdout_fraction: float = 0.1
    near_threshold: float = 0.7  # character 5-gram Jaccard of the user turns
    margin: float = 0.02  # accuracy the fine-tuned model may lose against the API and still replace it
    requests_per_month: float = 10e6  # the shop's traffic, for the cost table (an assumption)

    @classmethod
    def full(cls, seed: int = 0) -> DemoSettings:
        return cls(DemoSizes(), BaseRecipe(seed=seed), FinetuneRecipe(seed=seed))

    @classmethod
    def quick(cls, seed: int = 0) -> DemoSettings:
        base = BaseRecipe(
            vocab_size=1024,
            hidden_size=64,
            intermediate_size=128,
            num_layers=2,
            num_heads=4,
            num_kv_heads=2,
            max_position_embeddings=320,
            steps=200,
            seq=64,
            batch_size=16,
            learning_rate=1e-2,
            eval_rows=8,
            seed=seed,
        )
        ft = FinetuneRecipe(r=16, lora_alpha=32, epochs=10, learning_rate=5e-3, seed=seed)
        return cls(DemoSizes(rows=600, production_rows=100, corpus_rows=400), base, ft, holdout_fraction=0.15)


@dataclass
class DemoStep:
    name: str
    seconds: float  # wall
    cached: bool
    detail: str = ""
    cpu_seconds: float = 0.0  # of the process, all threads


@dataclass
class DemoResult:
    """What one demo run measured. ``text`` is what the command prints."""

    out_dir: str
    verdict: str  # "replace", "keep" or "need more data"
    verdict_reading: str
    verdict_detail: dict[str, Any]  # accuracy, fine-tuned - API: difference, bounds, margin, n_needed
    steps: list[DemoStep]
    scores: list[dict[str, Any]]  # one per (model, metric): score, ci_low, ci_high, n, invalid
    accounting: dict[str, int]
    funnel: list[dict[str, Any]]
    holdout: dict[str, int]
    base: dict[str, Any]
    train: dict[str, Any]
    cost: dict[str, Any]
    outputs: dict[str, str]
    settings: dict[str, Any] = field(repr=False, default_factory=dict)
    text: str = field(repr=False, default="")

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def score(self, model: str, metric: str = "accuracy") -> float:
        for s in self.scores:
            if s["model"] == model and s["metric"] == metric:
                return float(s["score"])
        raise KeyError((model, metric))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("text")
        d["seconds"] = self.seconds
        return d

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"DemoResult(verdict={self.verdict!r}, out_dir={self.out_dir!r}, seconds={self.seconds:.0f})"


class _Clock:
    def __init__(self) -> None:
        self.steps: list[DemoStep] = []

    def run(self, name: str, fn: Any, cached: Any = None, detail: Any = None) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        step = DemoStep(name, round(time.perf_counter() - t0, 2), bool(cached(out)) if cached else False)
        step.cpu_seconds = round(time.process_time() - c0, 2)
        step.detail = detail(out) if detail else ""
        self.steps.append(step)
        return out


def _stages(s: DemoSettings, seed: int) -> list[Any]:
    return [
        ("read", {"errors": "quarantine"}),
        ("clean", {"html_to_text": True}),
        ("quality", {"preset": "chat"}),
        ("exact", {"select": "user", "on_conflict": "majority"}),
        ("near", {"select": "user", "threshold": s.near_threshold, "char_ngrams": True}),
        "system_prompt_check",
        ("split", {"fraction": s.holdout_fraction, "stratify": "last_assistant", "seed": seed}),
        "write",
    ]


def _eval_rows(test: Any) -> tuple[list[dict[str, Any]], int]:
    """Holdout rows with an audited label: the prompt (system + user), the gold path, the API
    model's logged answer. Returns them and the count of rows without a gold label (off-domain)."""
    rows, skipped = [], 0
    for r in test:
        gold = gold_label(r)
        if gold is None:
            skipped += 1
            continue
        rows.append({"id": r.id, "input": prompt_of(r), "reference": gold, "api": logged_answer(r)})
    return rows, skipped


def _tokens(text: str) -> float:
    return len(text) / 4.0  # the usual rule of thumb for English under GPT tokenizers


def _cost(s: DemoSettings, rows: list[dict[str, Any]], work: dict[str, float]) -> Any:
    """The replacement's cost table. ``work``: seconds of curation and training as first computed
    (a reused step costs what it cost when it was built)."""
    from ..cost import OneTimeCosts, replacement

    tin = sum(_tokens(" ".join(m["content"] for m in r["input"])) for r in rows) / len(rows)
    tout = sum(_tokens(r["api"]) for r in rows) / len(rows)
    one_time = OneTimeCosts.estimate(
        curation_hours=work["curation"] / 3600,
        curation_option=WORK_MACHINE,
        training_hours=work["training"] / 3600,
        training_option=WORK_MACHINE,
        eval_items=len(rows),
        eval_tokens_per_item=(tin, tout),
        eval_option=API_PRICE,
    )
    one_time.assumptions.append(
        f"requests: {s.requests_per_month / 1e6:g}M a month (assumed), {tin:.0f} input + {tout:.0f} output "
        "tokens each (the holdout's mean, characters / 4)"
    )
    return replacement(
        API_PRICE,
        SELF_HOSTED,
        s.requests_per_month * tin,
        s.requests_per_month * tout,
        one_time=one_time,
    )


def _curation_seconds(folder: Path, cur: Any, stages: list[Any], step: DemoStep) -> float:
    """Seconds the curation took when it was computed (a fully reused run reads them back)."""
    marker = folder / "curation_seconds.json"
    key = json.dumps([cur.report["input"].get("blake2b"), stages], sort_keys=True, default=str)
    if step.cached and marker.is_file():
        info = json.loads(marker.read_text(encoding="utf-8"))
        if info.get("key") == key:
            return float(info["seconds"])
    tmp = folder / ".curation_seconds.json.tmp"
    tmp.write_text(json.dumps({"key": key, "seconds": step.seconds}), encoding="utf-8")
    os.replace(tmp, marker)
    return step.seconds


def _score_rows(report: Any) -> list[dict[str, Any]]:
    out = []
    for rec in report.table.to_dict("records"):
        keep = ("model", "metric", "score", "ci_low", "ci_high", "n", "invalid")
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items() if k in keep})
    return out


def _table(scores: list[dict[str, Any]], names: dict[str, str]) -> str:
    by = {(s["model"], s["metric"]): s for s in scores}
    width = max(len(x) for x in names.values()) + 2
    lines = [f"{'model':<{width}} {'accuracy (95% CI)':<24} {'hierarchical F1 (95% CI)':<26} invalid"]
    for key, label in names.items():
        a, h = by[(key, "accuracy")], by[(key, "hierarchical_f1")]
        cells = [
            f"{a['score']:6.1%} [{a['ci_low']:.1%}, {a['ci_high']:.1%}]",
            f"{h['score']:6.1%} [{h['ci_low']:.1%}, {h['ci_high']:.1%}]",
        ]
        inv = a.get("invalid")
        lines.append(f"{label:<{width}} {cells[0]:<24} {cells[1]:<26} {'' if inv is None else int(inv)}")
    return "\n".join(lines)


def run_demo(
    out_dir: str | os.PathLike,
    *,
    reuse: bool = True,
    progress: bool = True,
    quick: bool = False,
    seed: int = 0,
    settings: DemoSettings | None = None,
    num_threads: int | None = 1,
) -> DemoResult:
    """Run the demo in ``out_dir`` and return what it measured (``print(result)`` shows it).

    ``reuse``: reuse the curation stages, the base model, the adapter and the predictions of an
    earlier run in the same folder when their inputs and settings are the same (False recomputes
    everything). ``quick``: the reduced sizes of the test suite (about a minute on one core),
    still generated, curated, trained and measured on a holdout. ``num_threads``: libtorch threads
    of the model steps (one by default: the cheapest per token on a shared 2-core machine, and the
    same weights on every run).
    """
    from ..evaluate import GenerationParams, evaluate
    from ..pipeline import Pipeline
    from .run_folder import record_run

    s = settings or (DemoSettings.quick(seed) if quick else DemoSettings.full(seed))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clock = _Clock()

    data = clock.run(
        "generate",
        lambda: generate(out / "data", seed=seed, sizes=s.sizes, show_progress=progress),
        detail=lambda d: f"{d.manifest['traffic']['lines']} lines",
    )
    curated = out / "curated"
    cur = clock.run(
        "curate",
        lambda: Pipeline(_stages(s, seed), progress=progress).run(data.traffic, curated, resume=reuse),
        cached=lambda r: all(f.get("cached") for f in r.funnel),
        detail=lambda r: r.summary_line(),
    )
    base = clock.run(
        "pretrain",
        lambda: build_base(
            out / "models",
            data.corpus,
            s.base,
            show_progress=progress,
            force=not reuse,
            num_threads=num_threads,
        ),
        cached=lambda b: b.cached,
        detail=lambda b: b.summary_line(),
    )
    ft = clock.run(
        "finetune",
        lambda: finetune(
            base.path,
            cur.train,
            out / "adapter",
            s.finetune,
            show_progress=progress,
            num_threads=num_threads,
            reuse=reuse,
        ),
        cached=lambda f: f.cached,
        detail=lambda f: f.summary_line(),
    )

    rows, off_domain = _eval_rows(cur.test)
    if not rows:
        raise ValueError(f"{curated}: no holdout row has an audited label (metadata.gold_label)")
    cache = out / "predictions.sqlite"
    if not reuse:
        cache.unlink(missing_ok=True)
    names = {
        "untuned": "untuned base",
        "fine-tuned": "fine-tuned (LoRA)",
        "api": f"API baseline ({API_MODEL})",
    }

    def _evaluate() -> Any:
        with torch_threads(num_threads):
            rep = evaluate(
                rows,
                {"untuned": base.path, "fine-tuned": ft.adapter_path, "api": [r["api"] for r in rows]},
                metrics=["accuracy", "hierarchical_f1"],
                labels=data.valid_paths,
                baseline="api",
                margin={"accuracy": s.margin, "hierarchical_f1": s.margin},
                cache=cache,
                progress=progress,
                seed=seed,
                generation=GenerationParams(max_tokens=s.finetune.max_new_tokens),
                model_options={"dtype": "float32", "device": "cpu", "batch_size": s.finetune.generate_batch},
            )
        rep.to_html(out / "evaluation.html")
        return rep

    def _hits(rep: Any) -> bool:
        hits = rep.settings.get("cache_hits", {})
        return all(hits.get(m, 0) == len(rows) for m in ("untuned", "fine-tuned"))

    report = clock.run("evaluate", _evaluate, cached=_hits, detail=lambda r: r.summary_line())
    report_html = out / "evaluation.html"
    with open(out / "predictions.jsonl.tmp", "w", encoding="utf-8") as f:
        for i, r in enumerate(rows):
            preds = {m: report.predictions[m][i] for m in names}
            f.write(json.dumps({"id": r["id"], "gold": r["reference"], **preds}, ensure_ascii=False) + "\n")
    os.replace(out / "predictions.jsonl.tmp", out / "predictions.jsonl")

    v = report._verdict("fine-tuned", "accuracy")
    outcome = str(v["outcome"]) if v is not None else "inconclusive"
    verdict = VERDICTS.get(outcome, "need more data")
    reading = str(v["reading"]) if v is not None else outcome
    detail = {"outcome": outcome}
    if v is not None:
        for k in ("difference", "lower_bound", "upper_bound", "margin", "n_items", "mde", "n_needed"):
            x = v[k]
            detail[k] = x.item() if hasattr(x, "item") else x
    work = {
        "curation": _curation_seconds(out, cur, _stages(s, seed), clock.steps[1]),
        "training": float(base.build_seconds) + float(ft.train.train_seconds),
    }
    cost = clock.run("cost", lambda: _cost(s, rows, work), detail=lambda c: c.summary_line())

    scores = _score_rows(report)
    run_report = record_run(
        out,
        traffic=data.traffic,
        curated=curated,
        evaluation_html=report_html,
        stages=[{"stage": st.name, **st.options} for st in Pipeline(_stages(s, seed)).stages],
        train_result=ft.train,
        base_path=base.path,
        adapter_path=ft.adapter_path,
        report=report,
        candidate="fine-tuned",
        case=cost,
        seconds={st.name: st.seconds for st in clock.steps},
    )
    outputs = {
        "data": data.out_dir,
        "traffic": data.traffic,
        "curated": str(curated),
        "curation_report": cur.paths.get("report_html", str(curated / "report.html")),
        "base_model": base.path,
        "adapter": ft.adapter_path,
        "merged_model": ft.merged_path,
        "predictions": str(out / "predictions.jsonl"),
        "evaluation_report": str(report_html),
        "run_report": str(run_report),
        "result": str(out / "demo_result.json"),
    }
    result = DemoResult(
        out_dir=str(out),
        verdict=verdict,
        verdict_reading=reading,
        verdict_detail=detail,
        steps=clock.steps,
        scores=scores,
        accounting=dict(cur.accounting),
        funnel=[dict(f) for f in cur.funnel],
        holdout={
            "rows": len(cur.test),
            "scored": len(rows),
            "without_gold_label": off_domain,
            "train_rows": len(cur.train),
        },
        base={
            "parameters": base.num_parameters,
            "initial_eval_loss": base.initial_eval_loss,
            "eval_loss": base.eval_loss,
            "build_seconds": base.build_seconds,
        },
        train={
            "steps": ft.train.steps,
            "final_loss": ft.train.final_loss,
            "kept": ft.train.train_report.kept,
        },
        cost=cost.to_dict(),
        outputs=outputs,
        settings={
            "seed": seed,
            "quick": quick,
            "sizes": asdict(s.sizes),
            "base": asdict(s.base),
            "finetune": asdict(s.finetune),
            "holdout_fraction": s.holdout_fraction,
            "near_threshold": s.near_threshold,
            "margin": s.margin,
            "requests_per_month": s.requests_per_month,
        },
    )
    result.text = _text(result, names, cost)
    tmp = out / ".demo_result.json.tmp"
    tmp.write_text(json.dumps(result.to_dict(), indent=1, default=str), encoding="utf-8")
    os.replace(tmp, out / "demo_result.json")
    shutil.rmtree(out / ".tmp", ignore_errors=True)
    return result


def _text(r: DemoResult, names: dict[str, str], cost: Any) -> str:
    a = r.accounting
    h = r.holdout
    ft_acc, api_acc = r.score("fine-tuned"), r.score("api")
    lines = [
        f"airtune demo: {a['rows_in']} logged requests -> {h['train_rows']} training rows, "
        f"{h['scored']} holdout rows scored against audited labels",
        f"  curation: {a['kept']} kept + {a['dropped']} dropped + {a['quarantined']} quarantined "
        f"(malformed lines) = {a['rows_in']} rows in",
        "",
        _table(r.scores, names),
        "",
        f"verdict: {r.verdict.upper()} - fine-tuned {ft_acc:.1%} vs API {api_acc:.1%} accuracy, "
        f"margin {r.settings['margin']:.0%}: {r.verdict_reading}",
        "",
        "cost:",
        repr(cost),
        "",
        "steps:",
    ]
    lines += [
        f"  {st.name:<9} {st.seconds:8.1f} s{'  (reused)' if st.cached else ''}  {st.detail}"
        for st in r.steps
    ]
    lines += [f"  {'total':<9} {r.seconds:8.1f} s", "", "outputs:"]
    lines += [f"  {k:<18} {v}" for k, v in r.outputs.items()]
    return "\n".join(lines)
