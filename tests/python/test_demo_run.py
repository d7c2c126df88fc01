"""airtune.demo.run_demo end to end at the quick sizes (about a minute on one core): generated
traffic -> airtune.Pipeline -> pretrained tiny Llama -> LoRA fine-tune -> airtune.evaluate on the
holdout -> cost. Checks the row accounting through curation against the generator's answer key,
that the fine-tuned model beats the untuned base on rows it never saw, the verdict against its
interval, the scores against a recomputation from the written predictions, and that a second run
reuses every model step and gives the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("airtune._nn")

from airtune.demo import DemoSizes, generate  # noqa: E402
from airtune.demo.run import VERDICTS, run_demo  # noqa: E402


def _lines(path):
    return [x for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]


def _norm(text):
    return re.sub(r"\W+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    first = run_demo(out, quick=True, progress=False)
    predictions = Path(first.outputs["predictions"]).read_bytes()
    second = run_demo(out, quick=True, progress=False)
    return out, first, predictions, second


def test_rows_add_up_through_curation(runs):
    out, r, _, _ = runs
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    traffic = manifest["traffic"]
    a = r.accounting
    assert a["rows_in"] == len(_lines(r.outputs["traffic"])) == traffic["lines"]
    assert a["rows_in"] == a["kept"] + a["dropped"] + a["quarantined"]
    assert a["quarantined"] == len(traffic["malformed_lines"]) > 0  # the malformed lines, no more
    # each stage gets what the one before kept; the funnel's drops are the accounting's
    for prev, cur in zip(r.funnel, r.funnel[1:]):
        assert cur["rows_in"] == prev["kept"], (prev, cur)
    assert sum(f["dropped"] for f in r.funnel) == a["dropped"]
    curated = Path(r.outputs["curated"])
    assert len(_lines(curated / "dropped.jsonl")) == a["dropped"]
    train, test = _lines(curated / "train.jsonl"), _lines(curated / "test.jsonl")
    assert len(train) + len(test) == a["kept"]
    assert r.holdout["train_rows"] == len(train) and r.holdout["rows"] == len(test)
    assert r.holdout["scored"] + r.holdout["without_gold_label"] == len(test)
    # the planted defects were removed: every planted exact duplicate, the empty answers and the
    # refusals are gone from what the model trains on
    dropped = {json.loads(x)["id"]: json.loads(x) for x in _lines(curated / "dropped.jsonl")}
    planted = {d for d, _ in traffic["exact_duplicates"]}
    kept_ids = {json.loads(x)["id"] for x in train + test}
    assert planted <= set(dropped) and not planted & kept_ids
    assert set(traffic["empty_answers"]) <= set(dropped)
    assert not [x for x in train if "assign a category" in x]
    # the holdout never reaches the fine-tune: no shared request, no shared (normalised) description
    tr = [json.loads(x) for x in train]
    te = [json.loads(x) for x in test]
    assert kept_ids == {x["id"] for x in tr} | {x["id"] for x in te}
    assert {x["id"] for x in tr}.isdisjoint(x["id"] for x in te)
    assert {_norm(x["messages"][1]["content"]) for x in tr}.isdisjoint(
        _norm(x["messages"][1]["content"]) for x in te
    )
    assert not any("<script" in x["messages"][1]["content"] for x in tr + te)  # HTML turned to text
    assert r.train["kept"] == len(train)  # the fine-tune used every training row


def test_finetuned_beats_untuned_on_the_holdout(runs):
    _, r, _, _ = runs
    for metric in ("accuracy", "hierarchical_f1"):
        assert r.score("fine-tuned", metric) > r.score("untuned", metric), r.text
    assert r.score("fine-tuned", "hierarchical_f1") > r.score("untuned", "hierarchical_f1") + 0.1, r.text
    assert r.base["eval_loss"] < r.base["initial_eval_loss"] - 1.0  # pretraining learned the corpus


def test_scores_recomputed_from_the_written_predictions(runs):
    _, r, _, _ = runs
    preds = [json.loads(x) for x in _lines(r.outputs["predictions"])]
    assert len(preds) == r.holdout["scored"]
    for model in ("untuned", "fine-tuned", "api"):
        acc = sum(p[model].strip() == p["gold"] for p in preds) / len(preds)
        assert r.score(model, "accuracy") == pytest.approx(acc), model
    # the API baseline is the logged answers: its score is what the answer key says it is, near
    api = r.score("api")
    assert 0.75 <= api <= 1.0
    ci = {(s["model"], s["metric"]): s for s in r.scores}
    for s in ci.values():
        assert s["ci_low"] <= s["score"] <= s["ci_high"], s


def test_verdict_follows_its_interval(runs):
    _, r, _, _ = runs
    assert r.verdict in {"replace", "keep", "need more data"}
    d = r.verdict_detail
    assert VERDICTS[d["outcome"]] == r.verdict
    diff = r.score("fine-tuned") - r.score("api")
    assert d["difference"] == pytest.approx(diff)
    assert d["lower_bound"] <= diff <= d["upper_bound"]
    if r.verdict == "replace":
        assert d["lower_bound"] >= -d["margin"]
    elif r.verdict == "keep":
        assert d["upper_bound"] < -d["margin"]
    else:
        assert d["lower_bound"] < -d["margin"] <= d["upper_bound"]
    assert r.verdict.upper() in r.text and "cost:" in r.text and "payback" in r.text


def test_outputs_and_result(runs):
    _, r, _, _ = runs
    for key in ("traffic", "curation_report", "predictions", "evaluation_report", "run_report", "result"):
        assert Path(r.outputs[key]).is_file(), key
    for key in ("base_model", "adapter", "merged_model"):
        assert Path(r.outputs[key]).is_dir(), key
    d = r.to_dict()
    assert json.loads(Path(r.outputs["result"]).read_text())["verdict"] == d["verdict"] == r.verdict
    assert [s["name"] for s in d["steps"]] == [
        "generate",
        "curate",
        "pretrain",
        "finetune",
        "evaluate",
        "cost",
    ]
    assert all(s["seconds"] >= 0 for s in d["steps"])
    assert d["cost"]["api_option"] == "gpt-4o" and d["cost"]["api_monthly_usd"] > 0
    for path in r.outputs.values():
        assert path in r.text


def test_second_run_reuses_and_gives_the_same_numbers(runs):
    _, first, predictions, second = runs
    assert not any(s.cached for s in first.steps if s.name in ("pretrain", "finetune", "evaluate"))
    cached = {s.name: s.cached for s in second.steps}
    assert cached["curate"] and cached["pretrain"] and cached["finetune"] and cached["evaluate"], second.steps
    a, b = first.to_dict(), second.to_dict()
    for key in (
        "scores",
        "verdict",
        "verdict_detail",
        "accounting",
        "funnel",
        "holdout",
        "base",
        "train",
        "cost",
    ):
        if key == "funnel":
            strip = [{k: v for k, v in f.items() if k not in ("cached", "seconds")} for f in a[key]]
            assert strip == [{k: v for k, v in f.items() if k not in ("cached", "seconds")} for f in b[key]]
        else:
            assert a[key] == b[key], key
    assert Path(second.outputs["predictions"]).read_bytes() == predictions


def test_cli_demo_verb_runs_the_loop_and_reuses_the_folder(runs, capsys):
    """`airtune demo` is run_demo: in the fixture's folder every step is reused, the JSON is the result."""
    from airtune import cli
    from airtune.cli.core import jsonable

    out, first, _, _ = runs
    assert cli.main(["demo", "--quick", "--out", str(out), "--json", "--no-progress"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["verdict"] == first.verdict and payload["scores"] == jsonable(first.to_dict()["scores"])
    assert all(s["cached"] for s in payload["steps"] if s["name"] in ("pretrain", "finetune", "evaluate"))
    assert cli.main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert f"verdict: {first.verdict.upper()}" in text and first.outputs["evaluation_report"] in text
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo", "--seed", "x"])
    assert exc.value.code == 2


def test_the_demo_run_report_renders_in_chromium(runs, tmp_path):
    """One page for the whole demo run (funnel, training curves, evaluation and verdict, cost),
    from a run folder the CLI reads: rendered by headless Chromium, no console error."""
    from airtune.runs import RunFolder
    from browser import render

    out, first, _, second = runs
    page = Path(first.outputs["run_report"])
    assert page == out / "run" / "report.html" and second.outputs["run_report"] == str(page)
    steps = RunFolder(out / "run", create=False).steps
    assert list(steps) == ["curate", "train", "evaluate", "cost"]
    for linked in ("curate/report.html", "evaluate/report.html"):  # the page links them
        assert (out / "run" / linked).is_file() and f"href='{linked}'" in page.read_text(encoding="utf-8")
    assert (
        steps["train"]["seconds"] > 0 and steps["evaluate"]["result"]["decision"]["candidates"]["fine-tuned"]
    )
    shown = render(page, tmp_path, size="1280,2400")
    errors = [c for c in shown.console if "error" in c.lower() or "uncaught" in c.lower()]
    assert errors == [], errors
    assert 'data-rendered="ok"' in shown.dom, "a section is missing or the page script failed"
    for sid in ("summary", "curation", "training", "evaluation", "cost"):
        assert f'id="{sid}"' in shown.dom
    for absent in ("No curate step", "No train step", "No evaluate step", "No cost step"):
        assert absent not in shown.dom
    verdict = steps["evaluate"]["result"]["decision"]["candidates"]["fine-tuned"]["verdict"]
    assert f"<b>fine-tuned</b> against <b>api</b>: <b>{verdict}</b>" in shown.dom and "<svg" in shown.dom
    assert shown.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = RunFolder(out / "run", create=False).manifest["history"]
    # the first run recorded the four steps, every later run in the folder reused them
    assert [h["step"] for h in history[:4]] == ["curate", "train", "evaluate", "cost"]
    assert len(history) >= 8 and all(h.get("reused") for h in history[4:]), history


def test_generated_traffic_is_deterministic(runs, tmp_path):
    out, r, _, _ = runs
    again = generate(tmp_path, seed=0, sizes=DemoSizes(**r.settings["sizes"]), show_progress=False)
    for name in ("traffic.jsonl", "production.jsonl", "corpus.txt"):
        assert (out / "data" / name).read_bytes() == (tmp_path / name).read_bytes(), name
    digest = hashlib.sha256((out / "data" / "traffic.jsonl").read_bytes()).hexdigest()
    assert digest == again.manifest["traffic"]["sha256"]
    other = generate(tmp_path / "other", seed=1, sizes=DemoSizes(**r.settings["sizes"]), show_progress=False)
    assert other.manifest["traffic"]["sha256"] != digest
