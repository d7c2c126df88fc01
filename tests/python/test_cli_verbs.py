"""The ``airtune`` verbs: --help examples, exit codes (0 done, 1 verdict or check failed, 2 bad
input), --json, run folders (manifest, reuse, nothing half written) and the run's HTML report in
headless Chromium. One tiny Llama (tests/python/tiny_models.py) and 40 generated chat rows."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import sys
from pathlib import Path

import pytest
from airtune.cli import VERBS, main
from airtune.runs import MANIFEST_VERSION, SECTIONS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_models import tiny_causal_lm, write_tokenizer  # noqa: E402

WORDS = "the quick brown fox jumps over the lazy dog hello world how are you today".split()
LABELS = ("fox", "dog", "world")


def _chats(path: Path, n: int, seed: int, *, timestamps: bool = False) -> Path:
    """Chat rows whose assistant turn (the logged "API model" answer) is the label, wrong on one
    row in five; ``reference`` is the gold label."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            label = LABELS[i % 3]
            q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))) + f" item {i}"
            row = {
                "messages": [
                    {"role": "user", "content": q},
                    {"role": "assistant", "content": label if i % 5 else "dog"},
                ],
                "label": label,
                "reference": label,
                "wrong": "lazy",
            }
            if timestamps:
                row["metadata"] = {"timestamp": 1_760_000_000 + 3600 * i}
            f.write(json.dumps(row) + "\n")
    return path


def cli(*argv: str) -> tuple[int, str, str]:
    """``airtune ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse: --help, bad flags
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def cli_json(*argv: str) -> tuple[int, dict]:
    code, out, err = cli(*argv, "--json")
    payload = json.loads(out)  # the whole of stdout is one JSON document
    assert payload["exit_code"] == code, err
    return code, payload


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    _chats(d / "data.jsonl", 40, 0)
    _chats(d / "prod.jsonl", 30, 5, timestamps=True)
    base = d / "base"
    base.mkdir()
    tiny_causal_lm(base, "llama", 0, weight_scale=0.1, norm_scale=0.1)
    write_tokenizer(base)
    return d


@pytest.fixture(scope="module")
def run(work) -> Path:
    """A run through every step: ingest, split, train, evaluate, cost, monitor."""
    r = work / "r1"
    (work / "pipeline.toml").write_text('[[stages]]\nstage = "clean"\n[[stages]]\nstage = "exact"\n')
    steps = [
        ("ingest", work / "data.jsonl", "--run", r, "--no-progress"),
        (
            "curate",
            work / "pipeline.toml",
            "--input",
            r / "ingest" / "clean.jsonl",
            "--run",
            r,
            "--no-progress",
        ),
        ("split", "--run", r, "--fraction", "0.25", "--no-progress"),
        ("train", "--run", r, "--base", work / "base", "--max-steps", "3", "--r", "4", "--device", "cpu")
        + ("--dtype", "float32", "--no-progress"),
        (
            "evaluate",
            "--run",
            r,
            "--predictions",
            "api=assistant",
            "--model",
            "tuned=@train",
            "--baseline",
            "api",
        )
        + (
            "--metric",
            "exact_match",
            "--margin",
            "0.05",
            "--max-tokens",
            "3",
            "--device",
            "cpu",
            "--no-progress",
        ),
        ("cost", "--run", r, "--training-usd", "40"),
        ("monitor", r / "split" / "train.jsonl", work / "prod.jsonl", "--run", r, "--permutations", "100"),
    ]
    for argv in steps:
        code, _, err = cli(*argv)
        # evaluate: the untrained tiny model is not replaceable (exit 1); monitor: retrain or not
        assert code in ((0, 1) if argv[0] in ("evaluate", "monitor") else (0,)), (argv[0], err)
    return r


# ----------------------------------------------------------------------------------------------
# help, exit codes, --json


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_help_shows_an_example(verb):
    code, out, _ = cli(verb, "--help")
    assert code == 0
    example = out.split("example:", 1)[1]
    assert f"airtune {verb}" in example


def test_evaluate_exit_codes_follow_the_verdict(work):
    data = work / "data.jsonl"
    args = (
        "evaluate",
        data,
        "--baseline",
        "api",
        "--metric",
        "exact_match",
        "--margin",
        "0.05",
        "--no-progress",
    )
    # the same answers as the baseline: replaceable (difference 0, its interval inside the margin)
    code, ok = cli_json(*args, "--predictions", "api=assistant", "--predictions", "same=assistant")
    assert code == 0 and ok["decision"]["candidates"]["same"]["verdict"] == "replaceable"
    assert ok["decision"]["passed"] is True and ok["items"] == 40
    # always wrong: non-inferiority fails -> exit 1, with the scores still reported
    code, bad = cli_json(*args, "--predictions", "api=assistant", "--predictions", "cand=wrong")
    assert code == 1 and bad["decision"]["candidates"]["cand"]["verdict"] == "not replaceable"
    scores = {s["model"]: s["score"] for s in bad["scores"]}
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    right = sum(r["messages"][-1]["content"] == r["reference"] for r in rows)
    assert scores["cand"] == 0.0 and scores["api"] == pytest.approx(right / 40) and right == 34
    # bad input: a field no row has -> 2, named
    code, out, err = cli(*args, "--predictions", "api=nosuchfield")
    assert code == 2 and "nosuchfield" in err and out == ""


def test_train_whose_loss_diverges_exits_1_with_its_curves_kept(work, tmp_path):
    r = tmp_path / "r"
    args = ("train", work / "data.jsonl", "--run", r, "--base", work / "base", "--max-steps", "3")
    # all-linear: after one step of 1e30 the SwiGLU product overflows, so the loss is NaN at step 2
    # (with q_proj, v_proj only, RMSNorm and the softmax keep it finite once attention needs no mask)
    args += ("--learning-rate", "1e30", "--target-modules", "all-linear")
    args += ("--device", "cpu", "--dtype", "float32", "--no-progress")
    code, tr = cli_json(*args)
    assert code == 1 and tr["stop_reason"] == "nan_loss"
    saved = json.loads((r / "train" / "train.json").read_text())
    assert saved["adapter"] is None and saved["history"] and saved["message"]
    assert json.loads((r / "manifest.json").read_text())["steps"]["train"]["exit_code"] == 1
    code, again = cli_json(*args)  # reused with its exit code
    assert code == 1 and again["reused"] is True
    code, _, err = cli("evaluate", work / "data.jsonl", "--run", r, "--model", "t=@train", "--no-progress")
    assert code == 2 and "--model t=@train: the run has no trained adapter" in err


def test_json_output_of_each_verb_parses(work, tmp_path):
    code, info = cli_json("info")
    assert code == 0 and "version" in json.dumps(info["info"])
    code, ing = cli_json("ingest", work / "data.jsonl", "--out", tmp_path / "clean.jsonl")
    assert code == 0 and ing["report"]["kept"] == 40
    code, sp = cli_json("split", work / "data.jsonl", "--out", tmp_path / "split", "--fraction", "0.25")
    assert code == 0 and (sp["train"], sp["test"]) == (30, 10)
    assert len((tmp_path / "split" / "test.jsonl").read_text().splitlines()) == 10
    code, cost = cli_json("cost")
    rep = cost["replacement"]
    assert code == 0 and rep["monthly_savings_usd"] > 0 and rep["payback_months"] is not None
    code, failed = cli_json("cost", "--training-usd", "1e9", "--max-payback", "6")
    assert code == 1 and failed["replacement"]["payback_months"] > 6
    code, err = cli_json("split", tmp_path / "missing.jsonl", "--out", tmp_path / "x")
    assert code == 2 and "missing.jsonl" in err["error"] and not (tmp_path / "x").exists()
    code, _, err = cli("--threads", "0", "info")
    assert code == 2 and "n must be >= 1" in err
    assert cli("nosuchverb")[0] == 2 and cli("split", "--fraction", "x")[0] == 2  # argparse's own errors


# ----------------------------------------------------------------------------------------------
# bad input: exit 2, a message that names the place, nothing written


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file of a folder but its caches (the memoised input hashes) and lock."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file())
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in files
        if p.relative_to(folder).parts[0] not in (".cache", ".lock")
    }


def test_config_file_values_sit_under_the_flags_and_unknown_keys_are_refused(work, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text("[split]\nfraction = 0.5\nseed = 3\n")
    code, sp = cli_json("split", work / "data.jsonl", "--out", tmp_path / "a", "--config", cfg)
    code2, same = cli_json(
        "split", work / "data.jsonl", "--out", tmp_path / "f", "--fraction", "0.5", "--seed", "3"
    )
    assert code == code2 == 0 and sp["test"] in (20, 21)  # from the file: the same split as the flags give
    assert (tmp_path / "a" / "test.jsonl").read_bytes() == (tmp_path / "f" / "test.jsonl").read_bytes()
    code, sp = cli_json(
        "split", work / "data.jsonl", "--out", tmp_path / "b", "--config", cfg, "--fraction", "0.25"
    )
    assert code == 0 and sp["test"] == 10  # the flag wins over the file
    # NAME=VALUE options: a table in the file, merged by name with the flags (the flag's entry wins)
    ev = tmp_path / "ev.yaml"
    ev.write_text(
        "evaluate:\n  predictions: {api: assistant, cand: wrong}\n  baseline: api\n  metric: [exact_match]\n"
        "  margin: 0.05\n  no-progress: true\n"
    )
    code, out = cli_json("evaluate", work / "data.jsonl", "--config", ev)
    assert code == 1 and out["decision"]["candidates"]["cand"]["verdict"] == "not replaceable"
    code, out = cli_json("evaluate", work / "data.jsonl", "--config", ev, "--predictions", "cand=assistant")
    assert code == 0 and out["decision"]["candidates"]["cand"]["verdict"] == "replaceable"
    assert sorted(s["model"] for s in out["scores"]) == ["api", "cand"]
    typo = tmp_path / "typo.toml"
    typo.write_text("[split]\nfractoin = 0.5\n")
    code, out, err = cli("split", work / "data.jsonl", "--out", tmp_path / "c", "--config", typo)
    assert (
        code == 2 and "typo.toml: [split] fractoin: unknown key" in err and "did you mean 'fraction'" in err
    )
    assert not (tmp_path / "c").exists()
    stray = tmp_path / "stray.yaml"
    stray.write_text("split: {fraction: 0.5}\ntrian: {epochs: 2}\n")
    code, _, err = cli("split", work / "data.jsonl", "--out", tmp_path / "d", "--config", stray)
    assert code == 2 and "unknown key 'trian'" in err
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('fraction = "a lot"\n')
    code, _, err = cli("split", work / "data.jsonl", "--out", tmp_path / "e", "--config", wrong)
    assert code == 2 and "wrong.toml: fraction: 'a lot' is not a number" in err


def test_a_run_folder_of_an_older_manifest_version_is_refused_untouched(work, tmp_path):
    r = tmp_path / "old"
    assert cli("split", work / "data.jsonl", "--run", r, "--no-progress")[0] == 0
    manifest = json.loads((r / "manifest.json").read_text())
    manifest["manifest_version"] = MANIFEST_VERSION - 1
    (r / "manifest.json").write_text(json.dumps(manifest))
    before = _tree(r)
    code, _, err = cli("split", work / "data.jsonl", "--run", r, "--seed", "1", "--no-progress")
    assert code == 2 and "manifest.json: manifest version 0 was written by an older airtune" in err
    code, _, err = cli("report", r)
    assert code == 2 and "older airtune" in err
    assert _tree(r) == before
    # a folder that holds files but is no run folder is refused too
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    code, _, err = cli("split", work / "data.jsonl", "--run", tmp_path / "other")
    assert code == 2 and "not a run folder" in err and _tree(tmp_path / "other") == {"notes.txt": b"mine"}


def test_monitor_refuses_another_format_and_an_empty_window(run, work, tmp_path):
    train = run / "split" / "train.jsonl"
    alpaca = tmp_path / "alpaca.jsonl"
    alpaca.write_text(
        "".join(
            json.dumps({"instruction": "classify", "input": f"fox {i}", "output": "fox"}) + "\n"
            for i in range(20)
        )
    )
    before = _tree(run)
    code, _, err = cli("monitor", train, alpaca, "--run", run)
    assert (
        code == 2
        and "alpaca.jsonl: the production records are alpaca (100%), the training records chat" in err
    )
    code, _, err = cli("monitor", train, work / "prod.jsonl", "--run", run, "--since", "2030-01-01")
    assert (
        code == 2 and "prod.jsonl: no production row between 2030-01-01 and the end (an empty window" in err
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = cli("monitor", train, empty, "--run", run)
    assert code == 2 and "empty.jsonl: no production records" in err
    # nothing half written: no staging folder, the monitor step and the manifest as they were
    assert _tree(run) == before
    assert not [p for p in run.iterdir() if p.name.startswith(".staging")]


def test_a_model_folder_that_is_not_a_model_is_bad_input(work, tmp_path):
    fake = tmp_path / "notamodel"
    fake.mkdir()
    (fake / "weights.bin").write_bytes(b"\0" * 64)
    data = work / "data.jsonl"
    code, _, err = cli("train", data, "--base", fake, "--out", tmp_path / "adapter", "--max-steps", "1")
    assert code == 2 and "notamodel" in err and not (tmp_path / "adapter").exists()
    code, _, err = cli("evaluate", data, "--model", f"m={fake}", "--metric", "exact_match", "--no-progress")
    assert code == 2 and "--model m:" in err and "notamodel" in err
    code, _, err = cli("serve", fake, "--port", "1")
    assert code == 2 and "notamodel" in err
    r = tmp_path / "r"
    code, _, err = cli("train", data, "--base", fake, "--run", r)
    assert code == 2 and not (r / "train").exists()


# ----------------------------------------------------------------------------------------------
# run folders


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_the_manifest_records_inputs_options_versions_and_outputs(run, work):
    m = json.loads((run / "manifest.json").read_text())
    assert m["kind"] == "airtune-run" and m["manifest_version"] == MANIFEST_VERSION
    assert {"airtune", "python", "numpy", "torch"} <= set(m["versions"])
    assert list(m["steps"]) == ["ingest", "curate", "split", "train", "evaluate", "cost", "monitor"]
    ing = m["steps"]["ingest"]
    assert ing["inputs"]["data"]["sha256"] == _sha256(work / "data.jsonl")
    assert ing["options"]["format"] == "auto" and ing["exit_code"] == 0
    cur = m["steps"]["curate"]
    assert cur["inputs"]["data"]["sha256"] == _sha256(run / "ingest" / "clean.jsonl")
    assert [st["stage"] for st in cur["options"]["stages"]][-2:] == ["clean", "exact"]
    assert cur["result"]["accounting"]["rows_in"] == 40 == cur["result"]["accounting"]["kept"]
    split = m["steps"]["split"]  # no DATA: the run's curated rows
    assert split["inputs"]["data"]["sha256"] == _sha256(run / "curate" / "train.jsonl")
    assert split["options"]["fraction"] == 0.25 and split["result"]["test"] == 10
    for rel, out in split["outputs"].items():  # every output file with its hash, relative to the run
        assert out["sha256"] == _sha256(run / rel) and out["bytes"] == (run / rel).stat().st_size
    assert {"split/train.jsonl", "split/test.jsonl", "split/split.json"} <= set(split["outputs"])
    train = m["steps"]["train"]
    assert train["inputs"]["base"]["files"] == len([p for p in (work / "base").iterdir()])
    assert (
        train["options"]["lora"]["r"] == 4 and "train/adapter/adapter_model.safetensors" in train["outputs"]
    )
    ev = m["steps"]["evaluate"]
    assert "adapter:tuned" in ev["inputs"] or "model:tuned" in ev["inputs"]
    assert ev["exit_code"] == (0 if ev["result"]["decision"]["passed"] else 1)
    assert not [p for p in run.iterdir() if p.name.startswith((".staging", ".old"))]


def test_a_rerun_with_the_same_inputs_is_reused_and_a_change_recomputes(run, work):
    split = run / "split" / "train.jsonl"
    stamp = split.stat().st_mtime_ns
    code, again = cli_json("split", "--run", run, "--fraction", "0.25")
    assert code == 0 and again["reused"] is True and again["test"] == 10
    assert split.stat().st_mtime_ns == stamp
    code, tr = cli_json(
        "train", "--run", run, "--base", work / "base", "--max-steps", "3", "--r", "4", "--device", "cpu",
        "--dtype", "float32",
    )  # fmt: skip
    assert code == 0 and tr["reused"] is True and tr["steps"] == 3
    code, ev = cli_json(
        "evaluate", "--run", run, "--predictions", "api=assistant", "--model", "tuned=@train", "--baseline", "api",
        "--metric", "exact_match", "--margin", "0.05", "--max-tokens", "3", "--device", "cpu",
    )  # fmt: skip
    assert ev["reused"] is True
    m = json.loads((run / "manifest.json").read_text())
    assert [h["step"] for h in m["history"] if h["reused"]][-3:] == ["split", "train", "evaluate"]
    # another input: the monitor step is recomputed
    other = _chats(work / "prod2.jsonl", 30, 9, timestamps=True)
    code, mon = cli_json("monitor", split, other, "--run", run, "--permutations", "100")
    assert "reused" not in mon and mon["n_production"] == 30
    assert json.loads((run / "manifest.json").read_text())["steps"]["monitor"]["inputs"]["production"][
        "sha256"
    ] == _sha256(other)


def test_a_step_that_fails_midway_leaves_the_run_as_it_was(work, tmp_path):
    r = tmp_path / "r"
    assert cli("split", work / "data.jsonl", "--run", r, "--no-progress")[0] == 0
    before = _tree(r)
    # the failure comes after the step's staging folder was made (inside the step)
    code, _, err = cli("split", work / "data.jsonl", "--run", r, "--fraction", "1.5")
    assert code == 2 and "--fraction must be in (0, 1), got 1.5" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    code, _, err = cli(
        "train", empty, "--run", r, "--base", work / "base", "--max-steps", "1", "--no-progress"
    )
    assert code == 2 and "empty.jsonl: no records to train on" in err
    assert _tree(r) == before and sorted(p.name for p in r.iterdir()) == [
        ".cache",
        ".lock",
        "manifest.json",
        "split",
    ]


def test_steps_of_one_run_in_parallel_processes_all_land_in_the_manifest(work, tmp_path):
    import os
    import subprocess

    r = tmp_path / "r"
    import airtune

    # the children import the airtune this process imported (the installed one in CI, python/ in a dev tree)
    env = {**os.environ, "PYTHONPATH": str(Path(airtune.__file__).resolve().parents[1])}
    base = [sys.executable, "-m", "airtune.cli"]
    argvs = [
        ["ingest", work / "data.jsonl", "--run", r, "--no-progress"],
        ["split", work / "data.jsonl", "--run", r, "--no-progress"],
        ["cost", "--run", r, "--training-usd", "40"],
    ]
    procs = [subprocess.Popen(base + [str(a) for a in argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for argv in argvs]  # fmt: skip
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    m = json.loads((r / "manifest.json").read_text())
    assert sorted(m["steps"]) == ["cost", "ingest", "split"] and len(m["history"]) == 3
    code, rep = cli_json("report", r)
    assert code == 0 and rep["changed"] == {}


def test_a_changed_output_is_not_reused(work, tmp_path):
    r = tmp_path / "r"
    assert cli("split", work / "data.jsonl", "--run", r)[0] == 0
    (r / "split" / "test.jsonl").write_text("tampered\n")
    code, sp = cli_json("split", work / "data.jsonl", "--run", r)
    assert code == 0 and "reused" not in sp
    assert len((r / "split" / "test.jsonl").read_text().splitlines()) == sp["test"]


# ----------------------------------------------------------------------------------------------
# the HTML report of a run


def test_the_run_report_renders_in_chromium(run, tmp_path):
    from browser import render

    code, rep = cli_json("report", run)
    assert code == 0 and rep["changed"] == {}
    page = Path(rep["report"])
    assert page == run / "report.html"
    html = page.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html.split("<main>", 1)[1].split("cost")[0]
    shown = render(page, tmp_path, size="1280,2400")
    errors = [c for c in shown.console if "error" in c.lower() or "uncaught" in c.lower()]
    assert errors == [], errors
    assert 'data-rendered="ok"' in shown.dom, "a section is missing or the page script failed"
    for sid in SECTIONS:
        assert f'id="{sid}"' in shown.dom
    assert "step in this run" not in shown.dom  # every section has its step's figures, none is absent
    verdict = json.loads((run / "evaluate" / "report.json").read_text())["decision"]["candidates"]["tuned"][
        "verdict"
    ]
    assert f"<b>tuned</b> against <b>api</b>: <b>{verdict}</b>" in shown.dom and "<svg" in shown.dom
    assert (
        shown.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shown.screenshot.stat().st_size > 20_000
    )
    # a comparison with another run names the option and the figures that moved
    r2 = tmp_path / "r2"
    assert cli("split", run / "curate" / "train.jsonl", "--run", r2, "--fraction", "0.5")[0] == 0
    code, cmp = cli_json("report", r2, "--compare", run)
    split = next(s for s in cmp["compare"]["steps"] if s["step"] == "split")
    assert (
        code == 0
        and split["options"] == [{"key": "fraction", "this": 0.5, "other": 0.25}]
        and split["inputs"] == []
    )
    figs = {f["figure"]: f for f in cmp["compare"]["figures"] if f["step"] == "split"}
    assert figs["test"]["other"] == 10 and figs["test"]["delta"] == figs["test"]["this"] - 10 > 0
    assert figs["train"]["delta"] == figs["train"]["this"] - figs["train"]["other"] < 0
    assert 'id="compare"' in (r2 / "report.html").read_text(encoding="utf-8")
    # a tampered output is reported by the report and marked on the page
    (r2 / "split" / "split.json").write_text(
        (r2 / "split" / "split.json").read_text().replace('"rows"', '"rows" ')
    )
    code, tampered = cli_json("report", r2)
    assert code == 0 and tampered["changed"] == {"split": ["split/split.json"]}
    assert "CHANGED: split/split.json" in (r2 / "report.html").read_text(encoding="utf-8")


PIPELINE_TOML = """\
[[stages]]
stage = "read"
[[stages]]
stage = "clean"
html_to_text = true
[[stages]]
stage = "quality"
preset = "chat"
[[stages]]
stage = "exact"
on_conflict = "majority"
[[stages]]
stage = "write"
"""


def test_monitor_curate_compares_production_in_the_training_datas_form(tmp_path):
    """Raw production logs carry leaked HTML the training side had cleaned away: compared raw, the
    pre-drift window reads as drift; passed through the curation config's clean and quality stages
    first (--curate), it does not, and the planted drift after it is still found."""
    from airtune.demo import data

    d = data.generate(tmp_path / "demo", seed=0, show_progress=False)
    cfg = tmp_path / "pipeline.toml"
    cfg.write_text(PIPELINE_TOML)
    code, _, err = cli("curate", cfg, "--input", d.traffic, "--out", tmp_path / "cur", "--no-progress")
    assert code == 0, err
    train = tmp_path / "cur" / "train.jsonl"
    prod = d.production
    before = ("--until", "2025-04-10", "--permutations", "200")
    code, raw = cli_json("monitor", train, prod, *before, "--out", tmp_path / "m1")
    assert code == 1 and raw["recommendation"] == "retrain" and "curated" not in raw
    code, cur = cli_json(
        "monitor", train, prod, *before, "--out", tmp_path / "m2", "--curate", cfg, "--no-progress"
    )
    assert code == 0 and cur["recommendation"] != "retrain", cur["reasons"]
    c = cur["curated"]  # every production row of the window accounted for
    assert c["rows_in"] == raw["window"]["rows"] == c["kept"] + sum(c["dropped"].values())
    assert cur["n_production"] == c["kept"]
    code, after = cli_json(
        "monitor",
        train,
        prod,
        "--since",
        "2025-04-20",
        "--permutations",
        "200",
        "--out",
        tmp_path / "m3",
        "--curate",
        cfg,
    )
    assert code == 1 and after["recommendation"] == "retrain"
    # a config without a per-row stage is refused, naming the file
    bad = tmp_path / "dedup_only.toml"
    bad.write_text('[[stages]]\nstage = "exact"\n')
    code, _, err = cli("monitor", train, prod, "--out", tmp_path / "m4", "--curate", bad)
    assert code != 0 and "dedup_only.toml" in err and "clean or quality" in err
