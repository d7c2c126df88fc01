"""The demo traffic generator: same seed, same bytes; the planted properties hold in the bytes.

Every property is recomputed from the files (json, regexes, airtune's reader), never read back
from the generator's own bookkeeping alone: the manifest is checked against it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import datetime

import pytest
from airtune import io
from airtune.demo import DemoSizes, generate, load_taxonomy
from airtune.demo.data import SYSTEM_PROMPT_V1, SYSTEM_PROMPT_V2

SMALL = DemoSizes(rows=900, production_rows=400, corpus_rows=400)
TAG = re.compile(r"<(script|style|div|p|section|noscript|ul|!--)\b", re.I)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo"), seed=7, sizes=SMALL, show_progress=False)


def parse(path):
    """(line number, record or None) for every line of a JSONL file, with the stdlib parser."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = None
            out.append((n, rec if isinstance(rec, dict) else None))
    return out


def words(text):
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, data):
    generate(tmp_path / "again", seed=7, sizes=SMALL, show_progress=False)
    generate(tmp_path / "other", seed=8, sizes=SMALL, show_progress=False)
    for name in ("traffic.jsonl", "production.jsonl", "corpus.txt", "manifest.json"):
        a = (tmp_path / "again" / name).read_bytes()
        assert a == open(f"{data.out_dir}/{name}", "rb").read(), name
        assert a != (tmp_path / "other" / name).read_bytes(), name
    m = data.manifest
    assert m["traffic"]["sha256"] == hashlib.sha256(open(data.traffic, "rb").read()).hexdigest()
    assert m["corpus"]["sha256"] == hashlib.sha256(open(data.corpus, "rb").read()).hexdigest()
    assert not list(tmp_path.glob("again/.*tmp*")), "no temporary file left behind"


@pytest.mark.parametrize("which", ["traffic", "production"])
def test_malformed_lines_are_where_the_manifest_says_and_the_reader_agrees(data, which):
    path = getattr(data, which)
    key = data.manifest[which]
    lines = parse(path)
    bad = [n for n, rec in lines if rec is None]
    assert bad == key["malformed_lines"]
    assert len(bad) == round(
        SMALL.rows * SMALL.malformed_share
        if which == "traffic"
        else SMALL.production_rows * SMALL.malformed_share
    )
    assert len(lines) == key["lines"]
    recs = io.read_jsonl(path, errors="skip", progress=False)
    assert recs.report.balanced
    assert recs.report.rejected == len(bad)
    assert sorted(e.line for e in recs.report.errors) == bad
    assert len(recs) == key["records"]
    r = recs[0]
    assert r.messages[0].role == "system" and r.messages[-1].role == "assistant"
    assert {"timestamp", "request_id", "gold_label", "gold_id", "model", "prompt_version"} <= set(r.metadata)
    assert r.id == r.metadata["request_id"]


def test_records_duplicates_html_off_domain_baseline(data):
    tax = load_taxonomy()
    valid = set(tax.valid_paths)
    key = data.manifest["traffic"]
    recs = [rec for _, rec in parse(data.traffic) if rec is not None]
    by_id = {r["id"]: r for r in recs}
    assert len(by_id) == len(recs), "request ids are unique"
    user = {r["id"]: r["messages"][1]["content"] for r in recs}

    # one system prompt on every row of the training period
    assert {r["messages"][0]["content"] for r in recs} == {SYSTEM_PROMPT_V1}

    # exact duplicates: planted pairs are identical conversations; the measured count includes them
    prompts = Counter((r["messages"][0]["content"], r["messages"][1]["content"]) for r in recs)
    assert key["duplicate_prompt_rows"] == sum(prompts.values()) - len(prompts)
    assert len(key["exact_duplicates"]) == round(SMALL.rows * SMALL.exact_dup_share)
    for dup, orig in key["exact_duplicates"]:
        assert by_id[dup]["messages"] == by_id[orig]["messages"] and dup != orig
        assert (
            by_id[dup]["timestamp"] >= by_id[orig]["timestamp"]
            or by_id[dup]["timestamp"][:10] == "2025-03-30"
        )
    assert key["duplicate_prompt_rows"] >= len(key["exact_duplicates"])

    # near duplicates: not identical, but nearly the same words
    assert len(key["near_duplicates"]) == round(SMALL.rows * SMALL.near_dup_share)
    for near, orig in key["near_duplicates"]:
        a, b = user[near], user[orig]
        assert a != b
        jac = len(words(a) & words(b)) / len(words(a) | words(b))
        assert jac >= 0.6, (a, b, jac)

    # leaked HTML / JavaScript: exactly the listed rows carry tags, most of those a script
    html = {i for i, t in user.items() if TAG.search(t)}
    assert html == set(key["html"])
    assert abs(len(html) - SMALL.rows * SMALL.html_share) <= 0.3 * SMALL.rows * SMALL.html_share
    assert sum("<script" in user[i] for i in html) >= len(html) // 3

    # off-domain rows have no gold label and are not products
    off = {r["id"] for r in recs if r["gold_label"] is None}
    assert off == set(key["off_domain"])
    assert all(not TAG.search(user[i]) for i in off)

    # the baseline: the logged answers, ~85% right, wrong answers plausible (a real node under the
    # same top level: sibling, parent or a systematic confusion), never random noise
    scored = [r for r in recs if r["gold_label"] is not None and r["messages"][2]["content"]]
    right = [r["messages"][2]["content"] == r["gold_label"] for r in scored]
    acc = sum(right) / len(scored)
    assert acc == pytest.approx(key["baseline"]["accuracy"])
    assert 0.80 <= acc <= 0.92
    wrong = [r for r, ok in zip(scored, right) if not ok]
    assert wrong
    for r in wrong:
        ans, gold = r["messages"][2]["content"], r["gold_label"]
        assert ans in valid, ans
        assert ans.split(" > ")[0] == gold.split(" > ")[0], (ans, gold)
    parents = sum(
        gold.startswith(ans + " > ")
        for ans, gold in ((r["messages"][2]["content"], r["gold_label"]) for r in wrong)
    )
    assert 0 < parents < len(wrong)
    empty = [r["id"] for r in recs if not r["messages"][2]["content"]]
    assert empty == key["empty_answers"] and empty

    # gold labels are real taxonomy categories of the training period (id matches the path)
    ids = {c.path: c.id for c in tax.categories}
    train_paths = {c.path for c in tax.train_categories}
    for r in scored:
        assert r["gold_label"] in train_paths and ids[r["gold_label"]] == r["gold_id"]
    # 2 to 4 levels, a few dozen categories, each seen several times
    labels = Counter(r["gold_label"] for r in scored)
    assert len(labels) >= 36 and min(labels.values()) >= 3
    assert {len(p.split(" > ")) for p in labels} == {2, 3, 4}


def test_timestamps_and_drift_of_the_production_window(data):
    m = data.manifest
    train = [rec for _, rec in parse(data.traffic) if rec is not None]
    prod = [rec for _, rec in parse(data.production) if rec is not None]
    for rows in (train, prod):
        ts = [r["timestamp"] for r in rows]
        assert ts == sorted(ts)
        for t in ts:
            datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ")
    assert train[-1]["timestamp"] < prod[0]["timestamp"]
    start = m["production"]["drift_start"]
    before = [r for r in prod if r["timestamp"] < start]
    after = [r for r in prod if r["timestamp"] >= start]
    assert len(before) > 50 and len(after) > 50
    pets = set(m["production"]["drift_categories"])
    assert pets and all(c.drift for c in load_taxonomy().categories if c.path in pets)
    # new product types only after the drift began, none in the training period
    assert not any(r["gold_label"] in pets for r in train + before)
    assert sum(r["gold_label"] in pets for r in after) >= 0.05 * len(after)
    # the system prompt changed
    assert {r["messages"][0]["content"] for r in before} == {SYSTEM_PROMPT_V1}
    assert sum(r["messages"][0]["content"] == SYSTEM_PROMPT_V2 for r in after) >= 0.5 * len(after)
    # the label mix turned to summer
    summer = {
        "Apparel & Accessories > Clothing > Swimwear",
        "Apparel & Accessories > Clothing Accessories > Sunglasses",
    }

    def share(rows):
        return sum(r["gold_label"] in summer for r in rows) / len(rows)

    assert share(after) > share(train)


def test_corpus_has_no_description_next_to_its_category(data):
    lines = open(data.corpus, encoding="utf-8").read().splitlines()
    assert len(lines) == data.manifest["corpus"]["lines"]
    valid = set(data.valid_paths)
    tax_line = re.compile(r"^(\d+) - (.*)$")
    # the only lines that mention a path are the taxonomy's own lines ("id - path" or a bare path)
    # and the instruction lines that explain the format: no description sits next to a category
    paths = 0
    for x in lines:
        m = tax_line.match(x)
        if m or x in valid:
            paths += 1
            assert (m.group(2) if m else x) in valid, x
        elif " > " in x:
            assert "' > '" in x or "Home & Garden > Decor" in x, x
    assert paths >= 2 * len(load_taxonomy().categories)
    assert len(lines) - paths >= SMALL.corpus_rows


def test_import_does_not_load_torch():
    import subprocess
    import sys

    code = "import airtune, airtune.demo, sys; airtune.demo.build_base; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
