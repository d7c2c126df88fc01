"""The prediction cache: keyed by model identity (never the old answers for a changed model), old
schemas migrated, corrupt and foreign files refused by name, locks waited for, and a property test
(random keys and values, concurrent threads and processes, damaged files)."""

from __future__ import annotations

import functools
import hashlib
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections import Counter
from pathlib import Path

import airtune
import pytest
from airtune import evaluate as E
from airtune.evaluate.cache import CacheFileError, CacheLockedError, PredictionCache
from airtune.evaluate.identity import model_identity

pytest.importorskip("pandas")

# Child processes import the airtune this test imports.
CHILD_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        [str(Path(airtune.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
    ),
}

RECORDS = [{"input": f"q{i}", "reference": f"answer {i}"} for i in range(20)]


def compile_model(source: str, **env: object) -> object:
    """The function ``model`` defined by ``source`` in a fresh module namespace (as a notebook cell)."""
    ns: dict = {"__name__": "__main__", **env}
    exec(textwrap.dedent(source), ns)
    return ns["model"]


GOOD = """
def model(x):
    return "answer " + x[1:]
"""
BROKEN = """
def model(x):
    return ""
"""


def exact_match(report: E.EvalReport, name: str) -> float:
    return float(report.table.set_index(["model", "metric"]).loc[(name, "exact_match"), "score"])


def test_a_broken_model_under_the_same_name_is_not_served_the_old_answers(tmp_path: Path) -> None:
    # The regression of issue #11: the cache keyed answers by name, so this scored exact match 1.0.
    db = tmp_path / "cache.sqlite"
    run = functools.partial(
        E.evaluate, RECORDS, metrics=["exact_match"], cache=db, progress=False, n_samples=50, ar_trials=50
    )
    good = run({"tuned": compile_model(GOOD)})
    assert exact_match(good, "tuned") == 1.0
    again = run({"tuned": compile_model(GOOD)})  # the same code, a new function object: cache hits
    assert again.settings["cache_hits"]["tuned"] == len(RECORDS)
    broken = run({"tuned": compile_model(BROKEN)})
    assert broken.settings["cache_hits"]["tuned"] == 0
    assert exact_match(broken, "tuned") == 0.0
    ids = {r.settings["model_identities"]["tuned"] for r in (good, again, broken)}
    assert len(ids) == 2
    # model_id= pins the identity: the caller says the two are the same model.
    pinned = run({"tuned": compile_model(GOOD)}, model_id={"tuned": "v1"})
    assert pinned.settings["model_identities"]["tuned"] == "model_id:v1"
    assert (
        run({"tuned": compile_model(BROKEN)}, model_id={"tuned": "v1"}).settings["cache_hits"]["tuned"] == 20
    )
    with pytest.raises(ValueError, match="model_id.*'nope'"):
        run({"tuned": compile_model(GOOD)}, model_id={"nope": "v1"})


def test_identity_follows_code_defaults_closures_and_globals() -> None:
    same = [model_identity(compile_model(GOOD), "m") for _ in range(2)]
    assert same[0] == same[1] and same[0].startswith("callable:m:__main__.model:")
    assert model_identity(compile_model(GOOD), "m") != model_identity(compile_model(BROKEN), "m")
    assert model_identity(compile_model(GOOD), "m") != model_identity(compile_model(GOOD), "other")
    # Moving the function (line numbers) keeps the key; a constant, a default, a nested lambda changes it.
    assert model_identity(compile_model("\n\n\n" + GOOD), "m") == same[0]
    variants = [
        "def model(x):\n    return 'Answer ' + x[1:]\n",
        "def model(x, sep=' '):\n    return 'answer' + sep + x[1:]\n",
        "def model(x, sep='-'):\n    return 'answer' + sep + x[1:]\n",
        "def model(x):\n    f = lambda s: s.upper()\n    return f(x)\n",
        "def model(x):\n    f = lambda s: s.lower()\n    return f(x)\n",
        "def model(x):\n    return helper(x)\n",
    ]
    ids = {model_identity(compile_model(v, helper=str.upper), "m") for v in variants}
    assert len(ids) == len(variants)
    # Globals it reads: a helper function edited, a plain setting changed.
    helper_a = compile_model("def model(s):\n    return s.strip()\n")
    helper_b = compile_model("def model(s):\n    return s.rstrip()\n")
    uses = "def model(x):\n    return helper(x) + SUFFIX\n"
    a = model_identity(compile_model(uses, helper=helper_a, SUFFIX="!"), "m")
    assert a == model_identity(compile_model(uses, helper=helper_a, SUFFIX="!"), "m")
    assert a != model_identity(compile_model(uses, helper=helper_b, SUFFIX="!"), "m")
    assert a != model_identity(compile_model(uses, helper=helper_a, SUFFIX="?"), "m")

    def factory(temperature: float) -> object:
        calls = Counter()

        def model(x: str) -> str:
            calls[x] += 1  # state: not part of the key
            return f"{x}@{temperature}"

        return model

    m1 = factory(0.1)
    before = model_identity(m1, "m")
    m1("q")
    assert model_identity(m1, "m") == before == model_identity(factory(0.1), "m")
    assert model_identity(factory(0.2), "m") != before
    # A recursive function and a function graph with a cycle terminate.
    rec = compile_model("def model(x):\n    return model(x[1:]) if x else ''\n")
    assert model_identity(rec, "m") == model_identity(rec, "m")


class Client:
    """An endpoint client of the user's own code: its settings are part of the key."""

    def __init__(self, base_url: str, model: str) -> None:
        self.base_url, self.model, self.requests = base_url, model, []

    def complete(self, prompt: str) -> str:
        return f"{self.model}:{prompt}"

    def __call__(self, prompt: str) -> str:
        return self.complete(prompt)


class Declared:
    def __init__(self, weights_hash: str) -> None:
        self.weights_hash = weights_hash

    def cache_key(self) -> str:
        return f"local:{self.weights_hash}"

    def __call__(self, prompt: str) -> str:
        return prompt


def test_identity_of_objects_methods_partials_and_declarations() -> None:
    a = Client("http://a:8000/v1", "m1")
    assert model_identity(a, "x") == model_identity(Client("http://a:8000/v1", "m1"), "x")
    assert model_identity(a, "x") != model_identity(Client("http://b:8000/v1", "m1"), "x")
    assert model_identity(a.complete, "x") != model_identity(Client("http://a:8000/v1", "m2").complete, "x")
    a.requests.append("q")  # a mutable log: state, not configuration
    assert model_identity(a, "x") == model_identity(Client("http://a:8000/v1", "m1"), "x")
    p1 = functools.partial(lambda x, t: f"{x}{t}", t=0.1)
    p2 = functools.partial(lambda x, t: f"{x}{t}", t=0.7)
    assert model_identity(p1, "x") != model_identity(p2, "x")
    assert model_identity(Declared("abc"), "x") == "local:abc"
    assert model_identity(Declared("abc"), "x", model_id="pin") == "model_id:pin"
    holder = compile_model("def model(x):\n    return m(x)\n", m=Declared("abc"))
    assert model_identity(holder, "x") != model_identity(
        compile_model("def model(x):\n    return m(x)\n", m=Declared("abd")), "x"
    )

    class Attr:
        identity = "endpoint:http://h/v1|gpt"

        def __call__(self, x: str) -> str:
            return x

    assert model_identity(Attr(), "x") == "endpoint:http://h/v1|gpt"
    with pytest.raises(TypeError, match="model_id"):
        model_identity(a, "x", model_id="")


def v1_cache(path: Path, rows: int) -> None:
    """A cache file as airtune wrote it before the identity key (model name only)."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE predictions (model TEXT, input_hash TEXT, params TEXT, output TEXT, created REAL, "
        "PRIMARY KEY (model, input_hash, params))"
    )
    for i in range(rows):
        db.execute(
            "INSERT INTO predictions VALUES (?, ?, '', ?, 0)",
            ("tuned", hashlib.sha256(f"q{i}".encode()).hexdigest(), f"answer {i}"),
        )
    db.commit()
    db.close()


def test_an_old_cache_is_migrated_and_its_answers_never_served(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    v1_cache(db, 20)
    with pytest.warns(UserWarning, match=r"old\.sqlite.*name only.*20 answers.*predictions_v1_unkeyed"):
        rep = E.evaluate(
            RECORDS, {"tuned": compile_model(BROKEN)}, metrics=["exact_match"], cache=db, progress=False,
            n_samples=50, ar_trials=50,
        )  # fmt: skip
    assert rep.settings["cache_hits"]["tuned"] == 0 and exact_match(rep, "tuned") == 0.0
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM predictions_v1_unkeyed").fetchone()[0] == 20
    con.close()
    with PredictionCache(db) as cache:  # migrated once: no second warning
        assert len(cache) == 20


def test_corrupt_foreign_and_newer_files_are_refused_by_name(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(
        CacheFileError,
        match=r"junk\.sqlite: not a usable SQLite database.*damaged or another kind of file; move it away or delete it",
    ):
        PredictionCache(junk)
    with pytest.raises(CacheFileError, match=r"junk\.sqlite"):
        E.evaluate(RECORDS, {"m": compile_model(GOOD)}, metrics=["exact_match"], cache=junk, progress=False)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(
        CacheFileError,
        match=r"other\.sqlite: an SQLite database of something else \(tables: users\); move it away",
    ):
        PredictionCache(other)
    newer = tmp_path / "newer.sqlite"
    PredictionCache(newer).close()
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    with pytest.raises(CacheFileError, match=r"newer\.sqlite: written by a newer airtune \(cache schema 99"):
        PredictionCache(newer)
    with pytest.raises(CacheFileError, match="cannot open"):
        PredictionCache(tmp_path / "no" / "such" / "folder" / "c.sqlite")


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_lock_held_by_another_process_is_waited_for_then_reported(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite"
    PredictionCache(db).close()
    # Held for 6 s: longer than SQLite's default 5 s busy timeout that used to abort evaluate().
    locker = hold_lock(db, 6.0)
    t0 = time.monotonic()
    rep = E.evaluate(
        RECORDS,
        {"m": compile_model(GOOD)},
        metrics=["exact_match"],
        cache=db,
        progress=False,
        n_samples=50,
        ar_trials=50,
    )
    assert time.monotonic() - t0 >= 4.0  # it did wait
    assert locker.wait(timeout=30) == 0 and exact_match(rep, "m") == 1.0
    with PredictionCache(db) as cache:
        assert len(cache) == 20
    # Held longer than the bound: a clear error, in about the bound.
    locker = hold_lock(db, 8.0)
    try:
        cache = PredictionCache(db, lock_timeout=1.5)
        t0 = time.monotonic()
        with pytest.raises(
            CacheLockedError, match=r"shared\.sqlite.*locked by another process for more than 1\.5 s"
        ):
            cache.put("m", "new prompt", "x")
        assert time.monotonic() - t0 < 5.0
        cache.close()
    finally:
        locker.kill()
        locker.wait()


# ---- property test ------------------------------------------------------------------------------


def random_text(rng: random.Random) -> str:
    alphabet = ["a", "Z", " ", "\n", "\0", "é", "\u2028", "😀", "'", '"', ";", "%", "_", "\\"]
    return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 5, 40, 2000])))


def random_key(rng: random.Random) -> tuple[str, object, object]:
    model = rng.choice(["callable:a:x:1", "model_id:v1", "airtune-local:" + "f" * 64, random_text(rng)])
    inp: object = random_text(rng)
    if rng.random() < 0.3:
        inp = [{"role": "user", "content": random_text(rng)}]
    params: object = rng.choice(["", "temperature=0", {"temperature": 0.7, "stop": ["\n"]}, random_text(rng)])
    return model, inp, params


def test_property_random_keys_and_values_round_trip(tmp_path: Path) -> None:
    rng = random.Random(5)
    truth: dict = {}
    with PredictionCache(tmp_path / "p.sqlite") as cache:
        for _ in range(600):
            model, inp, params = random_key(rng)
            k = (model, PredictionCache.key(inp), PredictionCache.params_hash(params))
            if rng.random() < 0.6:
                out = random_text(rng)
                cache.put(model, inp, out, params)
                truth[k] = out
            assert cache.get(model, inp, params) == truth.get(k)
        assert len(cache) == len(truth)
    # A str prompt and a conversation that serialises to the same text are different prompts.
    assert PredictionCache.key("[1, 2]") != PredictionCache.key([1, 2])


WRITER = """
import random, sys
from airtune.evaluate.cache import PredictionCache
path, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
with PredictionCache(path) as cache:
    for i in range(300):
        j = rng.randrange(400)
        cache.put("shared", f"prompt {j}", f"answer {j}")  # the same answer from everyone
        cache.put(f"writer {seed}", f"prompt {i}", f"mine {seed} {i}")
        assert cache.get("shared", f"prompt {j}") == f"answer {j}"
print("ok")
"""


def test_property_concurrent_threads_and_processes(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    PredictionCache(db).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(seed)], stdout=subprocess.PIPE, text=True
        )
        for seed in (1, 2)
    ]
    cache = PredictionCache(db)
    errors: list[BaseException] = []

    def thread_writer(t: int) -> None:
        try:
            rng = random.Random(100 + t)
            for i in range(200):
                j = rng.randrange(400)
                cache.put("shared", f"prompt {j}", f"answer {j}")
                cache.put(f"thread {t}", f"prompt {i}", f"t{t} {i}")
                got = cache.get("shared", f"prompt {j}")
                assert got == f"answer {j}", got
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=thread_writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert not errors, errors
    assert [p.returncode for p in procs] == [0, 0] and all(o.strip() == "ok" for o in outs)
    for seed in (1, 2):
        assert all(cache.get(f"writer {seed}", f"prompt {i}") == f"mine {seed} {i}" for i in range(300))
    for t in range(4):
        assert all(cache.get(f"thread {t}", f"prompt {i}") == f"t{t} {i}" for i in range(200))
    cache.close()


def test_property_a_damaged_file_never_serves_a_wrong_answer(tmp_path: Path) -> None:
    clean = tmp_path / "clean.sqlite"
    truth = {f"prompt {i}": f"answer {i} " + "x" * (i % 50) for i in range(300)}
    with PredictionCache(clean) as cache:
        for k, v in truth.items():
            cache.put("m", k, v)
    con = sqlite3.connect(clean)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    con.close()
    data = clean.read_bytes()
    rng = random.Random(7)
    outcomes: Counter = Counter()
    for trial in range(60):
        damaged = bytearray(data)
        if trial % 3 == 0:  # truncated
            damaged = damaged[: rng.randrange(len(damaged))]
        for _ in range(rng.choice([1, 4, 32])):
            if damaged:
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        path = tmp_path / f"damaged{trial}.sqlite"
        path.write_bytes(bytes(damaged))
        try:
            with warnings.catch_warnings(), PredictionCache(path) as cache:
                warnings.simplefilter("ignore")
                for k, v in truth.items():
                    got = cache.get("m", k)
                    assert got in (None, v), (trial, k, got)  # a miss is recomputed; never a wrong answer
                    outcomes["served" if got == v else "miss"] += 1
                outcomes["checksum"] += cache.damaged_rows
        except CacheFileError as exc:
            assert str(path) in str(exc)
            outcomes["refused"] += 1
    # Every outcome happened: served, missed (row gone or its checksum wrong) and refused.
    assert min(outcomes["served"], outcomes["miss"], outcomes["checksum"], outcomes["refused"]) > 0, outcomes
