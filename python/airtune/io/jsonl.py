"""Reading and writing JSONL files (plain or gzip) with full accounting of every line."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from .. import _core
from .._results import progress as _progress
from .records import Records
from .report import IngestReport, LineError

DEFAULT_BLOCK_BYTES = 16 << 20
DEFAULT_MAX_LINE_BYTES = 64 << 20
_ERRORS = ("raise", "skip", "quarantine")


def _default_quarantine_path(path: str) -> str:
    base = os.fspath(path)
    for suffix in (".gz", ".jsonl", ".json", ".ndjson"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base + ".quarantine.jsonl"


class JsonlStream:
    """Iterates over a JSONL file in batches of records with bounded memory.

    Each batch holds the records of about ``batch_bytes`` of input. After iteration,
    ``report`` has the accounting of the whole file. Use as an iterator or a context manager.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        format: str = "auto",
        errors: str = "raise",
        quarantine_path: str | os.PathLike | None = None,
        batch_bytes: int = DEFAULT_BLOCK_BYTES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        progress: bool = True,
    ) -> None:
        if errors not in _ERRORS:
            raise ValueError(f"errors must be one of {_ERRORS}, got {errors!r}")
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        if errors == "quarantine":
            quarantine_path = (
                os.fspath(quarantine_path) if quarantine_path else _default_quarantine_path(path)
            )
        elif quarantine_path is not None:
            raise ValueError("quarantine_path is only used with errors='quarantine'")
        self.path = path
        self._reader = _core.io.JsonlReader(
            path, format, errors, quarantine_path or "", int(batch_bytes), int(max_line_bytes)
        )
        self.report = IngestReport(
            source=path,
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
                if not self._reader.read_block(batch):
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
            yield Records(batch)

    def _update(self, seconds: float) -> None:
        counts = self._reader.counts()
        r = self.report
        r.lines_read, r.kept, r.rejected = counts["lines_read"], counts["kept"], counts["rejected"]
        r.blank, r.bytes, r.seconds = counts["blank"], counts["bytes"], seconds
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
    path: str | os.PathLike,
    format: str = "auto",
    errors: str = "raise",
    quarantine_path: str | os.PathLike | None = None,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    progress: bool = True,
) -> Records:
    """Read a JSONL file (``.jsonl`` or gzip, detected by content) into canonical records.

    Parameters
    ----------
    format: ``"auto"`` (per line, by its fields), ``"chat"`` (OpenAI messages), ``"sharegpt"``,
        ``"alpaca"``, ``"prompt_completion"`` or ``"text"``.
    errors: ``"raise"``: the first bad line raises ``airtune.ParseError`` (file, line, column,
        reason). ``"skip"``: bad lines are dropped and listed in ``records.report.errors``.
        ``"quarantine"``: as skip, and bad lines are written verbatim to ``quarantine_path``
        (default ``<file>.quarantine.jsonl``) with their reasons in ``<quarantine_path>.reasons.jsonl``.
    max_line_bytes: longer lines are rejected without being held in memory.

    Returns ``Records`` whose ``report`` accounts for every line:
    ``lines_read == kept + rejected + blank``.
    """
    stream = JsonlStream(path, format, errors, quarantine_path, block_bytes, max_line_bytes, progress)
    return stream.read_all()


def iter_jsonl(
    path: str | os.PathLike,
    format: str = "auto",
    errors: str = "raise",
    quarantine_path: str | os.PathLike | None = None,
    *,
    batch_bytes: int = DEFAULT_BLOCK_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    progress: bool = False,
) -> JsonlStream:
    """Stream a JSONL file as ``Records`` batches of about ``batch_bytes`` of input each.

    Memory stays bounded by the batch size whatever the file size. The returned stream's
    ``report`` holds the accounting once iteration has finished.
    """
    return JsonlStream(path, format, errors, quarantine_path, batch_bytes, max_line_bytes, progress)


def write_jsonl(records: Any, path: str | os.PathLike, format: str = "auto") -> int:
    """Write records to ``path`` atomically (temporary file + rename); gzip if it ends in ``.gz``.

    ``records`` is a ``Records`` or anything ``airtune.io.from_any`` accepts (DataFrame, Arrow
    table, HF dataset, list of dicts). ``format`` chooses the layout (``auto``: each record's
    source layout). Returns the number of bytes written (uncompressed).
    """
    from .convert import from_any

    if not isinstance(records, Records):
        records = from_any(records)
    return _core.io.write_jsonl(records._batch, os.fspath(path), format)
