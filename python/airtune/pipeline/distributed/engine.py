"""``Pipeline(..., engine="ray")``: the curation pipeline on a Ray cluster.

Stages: read, clean, quality (per row: Ray Data ``map_batches`` over Arrow blocks, the C++ kernels
reading the block's buffers), exact and near (global: hash shuffles over Ray tasks, see
globalstages.py), semantic (embeddings in actors, k-means routing, see semantic.py), write (JSONL
files or Parquet shards, shards.py). The other stages (outliers, system_prompt_check, split,
diversify) are not on this engine yet and are refused by name before anything runs.

Every row travels in its block until the end with the stage and reason that dropped it (null while
kept), so the final pass accounts for each: rows in = kept + dropped (stage, reason) +
quarantined, checked before the manifest is written. Outputs as the local engine writes them
(train.jsonl, dropped.jsonl, quarantine.jsonl, report.json/html, manifest.json last), each
assembled from per-block shards written by the tasks (atomic renames; a retried task rewrites the
same names), in input order. The work folder ``<out>/.ray-work`` is removed when the run ends.
A rerun reuses the global stages a previous run finished (cache.py; ``resume=False`` recomputes).

The rows kept, the reasons and the survivors equal the local engine's on the same input whatever
the number of blocks and workers; label conflicts of exact duplicates (on_conflict="majority"/"drop")
are settled over the whole input, as the local engine does.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import cache
from .blocks import STAGE, from_block, live_mask
from .faults import block_span, fault_point, faults_dir, named
from .read import count_lines, plan, plan_table, read_range, shards_of
from .rowstages import apply_decisions, empty_decisions, row_stage

RAY_STAGES = ("read", "clean", "quality", "exact", "near", "semantic", "write")
_ROW_STAGES = ("clean", "quality")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("engine='ray' needs Ray: pip install 'airtune[ray]'") from None
    return ray


def connect(address: str | None) -> Any:
    """The Ray module, connected: the running session, else ray.init(address) (None: a local
    cluster on this machine). A clear ConnectionError when no cluster answers at `address`."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    _probe(address)
    try:
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConnectionError(f"engine='ray': no Ray cluster at {address!r}: {exc}") from None
    return ray


def _probe(address: str | None, timeout: float = 5.0) -> None:
    """A host:port (or ray://host:port) address must accept a TCP connection: ray.init itself
    waits on an address with nothing behind it for minutes."""
    if not address or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"engine='ray': address {address!r}: expected host:port or ray://host:port")
    import socket

    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"engine='ray': no Ray cluster at {address!r} ({exc})") from None


def check_stages(names: Sequence[str]) -> None:
    for n in names:
        if n not in RAY_STAGES:
            raise ValueError(
                f"engine='ray': stage {n!r} does not run on the Ray engine yet "
                f"(it runs: {', '.join(RAY_STAGES)}); use engine='local' for this pipeline"
            )


def _write_block(
    block: Any,
    decisions: dict[str, Any],
    work: str,
    stages: list[tuple[int, str]],
    fmt: str,
    output: str,
    faults: str | None,
) -> dict[str, Any]:
    """Final pass over one block: the kept rows and the dropped ones (per stage, with their reasons
    in the metadata) as shards of the outputs; the block's accounting."""
    with named("write", block_span(block)):
        fault_point(faults, "write")
        return _write_rows(apply_decisions(block, decisions), work, stages, fmt, output)


def _write_rows(
    block: Any, work: str, stages: list[tuple[int, str]], fmt: str, output: str
) -> dict[str, Any]:
    from ...stage import reason_kind
    from ..run import _EXAMPLES, _label_balance, _snippet, _with_reasons

    records, rows, stage, reason = from_block(block)
    out = Path(work) / "out"
    out.mkdir(exist_ok=True)  # not parents: a task left running by a failed run must not recreate work
    first = int(rows[0]) if len(rows) else -1
    tag = f"{first:020d}"
    live = live_mask(stage)
    kept = records.take(np.flatnonzero(live))
    if output == "parquet":
        from ..shards import write_shard

        if len(kept):
            write_shard(kept, out / f"kept-{tag}.parquet")
    else:
        _atomic_write(kept, out / f"kept-{tag}.jsonl", fmt)
    stage_l, reason_l = stage.to_pylist(), reason.to_pylist()
    per: dict[str, Any] = {}
    for pos, name in stages:
        idx = [i for i, s in enumerate(stage_l) if s == name]
        if not idx:
            continue
        sub = records.take(np.asarray(idx, dtype=np.int64))
        why = [reason_l[i] for i in idx]
        _atomic_write(_with_reasons(sub, name, why), out / f"dropped-{tag}-{pos:02d}.jsonl", "auto")
        reasons: dict[str, int] = {}
        examples: dict[str, list] = {}
        for k, r in enumerate(why):
            kind = reason_kind(r)
            reasons[kind] = reasons.get(kind, 0) + 1
            if len(examples.setdefault(kind, [])) < _EXAMPLES:
                ex = _snippet(sub, [k])[0]
                ex["reason"] = r
                examples[kind].append(ex)
        per[name] = {"dropped": len(idx), "reasons": reasons, "examples": examples}
    return {
        "first": first,
        "last": int(rows[-1]) if len(rows) else -1,
        "rows": len(rows),
        "kept": len(kept),
        "stages": per,
        "labels": _label_balance(kept) if len(kept) else {},
    }


def _atomic_write(records: Any, path: Path, fmt: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if len(records):
        records.write_jsonl(str(tmp), format=fmt)
    else:
        tmp.write_bytes(b"")
    os.replace(tmp, path)


def run_ray(
    stages: list[Any],
    source: Any,
    out_dir: str | os.PathLike,
    *,
    address: str | None = None,
    blocks: int | None = None,
    parts: int | None = None,
    resume: bool = True,
) -> Any:
    """Runs validated `stages` (StageConfig, positions set) on `source` (a JSONL or Parquet file, a
    folder of shards or a list of them) on Ray; returns a PipelineResult. `blocks`: read tasks
    (default: one per read.batch_bytes of input); `parts`: partitions of the shuffles (default:
    twice the cluster's CPUs, at most the number of blocks x 4); `resume`: reuse the global stages
    a previous run with the same input and options finished (cache.py)."""
    started = time.perf_counter()
    check_stages([s.name for s in stages])
    if not isinstance(source, (str, os.PathLike, list, tuple)):
        raise ValueError("engine='ray': the source must be a file, a folder of shards or a list of files")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"write: output {out} exists and is not a directory")
    paths = shards_of(source)
    read = next(s for s in stages if s.name == "read")
    ranges = plan(paths, int(read.options["batch_bytes"]), blocks)  # format checks before the cluster
    ray = connect(address)
    import ray.data as rd

    ctx = rd.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    work = out / ".ray-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    faults = faults_dir()
    try:
        return _run(ray, rd, stages, paths, ranges, out, work, faults, parts, started, resume)
    except Exception as exc:
        cause = _user_error(exc)
        if cause is exc:
            raise
        if isinstance(cause, MemoryError):  # a block named by shard number: name the file
            cause = MemoryError(_shard_names(str(cause), paths))
        raise cause from None  # the task's own error (it names the shard, range and node)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _shard_names(msg: str, paths: list[Path]) -> str:
    import re

    def name(m: Any) -> str:
        i = int(m.group(1))
        return f"shard {paths[i]}" if i < len(paths) else m.group(0)

    return re.sub(r"shard #(\d+)", name, msg)


def _user_error(exc: BaseException) -> BaseException:
    """The error a task raised, out of Ray's wrappers (RayTaskError, UserCodeException), which
    keep it only as text across processes: the same message, as a ValueError (bad input),
    OSError, MemoryError or RuntimeError."""
    import re

    import ray.exceptions as rex

    if not isinstance(exc, rex.RayError):
        return exc
    found = re.findall(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$", str(exc), re.M)
    for name, msg in reversed(found):
        base = name.rsplit(".", 1)[-1]
        if name.startswith("ray.") or base in ("RayTaskError", "UserCodeException"):
            continue
        if base in ("MemoryError", "OutOfMemoryError"):
            return MemoryError(msg)
        if base in ("OSError", "IoError", "FileNotFoundError", "PermissionError", "IsADirectoryError"):
            return OSError(msg)
        if base in ("ValueError", "ParseError", "InvalidArgument", "FormatError", "KeyError"):
            return ValueError(msg)
        return RuntimeError(f"{name}: {msg}")
    return exc


def _run(
    ray: Any,
    rd: Any,
    stages: list[Any],
    paths: list[Path],
    ranges: list[Any],
    out: Path,
    work: Path,
    faults: str | None,
    parts: int | None,
    started: float,
    resume: bool,
) -> Any:
    from ... import __version__
    from ...io import Records
    from .. import run as local
    from .globalstages import exact_stage, near_stage
    from .semantic import semantic_stage

    cache_dir = out / ".ray-cache"
    cached: dict[str, bool] = {}

    read = next(s for s in stages if s.name == "read")
    ranges = count_lines(ranges)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    n_parts = parts or max(1, min(2 * cpus, 4 * len(ranges)))
    ro = dict(read.options)
    ds = rd.from_items(plan_table(ranges), override_num_blocks=len(ranges)).map_batches(
        read_range,
        batch_size=1,
        batch_format="pyarrow",
        fn_kwargs={"options": ro, "work": str(work), "faults": faults},
    )
    decisions = empty_decisions()
    details: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    refs: list[Any] | None = None
    work_stages = [s for s in stages if s.name not in ("read", "write")]
    chain: list[Any] = [__version__, cache.input_id(paths), ("read", ro)]
    for s in work_stages:
        t = time.perf_counter()
        chain.append((s.name, s.options))
        if s.name in _ROW_STAGES:
            if ds is None:
                ds = rd.from_arrow_refs(refs)
            ds = ds.map_batches(
                row_stage,
                batch_size=None,
                batch_format="pyarrow",
                zero_copy_batch=True,
                fn_kwargs={
                    "name": s.name,
                    "options": s.options,
                    "decisions": decisions,
                    "work": str(work),
                    "faults": faults,
                },
            )
            refs = None
            continue
        unit = cache.unit(cache_dir, s.position, s.name, local._key(*chain))
        hit = cache.load(unit) if resume else None
        cached[s.name] = hit is not None
        if hit is not None:
            decisions, details[s.name], seconds[s.name] = hit
            continue
        if refs is None:
            refs = ds.to_arrow_refs()
            ds = None
        if s.name == "semantic":
            decisions, details[s.name], _ = semantic_stage(rd, refs, s.options, decisions, n_parts, faults)
        else:
            fn = exact_stage if s.name == "exact" else near_stage
            decisions, details[s.name], _ = fn(refs, s.options, decisions, n_parts, faults)
        seconds[s.name] = time.perf_counter() - t
        cache.save(unit, decisions, details[s.name], seconds[s.name])
    if refs is None:
        refs = ds.to_arrow_refs()
    write = next((s for s in stages if s.name == "write"), None)
    fmt = write.options["format"] if write is not None else "auto"
    output = write.options["output"] if write is not None else "jsonl"
    task = ray.remote(_write_block)
    order = [(s.position, s.name) for s in work_stages]
    shared = ray.put(decisions)  # once in the object store, not in every task's arguments
    futures = [task.remote(r, shared, str(work), order, fmt, output, faults) for r in refs]
    ray.wait(futures, num_returns=len(futures), fetch_local=False)  # all ended before an error is raised
    summaries = ray.get(futures)
    summaries = sorted((x for x in summaries if x["rows"]), key=lambda x: x["first"])
    for a, b in zip(summaries, summaries[1:]):
        if b["first"] <= a["last"]:
            raise local.AccountingError("engine='ray': two blocks hold overlapping rows")
    return _finish(
        stages,
        paths,
        out,
        work,
        summaries,
        details,
        seconds,
        started,
        ray,
        len(ranges),
        n_parts,
        Records,
        output,
        cached,
    )


def _finish(
    stages: list[Any],
    paths: list[Path],
    out: Path,
    work: Path,
    summaries: list[dict[str, Any]],
    details: dict[str, dict[str, Any]],
    seconds: dict[str, float],
    started: float,
    ray: Any,
    n_blocks: int,
    n_parts: int,
    Records: Any,
    output: str,
    cached: dict[str, bool],
) -> Any:
    from ... import __version__, _core
    from .. import run as local
    from ..report import build_report, render_html

    # read accounting, per range (written by the read tasks)
    reads = sorted(
        (json.loads(p.read_text()) for p in (work / "read").glob("*.json")),
        key=lambda d: (d["range"]["shard"], d["range"]["start"], d["range"]["group"]),
    )
    lines_read = sum(d["lines_read"] for d in reads)
    blank = sum(d["blank"] for d in reads)
    rejected = sum(d["rejected"] for d in reads)
    read_kept = sum(d["kept"] for d in reads)
    rows_in = lines_read - blank
    in_blocks = sum(x["rows"] for x in summaries)
    if in_blocks != read_kept:
        raise local.AccountingError(
            f"engine='ray': the read tasks kept {read_kept} rows, the blocks hold {in_blocks}"
        )
    stats = []
    st = local.StageStats("read", rows_in=rows_in, kept=read_kept, quarantined=rejected)
    st.details = {
        "lines_read": lines_read,
        "blank": blank,
        "bytes": sum(d["bytes"] for d in reads),
        "errors": [e for d in reads for e in d["errors"]][:20],
        "blocks": n_blocks,
    }
    if rejected:
        st.reasons["quarantined"] = rejected
    stats.append(st)
    # details the per-row stages wrote per block
    row_details: dict[str, list[dict[str, Any]]] = {}
    for p in sorted((work / "details").glob("*.json")) if (work / "details").exists() else []:
        row_details.setdefault(p.name.split("-", 1)[0], []).append(json.loads(p.read_text()))
    current = read_kept
    for s in stages:
        if s.name in ("read", "write"):
            continue
        st = local.StageStats(s.name, rows_in=current)
        for x in summaries:
            d = x["stages"].get(s.name)
            if not d:
                continue
            st.dropped += d["dropped"]
            for k, v in d["reasons"].items():
                st.reasons[k] = st.reasons.get(k, 0) + v
            for k, ex in d["examples"].items():
                have = st.examples.setdefault(k, [])
                have.extend(ex[: max(0, local._EXAMPLES - len(have))])
        st.kept = current - st.dropped
        current = st.kept
        st.seconds = seconds.get(s.name, 0.0)
        st.cached = cached.get(s.name, False)
        if s.name == "clean":
            removed: dict[str, int] = {}
            for d in row_details.get("clean", []):
                for k, v in d["removed"].items():
                    removed[k] = removed.get(k, 0) + v
            st.details = {
                "changed": sum(d["changed"] for d in row_details.get("clean", [])),
                "removed": removed,
            }
        elif s.name == "quality":
            table: dict[str, int] = {}
            for d in row_details.get("quality", []):
                for k, v in d["rules"].items():
                    table[k] = table.get(k, 0) + v
            st.details = {"preset": s.options["preset"], "rule_table": table}
            local._warn_quality(s, st, table)
        else:
            st.details = details.get(s.name, {})
        stats.append(st)

    kept = sum(x["kept"] for x in summaries)
    dropped = sum(s.dropped for s in stats)
    accounting = {"rows_in": rows_in, "kept": kept, "dropped": dropped, "quarantined": rejected}
    if rows_in != kept + dropped + rejected or kept != current:
        raise local.AccountingError(
            f"engine='ray': rows in ({rows_in}) != kept ({kept}) + dropped ({dropped}) + quarantined "
            f"({rejected}); per stage: {[(s.stage, s.rows_in, s.kept, s.dropped) for s in stats]}"
        )

    shards = work / "out"
    tags = [f"{x['first']:020d}" for x in summaries]
    paths_out: dict[str, str] = {}
    parquet: dict[str, Any] = {}
    if output == "parquet":
        from ..shards import assemble

        (out / "train.jsonl").unlink(missing_ok=True)
        kept_files = [shards / f"kept-{t}.parquet" for t in tags]
        parquet["train"] = assemble([p for p in kept_files if p.exists()], out / "train")
        paths_out["train"] = parquet["train"]["path"]
    else:
        local._concat_files([shards / f"kept-{t}.jsonl" for t in tags], out / "train.jsonl")
        paths_out["train"] = str(out / "train.jsonl")
    positions = [s.position for s in stages if s.name not in ("read", "write")]
    local._concat_files(
        [shards / f"dropped-{t}-{p:02d}.jsonl" for t in tags for p in positions], out / "dropped.jsonl"
    )
    paths_out["dropped"] = str(out / "dropped.jsonl")
    quarantine: dict[str, Any] = {"rejected": rejected, "path": None}
    qfiles = [Path(d["quarantine"]) for d in reads if d.get("quarantine")]
    if qfiles:
        local._concat_files(qfiles, out / "quarantine.jsonl")
        local._concat_files(
            [Path(str(q) + ".reasons.jsonl") for q in qfiles], out / "quarantine.jsonl.reasons.jsonl"
        )
        quarantine["path"] = str(out / "quarantine.jsonl")
        paths_out["quarantine"] = quarantine["path"]

    labels: dict[str, int] = {}
    for x in summaries:
        for k, v in x["labels"].items():
            labels[k] = labels.get(k, 0) + v
    input_id = {
        "shards": [{"path": str(p), "bytes": p.stat().st_size} for p in paths],
        "bytes": sum(p.stat().st_size for p in paths),
    }
    report = build_report(
        stats=[s.to_dict() for s in stats],
        accounting=accounting,
        quarantine=quarantine,
        labels={"train": dict(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))), "test": {}},
        prompts={"before": None, "after": None},
        input_id=input_id,
        seconds=time.perf_counter() - started,
    )
    local._atomic_text(out / "report.json", json.dumps(report, indent=1, ensure_ascii=False, default=str))
    local._atomic_text(out / "report.html", render_html(report))
    paths_out["report_json"] = str(out / "report.json")
    paths_out["report_html"] = str(out / "report.html")
    manifest = {
        "airtune": __version__,
        "engine": "ray",
        "ray": {
            "version": ray.__version__,
            "nodes": len(ray.nodes()),
            "blocks": n_blocks,
            "partitions": n_parts,
        },
        "input": input_id,
        "stages": [{"stage": s.name, "options": s.options} for s in stages],
        "accounting": accounting,
        "cached": cached,
        "outputs": {
            k: parquet.get(k) or {"path": v, "bytes": Path(v).stat().st_size} for k, v in paths_out.items()
        },
        "build": {k: v for k, v in _core.build_info().items() if isinstance(v, (str, int, float, bool))},
    }
    local._atomic_text(out / "manifest.json", json.dumps(manifest, indent=1, default=str))
    return local.PipelineResult(None, Records(), report["funnel"], report, paths_out, accounting)


__all__ = ["RAY_STAGES", "STAGE", "check_stages", "connect", "run_ray"]
