"""Pipeline(engine="ray") on a real local Ray cluster (2 CPUs) against the local engine."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import support_chats
from airtune.pipeline import Pipeline

ray = pytest.importorskip("ray")

STAGES = [
    "read",
    "clean",
    "quality",
    ("exact", {"on_conflict": "majority"}),
    ("near", {"threshold": 0.7}),
    "write",
]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def chats(tmp_path_factory) -> Path:
    path = support_chats.write_jsonl(tmp_path_factory.mktemp("chats") / "support.jsonl", 1200, seed=11)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(300, "{not json\n")  # quarantined, numbered where it is
    lines.insert(700, "\n")  # blank: not a row
    lines.insert(900, '{"messages": 3}\n')
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _stages(result) -> list[tuple]:
    by_stage = result.report["reasons"]
    return [
        (s["stage"], s["rows_in"], s["kept"], s["dropped"], s["quarantined"], by_stage.get(s["stage"]))
        for s in result.funnel
    ]


@pytest.mark.parametrize("blocks", [3, 7])
def test_ray_engine_keeps_what_the_local_engine_keeps(cluster, chats, tmp_path, blocks):
    local = Pipeline(STAGES).run(chats, tmp_path / "local")
    dist = Pipeline(STAGES, engine="ray", blocks=blocks).run(chats, tmp_path / "ray")
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["engine"] == "ray" and manifest["ray"]["blocks"] >= 2
    assert dist.accounting == local.accounting
    a = dist.accounting
    assert a["rows_in"] == a["kept"] + a["dropped"] + a["quarantined"] and a["quarantined"] == 2
    # the same kept rows, byte for byte and in input order
    assert _lines(tmp_path / "ray" / "train.jsonl") == _lines(tmp_path / "local" / "train.jsonl")
    # the same dropped rows with the same stage and reason (survivor ids included)
    assert sorted(_lines(tmp_path / "ray" / "dropped.jsonl")) == sorted(
        _lines(tmp_path / "local" / "dropped.jsonl")
    )
    assert _lines(tmp_path / "ray" / "quarantine.jsonl") == _lines(tmp_path / "local" / "quarantine.jsonl")
    assert _stages(dist) == _stages(local)
    funnel = {s["stage"]: s for s in dist.funnel}
    assert funnel["exact"]["dropped"] > 0 and funnel["near"]["dropped"] > 0  # the test can fail
    reasons = [json.loads(x)["airtune_reason"] for x in _lines(tmp_path / "ray" / "dropped.jsonl")]
    assert any(r.startswith("near_duplicate_of:") for r in reasons)
    assert any(r.startswith("exact_duplicate_of:") for r in reasons)
    assert json.loads((tmp_path / "ray" / "report.json").read_text())["balanced"]


def _same_outputs(a: Path, b: Path) -> None:
    assert _lines(a / "train.jsonl") == _lines(b / "train.jsonl")  # byte for byte, input order
    assert sorted(_lines(a / "dropped.jsonl")) == sorted(_lines(b / "dropped.jsonl"))


@pytest.mark.parametrize(("clusters", "blocks"), [(1, 3), (4, 2), (4, 5)])
def test_semantic_dedup_on_ray_keeps_what_the_local_engine_keeps(cluster, chats, tmp_path, clusters, blocks):
    """k-means on the same sample (smallest id hashes), rows routed to their cluster, each cluster
    deduplicated alone: the same survivors and reasons as the local engine at any block count."""
    sem = ("semantic", {"threshold": 0.9, "clusters": clusters, "sample": 400})
    stages = ["read", "exact", sem, "write"]
    local = Pipeline(stages).run(chats, tmp_path / "local")
    dist = Pipeline(stages, engine="ray", blocks=blocks).run(chats, tmp_path / "ray")
    assert dist.accounting == local.accounting
    _same_outputs(tmp_path / "ray", tmp_path / "local")
    assert _stages(dist) == _stages(local)
    funnel = {s["stage"]: s for s in dist.funnel}
    assert funnel["semantic"]["dropped"] > 20  # the test can fail
    assert (
        dist.report["stages"][2]["details"]["threshold_table"]
        == local.report["stages"][2]["details"]["threshold_table"]
    )


def test_parquet_output_on_ray_equals_the_local_one(cluster, chats, tmp_path):
    import pyarrow.parquet as pq
    from test_pipeline_parquet import check_shards

    stages = ["read", "clean", "exact", ("write", {"output": "parquet"})]
    local = Pipeline(stages).run(chats, tmp_path / "local")
    dist = Pipeline(stages, engine="ray", blocks=4).run(chats, tmp_path / "ray")
    assert dist.accounting == local.accounting
    check_shards(tmp_path / "ray", local.accounting["kept"])
    assert len(list((tmp_path / "ray" / "train").iterdir())) == 4  # a shard per block
    assert pq.read_table(tmp_path / "ray" / "train").equals(pq.read_table(tmp_path / "local" / "train"))
    assert dist.train.ids == local.train.ids


def test_semantic_clusters_partition_the_search(chats):
    """Clustered semantic dedup = plain semantic dedup inside each k-means cluster; pairs never
    cross clusters; one cluster is the plain kNN graph."""
    import numpy as np
    from airtune.dedup import semantic_clusters as sc
    from airtune.dedup import semantic_duplicates
    from airtune.embed import HashedNgramEmbedder
    from airtune.io import read_jsonl
    from airtune.io.select import select_text

    recs = read_jsonl(chats, errors="skip", progress=False)
    x = HashedNgramEmbedder()(select_text(recs, "conversation", missing="empty"))
    res = sc.clustered_duplicates(x, 0.9, k=10, clusters=5, sample=300, ids=recs.ids)
    pick = sc.sample_rows(sc.sample_hashes(recs.ids), np.arange(len(recs)), 300)
    assign = sc.route(x, sc.train_centroids(x[pick], 5))
    assert len(np.unique(assign)) == 5 and np.all(assign[res.pairs_a] == assign[res.pairs_b])
    for c in range(5):
        idx = np.flatnonzero(assign == c)
        alone = semantic_duplicates(x[idx], 0.9, k=10, device="cpu")
        assert np.array_equal(res.keep[idx], alone.keep)
        assert np.array_equal(res.cluster[idx], idx[alone.cluster])
    plain = semantic_duplicates(x, 0.9, k=10, device="cpu")
    assert res.n_removed < plain.n_removed  # pairs across clusters are not searched
    h = sc.sample_hashes(recs.ids)
    assert np.all(h[pick].max() <= np.delete(h, pick))  # the sample: the smallest id hashes


def test_the_embedder_is_loaded_once_per_actor_not_per_block(cluster, chats, tmp_path, monkeypatch):
    faults = tmp_path / "faults"
    faults.mkdir()
    monkeypatch.setenv("AIRTUNE_RAY_FAULTS", str(faults))
    Pipeline(["read", "semantic"], engine="ray", blocks=6).run(chats, tmp_path / "ray")
    loads = (faults / "embedder-load.log").read_text().split()
    assert 1 <= len(loads) <= 2 and len(set(loads)) == len(loads)  # an actor pool of at most 2 CPUs


def test_shuffle_concat_skips_partitions_without_rows():
    import numpy as np
    from airtune.pipeline.distributed.shuffle import concat

    empty = {"row": np.zeros(0, np.int64), "vec": np.zeros((0, 0), np.float32)}  # a block with no live rows
    full = {"row": np.arange(2), "vec": np.ones((2, 3), np.float32)}
    got = concat([empty, full, empty])
    assert got["vec"].shape == (2, 3) and list(got["row"]) == [0, 1]
    assert concat([empty])["vec"].shape == (0, 0)


def test_embedding_actors_request_a_gpu_where_the_stage_runs_on_cuda():
    from airtune.pipeline.distributed.semantic import gpu_request

    o = {"device": "cuda", "embedder": "hashed"}
    assert gpu_request(o, {"CPU": 2}) == 1.0
    assert gpu_request({**o, "device": "cpu"}, {"CPU": 2, "GPU": 1}) == 0.0
    assert gpu_request({"device": "auto", "embedder": "/models/minilm"}, {"CPU": 2, "GPU": 1}) == 1.0
    assert gpu_request({"device": "auto", "embedder": "hashed"}, {"CPU": 2, "GPU": 1}) == 0.0


@pytest.mark.parametrize("kind", ["jsonl+gzip", "parquet"])
def test_shards_give_what_one_file_gives(cluster, tmp_path, kind):
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    whole = support_chats.write_jsonl(tmp_path / "all.jsonl", 500, seed=4)
    lines = whole.read_bytes().splitlines(keepends=True)
    shards = tmp_path / "shards"
    shards.mkdir()
    if kind == "parquet":
        table = pa.Table.from_pylist([json.loads(x) for x in lines])
        pq.write_table(table.slice(0, 260), shards / "a.parquet", row_group_size=100)
        pq.write_table(table.slice(260), shards / "b.parquet", row_group_size=100)
    else:
        (shards / "a.jsonl").write_bytes(b"".join(lines[:260]))
        (shards / "b.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[260:])))
    stages = ["read", "clean", "exact", ("near", {"threshold": 0.7})]
    local = Pipeline(stages).run(whole, tmp_path / "local")
    dist = Pipeline(stages, engine="ray", blocks=4).run(shards, tmp_path / "ray")
    assert dist.accounting == local.accounting and dist.accounting["dropped"] > 0
    assert _lines(tmp_path / "ray" / "train.jsonl") == _lines(tmp_path / "local" / "train.jsonl")
    assert sorted(_lines(tmp_path / "ray" / "dropped.jsonl")) == sorted(
        _lines(tmp_path / "local" / "dropped.jsonl")
    )


def test_killed_workers_are_retried_and_the_result_is_exact(cluster, chats, tmp_path, monkeypatch):
    """A read task and a dedup key task each lose their worker process (SIGKILL from outside)."""
    faults = tmp_path / "faults"
    faults.mkdir()
    for point in ("read", "keys"):
        (faults / point).write_text("kill")
    monkeypatch.setenv("AIRTUNE_RAY_FAULTS", str(faults))
    killed: list[str] = []
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set():
            for pid_file in faults.glob("*.pid"):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
                killed.append(pid_file.stem)
                pid_file.unlink()
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        dist = Pipeline(STAGES, engine="ray", blocks=3).run(chats, tmp_path / "ray")
    finally:
        stop.set()
        t.join()
    assert sorted(killed) == ["keys", "read"]
    local = Pipeline(STAGES).run(chats, tmp_path / "local")
    assert dist.accounting == local.accounting
    assert _lines(tmp_path / "ray" / "train.jsonl") == _lines(tmp_path / "local" / "train.jsonl")
    assert sorted(_lines(tmp_path / "ray" / "dropped.jsonl")) == sorted(
        _lines(tmp_path / "local" / "dropped.jsonl")
    )


@pytest.mark.parametrize(
    ("point", "stage"),
    [("keys", "exact"), ("embed", "semantic embeddings"), ("reduce", "exact reduce"), ("write", "write")],
)
def test_a_task_out_of_memory_names_the_shard_and_node_and_leaves_no_output(
    cluster, chats, tmp_path, monkeypatch, point, stage
):
    """One task's process gets an address-space limit and allocates past it (a real allocation
    failure): the run fails with a MemoryError naming the stage, the rows and the node."""
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / point).write_text("oom")
    monkeypatch.setenv("AIRTUNE_RAY_FAULTS", str(faults))
    out = tmp_path / "out"
    stages = ["read", "exact", ("semantic", {"clusters": 2, "sample": 100}), "write"]
    where = r"partition \d+" if point == "reduce" else r"shard .*support\.jsonl lines \d+-\d+"
    with pytest.raises(MemoryError, match=rf"^{stage}: {where} ran out of memory on node [\d.]+: "):
        Pipeline(stages, engine="ray", blocks=3).run(chats, out)
    assert list(faults.glob(f"{point}.claimed-*"))  # the fault fired
    # no manifest, no outputs, no work folder; the finished global stages' resume cache only
    assert {p.name for p in out.iterdir()} <= {".ray-cache"}


def test_a_rerun_on_ray_reuses_the_finished_global_stages(cluster, chats, tmp_path, monkeypatch):
    out = tmp_path / "ray"
    first = Pipeline(STAGES, engine="ray", blocks=3).run(chats, out)
    train = (out / "train.jsonl").read_bytes()
    dropped = (out / "dropped.jsonl").read_bytes()
    # an armed fault in every dedup key task: the rerun would fail if it computed keys again
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "keys").write_text("oom")
    monkeypatch.setenv("AIRTUNE_RAY_FAULTS", str(faults))
    again = Pipeline(STAGES, engine="ray", blocks=3).run(chats, out)
    assert json.loads((out / "manifest.json").read_text())["cached"] == {"exact": True, "near": True}
    assert (faults / "keys").exists()  # never claimed: no key task ran
    assert (out / "train.jsonl").read_bytes() == train and (out / "dropped.jsonl").read_bytes() == dropped
    assert again.accounting == first.accounting
    monkeypatch.delenv("AIRTUNE_RAY_FAULTS")
    # near's options changed: exact is reused, near recomputed, and the result is the local one
    changed = [*STAGES[:-2], ("near", {"threshold": 0.8}), "write"]
    Pipeline(changed, engine="ray", blocks=3).run(chats, out)
    assert json.loads((out / "manifest.json").read_text())["cached"] == {"exact": True, "near": False}
    Pipeline(changed).run(chats, tmp_path / "local")
    _same_outputs(out, tmp_path / "local")
    Pipeline(changed, engine="ray", blocks=3).run(chats, out, resume=False)
    assert json.loads((out / "manifest.json").read_text())["cached"] == {"exact": False, "near": False}


def test_ray_engine_refuses_what_it_cannot_run(tmp_path, chats):
    with pytest.raises(ValueError, match="stage 'outliers' does not run on the Ray engine"):
        Pipeline(["read", "outliers"], engine="ray")
    with pytest.raises(ValueError, match="engine"):
        Pipeline(["read"], engine="spark")
    empty = tmp_path / "shards"
    empty.mkdir()
    (empty / "a.jsonl").write_bytes(chats.read_bytes()[:2000].rsplit(b"\n", 1)[0] + b"\n")
    (empty / "b.jsonl").write_bytes(b"")
    with pytest.raises(ValueError, match=r"shard .*b\.jsonl is empty"):
        Pipeline(["read"], engine="ray").run(empty, tmp_path / "out")
    (empty / "b.jsonl").unlink()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["x"]}), empty / "c.parquet")
    with pytest.raises(ValueError, match="shards of different formats"):
        Pipeline(["read"], engine="ray").run(empty, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_bad_line_under_errors_raise_names_the_shard_line_and_node(cluster, chats, tmp_path):
    with pytest.raises(ValueError, match=r"read: shard .*support\.jsonl \(bytes .*\) on node .*:301:"):
        Pipeline([("read", {"errors": "raise"}), "exact"], engine="ray", blocks=3).run(chats, tmp_path / "o")
    assert not (tmp_path / "o" / "manifest.json").exists() and not (tmp_path / "o" / ".ray-work").exists()


def test_curate_cli_on_ray_and_an_address_with_no_cluster(cluster, chats, tmp_path, capsys):
    from airtune.cli import main

    cfg = tmp_path / "p.toml"
    cfg.write_text('[[stages]]\nstage = "read"\n[[stages]]\nstage = "exact"\n', encoding="utf-8")
    out = tmp_path / "out"
    assert main(["curate", str(cfg), "--input", str(chats), "--out", str(out), "--engine", "ray"]) == 0
    assert json.loads((out / "manifest.json").read_text())["engine"] == "ray"
    ray.shutdown()  # no session, so that --address is used (the last test of the module)
    bad = ["curate", str(cfg), "--input", str(chats), "--out", str(tmp_path / "o2"), "--engine", "ray"]
    assert main([*bad, "--address", "127.0.0.1:9"]) == 1
    assert "no Ray cluster at '127.0.0.1:9'" in capsys.readouterr().err
    assert not (tmp_path / "o2" / "manifest.json").exists()
    assert not ray.is_initialized()
