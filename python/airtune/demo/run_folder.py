"""The demo's run folder: its finished steps recorded as the CLI verbs record theirs (same files,
same manifest), so that one page shows the whole run: ``OUT/run/report.html``, which
``airtune report OUT/run`` rebuilds (curation funnel, training curves, evaluation and verdict, cost)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def record_run(
    out: Path,
    *,
    traffic: str,
    curated: Path,
    evaluation_html: Path,
    stages: list[dict[str, Any]],
    train_result: Any,
    base_path: str,
    adapter_path: str,
    report: Any,
    candidate: str,
    case: Any,
    seconds: dict[str, float],
) -> Path:
    """Record the curate, train, evaluate and cost steps of a demo run in ``out/run`` and write its
    report; returns the report's path. A step already recorded with the same inputs and options
    is reused (the folder's manifest says so); ``seconds``: each step's own time as measured by the
    demo (a reused step keeps the time it first took)."""
    from .._atomic import write_text_atomic
    from ..cli.core import dumps
    from ..cli.cost import payload_of
    from ..cli.evaluate import report_dict, verdict
    from ..cli.train import summary_of
    from ..cost import default_prices, monthly_cost
    from ..runs import RunFolder, write_report

    folder = RunFolder(out / "run")
    with folder.step("curate", inputs={"data": traffic}, options={"stages": stages}) as step:
        if not step.reused:
            for name in ("report.json", "report.html"):  # the run report links the full page
                shutil.copy2(curated / name, step.dir / name)
            step.commit({"report": "curate/report.json"}, 0, seconds=seconds.get("curate"))
    with folder.step(
        "train",
        inputs={"data": curated / "train.jsonl", "base": base_path},
        options=dict(train_result.config),
    ) as step:
        if not step.reused:
            shutil.copytree(adapter_path, step.dir / "adapter")
            summary = summary_of(train_result, base_path, step.dir, step.final_dir, 0)
            write_text_atomic(step.dir / "train.json", dumps(summary))
            step.commit({"final_loss": summary["final_loss"]}, 0, seconds=seconds.get("finetune"))
    decision = verdict(report, [candidate])
    with folder.step(
        "evaluate",
        inputs={"data": curated / "test.jsonl", "adapter": adapter_path},
        options={"signatures": report.settings.get("signatures", {}), "metrics": list(report.metrics)},
    ) as step:
        if not step.reused:
            write_text_atomic(step.dir / "report.json", dumps(report_dict(report, decision, 0)))
            shutil.copy2(evaluation_html, step.dir / "report.html")
            step.commit({"decision": decision}, 0, seconds=seconds.get("evaluate"))
    d = case.to_dict()
    table = monthly_cost(d["input_tokens"], d["output_tokens"])
    payload = payload_of(table, case, default_prices().date, d["input_tokens"], d["output_tokens"], 1.0, 1.0)
    with folder.step("cost", inputs={}, options={"replacement": d}) as step:
        if not step.reused:
            write_text_atomic(
                step.dir / "cost.json", dumps({k: v for k, v in payload.items() if k != "text"})
            )
            step.commit({"replacement": payload["replacement"]}, 0, seconds=seconds.get("cost"))
    return write_report(folder.path)
