"""airtune.Pipeline and `airtune curate`: every row accounted for, resumable units, atomic outputs,
interrupts, the bad-input cases, config files, and the HTML report rendered in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import airtune
import numpy as np
import pytest
import support_chats
from airtune import io
from airtune.pipeline import STAGES, Pipeline, PipelineConfigError
from conftest import SAMPLE

FULL = [
    "read",
    "clean",
    ("quality", {"preset": "chat"}),
    "exact",
    "near",
    "semantic",
    "outliers",
    "system_prompt_check",
    ("split", {"fraction": 0.2}),
    "diversify",
    "write",
]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def chats(tmp_path_factory) -> Path:
    return support_chats.write_jsonl(tmp_path_factory.mktemp("chats") / "support.jsonl", 1500, seed=3)


def test_sample_run_accounts_for_every_row(tmp_path):
    r = Pipeline(FULL).run(SAMPLE, tmp_path / "out")
    a = r.accounting
    lines = [x for x in SAMPLE.read_text(encoding="utf-8", errors="replace").split("\n") if x.strip()]
    assert a["rows_in"] == len(lines) == a["kept"] + a["dropped"] + a["quarantined"]
    assert a["quarantined"] == 6 and r.report["balanced"]
    out = tmp_path / "out"
    train, test, dropped = (
        _jsonl(out / "train.jsonl"),
        _jsonl(out / "test.jsonl"),
        _jsonl(out / "dropped.jsonl"),
    )
    assert len(train) == len(r.train) and len(test) == len(r.test) and len(dropped) == a["dropped"]
    assert len((out / "quarantine.jsonl").read_bytes().splitlines()) == a["quarantined"]  # verbatim lines
    ids = [d["id"] for d in train + test + dropped]
    assert len(ids) == len(set(ids))  # no row twice
    source = io.read_jsonl(SAMPLE, errors="skip", progress=False)
    assert set(ids) == set(source.ids)
    assert {d["airtune_stage"] for d in dropped} == {"exact"}
    assert all(d["airtune_reason"].startswith("exact_duplicate_of:") for d in dropped)
    by_id = {rec.id: rec for rec in source}
    for rec in r.test:  # the test side keeps the production prompts, every field intact
        assert rec == by_id[rec.id]
    for rec in r.train:
        assert rec.metadata == by_id[rec.id].metadata and rec.label == by_id[rec.id].label
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["accounting"] == a and [s["stage"] for s in manifest["stages"]][0] == "read"
    assert r.report["system_prompts"]["after"]["distinct"] > r.report["system_prompts"]["before"]["distinct"]


def test_rerun_reuses_finished_stages_and_gives_the_same_outputs(tmp_path, chats):
    out = tmp_path / "out"
    first = Pipeline(FULL).run(chats, out)
    files = {p: (out / p).read_bytes() for p in ("train.jsonl", "test.jsonl", "dropped.jsonl")}
    again = Pipeline(FULL).run(chats, out)
    assert all(row["cached"] for row in again.funnel)
    assert {p: (out / p).read_bytes() for p in files} == files
    assert again.accounting == first.accounting
    # a changed option reruns that stage and the ones after it, not the ones before
    changed = list(FULL)
    changed[4] = ("near", {"threshold": 0.7})
    third = Pipeline(changed).run(chats, out)
    cached = {row["stage"]: row["cached"] for row in third.funnel}
    assert cached["exact"] and cached["quality"] and not cached["near"] and not cached["split"]
    fresh = Pipeline(changed).run(chats, tmp_path / "fresh", resume=False)
    assert fresh.accounting == third.accounting
    assert (tmp_path / "fresh" / "train.jsonl").read_bytes() == (out / "train.jsonl").read_bytes()


@pytest.mark.parametrize("stage", ["clean", "near", "split", "diversify"])
def test_an_interrupt_leaves_no_partial_output_and_the_rerun_finishes(tmp_path, chats, monkeypatch, stage):
    from airtune.pipeline import run as run_mod

    out = tmp_path / "out"
    clean_run = Pipeline(FULL).run(chats, tmp_path / "reference")
    target = {"clean": "_clean", "near": "_near"}.get(stage)

    def boom(*a, **k):
        raise KeyboardInterrupt

    if target:
        monkeypatch.setattr(run_mod, target, boom)
    elif stage == "split":
        monkeypatch.setattr("airtune.split.holdout_split", boom)
    else:
        monkeypatch.setattr("airtune.prompts.diversify", boom)
    with pytest.raises(KeyboardInterrupt):
        Pipeline(FULL).run(chats, out)
    finals = [p.name for p in out.iterdir() if not p.name.startswith(".")]
    assert finals == []  # no train/test/dropped/report/manifest under the final names
    assert not [p for p in (out / ".cache").iterdir() if ".tmp-" in p.name]  # no half-written unit
    monkeypatch.undo()
    resumed = Pipeline(FULL).run(chats, out)
    done_before = {"clean": 0, "near": 4, "split": 8, "diversify": 9}[stage]
    cached = [row["cached"] for row in resumed.funnel]
    assert all(cached[:done_before]) and not any(cached[done_before:])
    for name in ("train.jsonl", "test.jsonl", "dropped.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "reference" / name).read_bytes()
    assert resumed.accounting == clean_run.accounting


def test_streaming_only_pipeline_matches_the_in_memory_stages(tmp_path, chats):
    stages = ["read", "clean", ("quality", {"preset": "chat"}), "exact", "write"]
    small = Pipeline([("read", {"batch_bytes": 64 << 10}), *stages[1:]]).run(chats, tmp_path / "s")
    big = Pipeline(stages).run(chats, tmp_path / "b")
    assert small.funnel[0]["rows_in"] == big.funnel[0]["rows_in"]
    assert [(f["stage"], f["kept"], f["dropped"]) for f in small.funnel] == [
        (f["stage"], f["kept"], f["dropped"]) for f in big.funnel
    ]
    assert (tmp_path / "s" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()
    # the same stages by hand on the whole file
    from airtune import clean, dedup

    recs = io.read_jsonl(chats, errors="quarantine", quarantine_path=tmp_path / "q.jsonl", progress=False)
    g = clean.strip_garbage(recs)
    step = g.apply(recs).kept
    f = clean.fix_text(step)
    step = f.apply(step).kept
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step = clean.quality_filter(step, "chat").apply(step).kept
    step = dedup.exact_duplicates(step).apply(step).kept
    assert [r["id"] for r in _jsonl(tmp_path / "b" / "train.jsonl")] == step.ids


def test_support_chats_stage_removals(tmp_path, chats):
    r = Pipeline(FULL).run(chats, tmp_path / "out")
    reasons = r.report["reasons"]
    # clean repairs the leaked HTML first (so quality has no markup left to drop)
    clean_stats = next(s for s in r.report["stages"] if s["stage"] == "clean")
    assert clean_stats["details"]["changed"] > 50 and clean_stats["details"]["removed"]["tags"] > 100
    assert set(reasons["quality"]) >= {
        "chat:refusal",
        "chat:truncated",
        "chat:language_mismatch",
        "chat:no_assistant",
    }
    assert "chat:markup" not in reasons["quality"]
    assert reasons["exact"]["exact_duplicate_of"] > 50
    assert sum(reasons.get("near", {}).values()) > 10
    kept_share = r.accounting["kept"] / r.accounting["rows_in"]
    assert 0.5 < kept_share < 0.95
    assert "chat:refusal" in (tmp_path / "out" / "report.html").read_text()


# ----------------------------------------------------------------------------------------------
# bad input: each error names the stage, the option or the row, and nothing is written


@pytest.mark.parametrize(
    ("stages", "match"),
    [
        (["read", "claen"], r"stage 1: unknown stage 'claen'; did you mean 'clean'\?"),
        (
            ["read", ("quality", {"presett": "chat"})],
            r"stage 1 \('quality'\): unknown option 'presett'; did you mean 'preset'\?",
        ),
        (
            ["read", ("near", {"threshold": "high"})],
            r"stage 1 \('near'\): option 'threshold' must be int or float, got str 'high'",
        ),
        (["read", ("exact", {"punctuation": 1})], r"option 'punctuation' must be bool, got int"),
        (["read", ("quality", {"preset": "web"})], r"option 'preset' must be one of"),
        (
            ["read", ("quality", {"params": {"refusals": False}})],
            r"stage 1 \('quality'\): option 'params': unknown quality_filter parameter 'refusals'",
        ),
        (["read", ("exact", {"select": "usr"})], r"stage 1 \('exact'\): option 'select' is not a selector"),
        (["read", ("split", {"fraction": 1.5})], r"option 'fraction' must be in \(0, 1\)"),
        (["clean", "read"], r"stage 1 \('read'\): read must be the first stage"),
        (["read", "diversify"], r"diversify runs on the training side, after 'split'"),
        (["read", "split", "near"], r"stage 2 \('near'\): only diversify"),
        ([{"stage": "read", "errors": "ignore"}], r"option 'errors' must be one of"),
    ],
)
def test_bad_configs_name_the_stage_and_key(stages, match, tmp_path):
    with pytest.raises(PipelineConfigError, match=match):
        Pipeline(stages)
    assert not (tmp_path / "out").exists()


def test_bad_inputs(tmp_path):
    p = Pipeline(["read", "exact"])
    with pytest.raises(FileNotFoundError, match=r"read: .*nope.jsonl: no such file"):
        p.run(tmp_path / "nope.jsonl", tmp_path / "out")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="read: .*empty.jsonl is empty"):
        p.run(empty, tmp_path / "out")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        p.run(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    f = tmp_path / "x.jsonl"
    f.write_text('{"text": "a"}\n')
    with pytest.raises(NotADirectoryError, match="write: output"):
        p.run(f, f)
    # a selector that names no field of the records, and records without the field a stage needs
    with pytest.raises(
        ValueError, match=r"exact: selector 'metadata.topic' names no field of any of the 24 records"
    ):
        Pipeline(["read", ("exact", {"select": "metadata.topic"})]).run(SAMPLE, tmp_path / "o2")
    with pytest.raises(ValueError, match=r"exact: selector 'system': record \d+ \(id 'sg-1'"):
        Pipeline(["read", ("exact", {"select": "system"})]).run(SAMPLE, tmp_path / "o3")
    assert not (tmp_path / "o3" / "train.jsonl").exists() and not (tmp_path / "o3" / "manifest.json").exists()
    with pytest.raises(airtune.ParseError, match=r"sample_chat.jsonl:4:139: invalid JSON"):
        Pipeline([("read", {"errors": "raise"}), "exact"]).run(SAMPLE, tmp_path / "o4")


def test_a_heavy_stage_warns_with_its_table_and_the_report_keeps_it(tmp_path):
    from airtune.clean import HeavyFilterWarning

    with pytest.warns(HeavyFilterWarning, match=r"quality_filter\[gopher\] would remove 24 of 24 rows") as w:
        r = Pipeline(["read", ("quality", {"preset": "gopher"})]).run(SAMPLE, tmp_path / "out")
    assert "gopher_quality:short_doc" in str(w[0].message)
    stage = next(s for s in r.report["stages"] if s["stage"] == "quality")
    assert "preset='chat'" in stage["details"]["warning"]
    assert "would remove 24 of 24 rows" in (tmp_path / "out" / "report.html").read_text()


def test_in_memory_records_and_stage_table():
    recs = io.read_jsonl(SAMPLE, errors="skip", progress=False)
    out_dir = Path(pytest.importorskip("tempfile").mkdtemp())
    try:
        r = Pipeline(["exact", ("split", {"fraction": 0.3})]).run(recs, out_dir)
        assert r.accounting["rows_in"] == 24 and r.accounting["dropped"] == 9
        assert len(r.train) + len(r.test) == 15
        with pytest.raises(ValueError, match="read: the source is in memory"):
            Pipeline(["read", "exact"]).run(recs, out_dir)
    finally:
        shutil.rmtree(out_dir)
    assert set(STAGES) == {
        "read",
        "clean",
        "quality",
        "exact",
        "near",
        "semantic",
        "outliers",
        "system_prompt_check",
        "split",
        "diversify",
        "write",
    }


# ----------------------------------------------------------------------------------------------
# config files and the CLI


TOML = """
input = "{input}"
output = "curated"

[[stages]]
stage = "read"
errors = "quarantine"

[[stages]]
stage = "clean"

[[stages]]
stage = "quality"
preset = "chat"

[[stages]]
stage = "exact"

[[stages]]
stage = "split"
fraction = 0.2

[[stages]]
stage = "write"
"""

YAML = """
input: {input}
output: curated
stages:
  - read
  - clean
  - {{stage: quality, preset: chat}}
  - exact
  - split: {{fraction: 0.2}}
  - write
"""


def test_toml_and_yaml_configs_run_the_same_stages_as_python(tmp_path):
    from airtune.cli import main

    (tmp_path / "a.toml").write_text(TOML.format(input=SAMPLE))
    (tmp_path / "b.yaml").write_text(YAML.format(input=SAMPLE))
    py = Pipeline(
        ["read", "clean", ("quality", {"preset": "chat"}), "exact", ("split", {"fraction": 0.2}), "write"]
    )
    ref = py.run(SAMPLE, tmp_path / "py")
    for cfg in ("a.toml", "b.yaml"):
        out = tmp_path / cfg
        assert main(["curate", str(out), "--out", str(tmp_path / f"out-{cfg}")]) == 0
        assert (tmp_path / f"out-{cfg}" / "train.jsonl").read_bytes() == (
            tmp_path / "py" / "train.jsonl"
        ).read_bytes()
    pipe, inp, outp = Pipeline.from_config(tmp_path / "a.toml")
    assert (
        inp == str(SAMPLE)
        and outp == str(tmp_path / "curated")
        and [s.name for s in pipe.stages] == [s.name for s in py.stages]
    )
    assert ref.accounting["rows_in"] == 30


def test_cli_errors_name_the_file_stage_and_key(tmp_path, capsys):
    from airtune.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text('[[stages]]\nstage = "quality"\npresett = "chat"\n')
    assert main(["curate", str(bad), "--input", str(SAMPLE), "--out", str(tmp_path / "o")]) == 2
    assert "stage 0 ('quality'): unknown option 'presett'" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages: [read, {stage: exact\n")
    assert main(["curate", str(broken), "--out", str(tmp_path / "o")]) == 2
    assert "broken.yaml: cannot parse" in capsys.readouterr().err
    assert main(["curate", str(tmp_path / "none.toml")]) == 2
    assert "no such config file" in capsys.readouterr().err
    ok = tmp_path / "ok.toml"
    ok.write_text('[[stages]]\nstage = "exact"\n')
    assert (
        main(["curate", str(ok), "--input", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")])
        == 1
    )
    assert "read: " in capsys.readouterr().err and not (tmp_path / "o" / "manifest.json").exists()


# ----------------------------------------------------------------------------------------------
# the HTML report in a real browser


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _render(page: Path, shot: Path) -> tuple[str, str]:
    """(DOM after scripts ran, console messages) of `page` in headless Chromium; saves a screenshot."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ]
    url = page.resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    snap = subprocess.run(
        [CHROMIUM, *flags, "--window-size=1280,2400", f"--screenshot={shot}", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console = "\n".join(line for line in (dom.stderr + snap.stderr).splitlines() if "CONSOLE" in line)
    return dom.stdout, console


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_report_renders_in_chromium_with_every_section(tmp_path, chats):
    from airtune.pipeline.report import SECTIONS

    r = Pipeline(FULL).run(chats, tmp_path / "out")
    page = Path(r.paths["report_html"])
    html = page.read_text()
    assert "http://" not in html and "https://" not in html.replace("https://docs.acme", "")  # self-contained
    dom, console = _render(page, tmp_path / "report.png")
    assert 'data-rendered="ok"' in dom, "a section is missing or the page script failed"
    for sid in SECTIONS:
        assert f'id="{sid}"' in dom
    assert console == "", console
    assert (tmp_path / "report.png").stat().st_size > 20_000
    png = (tmp_path / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # the check can fail: a page with a script error and a missing section is caught
    broken = tmp_path / "broken.html"
    broken.write_text(
        html.replace('<section id="labels">', '<section id="nolabels">').replace(
            "</body>", "<script>undefinedFn();</script></body>"
        )
    )
    dom2, console2 = _render(broken, tmp_path / "broken.png")
    assert "missing:labels" in dom2 and "undefinedFn" in console2
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["balanced"] and [f["stage"] for f in report["funnel"]][0] == "read"
    assert np.isclose(sum(report["labels"]["train"].values()), len(r.train))


@pytest.mark.parametrize("on_conflict", ["majority", "drop"])
def test_exact_label_conflicts_are_settled_over_the_whole_input(tmp_path, on_conflict):
    """A duplicate group whose rows fall in different streamed batches is settled as one group:
    the outcome does not depend on read.batch_bytes."""
    rows = []
    for i in range(600):
        q = "how do I reset my password?" if i in (5, 300, 590) else f"question number {i} about billing"
        label = "account" if i == 5 else ("password" if i in (300, 590) else "billing")
        rows.append(
            {
                "id": f"r{i}",
                "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": f"answer {i}"}],
                "label": label,
            }
        )
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stages = [("exact", {"on_conflict": on_conflict, "select": "user"}), "write"]
    small = Pipeline([("read", {"batch_bytes": 4 << 10}), *stages]).run(path, tmp_path / "s")
    big = Pipeline(["read", *stages]).run(path, tmp_path / "b")
    for name in ("train.jsonl", "dropped.jsonl"):
        assert (tmp_path / "s" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert small.accounting == big.accounting and small.report["balanced"]
    kept = {r["id"] for r in _jsonl(tmp_path / "s" / "train.jsonl")}
    group = {"r5", "r300", "r590"}
    # majority: the most common label (password) keeps its first row; drop: the whole group goes
    assert kept & group == ({"r300"} if on_conflict == "majority" else set())
    assert small.accounting["kept"] + small.accounting["dropped"] == 600
