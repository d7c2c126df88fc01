"""airtune.monitor.drift: calibrated tests of production drift against the training data."""

from __future__ import annotations

import importlib
import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest
from airtune import _core, io, monitor

# The package exports the function drift; the module of the same name holds the helpers.
D = importlib.import_module("airtune.monitor.drift")

_TOPICS = {
    "shoes": ["running shoes", "leather boots", "trail sneakers", "sandals", "high heels"],
    "phones": ["smartphone case", "usb-c charger", "screen protector", "wireless earbuds", "phone stand"],
    "kitchen": ["chef knife", "cast iron pan", "coffee grinder", "cutting board", "stand mixer"],
    "garden": ["garden hose", "pruning shears", "lawn mower", "flower pots", "seed starter kit"],
}
_NEW = {
    "pets": ["dog leash", "cat litter box", "aquarium filter", "bird cage", "pet bed"],
    "books": ["hardcover novel", "cookbook", "picture book", "travel guide", "poetry anthology"],
}
_ADJ = ["durable", "lightweight", "premium", "compact", "eco-friendly", "waterproof", "classic", "modern"]


def _product(rng: random.Random, topics: dict) -> tuple[str, str]:
    t = rng.choice(sorted(topics))
    item = rng.choice(topics[t])
    text = (
        f"Please classify this product: {rng.choice(_ADJ)} {item} in "
        f"{rng.choice(['red', 'blue', 'black', 'green'])}, size {rng.randint(1, 12)}, {rng.choice(_ADJ)} design"
    )
    return text, t


def _texts(n: int, seed: int, topics: dict = _TOPICS) -> list[str]:
    rng = random.Random(seed)
    return [_product(rng, topics)[0] for _ in range(n)]


def test_psi_and_ks_match_hand_and_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    e, a = np.array([50, 30, 20]), np.array([30, 30, 40])
    pe, pa = e / e.sum(), a / a.sum()
    assert D.psi(e, a) == pytest.approx(float(np.sum((pa - pe) * np.log(pa / pe))))
    assert D.psi([1, 0], [1, 0]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="same length"):
        D.psi([1, 2], [1])
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=300), rng.normal(0.3, 1.0, size=200)
    d, p = D._ks_2samp(x, y)
    ref = stats.ks_2samp(x, y)
    assert d == pytest.approx(ref.statistic)
    en = math.sqrt(300 * 200 / 500)
    assert p == pytest.approx(stats.kstwobign.sf(en * d), rel=1e-9)


def test_binomial_tail_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for k, n, p in [(0, 10, 0.3), (5, 10, 0.3), (60, 1000, 0.05), (1000, 1000, 0.05), (11, 10, 0.5)]:
        assert D._binom_sf(k, n, p) == pytest.approx(stats.binom.sf(k - 1, n, p), rel=1e-9, abs=1e-300)


def _mmd_reference(x: np.ndarray, y: np.ndarray, bw: float) -> float:
    z = np.vstack([x, y]).astype(np.float64)
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2 * bw * bw))
    n1 = len(x)
    return float(k[:n1, :n1].mean() + k[n1:, n1:].mean() - 2 * k[:n1, n1:].mean())


def test_mmd_statistic_matches_numpy_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 16)).astype(np.float32)
    y = (rng.normal(size=(80, 16)) + 0.2).astype(np.float32)
    r = _core.monitor.mmd_test(x, y, 0.0, 200, 7)
    z = np.vstack([x, y]).astype(np.float64)
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    med = np.sort(d2[np.triu_indices(len(z), 1)])[len(z) * (len(z) - 1) // 4]
    assert r.bandwidth == pytest.approx(math.sqrt(med / 2), rel=1e-6)
    assert r.mmd2 == pytest.approx(_mmd_reference(x, y, r.bandwidth), rel=1e-5)
    assert r.null.shape == (200,) and 0 < r.p_value <= 1
    assert r.p_value == pytest.approx((1 + np.sum(r.null >= r.mmd2 - 1e-12 * max(1, r.mmd2))) / 201)
    # Same bits for any thread count (the arena is sized per process: run in subprocesses).
    code = (
        "import numpy as np, airtune, sys; from airtune import _core; airtune.set_num_threads(int(sys.argv[1]));"
        "rng=np.random.default_rng(0); x=rng.normal(size=(120,16)).astype(np.float32);"
        "y=(rng.normal(size=(80,16))+0.2).astype(np.float32); r=_core.monitor.mmd_test(x,y,0.0,200,7);"
        "print(repr(r.mmd2), repr(r.p_value), r.null.tobytes().hex()[:4000])"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code, str(t)], capture_output=True, text=True, check=True
        ).stdout
        for t in (1, 2, 3)
    }
    assert len(outs) == 1
    with pytest.raises(ValueError, match="second sample, row 1"):
        y2 = y.copy()
        y2[1, 3] = np.nan
        _core.monitor.mmd_test(x, y2, 0.0, 10, 0)
    with pytest.raises(ValueError, match="dimensions differ"):
        _core.monitor.mmd_test(x, y[:, :8], 0.0, 10, 0)


def test_mmd_p_values_are_calibrated_under_the_null() -> None:
    rng = np.random.default_rng(11)
    ps = []
    for s in range(40):
        x = rng.normal(size=(60, 8)).astype(np.float32)
        y = rng.normal(size=(60, 8)).astype(np.float32)
        ps.append(_core.monitor.mmd_test(x, y, 0.0, 99, s).p_value)
    ps = np.array(ps)
    assert (ps < 0.05).mean() <= 0.15  # nominal 5%: 40 draws, generous bound
    assert 0.3 < np.mean(ps) < 0.7  # uniform on (0, 1]
    shifted = _core.monitor.mmd_test(
        rng.normal(size=(60, 8)).astype(np.float32),
        (rng.normal(size=(60, 8)) + 0.6).astype(np.float32),
        0.0,
        99,
        0,
    )
    assert shifted.p_value <= 0.02


def test_in_distribution_traffic_raises_the_nominal_false_alarm_rate() -> None:
    train = _texts(2000, 1)
    shares, recs = [], []
    for seed in range(4):
        r = monitor.drift(train, _texts(800, 100 + seed), permutations=99, seed=seed)
        shares.append(r.far_share)
        recs.append(r.recommendation)
        assert r.calibration_far_share <= 0.05 + 1e-9
    # Split conformal: expected rate in [alpha - 1/(m+1), alpha]; 4 x 800 draws.
    assert 0.025 <= float(np.mean(shares)) <= 0.075, shares
    assert recs.count("retrain") == 0, recs


def test_drifted_traffic_is_found_and_explained() -> None:
    train = _texts(2000, 1)
    rng = random.Random(5)
    prod, is_new = [], []
    for i in range(800):
        text, _ = _product(rng, _NEW if i % 3 == 0 else _TOPICS)
        prod.append(text)
        is_new.append(i % 3 == 0)
    r = monitor.drift(train, prod, permutations=99)
    assert r.recommendation == "retrain" and r.flags["coverage"] and r.flags["embedding"]
    assert "far from training" in r.reasons[0]
    far = np.zeros(len(prod), dtype=bool)
    far[r.far_rows] = True
    new = np.array(is_new)
    assert far[new].mean() > 0.6  # most new-topic rows found
    assert far[~new].mean() < 0.1  # few old-topic rows flagged
    text = repr(r)
    assert "DRIFT" in text and "recommendation: retrain" in text and len(text.splitlines()) < 15


def _records(path, texts: list[str], system: str, start: float, step: float, labels: list[str]) -> io.Records:
    rows = []
    for i, (t, lab) in enumerate(zip(texts, labels)):
        rows.append(
            {
                "id": f"r{i}",
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": t},
                    {"role": "assistant", "content": lab},
                ],
                "label": lab,
                "metadata": {"timestamp": start + i * step, "request_id": f"q{i}"},
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return io.read_jsonl(path, progress=False)


def test_windows_say_when_drift_began_and_records_give_prompts_and_labels(tmp_path) -> None:
    rng = random.Random(2)
    tr = [_product(rng, _TOPICS) for _ in range(1500)]
    train = _records(
        tmp_path / "train.jsonl",
        [t for t, _ in tr],
        "You classify products.",
        0.0,
        1.0,
        [lab for _, lab in tr],
    )
    day = 86400.0
    prod_rows = [_product(rng, _TOPICS) for _ in range(600)] + [_product(rng, _NEW) for _ in range(300)]
    t0 = 1_700_000_000.0 - (1_700_000_000.0 % day)
    prod = _records(
        tmp_path / "prod.jsonl",
        [t for t, _ in prod_rows],
        "You are a product classifier.",
        t0,
        3 * day / 900,
        [lab for _, lab in prod_rows],
    )
    r = monitor.drift(train, prod, window="1D", permutations=99)
    assert len(r.windows) == 3 and [w.n for w in r.windows] == [300, 300, 300]
    assert [w.drifted for w in r.windows] == [False, False, True]
    assert r.drift_began == r.windows[2].start_iso
    assert r.system_prompt_unseen_share == pytest.approx(1.0) and r.flags["system_prompt"]
    assert r.label_psi is not None and r.label_psi > 0.25 and r.flags["labels"]
    assert {row["label"] for row in r.label_table} >= {"pets", "books", "shoes"}
    df = r.to_pandas()
    assert list(df["n"]) == [300, 300, 300]
    paths = r.export(tmp_path / "out", prod)
    cand = io.read_jsonl(paths["candidates"])
    assert len(cand) == len(r.drifted_rows()) > 0
    assert set(cand.ids) <= {f"r{i}" for i in range(900)}
    assert cand[0].metadata["request_id"].startswith("q")
    report = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert report["recommendation"] == "retrain" and report["drifted_rows"] == r.drifted_rows().tolist()
    assert not list((tmp_path / "out").glob(".drift.json.*"))


def test_bad_input_is_named() -> None:
    train = _texts(200, 1)
    with pytest.raises(ValueError, match="production has 0 rows"):
        monitor.drift(train, [])
    with pytest.raises(ValueError, match="train has 5 rows"):
        monitor.drift(train[:5], train)
    with pytest.raises(ValueError, match="window: expected"):
        monitor.drift(train, train[:50], window="soon", timestamps=list(range(50)))
    with pytest.raises(ValueError, match="production row 1: timestamp 'yesterday'"):
        monitor.drift(train, train[:3], window="1D", timestamps=[0, "yesterday", 5])
    with pytest.raises(ValueError, match="window: give timestamps"):
        monitor.drift(train, train[:50], window="1D")
    with pytest.raises(ValueError, match="dimensions"):
        monitor.drift(
            train,
            train[:50],
            train_embeddings=np.ones((200, 8), np.float32),
            production_embeddings=np.ones((50, 4), np.float32),
        )


def test_plot_renders() -> None:
    import matplotlib

    matplotlib.use("Agg")
    train = _texts(300, 1)
    monitor.drift(train, _texts(100, 2) + _texts(50, 3, _NEW), permutations=49).plot()
