"""The stage contract: every stage's result indexes into the rows it was given and can be applied.

A filter or dedup result has ``keep`` (bool numpy array, one entry per input row), ``reason``
(per row: ``""`` when kept, else a short machine-readable reason such as
``"exact_duplicate_of:<id>"`` or ``"quality:gopher_quality:min_doc_words"``) and ``stage`` (its
name); ``apply(records)`` splits the records it was computed on into a :class:`StageOutput`:
``kept`` and ``dropped`` (both :class:`airtune.io.Records`, every field intact) and
``dropped_reasons``. ``len(kept) + len(dropped) == len(records)`` always.

A rewriting stage (clean) has ``records`` (the rewritten records): its ``apply`` gives those,
dropping only rows that the rewrite emptied (reason ``"clean:empty"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._results import ResultMixin, require

if TYPE_CHECKING:
    from .io.records import Records

__all__ = ["StageOutput", "StageResult", "row_names"]


@dataclass(repr=False)
class StageOutput(ResultMixin):
    """What a stage kept and what it dropped, with why. Every input row is in exactly one of the two."""

    stage: str
    kept: Records
    dropped: Records
    dropped_reasons: list[str] = field(default_factory=list)

    @property
    def n_in(self) -> int:
        return len(self.kept) + len(self.dropped)

    def reason_counts(self) -> dict[str, int]:
        """Dropped rows per reason kind (the part before ':'), most frequent first."""
        counts: dict[str, int] = {}
        for r in self.dropped_reasons:
            k = reason_kind(r)
            counts[k] = counts.get(k, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def summary_line(self) -> str:
        return f"{self.stage}: {self.n_in} rows in, {len(self.kept)} kept, {len(self.dropped)} dropped"

    def to_pandas(self) -> Any:
        """The dropped rows: id, line, reason."""
        pd = require("pandas", "data")
        return pd.DataFrame(
            {"id": self.dropped.ids, "line": self.dropped.lines, "reason": self.dropped_reasons}
        )

    def __repr__(self) -> str:
        return f"<StageOutput {self.summary_line()}>"


def reason_kind(reason: str) -> str:
    """The stable part of a reason: ``"exact_duplicate_of:r7"`` -> ``"exact_duplicate_of"``;
    ``"quality:gopher_quality:min_doc_words"`` -> ``"quality:gopher_quality:min_doc_words"``
    (quality and chat reasons name their rule, which is already stable)."""
    if reason.startswith(("quality:", "chat:", "clean:")):
        return reason
    return reason.split(":", 1)[0]


def row_names(ids: list[str] | None, rows: np.ndarray) -> list[str]:
    """How a reason names other rows: their ids when the input had ids, else their row numbers."""
    if ids is None:
        return [str(int(r)) for r in rows.tolist()]
    return [ids[int(r)] for r in rows.tolist()]


class StageResult:
    """Mixin of every stage result: ``stage``, ``keep``, ``reason`` and ``apply``."""

    stage: str = "stage"

    # Subclasses provide `keep` (np.ndarray of bool) and `reason` (list[str]: a field or a
    # property); neither is defined here, so a dataclass subclass may declare them as fields.
    if TYPE_CHECKING:  # read-only to the checker, so that a subclass may make either a property

        @property
        def keep(self) -> np.ndarray: ...

        @property
        def reason(self) -> list[str]: ...

    @property
    def n_dropped_rows(self) -> int:
        return int(len(self.keep) - np.count_nonzero(self.keep))

    def _output_records(self, records: Records) -> Records:
        return records

    def apply(self, records: Any) -> StageOutput:
        """Split ``records`` (the rows this result was computed on) into kept and dropped."""
        from .io.select import as_records

        recs = as_records(records)
        keep = np.asarray(self.keep, dtype=bool)
        if len(recs) != keep.shape[0]:
            raise ValueError(
                f"{self.stage}: apply() got {len(recs)} records, but the result is for {keep.shape[0]} rows"
            )
        out = self._output_records(recs)
        dropped_rows = np.flatnonzero(~keep)
        reasons = self.reason
        return StageOutput(
            stage=self.stage,
            kept=out.take(keep),
            dropped=out.take(dropped_rows),
            dropped_reasons=[reasons[int(i)] for i in dropped_rows.tolist()],
        )
