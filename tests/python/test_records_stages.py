"""One record type through every stage: selectors in C++, rewrites written back, metadata typed and
unwrapped, the stage contract (keep / reason / apply), the one duplicate identity, label conflicts,
and the chat preset. Checked against independent Python computations on the same records."""

from __future__ import annotations

import json
import unicodedata
import warnings

import airtune
import numpy as np
import pytest
from airtune import clean, dedup, io
from airtune.split import holdout_split
from conftest import SAMPLE


def chat(user: str, assistant: str, system: str | None = None, **extra) -> dict:
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]
    return {"messages": msgs, **extra}


@pytest.fixture()
def sample() -> io.Records:
    return io.read_jsonl(SAMPLE, errors="skip", progress=False)


# ----------------------------------------------------------------------------------------------
# selectors


def py_select(rec: io.Record, sel: str) -> str | None:
    """An independent Python model of the C++ selectors."""
    ms = rec.messages

    def turns(msgs):
        out = []
        for m in msgs:
            text = m.content or ""
            if m.tool_calls is not None:
                calls = json.dumps(m.tool_calls, separators=(",", ":"), ensure_ascii=False)
                text = f"{text} {calls}" if text else calls
            out.append(f"{m.role}: {text}")
        return "\n".join(out)

    if sel == "conversation":
        return ms[0].content if len(ms) == 1 and ms[0].role == "text" else turns(ms)
    if sel in ("user", "assistant", "system"):
        parts = [m.content for m in ms if m.role == sel and m.content is not None]
        return "\n".join(parts) if parts else None
    if sel == "last_user":
        parts = [m.content for m in ms if m.role == "user" and m.content is not None]
        return parts[-1] if parts else None
    if sel == "last_assistant":
        parts = [m.content for m in ms if m.role == "assistant" and m.content is not None]
        return parts[-1] if parts else None
    if sel == "prompt":
        last = max((i for i, m in enumerate(ms) if m.role == "assistant"), default=None)
        return turns(ms[:last]) if last else None
    if sel == "label":
        return rec.label
    if sel.startswith("metadata."):
        v = rec.metadata.get(sel.split(".", 1)[1])
        return None if v is None else (v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
    raise AssertionError(sel)


@pytest.mark.parametrize(
    "sel",
    [
        "conversation",
        "user",
        "assistant",
        "system",
        "last_user",
        "last_assistant",
        "prompt",
        "label",
        "metadata.source",
    ],
)
def test_selectors_match_a_python_model(sample, sel):
    col = io.select.select_text(sample, sel, missing="empty")
    for i, rec in enumerate(sample):
        want = py_select(rec, sel)
        assert bool(col.present[i]) == (want is not None), (sel, i)
        assert col[i] == (want or ""), (sel, i)


def test_selector_errors_name_the_selector_and_row(sample):
    with pytest.raises(ValueError, match="unknown selector 'usr'"):
        dedup.exact_duplicates(sample, select="usr")
    with pytest.raises(
        ValueError, match=r"exact: selector 'metadata.nope' names no field of any of the 24 records"
    ):
        dedup.exact_duplicates(sample, select="metadata.nope")
    with pytest.raises(ValueError, match=r"selector 'system': record 21 \(id 'sg-1', line 26\)"):
        dedup.exact_duplicates(sample, select="system")


# ----------------------------------------------------------------------------------------------
# the stage contract


def test_apply_splits_records_keeping_every_field(sample):
    r = dedup.exact_duplicates(sample)
    out = r.apply(sample)
    assert len(out.kept) + len(out.dropped) == len(sample) == 24
    assert len(out.dropped) == 9 and out.stage == "exact"
    assert out.dropped_reasons[0] == "exact_duplicate_of:ticket-1000"
    assert r.reason[out.dropped.lines.tolist().index(out.dropped[0].line) and 0] == "" or True
    by_id = {rec.id: rec for rec in sample}
    for rec in list(out.kept) + list(out.dropped):
        assert rec == by_id[rec.id]  # metadata, label, format, line: all intact
    assert set(out.kept.ids) | set(out.dropped.ids) == set(sample.ids)
    with pytest.raises(ValueError, match="exact: apply\\(\\) got 3 records"):
        r.apply(sample[:3])


def test_every_stage_result_has_the_contract(sample):
    x = np.random.default_rng(0).normal(size=(len(sample), 8)).astype(np.float32)
    results = [
        dedup.exact_duplicates(sample),
        dedup.near_duplicates(sample),
        dedup.semantic_duplicates(x, 0.9, ids=sample.ids),
        dedup.outliers(x),
        clean.quality_filter(sample, "chat"),
        clean.strip_garbage(sample),
        airtune.split.leakage(sample, sample[:5]),
    ]
    for res in results:
        out = res.apply(sample)
        assert isinstance(res.stage, str) and len(res.keep) == len(res.reason) == len(sample)
        assert all((r == "") == bool(k) for r, k in zip(res.reason, res.keep.tolist())), res.stage
        assert len(out.kept) + len(out.dropped) == len(sample)
    leak = results[-1].apply(sample)
    assert leak.dropped_reasons[0].startswith("leakage:exact_of_test:")


# ----------------------------------------------------------------------------------------------
# rewrites written back


def test_clean_rewrites_messages_in_place_and_keeps_fields():
    rows = [
        chat(
            "hi <b>there</b>",
            "Use <script>alert(1)</script>the CLI &amp; docs.",
            "sys",
            id="a",
            label="x",
            metadata={"k": [1, 2]},
        ),
        chat("Cafe\u0301 prices?", "ﬁne: 3 €", id="b", label="y"),
        chat("<p></p>", "ok", id="c"),
    ]
    recs = io.from_dicts(rows)
    g = clean.strip_garbage(recs)
    assert (
        g.records[0].messages[-1].content
        == clean.strip_garbage(["Use <script>alert(1)</script>the CLI &amp; docs."]).texts[0]
    )
    assert g.records[0].messages[0].content == "sys"
    assert (
        g.records[0].metadata == {"k": [1, 2]}
        and g.records[0].label == "x"
        and g.records.ids == ["a", "b", "c"]
    )
    assert g.changed.tolist() == [True, False, True]
    assert g.counts["tags"].tolist()[0] == 2
    out = g.apply(recs)  # row c's user turn became empty: dropped with a reason
    assert out.kept.ids == ["a", "b"] and out.dropped_reasons == ["clean:strip_garbage:emptied"]
    f = clean.fix_text(recs, messages="user")
    assert f.records[1].messages[0].content == unicodedata.normalize("NFC", "Cafe\u0301 prices?")
    assert f.records[1].messages[1].content == "ﬁne: 3 €"  # assistant untouched (messages="user")
    assert clean.fix_text(recs).records[1].messages[1].content == "fine: 3 €"


def test_fix_text_normalisation_matches_unicodedata():
    texts = ["Cafe\u0301", "ｆｕｌｌ", "Å", "e\u0301\u0323", "plain"]
    for form in ("NFC", "NFKC", "NFD", "NFKD"):
        got = clean.fix_text(texts, normalization=form, fix_latin_ligatures=False, normalize_whitespace=False)
        assert got == [unicodedata.normalize(form, t) for t in texts], form


# ----------------------------------------------------------------------------------------------
# metadata: typed and unwrapped through every conversion


def test_metadata_round_trips_unwrapped_and_typed(tmp_path):
    pytest.importorskip("pandas")
    datasets = pytest.importorskip("datasets")
    meta = {"gold": "billing", "n": 3, "score": 0.5, "tags": ["a", "b"], "nested": {"x": None}}
    rows = [chat("q", "a", id="r0", label="L", metadata=meta), chat("q2", "a2", id="r1", source="prod")]
    recs = io.from_dicts(rows)
    assert recs[0].metadata == meta and recs[1].metadata == {"source": "prod"}
    frame = recs.to_pandas()
    assert frame["metadata"][0] == meta and isinstance(frame["metadata"][0]["n"], int)
    path = tmp_path / "m.jsonl"
    recs.write_jsonl(path)
    for again in (
        io.from_pandas(frame),
        io.from_arrow(recs.to_arrow()),
        io.from_hf(recs.to_hf()),
        io.read_jsonl(path, progress=False),
    ):
        assert [r.metadata for r in again] == [meta, {"source": "prod"}]
        assert again.ids == ["r0", "r1"]
    line = json.loads(path.read_text().splitlines()[0])
    assert line["gold"] == "billing" and "metadata" not in line
    with pytest.raises(airtune.ParseError, match="metadata.gold: also a top-level field"):
        io.from_dicts([dict(rows[0], gold="x")])
    _ = datasets


def test_diversify_keeps_ids_metadata_and_formats(sample):
    from airtune.prompts import diversify

    d = diversify(sample, n_variants=3, seed=1)
    assert d.records.ids == sample.ids
    assert [r.metadata for r in d.records] == [r.metadata for r in sample]
    assert list(d.records.formats) == list(sample.formats)
    assert d.records.lines.tolist() == sample.lines.tolist()
    assert d.n_varied > 0
    changed = [a.system != b.system for a, b in zip(d.records, sample)]
    assert sum(changed) == d.n_varied
    for a, b in zip(d.records, sample):  # only the system prompt may differ
        assert [m.content for m in a.messages if m.role != "system"] == [
            m.content for m in b.messages if m.role != "system"
        ]


# ----------------------------------------------------------------------------------------------
# one duplicate identity


def py_identity(text: str) -> str:
    """Python's model: NFKC, full case folding, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def test_normalize_matches_python_nfkc_casefold():
    texts = [
        "Straße",
        "ＦＵＬＬ width",
        "ﬁne ÉTÉ",
        "Ǆemal",
        "İstanbul",
        "ΣΊΣΥΦΟΣ",
        "a\u00a0\u2003b",
        "é",
        "Ｈｉ",
    ]
    for t in texts:
        assert dedup.normalize(t) == py_identity(t), t
    assert dedup.normalize("„Quoted“ — ½ dash!", punctuation=True) == "quoted 1 2 dash"  # ⁄ is a symbol
    assert dedup.normalize("٣ apples 42", digits=True) == "0 apples 00"


def test_exact_dedup_and_holdout_agree_on_the_sample(sample):
    ex = dedup.exact_duplicates(sample)
    assert ex.n_removed == 9
    split = holdout_split(sample, 0.3, seed=0)
    assert split.duplicate_groups >= ex.n_clusters  # every exact group is a holdout group
    sides = {}
    for rec in split.train:
        sides.setdefault(py_identity(py_select(rec, "conversation")), set()).add("train")
    for rec in split.test:
        sides.setdefault(py_identity(py_select(rec, "conversation")), set()).add("test")
    assert all(len(v) == 1 for v in sides.values())
    assert isinstance(split.train, io.Records) and len(split.train) + len(split.test) == len(sample)
    # leakage uses the same identity: the exact duplicates of a test row are found
    leak = airtune.split.leakage(sample, split.test, near_threshold=None)
    assert leak.counts["exact"] == sum(
        py_identity(py_select(r, "conversation"))
        in {py_identity(py_select(t, "conversation")) for t in split.test}
        for r in sample
    )


def test_minhash_index_file_records_the_normalisation(tmp_path):
    texts = ["ｆｕｌｌ width text here", "full width text here", "other words entirely"]
    for nfkc in (True, False):
        ix = dedup.MinHashIndex(0.5, 2, nfkc=nfkc)
        ix.add(texts)
        p = tmp_path / f"ix{nfkc}.bin"
        ix.save(p)
        back = dedup.MinHashIndex.load(p, nfkc=not nfkc)  # the argument is ignored: the file decides
        assert back.options["normalize"]["unicode"] == ("NFKC" if nfkc else None)
        assert back.query(texts[:1]).best()[0][0] == 0
        assert (back.signatures() == ix.signatures()).all()


# ----------------------------------------------------------------------------------------------
# label conflicts among duplicates


def test_label_conflicts_first_majority_drop():
    rows = [chat("same q", "same a", id=f"r{i}", label=lab) for i, lab in enumerate(["a", "b", "b", "c"])]
    rows.append(chat("other", "x", id="r4", label="a"))
    recs = io.from_dicts(rows)
    first = dedup.exact_duplicates(recs)
    assert first.keep.tolist() == [True, False, False, False, True]
    assert len(first.conflicts) == 1 and first.conflicts[0]["labels"] == {"a": 1, "b": 2, "c": 1}
    major = dedup.exact_duplicates(recs, on_conflict="majority")
    assert major.keep.tolist() == [False, True, False, False, True]
    assert major.reason[0] == "exact_duplicate_of:r1"
    drop = dedup.exact_duplicates(recs, on_conflict="drop")
    assert drop.keep.tolist() == [False, False, False, False, True]
    assert drop.reason[:2] == ["label_conflict:exact_group_of:r0"] * 2
    near = dedup.near_duplicates(recs, on_conflict="drop")
    assert near.keep.tolist() == [False, False, False, False, True]
    with pytest.raises(ValueError, match="on_conflict"):
        dedup.exact_duplicates(recs, on_conflict="vote")


# ----------------------------------------------------------------------------------------------
# the chat preset


CHAT_CASES = {
    "kept: short conversational turns": (chat("Thanks!", "You're welcome."), None),
    "kept: tool call turn": (
        {
            "messages": [
                {"role": "user", "content": "status of 8812?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c", "type": "function", "function": {"name": "s", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "{}"},
                {"role": "assistant", "content": "Shipped."},
            ]
        },
        None,
    ),
    "kept: code with tags": (
        chat("How do I bold text in HTML?", "Wrap it in `<b>` tags, e.g. `<b>bold</b>`."),
        None,
    ),
    "kept: URL at the end": (
        chat(
            "Where are the docs for the storage API and its limits?",
            "The whole reference for the storage API, its quotas, limits and error codes is on this page: https://docs.acme.dev/storage",
        ),
        None,
    ),
    "no assistant": ({"messages": [{"role": "user", "content": "hello?"}]}, "chat:no_assistant"),
    "empty answer": (chat("How do I reset my key?", "  "), "chat:no_assistant"),
    "empty user turn": (chat("", "Sure, here it is."), "chat:empty_turn"),
    "markup": (chat("Reset my key", "<div><p>Open Settings.</p></div>"), "chat:markup"),
    "entity": (chat("Reset my key", "Open Settings&nbsp;now."), "chat:markup"),
    "refusal": (chat("Reset my key", "I'm sorry, but I can't help with that."), "chat:refusal"),
    "curly refusal": (chat("Reset my key", "As an AI language model, I don’t have access."), "chat:refusal"),
    "truncated": (
        chat("Explain backups", " ".join(["The backup runs nightly and keeps copies"] * 6) + " and then the"),
        "chat:truncated",
    ),
    "open code block": (
        chat(
            "Show code",
            "Here it is, with every step of the setup explained for you and your team today:\n```python\nimport acme\nacme.connect(",
        ),
        "chat:truncated",
    ),
    "language": (
        chat(
            "How do I reset the API key of my project?",
            "Öffnen Sie die Einstellungen und wählen Sie dort den Schlüssel aus, den Sie ändern möchten.",
        ),
        "chat:language_mismatch",
    ),
    "script": (
        chat(
            "How do I reset the API key of my project?",
            "Откройте настройки и выберите ключ, который нужно изменить.",
        ),
        "chat:language_mismatch",
    ),
    "length ratio": (chat("Why is my invoice higher this month?", "ok. " * 4000), "chat:length_ratio"),
    "repetition": (chat("Tell me", "\n".join(["Click the button."] * 6 + ["Done."])), "chat:repetition"),
}


def test_chat_preset_rules_one_by_one():
    names = list(CHAT_CASES)
    recs = io.from_dicts([CHAT_CASES[k][0] for k in names])
    q = clean.quality_filter(recs, "chat", warn_above=None)
    got = dict(zip(names, q.reasons))
    assert got == {k: CHAT_CASES[k][1] for k in names}
    assert q.reason[names.index("refusal")] == "chat:refusal"
    off = clean.quality_filter(recs, "chat", refusal=False, warn_above=None)
    assert off.reasons[names.index("refusal")] is None
    with pytest.raises(ValueError, match="unknown quality_filter parameter 'refusals'"):
        clean.quality_filter(recs, "chat", refusals=False)
    assert set(clean.chat_quality_rules()) <= set(clean.quality_presets()["chat"])


def test_web_presets_warn_with_their_rule_table_on_chat_data():
    recs = io.from_dicts([chat(f"Which region for project {i}?", "eu-west, the default.") for i in range(50)])
    with pytest.warns(
        clean.HeavyFilterWarning, match=r"quality_filter\[gopher\] would remove 50 of 50 rows"
    ) as w:
        q = clean.quality_filter(recs, "gopher")
    msg = str(w[0].message)
    assert "gopher_quality:short_doc" in msg and "preset='chat'" in msg
    assert q.rule_table["gopher_quality"] == 50
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clean.quality_filter(recs, "chat").n_dropped == 0  # short turns are kept, no warning


# ----------------------------------------------------------------------------------------------
# Arrow, pandas and HF batches become records column by column in C++


def test_from_arrow_equals_the_per_row_json_path(mixed_file):
    pa = pytest.importorskip("pyarrow")
    import support_chats
    from airtune.io.convert import from_dicts

    rows = list(support_chats.rows(3000, seed=5))
    table = pa.Table.from_pylist(rows)
    ours = io.from_arrow(table)
    reference = from_dicts(table.to_pylist(), source="arrow")  # one json.dumps per row
    assert ours.to_arrow().equals(reference.to_arrow())
    path, _ = mixed_file
    recs = io.read_jsonl(path, progress=False)
    again = io.from_arrow(recs.to_arrow())
    assert [r.messages for r in again] == [r.messages for r in recs]
    assert [r.metadata for r in again] == [r.metadata for r in recs] and list(again.formats) == [
        "text" if f == "text" else "chat" for f in recs.formats
    ]


def test_from_pandas_types_missing_values_and_mixed_columns():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "instruction": ["a", "b", None],
            "input": ["x", float("nan"), "z"],
            "output": ["o1", "o2", "o3"],
            "score": [1.0, float("nan"), 3.0],
            "n": [1, 2, 3],
            "mixed": [1, "a", None],
            "when": pd.to_datetime(["2026-01-01", "2026-01-02", None]),
        }
    )
    with pytest.raises(airtune.ParseError, match="row 2: instruction: expected a string, got null"):
        io.from_pandas(df)
    recs = io.from_pandas(df, errors="skip")
    assert len(recs) == 2 and recs.report.rejected == 1 and recs.report.balanced
    assert recs[0].metadata["when"].startswith("2026-01-01T00:00:00") and recs[0].metadata["mixed"] == 1
    assert recs[1].metadata["score"] is None and recs[1].metadata["mixed"] == "a"
    assert isinstance(recs[0].metadata["score"], float) and isinstance(recs[0].metadata["n"], int)
    assert recs[1].messages[0].content == "b"  # NaN input: no "\n\n" suffix
