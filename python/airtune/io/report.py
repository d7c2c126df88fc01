"""IngestReport: the accounting of one ingestion (every line kept, rejected or blank)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .._results import ResultMixin, require


@dataclass(frozen=True)
class LineError:
    """A rejected line: where (1-based line and column, field path) and why."""

    line: int
    column: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


@dataclass
class IngestReport(ResultMixin):
    """Counts of one ingestion. ``errors`` lists the first ``max_errors`` rejections (all of them
    are counted in ``rejected``; ``errors_not_kept`` more were not listed). ``limit_reached`` is
    ``"max_bytes"`` or ``"max_lines"`` when a cap stopped the read before the end of the input."""

    source: str
    lines_read: int = 0
    kept: int = 0
    rejected: int = 0
    blank: int = 0
    bytes: int = 0
    seconds: float = 0.0
    errors: list[LineError] = field(default_factory=list)
    quarantine_path: str | None = None
    reasons_path: str | None = None
    errors_not_kept: int = 0
    limit_reached: str | None = None

    @property
    def balanced(self) -> bool:
        """lines_read == kept + rejected + blank: nothing was lost."""
        return self.lines_read == self.kept + self.rejected + self.blank

    def reasons(self) -> Counter:
        """Listed rejections counted by reason, with the variable parts (names, positions) kept
        (the first ``max_errors``; the quarantine reasons file has them all)."""
        return Counter(e.reason for e in self.errors)

    def summary_line(self) -> str:
        text = f"{self.source}: {self.lines_read} lines read, {self.kept} kept, {self.rejected} rejected"
        if self.blank:
            text += f", {self.blank} blank"
        if self.errors_not_kept:
            text += f" (the first {len(self.errors)} rejections listed)"
        if self.limit_reached:
            text += f"; stopped at {self.limit_reached}"
        if self.quarantine_path:
            text += f" (quarantined to {self.quarantine_path})"
        return text

    def to_pandas(self) -> Any:
        """One row per rejected line: line, column, field, reason."""
        pd = require("pandas", "data")
        return pd.DataFrame(
            [(e.line, e.column, e.field, e.reason) for e in self.errors],
            columns=["line", "column", "field", "reason"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "lines_read": self.lines_read,
            "kept": self.kept,
            "rejected": self.rejected,
            "blank": self.blank,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 6),
            "balanced": self.balanced,
            "quarantine_path": self.quarantine_path,
            "reasons_path": self.reasons_path,
            "errors_not_kept": self.errors_not_kept,
            "limit_reached": self.limit_reached,
            "errors": [e.__dict__ for e in self.errors],
        }
