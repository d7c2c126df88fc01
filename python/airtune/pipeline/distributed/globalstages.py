"""The global stages on Ray: exact dedup by shuffling on the hash, near dedup by band keys.

Both end in the same place as the local engine: a cluster (the row that survives) for each row
that has a duplicate, settled by the local code (``_resolve_conflicts``, the results' ``reason``),
so the kept rows, the reasons and the survivors do not depend on the engine or on how rows were
split into blocks. Only keys move through the shuffles (hashes, global row keys, band keys, shingle
sets for verification); ids and labels are fetched afterwards for the rows that have a duplicate.

exact: map (one task per block): XXH64 of the normalised text and a second XXH64 (a 128-bit key,
``_core.distributed.exact_keys``), partitioned by the hash; reduce (one task per partition): the
groups of equal keys, survivor the smallest row key (input order: ``keep="first"``).

near: map: MinHash band keys, copy-group keys and shingle sets (``minhash_keys``); shuffle 1 on the
copy key collapses identical rows onto their first row (as ``MinHashIndex.self_pairs`` does) and
routes the band entries of the representatives; shuffle 2 on the band key forms the buckets and
their candidate pairs (``bucket_pairs``: same star + chain above ``max_bucket``); shuffles 3 and 4
join each pair with the shingle sets of its two rows (partitioned by row) and verify it by exact
Jaccard (``jaccard_rows``). The verified edges (and the copy edges) are collected on the driver and
joined by the C++ union-find (``clusters_from_pairs``; the removal table in one
``removed_at_thresholds`` sweep) over the rows they touch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import _core
from .blocks import from_block
from .faults import block_span, fault_point, named
from .rowstages import alive, merge_decisions
from .shuffle import concat, map_reduce, mix, partition_of, ragged_take, rows_of, split

_D = _core.distributed
_EMPTY_SET = (np.zeros(0, np.uint64), np.zeros(1, np.int64))


def _ray() -> Any:
    import ray

    return ray


def _live(block: Any, decisions: dict[str, Any]) -> tuple[Any, np.ndarray]:
    """(records still alive, their row keys) of a block."""
    records, rows, stage, _ = from_block(block)
    live = alive(rows, stage, decisions)
    return records.take(np.flatnonzero(live)), rows[live]


def _texts(records: Any, select: str, stage: str) -> Any:
    from ...io.select import stage_texts

    return stage_texts(records, select, stage=stage)[0]


def _groups(keys: list[np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by (keys..., row): (order, group id per sorted row, first sorted position of
    each group)."""
    order = np.lexsort((rows, *reversed(keys)))
    n = len(rows)
    new = np.zeros(n, dtype=bool)
    if n:
        new[0] = True
    for k in keys:
        ks = k[order]
        new[1:] |= ks[1:] != ks[:-1]
    gid = np.cumsum(new) - 1
    return order, gid, np.flatnonzero(new)


def fetch_fields(refs: list[Any], rows: np.ndarray) -> tuple[list[str], list[Any]]:
    """(ids, labels: None where absent) of the rows with keys `rows` (sorted, unique), from the
    blocks that hold them."""
    ray = _ray()
    task = ray.remote(_fetch_task)
    rows_ref = ray.put(np.asarray(rows, dtype=np.int64))
    got = ray.get([task.remote(r, rows_ref) for r in refs])
    keys = np.concatenate([g[0] for g in got]) if got else np.zeros(0, np.int64)
    ids = [i for g in got for i in g[1]]
    labels = [x for g in got for x in g[2]]
    order = np.argsort(keys, kind="stable")
    if len(keys) != len(rows) or not np.array_equal(keys[order], rows):
        raise AssertionError(f"fetch: found {len(keys)} of {len(rows)} rows in the blocks")
    return [ids[i] for i in order.tolist()], [labels[i] for i in order.tolist()]


def _fetch_task(block: Any, rows: np.ndarray) -> tuple[np.ndarray, list[str], list[Any]]:
    records, keys, _, _ = from_block(block)
    hit = np.flatnonzero(np.isin(keys, rows))
    sub = records.take(hit)
    col = _core.records.select_text(sub._batch, "label")
    labels = [t if p else None for t, p in zip(col.to_list(), col.present.tolist())]
    return keys[hit], sub.ids, labels


# ----------------------------------------------------------------------------------------------
# exact


def _norm_flags(o: dict[str, Any]) -> int:
    # NormalizeOptions::flags(): lowercase, whitespace, punctuation, digits; NFKC (form 2) << 4
    return 1 | 2 | (4 if o["punctuation"] else 0) | (8 if o["digits"] else 0) | (2 << 4)


def _exact_map(block: Any, o: dict[str, Any], decisions: dict[str, Any], parts: int, faults: Any) -> tuple:
    with named("exact", block_span(block)):
        fault_point(faults, "keys")
        records, rows = _live(block, decisions)
        h, c = _D.exact_keys(_texts(records, o["select"], "exact"), _norm_flags(o))
        cols = {"hash": h, "check": c, "row": rows}
        return {"live": len(rows)}, split(cols, partition_of(h, parts), parts)


def _exact_reduce(p: int, faults: Any, cols: dict[str, Any]) -> dict[str, np.ndarray]:
    fault_point(faults, "reduce")
    if not rows_of(cols):
        return {"row": np.zeros(0, np.int64), "survivor": np.zeros(0, np.int64)}
    order, gid, start = _groups([cols["hash"], cols["check"]], cols["row"])
    rows = cols["row"][order]
    size = np.diff(np.append(start, len(rows)))[gid]
    m = size > 1
    return {"row": rows[m], "survivor": rows[start][gid][m]}


def exact_stage(
    refs: list[Any], o: dict[str, Any], decisions: dict[str, Any], parts: int, faults: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """(new decisions, details, counts) of the exact stage over the blocks `refs`."""
    from ...dedup._common import _resolve_conflicts
    from ...dedup.exact import ExactResult

    summaries, results = map_reduce(
        refs,
        _exact_map,
        _exact_reduce,
        parts,
        map_args=(o, _ray().put(decisions), parts, faults),
        reduce_args=(faults,),
    )
    live = sum(s["live"] for s in summaries)
    got = concat(results)
    rows = got.get("row", np.zeros(0, np.int64))
    order = np.argsort(rows, kind="stable")
    rows, surv = rows[order], got.get("survivor", np.zeros(0, np.int64))[order]
    details: dict[str, Any] = {"clusters": [], "conflicts": [], "n_conflicts": 0}
    if not len(rows):
        return decisions, details, {"rows_in": live, "dropped": 0}
    cluster = np.searchsorted(rows, surv)
    size = np.bincount(cluster, minlength=len(rows))[cluster]
    keep = cluster == np.arange(len(rows))
    ids, labels = fetch_fields(refs, rows)
    labs = labels if any(x is not None for x in labels) else None
    keep, cluster, conflicts, cdrop = _resolve_conflicts(keep, cluster, size, labs, o["on_conflict"])
    res = ExactResult(
        keep=keep,
        cluster=cluster,
        cluster_size=size,
        hashes=np.zeros(0, np.uint64),
        n_clusters=int(keep.sum()),
        hash_collisions=0,
        survivor_rule="first",
        conflicts=conflicts,
        on_conflict=o["on_conflict"],
        ids=ids,
        conflict_dropped=cdrop if cdrop.any() else None,
    )
    reason = res.reason
    drop = np.flatnonzero(~res.keep)
    details["conflicts"] = [
        {"ids": [ids[i] for i in c["rows"]], "labels": c["labels"], "resolution": c["resolution"]}
        for c in conflicts[:20]
    ]
    details["n_conflicts"] = len(conflicts)
    details["groups"] = int(len(np.unique(res.cluster)))
    new = merge_decisions(decisions, rows[drop], "exact", [reason[i] for i in drop.tolist()])
    return new, details, {"rows_in": live, "dropped": len(drop)}


# ----------------------------------------------------------------------------------------------
# near


def near_index(o: dict[str, Any]) -> Any:
    """The MinHashIndex the local near stage builds (bands and rows from the threshold)."""
    from ...dedup.near import MinHashIndex

    return MinHashIndex(
        float(o["threshold"]),
        int(o["ngram"]),
        num_perm=int(o["num_perm"]),
        char_ngrams=bool(o["char_ngrams"]),
        bands=o["bands"],
        rows=o["rows"],
    )


def _near_map(block: Any, o: dict[str, Any], decisions: dict[str, Any], parts: int, faults: Any) -> tuple:
    with named("near", block_span(block)):
        return _near_keys(block, o, decisions, parts, faults)


def _near_keys(block: Any, o: dict[str, Any], decisions: dict[str, Any], parts: int, faults: Any) -> tuple:
    fault_point(faults, "keys")
    records, rows = _live(block, decisions)
    ix = near_index(o)
    k = _D.minhash_keys(_texts(records, o["select"], "near"), ix._ix)
    ne = np.flatnonzero(k.empty == 0)
    r = rows[ne]
    cols = {"row": r, "sig": k.signature_hash[ne], "set": k.set_hash[ne], "bands": k.band_keys[ne]}
    copy_key = mix(cols["sig"]) ^ cols["set"]
    sets = {"row": r, "shingles": ragged_take(k.shingle_data, k.shingle_offsets, ne)}
    return (
        {"live": len(rows)},
        *split(cols, partition_of(copy_key, parts), parts),
        *split(sets, partition_of(r, parts), parts),
    )


def _near_copies(parts: int, faults: Any, *inputs: dict[str, Any]) -> tuple:
    """Shuffle 1: rows equal in signature and shingle set collapse onto their first row; the band
    entries of the first rows go on, partitioned by band key."""
    fault_point(faults, "reduce")
    cols = concat(inputs)
    empty = {"band": np.zeros(0, np.int32), "key": np.zeros(0, np.uint64), "row": np.zeros(0, np.int64)}
    if not rows_of(cols):
        return ({"a": np.zeros(0, np.int64), "b": np.zeros(0, np.int64)}, *[empty] * parts)
    order, gid, start = _groups([cols["sig"], cols["set"]], cols["row"])
    rows = cols["row"][order]
    rep = rows[start][gid]
    is_rep = rep == rows
    copies = {"a": rep[~is_rep], "b": rows[~is_rep]}
    bands = cols["bands"][order][is_rep]
    nb = bands.shape[1] if bands.ndim == 2 else 0
    entries = {
        "band": np.tile(np.arange(nb, dtype=np.int32), len(bands)),
        "key": bands.reshape(-1),
        "row": np.repeat(rows[is_rep], nb),
    }
    part = partition_of(entries["key"] ^ mix(entries["band"].astype(np.uint64)), parts)
    return (copies, *split(entries, part, parts))


def _near_buckets(parts: int, max_bucket: int, faults: Any, *inputs: dict[str, Any]) -> tuple:
    """Shuffle 2: the buckets of equal (band, key) and their candidate pairs, partitioned by a."""
    e = concat(inputs)
    if not rows_of(e):
        a = b = np.zeros(0, np.int64)
        capped = 0
    else:
        a, b, capped = _D.bucket_pairs(e["band"], e["key"], e["row"], int(max_bucket))
    return ({"capped": int(capped)}, *split({"a": a, "b": b}, partition_of(a, parts), parts))


def _lookup(sets: dict[str, Any], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shingle sets of `rows` (every one present in `sets`)."""
    if not rows_of(sets):
        if len(rows):
            raise AssertionError("near: a candidate row has no shingle set")
        return _EMPTY_SET
    order = np.argsort(sets["row"], kind="stable")
    keys = sets["row"][order]
    pos = np.minimum(np.searchsorted(keys, rows), len(keys) - 1)
    if len(rows) and not np.array_equal(keys[pos], rows):
        raise AssertionError("near: a candidate row has no shingle set")
    data, offsets = sets["shingles"]
    return ragged_take(data, offsets, order[pos])


def _join_a(parts: int, n_pairs: int, *inputs: dict[str, Any]) -> tuple:
    """Shuffle 3: pairs (partitioned by a) meet the sets of a; go on partitioned by b."""
    pairs, sets = concat(inputs[:n_pairs]), concat(inputs[n_pairs:])
    a = pairs.get("a", np.zeros(0, np.int64))
    b = pairs.get("b", np.zeros(0, np.int64))
    if len(a):
        ab = np.unique(np.stack([a, b], axis=1), axis=0)  # a pair found in several bands: once
        a, b = ab[:, 0].copy(), ab[:, 1].copy()
    out = {"a": a, "b": b, "sa": _lookup(sets, a)}
    return ({"candidates": len(a)}, *split(out, partition_of(b, parts), parts))


def _join_b(low: float, n_pairs: int, *inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """Shuffle 4: pairs (partitioned by b) meet the sets of b; exact Jaccard, kept from `low` on."""
    x, sets = concat(inputs[:n_pairs]), concat(inputs[n_pairs:])
    a = x.get("a", np.zeros(0, np.int64))
    if not len(a):
        return {"a": a, "b": a.copy(), "sim": np.zeros(0)}
    b = x["b"]
    sa, sb = x["sa"], _lookup(sets, b)
    sim = _D.jaccard_rows(sa[0], sa[1], sb[0], sb[1])
    m = sim >= low
    return {"a": a[m], "b": b[m], "sim": sim[m]}


def near_stage(
    refs: list[Any],
    o: dict[str, Any],
    decisions: dict[str, Any],
    parts: int,
    faults: Any,
    max_bucket: int = 256,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """(new decisions, details, counts) of the near stage over the blocks `refs`."""
    from ...dedup._common import _c, _resolve_conflicts
    from ...dedup.near import NearDuplicateResult, candidate_probability
    from ..run import _warn

    ray = _ray()
    ix = near_index(o)  # validates the options on the driver, before any task
    o = {**o, "bands": ix.bands, "rows": ix.rows}
    threshold = float(o["threshold"])
    ts = sorted({0.95, 0.9, 0.85, 0.8, 0.7, 0.6} | {threshold}, reverse=True)
    low = min(ts)

    keys = ray.remote(_near_map).options(num_returns=1 + 2 * parts)
    shared = ray.put(decisions)  # once in the object store, not in every task's arguments
    maps = [keys.remote(r, o, shared, parts, faults) for r in refs]
    live = sum(s["live"] for s in ray.get([m[0] for m in maps]))
    copies_t = ray.remote(_near_copies).options(num_returns=1 + parts)
    cps = [copies_t.remote(parts, faults, *[m[1 + p] for m in maps]) for p in range(parts)]
    buckets_t = ray.remote(_near_buckets).options(num_returns=1 + parts)
    bks = [buckets_t.remote(parts, max_bucket, faults, *[c[1 + p] for c in cps]) for p in range(parts)]
    join_a = ray.remote(_join_a).options(num_returns=1 + parts)
    jas = [
        join_a.remote(parts, len(bks), *[k[1 + p] for k in bks], *[m[1 + parts + p] for m in maps])
        for p in range(parts)
    ]
    join_b = ray.remote(_join_b)
    jbs = [
        join_b.remote(low, len(jas), *[j[1 + p] for j in jas], *[m[1 + parts + p] for m in maps])
        for p in range(parts)
    ]
    verified = concat(ray.get(jbs))
    copies = concat(ray.get([c[0] for c in cps]))
    capped = sum(s["capped"] for s in ray.get([k[0] for k in bks]))
    candidates = sum(s["candidates"] for s in ray.get([j[0] for j in jas]))

    ca = copies.get("a", np.zeros(0, np.int64))
    a = np.concatenate([verified.get("a", np.zeros(0, np.int64)), ca])
    b = np.concatenate([verified.get("b", np.zeros(0, np.int64)), copies.get("b", np.zeros(0, np.int64))])
    sim = np.concatenate([verified.get("sim", np.zeros(0)), np.ones(len(ca))])
    order = np.lexsort((b, a))
    a, b, sim = a[order], b[order], sim[order]
    members = np.unique(np.concatenate([a, b]))
    ia, ib = np.searchsorted(members, a), np.searchsorted(members, b)
    n = len(members)
    removed = _c.removed_at_thresholds(n, ia, ib, sim, np.asarray(ts, dtype=np.float64))
    table = {t: int(r) for t, r in zip(ts, removed)}
    m = sim >= threshold
    c = _c.clusters_from_pairs(n, ia[m], ib[m], "first", None, None)
    details: dict[str, Any] = {
        "clusters": [],
        "threshold_table": {f"{t:g}": v for t, v in table.items()},
        "n_conflicts": 0,
        "candidates": int(candidates),
        "capped_buckets": int(capped),
        "bands": ix.bands,
        "rows": ix.rows,
    }
    if not n:
        details["warning"] = None
        return decisions, details, {"rows_in": live, "dropped": 0}
    ids, labels = fetch_fields(refs, members)
    labs = labels if any(x is not None for x in labels) else None
    keep, cluster, conflicts, cdrop = _resolve_conflicts(
        c.keep.astype(bool), c.cluster, c.size, labs, o["on_conflict"]
    )
    res = NearDuplicateResult(
        keep=keep,
        cluster=cluster,
        cluster_size=c.size,
        pairs_a=a[m],
        pairs_b=b[m],
        pairs_similarity=sim[m],
        threshold=threshold,
        num_perm=int(o["num_perm"]),
        bands=ix.bands,
        rows=ix.rows,
        verified=True,
        candidates=int(candidates),
        capped_buckets=int(capped),
        n_clusters=int(c.n_clusters),
        survivor_rule="first",
        candidate_probability={threshold: candidate_probability(threshold, ix.bands, ix.rows)},
        conflicts=conflicts,
        on_conflict=o["on_conflict"],
        ids=ids,
        threshold_table=table,
        conflict_dropped=cdrop if cdrop.any() else None,
    )
    reason = res.reason
    drop = np.flatnonzero(~res.keep)
    details["n_conflicts"] = len(conflicts)
    details["warning"] = _warn(
        "near", len(drop), live, o["warn_above"], {f"threshold {t:g}": v for t, v in table.items()}
    )
    new = merge_decisions(decisions, members[drop], "near", [reason[i] for i in drop.tolist()])
    return new, details, {"rows_in": live, "dropped": len(drop)}
