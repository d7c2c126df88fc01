"""Reading and writing JSONL files (plain or gzip; also pipes, FIFOs and devices) with full
accounting of every line."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from typing import Any

from .. import _core
from .._paths import PathArg, display_path, fs_path
from .._results import progress as _progress
from .records import Records
from .report import IngestReport, LineError

DEFAULT_BLOCK_BYTES = 16 << 20
DEFAULT_MAX_LINE_BYTES = 64 << 20
DEFAULT_MAX_ERRORS = 1000
_ERRORS = ("raise", "skip", "quarantine")


def _limit(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int or None, got {value!r}")
    return value


def _default_quarantine_path(path: str) -> str:
    base = path
    for suffix in (".gz", ".jsonl", ".json", ".ndjson"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base + ".quarantine.jsonl"


class JsonlStream:
    """Iterates over a JSONL input in batches of records with bounded memory.

    Each batch holds the records of about ``batch_bytes`` of input (empty batches are skipped).
    After iteration, ``report`` has the accounting of the whole input; if reading fails midway
    (a file truncated while read, a corrupt gzip stream), the batches before the failure were
    yielded, the OSError names the last complete line, and ``report`` counts up to it.
    Use as an iterator or a context manager.
    """

    def __init__(
        self,
        path: PathArg,
        format: str = "auto",
        errors: str = "raise",
        quarantine_path: PathArg | None = None,
        batch_bytes: int = DEFAULT_BLOCK_BYTES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        progress: bool = True,
        *,
        max_bytes: int | None = None,
        max_lines: int | None = None,
        max_errors: int = DEFAULT_MAX_ERRORS,
        start_offset: int = 0,
        first_line: int = 1,
    ) -> None:
        """``start_offset``/``first_line``: read a byte range of a plain file (from a line start,
        numbered ``first_line``; ``max_bytes`` ends it), as the Ray engine does for each block."""
        if errors not in _ERRORS:
            raise ValueError(f"errors must be one of {_ERRORS}, got {errors!r}")
        path = fs_path(path)
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, "no such file", path)
        if errors == "quarantine":
            quarantine_path = (
                fs_path(quarantine_path, "quarantine_path")
                if quarantine_path
                else _default_quarantine_path(path)
            )
        elif quarantine_path is not None:
            raise ValueError("quarantine_path is only used with errors='quarantine'")
        max_bytes, max_lines = _limit(max_bytes, "max_bytes"), _limit(max_lines, "max_lines")
        if _limit(max_errors, "max_errors") is None:
            raise ValueError("max_errors must be a non-negative int")
        self.path = path
        self._reader = _core.io.JsonlReader(
            path,
            format,
            errors,
            quarantine_path,
            int(batch_bytes),
            int(max_line_bytes),
            max_bytes,
            max_lines,
            max_errors,
            int(start_offset),
            int(first_line),
        )
        self.report = IngestReport(
            source=display_path(path),
            quarantine_path=quarantine_path,
            reasons_path=quarantine_path + ".reasons.jsonl" if quarantine_path else None,
        )
        self._progress = progress
        self._done = False

    def _blocks(self, into: Any = None) -> Iterator[Any]:
        """Read block after block (into a new batch each, or all into `into`), keeping the
        report and the progress bar current; yields the batch that received each block."""
        start = time.perf_counter()
        size = self._reader.file_size
        bar = _progress(
            total=size or None,
            desc=os.path.basename(self.path),
            enabled=self._progress,
            unit="B",
            unit_scale=True,
        )
        try:
            while True:
                batch = into if into is not None else _core.io.RecordBatch()
                try:
                    more = self._reader.read_block(batch)
                except BaseException:
                    self._update(time.perf_counter() - start)  # the counts up to the failure
                    raise
                if not more:
                    break
                self._update(time.perf_counter() - start)
                if size:
                    bar.update(max(0, min(size, self.report.bytes) - bar.n))
                yield batch
            self._reader.finish()
            self._done = True
            self._update(time.perf_counter() - start)
        finally:
            bar.close()

    def __iter__(self) -> Iterator[Records]:
        for batch in self._blocks():
            if len(batch):
                yield Records(batch)

    def _update(self, seconds: float) -> None:
        counts = self._reader.counts()
        r = self.report
        r.lines_read, r.kept, r.rejected = counts.lines_read, counts.kept, counts.rejected
        r.blank, r.bytes, r.seconds = counts.blank, counts.bytes, seconds
        r.errors_not_kept, r.limit_reached = counts.errors_not_kept, self._reader.limit_reached
        r.errors.extend(LineError(*e) for e in self._reader.take_errors())

    def read_all(self) -> Records:
        """Read the whole file into one Records (with this stream's report)."""
        batch = _core.io.RecordBatch()
        self._reader.reserve_for_file(batch)
        for _ in self._blocks(into=batch):
            pass
        return Records(batch, report=self.report)

    def __enter__(self) -> JsonlStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def read_jsonl(
    path: PathArg,
    format: str = "auto",
    errors: str = "raise",
    quarantine_path: PathArg | None = None,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    max_bytes: int | None = None,
    max_lines: int | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
    progress: bool = True,
) -> Records:
    """Read a JSONL input (``.jsonl`` or gzip, detected by content) into canonical records.

    ``path`` is a ``str``, ``bytes`` or ``os.PathLike`` naming a file, a FIFO, a pipe
    (``/dev/stdin``, a shell's ``<(cmd)``) or a device.

    Parameters
    ----------
    format: ``"auto"`` (per line, by its fields), ``"chat"`` (OpenAI messages), ``"sharegpt"``,
        ``"alpaca"``, ``"prompt_completion"`` or ``"text"``.
    errors: ``"raise"``: the first bad line raises ``airtune.ParseError`` (file, line, column,
        reason). ``"skip"``: bad lines are dropped and listed in ``records.report.errors``.
        ``"quarantine"``: as skip, and bad lines are written verbatim to ``quarantine_path``
        (default ``<file>.quarantine.jsonl``) with their reasons in ``<quarantine_path>.reasons.jsonl``.
    max_line_bytes: longer lines are rejected without being held in memory.
    max_bytes, max_lines: stop cleanly after that much (decompressed) input or that many lines,
        at a line boundary; ``report.limit_reached`` then says which. The records hold about
        1-3x the bytes they were read from (small records cost the most): cap the memory of an
        untrusted or endless input (``/dev/zero``) with ``max_bytes``.
    max_errors: rejections listed in ``report.errors``; the others are counted in
        ``report.errors_not_kept`` (and all are written to the quarantine file).

    A repeated key in a line resolves as in Python's ``json``: the last value wins. Numbers
    beyond a 64-bit float or integers outside int64/uint64, and lone surrogate escapes, reject
    the line with the field and column of the value.

    Returns ``Records`` whose ``report`` accounts for every line:
    ``lines_read == kept + rejected + blank``. A regular file that shrinks while it is read, or a
    corrupt or truncated gzip stream, raises OSError naming the file and the last complete line.
    """
    stream = JsonlStream(
        path,
        format,
        errors,
        quarantine_path,
        block_bytes,
        max_line_bytes,
        progress,
        max_bytes=max_bytes,
        max_lines=max_lines,
        max_errors=max_errors,
    )
    return stream.read_all()


def iter_jsonl(
    path: PathArg,
    format: str = "auto",
    errors: str = "raise",
    quarantine_path: PathArg | None = None,
    *,
    batch_bytes: int = DEFAULT_BLOCK_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_bytes: int | None = None,
    max_lines: int | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
    progress: bool = False,
) -> JsonlStream:
    """Stream a JSONL input as ``Records`` batches of about ``batch_bytes`` of input each.

    Memory stays bounded by the batch size whatever the input (blank lines and tiny lines
    included): O(batch_bytes + max_line_bytes), about 100 MB with the defaults, besides the
    batches the caller keeps.
    The arguments are those of ``read_jsonl``. The returned stream's ``report`` holds the
    accounting once iteration has finished.
    """
    return JsonlStream(
        path,
        format,
        errors,
        quarantine_path,
        batch_bytes,
        max_line_bytes,
        progress,
        max_bytes=max_bytes,
        max_lines=max_lines,
        max_errors=max_errors,
    )


def write_jsonl(records: Any, path: PathArg, format: str = "auto") -> int:
    """Write records to ``path`` atomically; gzip if it ends in ``.gz``.

    The bytes go to ``<path>.tmp.<pid>.<n>``, fsynced and renamed over ``path`` (its folder
    fsynced too), so ``path`` is either the old file or the whole new one. An existing ``path``
    keeps its permissions; temporary files that killed writers left for ``path`` are removed.
    ``records`` is a ``Records`` or anything ``airtune.io.from_any`` accepts (DataFrame, Arrow
    table, HF dataset, list of dicts). ``format`` chooses the layout (``auto``: each record's
    source layout; an Alpaca record gets its ``instruction`` and ``input`` back). Returns the
    number of bytes written (uncompressed).
    """
    from .convert import from_any

    if not isinstance(records, Records):
        records = from_any(records)
    return _core.io.write_jsonl(records._batch, fs_path(path), format)
