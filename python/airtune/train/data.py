"""Training examples from records: token ids plus labels whose masks come from the structure.

The formatting of a row (instruct format, chat template, where the loss goes) is
:func:`airtune.train.format.format_row`, shared with the evaluator; this module adds the row
accounting of a split.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .._results import ResultMixin
from .format import IGNORE, KNOWN_ROLES, Tokenization, format_row, to_conversations

__all__ = ["IGNORE", "KNOWN_ROLES", "DataReport", "Tokenization", "build_examples", "to_conversations"]


@dataclass
class DataReport(ResultMixin):
    """Row accounting of one split: ``kept + sum(dropped.values()) == total``."""

    split: str
    total: int = 0
    kept: int = 0
    truncated: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    label_tokens: int = 0
    tokens: int = 0
    examples: list[str] = field(default_factory=list)  # first few drop messages, "row N: reason"

    def summary_line(self) -> str:
        return (
            f"{self.split}: {self.kept}/{self.total} rows kept, {self.truncated} truncated, dropped "
            f"{dict(self.dropped)}"
        )

    def to_pandas(self) -> Any:
        import pandas as pd

        rows = [("kept", self.kept), ("truncated (kept)", self.truncated)]
        rows += [(f"dropped: {k}", v) for k, v in sorted(self.dropped.items())]
        return pd.DataFrame(rows, columns=["rows", "count"])


def build_examples(
    rows: Any, tokenization: Tokenization, split: str
) -> tuple[list[list[int]], list[list[int]], DataReport]:
    """Tokenized examples of ``rows`` plus the row accounting (reasons for every dropped row)."""
    convs = to_conversations(rows)
    report = DataReport(split=split, total=len(convs))
    reasons: Counter[str] = Counter()
    ids_out: list[list[int]] = []
    labels_out: list[list[int]] = []
    for i, conv in enumerate(convs):
        made = (
            "unrecognised_row" if isinstance(conv, str) else format_row(tokenization, conv, generation=False)
        )
        if isinstance(made, str):
            reasons[made] += 1
            if len(report.examples) < 20:
                detail = conv if isinstance(conv, str) else made
                report.examples.append(f"row {i}: {detail}")
            continue
        ids, labels, truncated = made
        ids_out.append(ids)
        labels_out.append(labels)
        report.truncated += int(truncated)
        report.tokens += len(ids)
        report.label_tokens += sum(1 for x in labels[1:] if x != IGNORE)
    report.kept = len(ids_out)
    report.dropped = dict(reasons)
    return ids_out, labels_out, report
