"""write output="parquet": shards in one schema, read back by pyarrow, listed in the manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import support_chats
from airtune.io import from_arrow
from airtune.pipeline import Pipeline, shards

STAGES = ["read", "clean", "exact", ("near", {"threshold": 0.7})]


def check_shards(out: Path, kept: int) -> None:
    """The manifest's shards exist with their rows, bytes and SHA-256; nothing else is there."""
    entry = json.loads((out / "manifest.json").read_text())["outputs"]["train"]
    assert entry["format"] == "parquet" and entry["rows"] == kept
    files = sorted((out / "train").iterdir())
    assert [f"train/{p.name}" for p in files] == [s["path"] for s in entry["shards"]]
    for s in entry["shards"]:
        p = out / s["path"]
        assert pq.ParquetFile(p).metadata.num_rows == s["rows"] > 0
        assert p.stat().st_size == s["bytes"]
        assert hashlib.sha256(p.read_bytes()).hexdigest() == s["sha256"]
    assert sum(s["rows"] for s in entry["shards"]) == kept
    assert {p.name for p in out.iterdir() if p.name.startswith(".")} <= {
        ".cache",
        ".ray-cache",
    }  # no temporaries
    assert not (out / "train.jsonl").exists()


@pytest.mark.parametrize("streaming", [True, False])
def test_parquet_shards_hold_the_rows_of_the_jsonl_output(tmp_path, monkeypatch, streaming):
    src = support_chats.write_jsonl(tmp_path / "chats.jsonl", 700, seed=5)
    stages = ["read", "clean", "exact"] if streaming else STAGES
    monkeypatch.setattr(shards, "SHARD_ROWS", 150)  # several shards
    ref = Pipeline([*stages, "write"]).run(src, tmp_path / "jsonl")
    res = Pipeline([*stages, ("write", {"output": "parquet"})]).run(src, tmp_path / "pq")
    assert res.accounting == ref.accounting and res.accounting["dropped"] > 0
    check_shards(tmp_path / "pq", ref.accounting["kept"])
    table = pq.read_table(tmp_path / "pq" / "train")  # the folder as one dataset: one schema
    assert table.num_rows == ref.accounting["kept"] and table.schema.equals(shards.schema())
    # back to records and to JSONL: the bytes the JSONL output has
    from_arrow(table).write_jsonl(str(tmp_path / "back.jsonl"))
    assert (tmp_path / "back.jsonl").read_bytes() == (tmp_path / "jsonl" / "train.jsonl").read_bytes()
    assert res.train.ids == ref.train.ids
    assert (tmp_path / "pq" / "dropped.jsonl").read_bytes() == (
        tmp_path / "jsonl" / "dropped.jsonl"
    ).read_bytes()


def test_parquet_output_of_a_split_run_has_train_and_test(tmp_path):
    src = support_chats.write_jsonl(tmp_path / "chats.jsonl", 300, seed=2)
    res = Pipeline(["read", "exact", ("split", {"fraction": 0.2}), ("write", {"output": "parquet"})]).run(
        src, tmp_path / "o"
    )
    outputs = json.loads((tmp_path / "o" / "manifest.json").read_text())["outputs"]
    assert outputs["train"]["rows"] == len(res.train) and outputs["test"]["rows"] == len(res.test) > 0
    assert pq.read_table(tmp_path / "o" / "test").num_rows == len(res.test)
