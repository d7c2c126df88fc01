"""airtune.Pipeline: read -> clean -> quality -> exact -> near -> semantic -> outliers ->
system-prompt check -> split -> diversify (train side) -> write, with every row accounted for.

Streaming: the leading run of streaming stages (read, clean, quality, exact) processes the input
batch by batch (``read.batch_bytes`` of input at a time); a pipeline made only of streaming stages
holds one batch plus the exact-dedup table (8 bytes of hash and the id per distinct row) whatever
the file size. Near and semantic dedup, outliers, the split and diversification need the whole
(remaining) set in memory, and so does exact dedup that settles label conflicts by majority or by
dropping the group (``on_conflict="majority"|"drop"``: a group's labels are known only once every
row is seen), so that the result never depends on ``read.batch_bytes``.

Resuming: each unit of work (the streaming prefix as one unit, then every later stage) stores its
output under ``<out_dir>/.cache/<key>/`` where the key hashes the input's content, every stage
before it and its own options (and airtune's version); a rerun with the same input and config loads
the finished units instead of recomputing them. A unit appears there only when complete (written to
a temporary folder, then renamed).

Atomic outputs: ``train.jsonl``, ``test.jsonl``, ``dropped.jsonl`` (every dropped row with
``airtune_stage`` and ``airtune_reason`` in its metadata), ``quarantine.jsonl``, ``report.json``,
``report.html`` are each written to a temporary name and renamed; ``manifest.json`` is removed when a
run starts and written last, so its presence says the outputs are complete and belong together.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, _core
from .._results import ResultMixin
from ..io import Records, read_jsonl
from ..io.jsonl import JsonlStream
from ..io.select import as_records, select_text
from ..stage import StageOutput, reason_kind
from .spec import StageConfig, validate

_EXAMPLES = 3  # dropped rows shown per reason in the report
_CLUSTERS = 5  # duplicate clusters shown per dedup stage
_SNIPPET = 400  # characters of a row's text in the report


class AccountingError(RuntimeError):
    """rows in != kept + dropped + quarantined: a bug, never silently ignored."""


# ----------------------------------------------------------------------------------------------
# small helpers


def _hash_file(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def _hash_records(records: Records) -> str:
    h = hashlib.blake2b(digest_size=16)
    cols: dict[str, Any] = records._batch.columns()  # arrays and string buffers by name
    for name in ("id", "content", "label", "metadata"):
        data, offsets, valid = cols[name]
        h.update(data.tobytes())
        h.update(offsets.tobytes())
        if valid is not None:
            h.update(valid.tobytes())
    for name in ("role", "message_offsets", "format", "line"):
        h.update(cols[name].tobytes())
    return h.hexdigest()


def _key(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _concat_files(parts: Sequence[Path], path: Path) -> int:
    """Concatenate files into `path` atomically; returns bytes written."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    n = 0
    with open(tmp, "wb") as out:
        for p in parts:
            if p.exists():
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out, 8 << 20)
                n += p.stat().st_size
    os.replace(tmp, path)
    return n


def _write_records(records: Records, path: Path, fmt: str = "auto") -> None:
    records.write_jsonl(str(path), format=fmt)
    np.save(str(path) + ".lines.npy", np.asarray(records.lines, dtype=np.int64))


def _read_records(path: Path) -> Records:
    if not path.exists() or path.stat().st_size == 0:
        return Records()
    recs = read_jsonl(path, progress=False)
    lines = np.load(str(path) + ".lines.npy")
    return Records(_core.records.with_lines(recs._batch, lines))


def _with_reasons(records: Records, stage: str, reasons: list[str]) -> Records:
    R = _core.records
    b = R.with_metadata_field(records._batch, "airtune_stage", [json.dumps(stage)] * len(records))
    b = R.with_metadata_field(b, "airtune_reason", [json.dumps(r) for r in reasons])
    return Records(b)


def _snippet(records: Records, rows: Sequence[int], select: str = "conversation") -> list[dict[str, Any]]:
    if not len(rows):
        return []
    sub = records.take(np.asarray(rows, dtype=np.int64))
    texts = select_text(sub, select, missing="empty").to_list()
    return [
        {"id": i, "line": int(ln), "text": t[:_SNIPPET] + ("…" if len(t) > _SNIPPET else "")}
        for i, ln, t in zip(sub.ids, sub.lines.tolist(), texts)
    ]


# ----------------------------------------------------------------------------------------------
# per-stage accounting for the report


@dataclass
class StageStats:
    stage: str
    rows_in: int = 0
    kept: int = 0
    dropped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False
    quarantined: int = 0

    def add(self, out: StageOutput, source: Records | None = None) -> None:
        self.rows_in += out.n_in
        self.kept += len(out.kept)
        self.dropped += len(out.dropped)
        first: dict[str, list[int]] = {}
        for i, r in enumerate(out.dropped_reasons):
            k = reason_kind(r)
            self.reasons[k] = self.reasons.get(k, 0) + 1
            if len(self.examples.get(k, [])) + len(first.get(k, [])) < _EXAMPLES:
                first.setdefault(k, []).append(i)
        for k, rows in first.items():
            ex = _snippet(out.dropped, rows)
            for e, row in zip(ex, rows):
                e["reason"] = out.dropped_reasons[row]
            self.examples.setdefault(k, []).extend(ex)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "rows_in": self.rows_in,
            "kept": self.kept,
            "dropped": self.dropped,
            "reasons": dict(sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "examples": self.examples,
            "details": self.details,
            "seconds": round(self.seconds, 4),
            "cached": self.cached,
            "quarantined": self.quarantined,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageStats:
        s = cls(d["stage"], d["rows_in"], d["kept"], d["dropped"], dict(d["reasons"]), dict(d["examples"]))
        s.details, s.seconds, s.cached = dict(d["details"]), float(d["seconds"]), True
        s.quarantined = int(d.get("quarantined", 0))
        return s


def _clusters(records: Records, result: Any, select: str) -> list[list[dict[str, Any]]]:
    out = []
    for group in result.clusters()[:_CLUSTERS]:
        out.append(_snippet(records, group[:4], select))
    return out


# ----------------------------------------------------------------------------------------------
# stage implementations on one Records (a batch, or the whole remaining set)


class _ExactState:
    """Exact dedup across batches: sorted hashes of the rows kept so far and their ids
    (memory: the hash and the id of each distinct row)."""

    def __init__(self) -> None:
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.ids = np.zeros(0, dtype=object)

    def lookup(self, h: np.ndarray) -> np.ndarray:
        if not len(self.hashes) or not len(h):
            return np.full(len(h), -1, dtype=np.int64)
        pos = np.searchsorted(self.hashes, h)
        pos = np.minimum(pos, len(self.hashes) - 1)
        return np.where(self.hashes[pos] == h, pos, -1)

    def add(self, h: np.ndarray, ids: list[str]) -> None:
        if not len(h):
            return
        hashes = np.concatenate([self.hashes, h])
        all_ids = np.concatenate([self.ids, np.asarray(ids, dtype=object)])
        order = np.argsort(hashes, kind="stable")
        self.hashes, self.ids = hashes[order], all_ids[order]


def _clean_rows(records: Records, o: dict[str, Any]) -> tuple[Records, np.ndarray, list[str], dict[str, Any]]:
    """(rewritten records, keep, reason per row, details) of the clean stage, row for row."""
    from .. import clean

    roles = o["messages"]
    details: dict[str, Any] = {"changed": 0, "removed": {}}
    current = records
    emptied = np.zeros(len(records), dtype=bool)
    kinds = []
    if o["html_to_text"]:
        kinds.append(("html_to_text", lambda r: clean.html_to_text(r, messages=roles)))
    if o["strip_garbage"]:
        kinds.append(("strip_garbage", lambda r: clean.strip_garbage(r, messages=roles)))
    if o["fix_text"]:
        kinds.append(
            ("fix_text", lambda r: clean.fix_text(r, messages=roles, normalization=o["normalization"]))
        )
    changed = np.zeros(len(records), dtype=bool)
    reason = [""] * len(records)
    for kind, fn in kinds:
        res = fn(current)
        changed |= res.changed
        for i in np.flatnonzero(~res.keep & ~emptied).tolist():
            reason[i] = f"clean:{kind}:emptied"
        emptied |= ~res.keep
        for k, v in res.totals().items():
            details["removed"][k] = details["removed"].get(k, 0) + v
        current = res.records
    details["changed"] = int(changed.sum())
    return current, ~emptied, reason, details


def _clean(records: Records, o: dict[str, Any]) -> tuple[StageOutput, dict[str, Any]]:
    current, keep, reason, details = _clean_rows(records, o)
    rows = np.flatnonzero(~keep)
    out = StageOutput("clean", current.take(keep), current.take(rows), [reason[i] for i in rows.tolist()])
    return out, details


def _quality(records: Records, o: dict[str, Any]) -> tuple[StageOutput, dict[str, Any], Any]:
    from .. import clean

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clean.HeavyFilterWarning)
        res = clean.quality_filter(
            records, o["preset"], select=o["select"], warn_above=None, show_progress=False, **o["params"]
        )
    return res.apply(records), {"preset": o["preset"]}, res


def _exact(
    records: Records, o: dict[str, Any], state: _ExactState | None
) -> tuple[StageOutput, dict[str, Any]]:
    from ..dedup import exact_duplicates

    res = exact_duplicates(
        records,
        select=o["select"],
        punctuation=o["punctuation"],
        digits=o["digits"],
        on_conflict=o["on_conflict"],
    )
    keep = res.keep.copy()
    reason = res.reason
    ids = records.ids
    if state is not None:
        survivors = np.flatnonzero(keep)
        seen = state.lookup(res.hashes[survivors])
        earlier = survivors[seen >= 0]
        global_id = {int(r): state.ids[int(p)] for r, p in zip(survivors.tolist(), seen.tolist()) if p >= 0}
        keep[earlier] = False
        # only the rows of clusters first seen in an earlier batch get a new reason (no per-row loop)
        for i in np.flatnonzero(np.isin(res.cluster, earlier)).tolist():
            if not reason[i].startswith("label_conflict"):
                reason[i] = f"exact_duplicate_of:{global_id[int(res.cluster[i])]}"
        fresh = np.flatnonzero(keep)
        state.add(res.hashes[fresh], [ids[i] for i in fresh.tolist()])
    rows = np.flatnonzero(~keep)
    out = StageOutput("exact", records.take(keep), records.take(rows), [reason[i] for i in rows.tolist()])
    details = {
        "clusters": _clusters(records, res, o["select"]),
        "conflicts": [
            {"ids": [ids[i] for i in c["rows"]], "labels": c["labels"], "resolution": c["resolution"]}
            for c in res.conflicts[:20]
        ],
        "n_conflicts": len(res.conflicts),
    }
    return out, details


def _embedder(embedder: str, device: str = "auto") -> Any:
    """The embedder a semantic/outliers stage names (loaded on first call)."""
    from ..embed import HashedNgramEmbedder, SentenceTransformerEmbedder

    if embedder == "hashed":
        return HashedNgramEmbedder()
    return SentenceTransformerEmbedder(embedder, device=None if device == "auto" else device)


def _embed(records: Records, select: str, embedder: Any, device: str = "auto") -> np.ndarray:
    from ..embed import HashedNgramEmbedder

    texts = select_text(records, select, stage="embed", missing="empty")
    model = _embedder(embedder, device) if isinstance(embedder, str) else embedder
    return model(texts if isinstance(model, HashedNgramEmbedder) else texts.to_list())


def _warn(stage: str, dropped: int, n: int, share: float | None, table: dict[Any, int]) -> str | None:
    if share is None or not n or dropped <= share * n:
        return None
    from ..clean import _warn_heavy

    return _warn_heavy(stage, "threshold", dropped, n, share, table)


def _near(records: Records, o: dict[str, Any]) -> tuple[StageOutput, dict[str, Any]]:
    from ..dedup import near_duplicates

    res = near_duplicates(
        records,
        float(o["threshold"]),
        int(o["ngram"]),
        select=o["select"],
        num_perm=int(o["num_perm"]),
        bands=o["bands"],
        rows=o["rows"],
        char_ngrams=bool(o["char_ngrams"]),
        on_conflict=o["on_conflict"],
    )
    return res.apply(records), {
        **_dedup_details("near", "threshold", records, res, o),
        "n_conflicts": len(res.conflicts),
    }


def _dedup_details(stage: str, unit: str, records: Records, res: Any, o: dict[str, Any]) -> dict[str, Any]:
    """What the report shows of a near/semantic stage: the >warn_above warning with the removals
    per threshold, the clusters side by side, the threshold table."""
    table = {f"{t:g}": v for t, v in res.threshold_table.items()}
    warning = _warn(
        stage, res.n_removed, res.n_rows, o["warn_above"], {f"{unit} {t}": v for t, v in table.items()}
    )
    return {"warning": warning, "clusters": _clusters(records, res, o["select"]), "threshold_table": table}


def _semantic(records: Records, o: dict[str, Any]) -> tuple[StageOutput, dict[str, Any]]:
    from ..dedup import semantic_duplicates

    if len(records) < 2:
        return StageOutput("semantic", records, records.take([]), []), {}
    x = _embed(records, o["select"], o["embedder"], o["device"])
    if int(o["clusters"]) > 1:  # k-means partition: the rule the Ray engine follows too
        from ..dedup.semantic_clusters import clustered_duplicates

        res = clustered_duplicates(
            x,
            float(o["threshold"]),
            k=int(o["k"]),
            clusters=int(o["clusters"]),
            sample=int(o["sample"]),
            ids=records.ids,
        )
    else:
        res = semantic_duplicates(x, float(o["threshold"]), k=int(o["k"]), ids=records.ids, device="cpu")
    return res.apply(records), {**_dedup_details("semantic", "cosine", records, res, o), "index": res.index}


def _outliers(records: Records, o: dict[str, Any]) -> tuple[StageOutput, dict[str, Any]]:
    from ..dedup import outliers

    if len(records) < 3:
        return StageOutput("outliers", records, records.take([]), []), {}
    x = _embed(records, o["select"], o["embedder"])
    res = outliers(x, o["method"], k=int(o["k"]), factor=float(o["factor"]))
    order = np.argsort(-res.score, kind="stable")[:5]
    top = _snippet(records, order.tolist(), o["select"])
    for t, i in zip(top, order.tolist()):
        t["score"] = round(float(res.score[i]), 4)
        t["flagged"] = bool(res.flag[i])
    details = {"method": res.method, "fence": round(res.fence, 4), "flagged": res.n_flagged, "top": top}
    if o["action"] == "report":
        return StageOutput("outliers", records, records.take([]), []), details
    return res.apply(records), details


def _system_report(records: Records, o: dict[str, Any]) -> dict[str, Any]:
    from ..prompts import system_prompt_report

    if not len(records):
        return {"rows": 0}
    r = system_prompt_report(records, near_threshold=float(o["near_threshold"]))
    return {
        "rows": r.n_rows,
        "with_system": r.n_with_system,
        "distinct": r.distinct,
        "top_share": round(r.top_share, 4),
        "effective_prompts": round(r.effective_prompts, 3),
        "risk": r.risk,
        "reason": r.reason,
        "top": [{"prompt": g.text[:200], "rows": g.rows} for g in r.groups[:5]],
    }


def _label_balance(records: Records) -> dict[str, int]:
    col = select_text(records, "label", missing="empty")
    counts: dict[str, int] = {}
    for t, p in zip(col.to_list(), col.present.tolist()):
        k = t if p else "(none)"
        counts[k] = counts.get(k, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# ----------------------------------------------------------------------------------------------


@dataclass(repr=False)
class PipelineResult(ResultMixin):
    """What a pipeline run produced: ``train``/``test`` Records (``test`` empty without a split),
    the ``funnel`` (rows per stage and reason), the ``report`` (the JSON of report.json; the HTML page
    is ``paths["report_html"]``), the output ``paths`` and the run's accounting."""

    _train: Records | None
    test: Records
    funnel: list[dict[str, Any]]
    report: dict[str, Any]
    paths: dict[str, str]
    accounting: dict[str, int]

    @property
    def train(self) -> Records:
        """The training side. After a streaming-only run it is read from ``train.jsonl`` on first
        access (the run itself never held it all)."""
        if self._train is None:
            p = Path(self.paths["train"])
            if p.is_dir():  # output="parquet"
                from .shards import read_records

                self._train = read_records(p)
            else:
                self._train = read_jsonl(p, progress=False) if p.stat().st_size else Records()
        return self._train

    def summary_line(self) -> str:
        a = self.accounting
        return (
            f"pipeline: {a['rows_in']} rows in = {a['kept']} kept ({a['kept'] - len(self.test)} train, "
            f"{len(self.test)} test) + {a['dropped']} dropped + {a['quarantined']} quarantined"
        )

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            [
                {k: s[k] for k in ("stage", "rows_in", "kept", "dropped", "cached", "seconds")}
                for s in self.funnel
            ]
        )

    def __repr__(self) -> str:
        return f"<PipelineResult {self.summary_line()}>"


class Pipeline:
    """A curation pipeline: stages validated now, run with :meth:`run`.

    ``stages``: names (``"clean"``), ``(name, options)`` pairs, ``{"stage": name, ...}`` tables or
    ``airtune.pipeline.stage(name, **options)``; see :data:`airtune.pipeline.STAGES` for every
    stage and option. Options are validated here: an unknown stage or option, or a value of the
    wrong type, raises :class:`PipelineConfigError` naming the stage and the key.

    ``engine``: ``"local"`` (this process, the default) or ``"ray"`` (a Ray cluster: ``address``
    as ``ray.init`` takes it, None for a running session or a local cluster; ``blocks`` read tasks;
    stages read, clean, quality, exact, near and write; see ``docs/scale.md``). Both engines keep
    the same rows with the same reasons and survivors.
    """

    def __init__(
        self,
        stages: Sequence[Any],
        *,
        progress: bool = False,
        engine: str = "local",
        address: str | None = None,
        blocks: int | None = None,
    ) -> None:
        self.stages = validate(stages)
        self.progress = progress
        if engine not in ("local", "ray"):
            raise ValueError(f"engine: expected 'local' or 'ray', got {engine!r}")
        if engine == "ray":
            from .distributed import check_stages

            check_stages([s.name for s in self.stages])
        self.engine, self.address, self.blocks = engine, address, blocks

    @classmethod
    def from_config(cls, path: str | os.PathLike) -> tuple[Pipeline, str | None, str | None]:
        """(pipeline, input, output) from a TOML or YAML file (see :func:`load_config`)."""
        from .config import load_config

        cfg = load_config(path)
        return cls(cfg["stages"]), cfg.get("input"), cfg.get("output")

    def __repr__(self) -> str:
        return f"Pipeline({[s.name for s in self.stages]})"

    # ------------------------------------------------------------------------------------------
    def run(self, source: Any, out_dir: str | os.PathLike, *, resume: bool = True) -> PipelineResult:
        """Run every stage on ``source`` (a JSONL path, or Records / anything
        :func:`airtune.io.from_any` takes) and write the outputs into ``out_dir``."""
        if self.engine == "ray":
            return self._run_ray(source, out_dir, resume)
        started = time.perf_counter()
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"write: output {out} exists and is not a directory")
        stages = list(self.stages)
        names = [s.name for s in stages]
        path: Path | None = None
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.exists():
                raise FileNotFoundError(f"read: {path}: no such file")
            if path.is_dir():
                raise IsADirectoryError(f"read: {path} is a directory, expected a JSONL file")
            if path.stat().st_size == 0:
                raise ValueError(f"read: {path} is empty (no records to curate)")
            if "read" not in names:
                stages.insert(0, validate(["read"])[0])
            input_id = {"path": str(path), "bytes": path.stat().st_size, "blake2b": _hash_file(path)}
            records_in = None
        else:
            if "read" in names:
                raise ValueError("read: the source is in memory; drop the 'read' stage or pass a file path")
            records_in = as_records(source)
            input_id = {"records": len(records_in), "blake2b": _hash_records(records_in)}
        for i, s in enumerate(stages):
            s.position = i
        out.mkdir(parents=True, exist_ok=True)
        (out / "manifest.json").unlink(missing_ok=True)
        cache = out / ".cache"
        cache.mkdir(exist_ok=True)

        chain: list[Any] = [__version__, input_id]
        prefix = []
        for s in stages:
            if _streams(s):
                prefix.append(s)
            else:
                break
        rest = [s for s in stages[len(prefix) :] if s.name != "write"]
        write = next((s for s in stages if s.name == "write"), None)
        needs_all = bool(rest)

        stats: list[StageStats] = []
        dropped_parts: list[Path] = []
        quarantine: dict[str, Any] = {}

        # 1. the streaming prefix: one cache unit
        chain.append([(s.name, s.options) for s in prefix])
        key = _key(*chain)
        unit = cache / f"stream-{key}"
        fresh = not (resume and (unit / "done.json").exists())
        if fresh:
            self._run_prefix(path, records_in, prefix, unit, needs_all)
        done = json.loads((unit / "done.json").read_text())
        stats.extend(StageStats.from_dict(d) for d in done["stats"])
        for st in stats:
            st.cached = not fresh
        quarantine = done["quarantine"]
        dropped_parts.extend(unit / p for p in done["dropped_parts"])
        kept_parts = [unit / p for p in done["kept_parts"]]
        rows_in = done["rows_in"]
        done_labels = done.get("labels", {})
        current: Records | None = None
        if needs_all:
            current = Records.concat([_read_records(p) for p in kept_parts]) if kept_parts else Records()

        # 2. whole-set stages, one cache unit each
        train: Records | None = None
        test: Records | None = None
        before_prompts: dict[str, Any] | None = None
        for s in rest:
            chain.append((s.name, s.options))
            key = _key(*chain)
            unit = cache / f"{s.position:02d}-{s.name}-{key}"
            fresh = not (resume and (unit / "done.json").exists())
            if fresh:
                self._run_whole(s, current, train, test, unit)
            done = json.loads((unit / "done.json").read_text())
            st = StageStats.from_dict(done["stats"])
            st.cached = not fresh
            stats.append(st)
            if done.get("dropped"):
                dropped_parts.append(unit / "dropped.jsonl")
            if s.name == "split":
                train, test = _read_records(unit / "train.jsonl"), _read_records(unit / "test.jsonl")
                current = None
            elif s.name == "diversify":
                train = _read_records(unit / "train.jsonl")
            elif s.name == "system_prompt_check":
                if before_prompts is None and train is None:
                    before_prompts = st.details
            elif current is not None:
                current = _read_records(unit / "kept.jsonl")

        # 3. outputs
        fmt = write.options["format"] if write is not None else "auto"
        paths: dict[str, str] = {}
        parquet: dict[str, Any] = {}  # output="parquet": the shards of train (and test)
        if write is not None and write.options["output"] == "parquet":
            from . import shards

            (out / "train.jsonl").unlink(missing_ok=True)
            (out / "test.jsonl").unlink(missing_ok=True)
            split_run = train is not None
            train = train if split_run else current  # None: streaming only, the kept parts on disk
            parts = [train] if train is not None else (_read_records(p) for p in kept_parts)
            parquet["train"] = shards.write_records(parts, out / "train")
            test = test if test is not None else Records()
            if split_run:
                parquet["test"] = shards.write_records([test], out / "test")
            paths.update({k: v["path"] for k, v in parquet.items()})
        elif train is None:
            if current is not None:
                train = current
                _write_records(train, out / ".train.stage.jsonl", fmt)
                os.replace(out / ".train.stage.jsonl", out / "train.jsonl")
                os.remove(str(out / ".train.stage.jsonl") + ".lines.npy")
            else:  # streaming only: concatenate the kept parts (bounded memory)
                _concat_files(kept_parts, out / "train.jsonl")
                train = None
            test = Records()
        else:
            train.write_jsonl(str(out / "train.jsonl"), format=fmt)
            test = test if test is not None else Records()
            test.write_jsonl(str(out / "test.jsonl"), format=fmt)
            paths["test"] = str(out / "test.jsonl")
        paths.setdefault("train", str(out / "train.jsonl"))
        _concat_files(dropped_parts, out / "dropped.jsonl")
        paths["dropped"] = str(out / "dropped.jsonl")
        if quarantine.get("path"):
            for suffix in ("", ".reasons.jsonl"):
                src = Path(quarantine["path"] + suffix)
                if src.exists():
                    _concat_files([src], out / f"quarantine.jsonl{suffix}")
            paths["quarantine"] = str(out / "quarantine.jsonl")

        n_train = len(train) if train is not None else (stats[-1].kept if stats else 0)
        kept = n_train + len(test)
        dropped = sum(s.dropped for s in stats)
        quarantined = int(quarantine.get("rejected", 0))
        accounting = {"rows_in": rows_in, "kept": kept, "dropped": dropped, "quarantined": quarantined}
        if rows_in != kept + dropped + quarantined:
            raise AccountingError(
                f"rows in ({rows_in}) != kept ({kept}) + dropped ({dropped}) + quarantined ({quarantined}); "
                f"per stage: {[(s.stage, s.rows_in, s.kept, s.dropped) for s in stats]}"
            )
        for a, b in zip(stats, stats[1:]):
            if (
                b.stage not in ("system_prompt_check", "diversify")
                and a.stage != "split"
                and b.rows_in != a.kept
            ):
                raise AccountingError(
                    f"stage {b.stage!r} got {b.rows_in} rows, but {a.stage!r} kept {a.kept}"
                )

        from .report import build_report, render_html

        after_prompts = None
        if train is not None and any(s.name == "system_prompt_check" for s in stages):
            after_prompts = _system_report(train, {"near_threshold": 0.8})
        report = build_report(
            stats=[s.to_dict() for s in stats],
            accounting=accounting,
            quarantine=quarantine,
            labels={
                "train": _label_balance(train) if train is not None else done_labels,
                "test": _label_balance(test),
            },
            prompts={"before": before_prompts, "after": after_prompts},
            input_id=input_id,
            seconds=time.perf_counter() - started,
        )
        _atomic_text(out / "report.json", json.dumps(report, indent=1, ensure_ascii=False, default=str))
        _atomic_text(out / "report.html", render_html(report))
        paths["report_json"] = str(out / "report.json")
        paths["report_html"] = str(out / "report.html")
        manifest = {
            "airtune": __version__,
            "input": input_id,
            "stages": [{"stage": s.name, "options": s.options} for s in stages],
            "accounting": accounting,
            "outputs": {
                k: parquet.get(k) or {"path": v, "bytes": Path(v).stat().st_size} for k, v in paths.items()
            },
            "cached": {s.stage: s.cached for s in stats},
            "build": {k: v for k, v in _core.build_info().items() if isinstance(v, (str, int, float, bool))},
        }
        _atomic_text(out / "manifest.json", json.dumps(manifest, indent=1, default=str))
        return PipelineResult(train, test, report["funnel"], report, paths, accounting)

    def _run_ray(self, source: Any, out_dir: str | os.PathLike, resume: bool) -> PipelineResult:
        from .distributed import run_ray

        stages = list(self.stages)
        if "read" not in [s.name for s in stages]:
            stages.insert(0, validate(["read"])[0])
        for i, s in enumerate(stages):
            s.position = i
        return run_ray(stages, source, out_dir, address=self.address, blocks=self.blocks, resume=resume)

    # ------------------------------------------------------------------------------------------
    def _batches(
        self, path: Path | None, records: Records | None, read: StageConfig | None, unit: Path
    ) -> tuple[Iterator[Records], Any]:
        if path is None:
            assert records is not None
            size = 20000

            def gen() -> Iterator[Records]:
                for start in range(0, len(records), size):
                    yield records[start : start + size]

            return gen(), None
        assert read is not None
        o = read.options
        qpath = str(unit / "quarantine.jsonl") if o["errors"] == "quarantine" else None
        stream = JsonlStream(
            path,
            o["format"],
            o["errors"],
            qpath,
            batch_bytes=o["batch_bytes"],
            max_line_bytes=o["max_line_bytes"],
            progress=self.progress,
        )
        return iter(stream), stream

    def _run_prefix(
        self,
        path: Path | None,
        records: Records | None,
        prefix: list[StageConfig],
        final: Path,
        keep_all: bool,
    ) -> None:
        tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            read = next((s for s in prefix if s.name == "read"), None)
            work = [s for s in prefix if s.name != "read"]
            batches, stream = self._batches(path, records, read, tmp)
            stats = {s.name: StageStats(s.name) for s in prefix}
            exact_state = _ExactState()
            quality_tables: dict[str, int] = {}
            kept_parts, dropped_parts = [], []
            labels: dict[str, int] = {}
            rows_in = 0
            for k, batch in enumerate(batches):
                t0 = time.perf_counter()
                if read is not None:
                    stats["read"].rows_in += len(batch)
                    stats["read"].kept += len(batch)
                else:
                    rows_in += len(batch)
                current = batch
                for s in work:
                    t = time.perf_counter()
                    if s.name == "clean":
                        res, details = _clean(current, s.options)
                        for key, v in details["removed"].items():
                            stats["clean"].details.setdefault("removed", {})
                            stats["clean"].details["removed"][key] = (
                                stats["clean"].details["removed"].get(key, 0) + v
                            )
                        stats["clean"].details["changed"] = (
                            stats["clean"].details.get("changed", 0) + details["changed"]
                        )
                    elif s.name == "quality":
                        res, details, qres = _quality(current, s.options)
                        share = s.options["warn_above"]
                        if share is not None and len(current) and qres.n_dropped > share * len(current):
                            for key, v in qres.rules().items():
                                quality_tables[key] = quality_tables.get(key, 0) + v
                        stats["quality"].details["preset"] = details["preset"]
                    elif s.name == "exact":
                        res, details = _exact(current, s.options, exact_state)
                        d = stats["exact"].details
                        d.setdefault("clusters", [])
                        d["clusters"] = (d["clusters"] + details["clusters"])[:_CLUSTERS]
                        d["conflicts"] = (d.get("conflicts", []) + details["conflicts"])[:20]
                        d["n_conflicts"] = d.get("n_conflicts", 0) + details["n_conflicts"]
                    else:  # pragma: no cover - validate() allows no other streaming stage here
                        raise AssertionError(s.name)
                    stats[s.name].add(res)
                    stats[s.name].seconds += time.perf_counter() - t
                    if len(res.dropped):
                        p = tmp / f"dropped-{s.position:02d}-{k:05d}.jsonl"
                        _with_reasons(res.dropped, s.name, res.dropped_reasons).write_jsonl(str(p))
                        dropped_parts.append(p.name)
                    current = res.kept
                p = tmp / f"kept-{k:05d}.jsonl"
                _write_records(current, p)
                for lab, c in _label_balance(current).items():
                    labels[lab] = labels.get(lab, 0) + c
                kept_parts.append(p.name)
                if read is not None:
                    stats["read"].seconds += time.perf_counter() - t0
            quarantine: dict[str, Any] = {}
            if stream is not None:
                rep = stream.report
                rows_in = rep.lines_read - rep.blank
                stats["read"].rows_in = rows_in
                stats["read"].quarantined = rep.rejected
                stats["read"].kept = rep.kept
                stats["read"].details = {
                    "lines_read": rep.lines_read,
                    "blank": rep.blank,
                    "bytes": rep.bytes,
                    "errors": [e.__dict__ for e in rep.errors[:20]],
                }
                if rep.rejected:
                    stats["read"].reasons["quarantined"] = rep.rejected
                quarantine = {
                    "rejected": rep.rejected,
                    "path": str(final / "quarantine.jsonl") if rep.quarantine_path else None,
                }
            if "quality" in stats and quality_tables:
                q = next(s for s in work if s.name == "quality")
                _warn_quality(q, stats["quality"], quality_tables)
                stats["quality"].details["rule_table"] = quality_tables
            done = {
                "stats": [st.to_dict() for st in stats.values()],
                "kept_parts": kept_parts,
                "dropped_parts": dropped_parts,
                "quarantine": quarantine,
                "rows_in": rows_in,
                "labels": dict(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))),
            }
            (tmp / "done.json").write_text(json.dumps(done, default=str))
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _run_whole(
        self,
        s: StageConfig,
        current: Records | None,
        train: Records | None,
        test: Records | None,
        final: Path,
    ) -> None:
        tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            st = StageStats(s.name)
            t = time.perf_counter()
            o = s.options
            dropped = False
            if s.name in ("clean", "quality", "exact", "near", "semantic", "outliers"):
                assert current is not None
                qres = None
                if s.name == "quality":
                    res, details, qres = _quality(current, o)
                elif s.name == "exact":
                    res, details = _exact(current, o, None)
                else:
                    fn = {"clean": _clean, "near": _near, "semantic": _semantic, "outliers": _outliers}[
                        s.name
                    ]
                    res, details = fn(current, o)
                st.add(res)
                st.details = details
                if qres is not None:
                    rules = qres.rules()
                    _warn_quality(s, st, rules)
                    if "warning" in st.details:
                        st.details["rule_table"] = rules
                _write_records(res.kept, tmp / "kept.jsonl")
                if len(res.dropped):
                    _with_reasons(res.dropped, s.name, res.dropped_reasons).write_jsonl(
                        str(tmp / "dropped.jsonl")
                    )
                    dropped = True
            elif s.name == "system_prompt_check":
                target = train if train is not None else current
                assert target is not None
                st.rows_in = st.kept = len(target)
                st.details = _system_report(target, o)
            elif s.name == "split":
                from ..split import holdout_split

                assert current is not None
                strat = o["stratify"]
                if strat is not None:
                    col = select_text(current, strat, missing="empty")
                    if len(current) and not col.present.any():
                        strat = None  # no record has the field: an unstratified split, reported
                        st.details["stratify"] = f"{o['stratify']} (absent: not stratified)"
                sp = holdout_split(
                    current, float(o["fraction"]), stratify=strat, seed=int(o["seed"]), select=o["select"]
                )
                st.rows_in, st.kept = len(current), len(current)
                st.details.update(
                    {
                        "train": len(sp.train),
                        "test": len(sp.test),
                        "duplicate_groups": sp.duplicate_groups,
                        "strata": sp.strata[:50],
                    }
                )
                _write_records(sp.train, tmp / "train.jsonl")
                _write_records(sp.test, tmp / "test.jsonl")
            elif s.name == "diversify":
                from ..prompts import diversify

                assert train is not None
                d = diversify(train, n_variants=int(o["n_variants"]), seed=int(o["seed"]), output="records")
                st.rows_in = st.kept = len(train)
                st.details = {
                    "varied": d.n_varied,
                    "original": d.n_original,
                    "no_system": d.n_no_system,
                    "prompts": len(d.variants),
                }
                _write_records(d.records, tmp / "train.jsonl")
            st.seconds = time.perf_counter() - t
            (tmp / "done.json").write_text(
                json.dumps({"stats": st.to_dict(), "dropped": dropped}, default=str)
            )
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _streams(s: StageConfig) -> bool:
    """Whether the stage runs batch by batch in the streaming prefix. Exact dedup that settles label
    conflicts by majority or by dropping the group needs every row of a group first, so it runs on
    the whole remaining set (as the Ray engine settles it over the whole input)."""
    if s.name == "write" or not s.spec.streaming:
        return False
    return not (s.name == "exact" and s.options["on_conflict"] != "first")


def _warn_quality(s: StageConfig, st: StageStats, table: dict[str, int]) -> None:
    share = s.options["warn_above"]
    n = st.rows_in
    if share is None or not n or st.dropped <= share * n:
        return
    from ..clean import _warn_heavy

    st.details["warning"] = _warn_heavy("quality_filter", s.options["preset"], st.dropped, n, share, table)
