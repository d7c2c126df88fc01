"""DatasetSummary: what a user checks first about a dataset (rows, formats, roles, turns,
lengths, system prompts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._results import ResultMixin, require
from .records import ROLES


def _stats(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    return {
        "count": int(len(values)),
        "mean": float(values.mean()),
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "max": float(values.max()),
    }


@dataclass
class DatasetSummary(ResultMixin):
    rows: int
    messages: int
    formats: dict[str, int]
    roles: dict[str, int]
    instruct_rows: int
    rows_with_system: int
    empty_contents: int
    distinct_system_prompts: int
    top_system_prompts: list[tuple[str, int]]
    turns: dict[str, float]
    chars_by_role: dict[str, dict[str, float]] = field(default_factory=dict)
    _turns: np.ndarray | None = field(default=None, repr=False)
    _chars: np.ndarray | None = field(default=None, repr=False)
    _roles: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_batch(cls, batch: Any, top_k: int = 5) -> DatasetSummary:
        raw = batch.summary(top_k)
        role_col = batch.columns()["role"]
        chars = raw.content_chars
        by_role = {name: _stats(chars[role_col == k]) for k, name in enumerate(ROLES) if raw.roles[name]}
        return cls(
            rows=raw.rows,
            messages=raw.messages,
            formats={k: v for k, v in raw.formats.items() if v},
            roles={k: v for k, v in raw.roles.items() if v},
            instruct_rows=raw.instruct_rows,
            rows_with_system=raw.rows_with_system,
            empty_contents=raw.empty_contents,
            distinct_system_prompts=raw.distinct_system_prompts,
            top_system_prompts=[(t, int(c)) for t, c in raw.top_system_prompts],
            turns=_stats(raw.turns),
            chars_by_role=by_role,
            _turns=raw.turns,
            _chars=chars,
            _roles=np.array(role_col),
        )

    @property
    def top_system_prompt_share(self) -> float:
        """Share of the records with a system prompt that use the most frequent one."""
        if not self.top_system_prompts or not self.rows_with_system:
            return 0.0
        return self.top_system_prompts[0][1] / self.rows_with_system

    def summary_line(self) -> str:
        fmt = ", ".join(f"{k} {v}" for k, v in self.formats.items())
        return (
            f"{self.rows} rows ({fmt}), {self.messages} messages, {self.instruct_rows} instruct-shaped, "
            f"{self.distinct_system_prompts} distinct system prompts"
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def to_pandas(self) -> Any:
        """Content length (Unicode characters) statistics per role, one row per role."""
        pd = require("pandas", "data")
        frame = pd.DataFrame.from_dict(self.chars_by_role, orient="index")
        frame.index.name = "role"
        return frame

    def __str__(self) -> str:
        lines = [self.summary_line()]
        lines.append("roles: " + ", ".join(f"{k} {v}" for k, v in self.roles.items()))
        t = self.turns
        lines.append(f"turns per record: mean {t['mean']:.2f}, p50 {t['p50']:.0f}, max {t['max']:.0f}")
        for role, st in self.chars_by_role.items():
            lines.append(
                f"{role:>9} chars: mean {st['mean']:.0f}, p50 {st['p50']:.0f}, p95 {st['p95']:.0f}, max {st['max']:.0f}"
            )
        lines.append(
            f"empty contents: {self.empty_contents}; records with a system prompt: {self.rows_with_system}"
        )
        for text, count in self.top_system_prompts:
            short = text if len(text) <= 70 else text[:67] + "..."
            lines.append(f"  system prompt x{count}: {short!r}")
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Histograms of turns per record and of content length per role."""
        plt = require("matplotlib.pyplot", "plot")
        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(11, 3.5))
        ax[0].hist(self._turns, bins=min(50, max(1, int(self.turns["max"]))), color="#4C72B0")
        ax[0].set_xlabel("messages per record")
        ax[0].set_ylabel("records")
        if self._chars is None or self._roles is None:
            raise ValueError(
                "plot: this summary holds no per-message lengths (use DatasetSummary.from_batch)"
            )
        for k, name in enumerate(ROLES):
            sel = self._chars[self._roles == k]
            if len(sel):
                ax[1].hist(sel, bins=50, alpha=0.6, label=name)
        ax[1].set_xlabel("content length (characters)")
        ax[1].set_yscale("log")
        ax[1].legend()
        return ax
