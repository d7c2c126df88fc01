"""Semantic dedup on Ray: the partition rule of dedup/semantic_clusters.py over blocks.

1. Embeddings: a Ray Data ``map_batches`` over the blocks in actors (``ActorPoolStrategy``: the
   embedder is loaded once per actor; one GPU per actor when the stage's device is cuda). Each
   output block holds (row key, sample hash, vector) of the block's live rows.
2. Sample: the blocks offer their rows of smallest (hash, row) below a bound (about 2 x
   ``sample`` rows in all reach the driver); the driver keeps the global ``sample`` smallest and
   fetches their vectors (in row order) from the blocks that hold them.
3. k-means on the sample (the driver, C++), the centroids put once in the object store.
4. Routing: a hash shuffle of (row, vector) by centroid, so each cluster lands whole in one
   reducer, which deduplicates each of its clusters alone (rows in row-key order) with the local
   kernel. Only the dropped rows and their survivors come back; the survivors' ids are fetched
   from the blocks for the reasons.

With clusters = 1 every row is in one cluster (one reducer task: exact, not scalable).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...dedup import semantic_clusters as sc
from .faults import block_span, fault_point, named, record
from .globalstages import _live, fetch_fields
from .rowstages import merge_decisions
from .shuffle import concat, map_reduce, partition_of, split


def _pa() -> Any:
    import pyarrow as pa

    return pa


def gpu_request(o: dict[str, Any], resources: dict[str, float]) -> float:
    """GPUs per embedding actor: one where the stage's device is cuda (or auto with a model
    embedder on a cluster that has GPUs), else none."""
    if o["device"] == "cuda":
        return 1.0
    if o["device"] == "auto" and o["embedder"] != "hashed" and resources.get("GPU", 0) >= 1:
        return 1.0
    return 0.0


class EmbedActor:
    """map_batches body in an actor: the embedder, loaded once, embeds each block's live rows."""

    def __init__(self, embedder: str, device: str, faults: str | None = None) -> None:
        from ..run import _embedder

        self.model = _embedder(embedder, device)
        record(faults, "embedder-load")

    def __call__(self, block: Any, select: str, decisions: dict[str, Any], faults: Any) -> Any:
        from ..run import _embed

        with named("semantic embeddings", block_span(block)):
            fault_point(faults, "embed")
            records, rows = _live(block, decisions)
            x = _embed(records, select, self.model) if len(rows) else np.zeros((0, 0), np.float32)
        pa = _pa()
        x = np.ascontiguousarray(x, dtype=np.float32)
        d = x.shape[1] if x.ndim == 2 else 0
        offsets = pa.array(np.arange(len(rows) + 1, dtype=np.int32) * d, pa.int32())
        vec = pa.ListArray.from_arrays(offsets, pa.array(x.reshape(-1), pa.float32()))
        return pa.table(
            {
                "row": pa.array(rows, pa.int64()),
                "hash": pa.array(sc.sample_hashes(records.ids) if len(rows) else np.zeros(0, np.uint64)),
                "vec": vec,
            }
        )


def _vectors(table: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row keys, sample hashes, vectors rows x d) of an embedding block."""
    rows = table.column("row").to_numpy()
    hashes = table.column("hash").to_numpy()
    col = table.column("vec").combine_chunks()
    if not len(rows):
        return rows, hashes, np.zeros((0, 0), np.float32)
    flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return rows, hashes, flat.reshape(len(rows), -1)


def _offer(table: Any, n: int, bound: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(live rows, hashes and rows of the at most `n` smallest (hash, row) with hash < `bound`)."""
    rows, hashes, _ = _vectors(table)
    below = np.arange(len(rows)) if bound >= 1 << 64 else np.flatnonzero(hashes < np.uint64(bound))
    pick = below[np.lexsort((rows[below], hashes[below]))[:n]]
    return len(rows), hashes[pick], rows[pick]


def _sample(emb: list[Any], n: int) -> np.ndarray:
    """Row keys of the sample (the n smallest (hash, row) over all blocks), sorted. The hashes are
    uniform, so the blocks offer only the rows below twice the expected cut (a few x n rows reach
    the driver, not every row); a shortfall widens the bound, so the result is exact."""
    import ray

    offer = ray.remote(_offer)
    live = sum(c for c, _, _ in ray.get([offer.remote(e, 0, 0) for e in emb]))
    top = 1 << 64
    bound = top if live <= n else min(top, int(top * min(1.0, 2.0 * n / live)) + (1 << 32))
    while True:
        got = ray.get([offer.remote(e, n, bound) for e in emb])
        h = np.concatenate([g[1] for g in got]) if got else np.zeros(0, np.uint64)
        r = np.concatenate([g[2] for g in got]) if got else np.zeros(0, np.int64)
        if len(h) >= min(n, live) or bound >= top:
            return np.sort(r[sc.sample_rows(h, r, n)])
        bound = min(top, bound * 4)


def _take(table: Any, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, _, x = _vectors(table)
    hit = np.flatnonzero(np.isin(rows, want))
    return rows[hit], x[hit]


def _route_map(table: Any, centroids: np.ndarray | None, parts: int, faults: Any) -> tuple:
    """Each row to its centroid (None: one cluster), partitioned by cluster."""
    fault_point(faults, "keys")
    rows, _, x = _vectors(table)
    cl = np.zeros(len(rows), np.int64)
    if centroids is not None and len(rows):
        cl = sc.route(x, centroids).astype(np.int64)
    cols = {"row": rows, "cluster": cl, "vec": x}
    return {"live": len(rows)}, split(cols, partition_of(cl, parts), parts)


def _cluster_reduce(p: int, threshold: float, k: int, faults: Any, cols: dict[str, Any]) -> dict[str, Any]:
    """Each cluster of partition p deduplicated alone: its dropped rows with their survivors, the
    removal table, capped rows and duplicate groups."""
    fault_point(faults, "reduce")
    out: dict[str, Any] = {"row": [], "survivor": [], "table": {}, "capped": 0, "groups": 0}
    rows = cols.get("row", np.zeros(0, np.int64))
    if len(rows):
        order = np.lexsort((rows, cols["cluster"]))
        rows, cl, x = rows[order], cols["cluster"][order], cols["vec"][order]
        starts = np.flatnonzero(np.r_[True, cl[1:] != cl[:-1]])
        for s, e in zip(starts, np.r_[starts[1:], len(rows)]):
            r = sc.dedup_cluster(x[s:e], threshold, k)
            if r is None:
                continue
            drop = np.flatnonzero(~r.keep)
            out["row"].append(rows[s:e][drop])
            out["survivor"].append(rows[s:e][r.cluster[drop]])
            for t, v in r.threshold_table.items():
                out["table"][t] = out["table"].get(t, 0) + v
            out["capped"] += r.capped_rows
            out["groups"] += r.n_clusters
    for key in ("row", "survivor"):
        out[key] = np.concatenate(out[key]) if out[key] else np.zeros(0, np.int64)
    return out


def semantic_stage(
    rd: Any,
    refs: list[Any],
    o: dict[str, Any],
    decisions: dict[str, Any],
    parts: int,
    faults: Any,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """(new decisions, details, counts) of the semantic stage over the blocks `refs`."""
    import ray

    from ..run import _warn

    resources = ray.cluster_resources()
    gpus = gpu_request(o, resources)
    actors = max(1, min(len(refs), int(resources.get("GPU" if gpus else "CPU", 1))))
    emb = (
        rd.from_arrow_refs(refs)
        .map_batches(
            EmbedActor,
            batch_size=None,
            batch_format="pyarrow",
            zero_copy_batch=True,
            compute=rd.ActorPoolStrategy(min_size=1, max_size=actors),
            num_gpus=gpus,
            fn_constructor_kwargs={"embedder": o["embedder"], "device": o["device"], "faults": faults},
            fn_kwargs={"select": o["select"], "decisions": decisions, "faults": faults},
        )
        .to_arrow_refs()
    )
    threshold, k = float(o["threshold"]), int(o["k"])
    # the sample: the smallest (hash, row) over all blocks, in row order
    want = _sample(emb, int(o["sample"]))
    details: dict[str, Any] = {"clusters": [], "threshold_table": {}, "warning": None}
    if not len(want):  # no live rows
        return decisions, details, {"rows_in": 0, "dropped": 0}
    centroids: np.ndarray | None = None  # clusters = 1: every row in one cluster
    if int(o["clusters"]) > 1:
        want_ref = ray.put(want)
        got = [g for g in ray.get([ray.remote(_take).remote(e, want_ref) for e in emb]) if len(g[0])]
        rows = np.concatenate([g[0] for g in got])
        order = np.argsort(rows, kind="stable")
        centroids = sc.train_centroids(np.concatenate([g[1] for g in got])[order], int(o["clusters"]))
    summaries, results = map_reduce(
        emb,
        _route_map,
        _cluster_reduce,
        parts,
        map_args=(ray.put(centroids), parts, faults),
        reduce_args=(threshold, k, faults),
    )
    live = sum(s["live"] for s in summaries)
    pairs = concat([{"row": x["row"], "survivor": x["survivor"]} for x in results])
    table: dict[float, int] = {}
    for x in results:
        for t, v in x["table"].items():
            table[t] = table.get(t, 0) + v
    table = dict(sorted(table.items(), reverse=True))
    details["threshold_table"] = {f"{t:g}": v for t, v in table.items()}
    details["index"] = "knn" if centroids is None else f"kmeans({centroids.shape[0]})"
    details["capped_rows"] = sum(x["capped"] for x in results)
    drop = pairs.get("row", np.zeros(0, np.int64))
    if not len(drop):
        return decisions, details, {"rows_in": live, "dropped": 0}
    order = np.argsort(drop, kind="stable")
    drop, surv = drop[order], pairs["survivor"][order]
    names = np.unique(surv)
    ids, _ = fetch_fields(refs, names)
    reasons = [f"semantic_duplicate_of:{ids[i]}" for i in np.searchsorted(names, surv).tolist()]
    details["warning"] = _warn(
        "semantic", len(drop), live, o["warn_above"], {f"cosine {t:g}": v for t, v in table.items()}
    )
    return (
        merge_decisions(decisions, drop, "semantic", reasons),
        details,
        {"rows_in": live, "dropped": len(drop)},
    )
