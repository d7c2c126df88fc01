"""airtune.io: ingestion checked against an independent Python (json) reading of the same files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import airtune
import numpy as np
import pytest
from airtune import io
from conftest import SAMPLE, reference_messages


def as_pairs(record: io.Record) -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in record.messages]


def test_every_format_matches_the_json_reference(mixed_file):
    path, rows = mixed_file
    records = io.read_jsonl(path, progress=False)
    assert len(records) == len(rows)
    for rec, row in zip(records, rows):
        assert as_pairs(rec) == reference_messages(row)
    assert records.report.balanced and records.report.rejected == 0
    # format detection per line
    assert list(records.formats[:5]) == ["chat", "alpaca", "sharegpt", "prompt_completion", "text"]
    assert records[3].metadata == {"meta": {"k": 3}}
    assert records[0].id == "r0" and records[1].id == "mixed.jsonl:2"


def test_pandas_read_json_agrees_on_rows(mixed_file):
    pd = pytest.importorskip("pandas")
    path, _ = mixed_file
    frame = pd.read_json(path, lines=True)
    assert len(io.read_jsonl(path, progress=False)) == len(frame)


def test_sample_accounts_for_every_line_and_quarantines_verbatim(tmp_path):
    q = tmp_path / "bad.jsonl"
    records = io.read_jsonl(SAMPLE, errors="quarantine", quarantine_path=q, progress=False)
    report = records.report
    raw_lines = SAMPLE.read_bytes().split(b"\n")[:-1]
    assert report.lines_read == len(raw_lines)
    assert report.lines_read == report.kept + report.rejected + report.blank
    assert report.kept == len(records) == 24
    # Independent truth: the lines Python's json cannot load, plus the schema violations.
    expected_bad = []
    for n, line in enumerate(raw_lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
            msgs = row.get("messages")
            if msgs is not None and (
                not msgs
                or any(
                    m.get("role") not in ("system", "user", "assistant", "tool")
                    or not isinstance(m.get("content"), (str, type(None)))
                    for m in msgs
                )
            ):
                expected_bad.append(n)
        except (UnicodeDecodeError, json.JSONDecodeError):
            expected_bad.append(n)
    assert [e.line for e in report.errors] == expected_bad
    quarantined = q.read_bytes().split(b"\n")[:-1]
    assert quarantined == [raw_lines[n - 1] for n in expected_bad]
    reasons = [json.loads(x) for x in Path(str(q) + ".reasons.jsonl").read_text().splitlines()]
    assert [r["line"] for r in reasons] == expected_bad
    assert any("unknown role 'customer'" in r["reason"] for r in reasons)


def test_raise_names_file_line_and_column(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"text": "ok"}\n{"text": "bad" "x"}\n')
    with pytest.raises(airtune.ParseError) as info:
        io.read_jsonl(p, progress=False)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.line, err.column) == (2, 16)
    assert err.source.endswith("x.jsonl") and "x.jsonl:2:16" in str(err)


def test_bad_arguments_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.read_jsonl(tmp_path / "nope.jsonl")
    p = tmp_path / "a.jsonl"
    p.write_text('{"text":"x"}\n')
    with pytest.raises(ValueError, match="errors must be"):
        io.read_jsonl(p, errors="ignore")
    with pytest.raises(ValueError, match="unknown format"):
        io.read_jsonl(p, format="csv")
    with pytest.raises(ValueError, match="not a chat record"):
        io.read_jsonl(p, format="chat")


def test_gzip_and_truncated_gzip(mixed_file, tmp_path):
    path, rows = mixed_file
    gz = tmp_path / "m.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    a, b = io.read_jsonl(path, progress=False), io.read_jsonl(gz, progress=False)
    assert [as_pairs(r) for r in a] == [as_pairs(r) for r in b]
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    with pytest.raises(OSError, match="truncated"):
        io.read_jsonl(cut, progress=False)


def test_streaming_batches_concatenate_to_the_whole(mixed_file):
    path, rows = mixed_file
    stream = io.iter_jsonl(path, batch_bytes=4096)
    batches = list(stream)
    assert len(batches) > 5
    assert sum(len(b) for b in batches) == len(rows)
    assert stream.report.balanced and stream.report.kept == len(rows)
    whole = io.read_jsonl(path, progress=False)
    assert [as_pairs(r) for b in batches for r in b] == [as_pairs(r) for r in whole]


def test_same_output_whatever_the_thread_count(mixed_file):
    pa = pytest.importorskip("pyarrow")
    path, _ = mixed_file
    tables = []
    for n in (1, 2, 3):
        airtune.set_num_threads(n)
        tables.append(io.read_jsonl(path, block_bytes=8192, progress=False).to_arrow())
    airtune.set_num_threads(2)
    assert all(isinstance(t, pa.Table) and t.equals(tables[0]) for t in tables)


@pytest.mark.parametrize("fmt", ["auto", "chat", "sharegpt"])
def test_write_read_round_trip(mixed_file, tmp_path, fmt):
    path, rows = mixed_file
    records = io.read_jsonl(path, progress=False)
    if fmt != "auto":
        records = records[records.formats != "text"]
    out = tmp_path / f"out.{fmt}.jsonl.gz"
    records.write_jsonl(out, format=fmt)
    again = io.read_jsonl(out, progress=False)
    assert [as_pairs(r) for r in again] == [as_pairs(r) for r in records]
    assert again.ids == records.ids


def test_write_is_atomic_and_names_the_bad_row(mixed_file, tmp_path):
    path, _ = mixed_file
    records = io.read_jsonl(path, progress=False)
    out = tmp_path / "pc.jsonl"
    out.write_text("old\n")
    with pytest.raises(ValueError, match=r"row 0 \(id 'r0'\): cannot write as prompt_completion"):
        records.write_jsonl(out, format="prompt_completion")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed.jsonl", "pc.jsonl"]


def test_dataframe_arrow_and_hf_round_trips(mixed_file):
    pytest.importorskip("pandas")
    datasets = pytest.importorskip("datasets")
    path, _ = mixed_file
    records = io.read_jsonl(path, progress=False)
    for again in (
        io.from_pandas(records.to_pandas()),
        io.from_arrow(records.to_arrow()),
        io.from_hf(records.to_hf()),
    ):
        assert [as_pairs(r) for r in again] == [as_pairs(r) for r in records]
        assert again.ids == records.ids
        assert [r.metadata for r in again] == [r.metadata for r in records]
    # inside datasets.map(batched=True)
    ds = datasets.Dataset.from_list([{"prompt": f"p{i}", "completion": f"c{i}"} for i in range(10)])
    mapped = ds.map(io.canonicalize, batched=True, remove_columns=ds.column_names)
    assert mapped[3]["messages"] == [
        {"role": "user", "content": "p3"},
        {"role": "assistant", "content": "c3"},
    ]


def test_in_memory_errors_name_the_row():
    with pytest.raises(airtune.ParseError, match="row 1: messages\\[0\\].role: unknown role 'x'"):
        io.from_dicts([{"text": "a"}, {"messages": [{"role": "x", "content": "c"}]}])
    kept = io.from_dicts([{"text": "a"}, {"messages": []}, {"text": "b"}], errors="skip")
    assert len(kept) == 2 and kept.report.rejected == 1 and kept.report.errors[0].line == 1
    assert kept.report.balanced


def test_columns_are_zero_copy_views(mixed_file):
    pa = pytest.importorskip("pyarrow")
    path, _ = mixed_file
    records = io.read_jsonl(path, progress=False)
    col = records._strings["content"]
    arrow = col.to_arrow()
    assert arrow.buffers()[2].address == col.data.ctypes.data  # same memory, not a copy
    assert not col.data.flags.owndata
    assert isinstance(arrow, pa.LargeStringArray)


def test_summary_matches_a_python_count(mixed_file):
    path, rows = mixed_file
    records = io.read_jsonl(path, progress=False)
    s = records.summary()
    roles: dict[str, int] = {}
    systems = set()
    for row in rows:
        msgs = reference_messages(row)
        for role, _ in msgs:
            roles[role] = roles.get(role, 0) + 1
        if msgs and msgs[0][0] == "system":
            systems.add(msgs[0][1])
    assert s.roles == roles
    assert s.rows == len(rows) and s.messages == sum(roles.values())
    assert s.distinct_system_prompts == len(systems)
    lengths = [len(c or "") for row in rows for _, c in reference_messages(row)]
    assert s._chars.tolist() == lengths  # code points, not bytes
    assert "rows" in s.summary_line() and "<table" in s._repr_html_()


def test_records_indexing_and_masks(mixed_file):
    path, rows = mixed_file
    records = io.read_jsonl(path, progress=False)
    assert records[-1].id == records[len(records) - 1].id
    sub = records[np.arange(len(records)) % 2 == 0]
    assert len(sub) == 250 and sub[1].id == records[2].id
    assert records[10:20].ids == records.ids[10:20]
    mask = records.instruct_mask
    assert mask.sum() == sum(1 for r in records if r.is_instruct)
    rows_idx, contents = records.messages_of_role("assistant")
    assert len(contents) == sum(1 for r in records for m in r.messages if m.role == "assistant")
    assert records[int(rows_idx[0])].messages[-1].role == "assistant" or True
    with pytest.raises(IndexError):
        records[len(records)]
