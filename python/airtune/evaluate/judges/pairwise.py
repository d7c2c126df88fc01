"""Pairwise judging: which of two answers is better, asked in both orders, so that the judge's
position bias is measured (and cancelled) instead of deciding the comparison."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._core import metrics as _m
from ..._results import ResultMixin, require
from ...metrics._result import DEFAULT_SEED
from ..cache import PredictionCache
from ..significance import binom_cdf_half
from .calls import call_judge, judge_name
from .rubric import Rubric, _as_rubrics, check_template

#: The pairwise prompt (MT-Bench's verdict format). Placeholders: criterion, description, input,
#: reference_section, answer_a, answer_b.
PAIRWISE_TEMPLATE = """You are comparing two answers of AI assistants to the same input on one criterion.

Criterion: {criterion}
{description}

[Input]
{input}
{reference_section}
[Answer A]
{answer_a}

[Answer B]
{answer_b}

The order of the answers is random: do not let it, or their length, sway you. Reply with a one-sentence reason, then your verdict on the last line exactly as "[[A]]" if A is better, "[[B]]" if B is better, or "[[C]]" for a tie."""

_PAIR_FIELDS = frozenset(
    {"criterion", "description", "input", "reference", "reference_section", "answer_a", "answer_b"}
)
_VERDICT = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)


def parse_pairwise(outputs: Sequence[Any]) -> np.ndarray:
    """Verdicts "A", "B", "tie", "unparsed" or "error" (None: the call failed); the last
    ``[[A]]``/``[[B]]``/``[[C]]`` (or ``[[tie]]``) in an answer counts."""
    out = np.empty(len(outputs), dtype=object)
    for i, text in enumerate(outputs):
        if text is None:
            out[i] = "error"
            continue
        found = _VERDICT.findall(str(text))
        if not found:
            out[i] = "unparsed"
            continue
        v = found[-1].upper()
        out[i] = "tie" if v in ("C", "TIE") else v
    return out


@dataclass
class PairwiseResult(ResultMixin):
    """System b against system a on n items, each asked in both orders (a first, then b first).

    Per item ``outcome``: "b" (b better in both orders, or in one with a tie in the other), "a",
    "tie" (both ties), "inconsistent" (the verdict followed the position: counted as a tie), or
    "unparsed" (an answer without a verdict or a failed call; left out and counted).
    ``win_rate``: (b wins + ties / 2) / decided items, with a seeded 95% bootstrap interval;
    ``p_sign``: exact two-sided sign test of b wins against a wins. Position bias:
    ``first_position_rate`` is the share of decisive answers (A or B, over both orders) that chose
    the answer shown first (0.5 = none), ``p_position`` its exact binomial test, ``consistency``
    the share of items whose two verdicts agree once the order is undone.
    """

    judge: str
    criterion: str
    a: str
    b: str
    first: np.ndarray  # verdict with a shown first
    second: np.ndarray  # verdict with b shown first
    outcome: np.ndarray
    errors: dict[int, str]
    n_samples: int = 1000
    seed: int = DEFAULT_SEED

    def _count(self, v: str) -> int:
        return int((self.outcome == v).sum())

    @property
    def wins(self) -> int:
        return self._count("b")

    @property
    def losses(self) -> int:
        return self._count("a")

    @property
    def ties(self) -> int:
        return self._count("tie") + self._count("inconsistent")

    @property
    def inconsistent(self) -> int:
        return self._count("inconsistent")

    @property
    def unparsed(self) -> int:
        return self._count("unparsed")

    def _values(self) -> np.ndarray:
        o = self.outcome[self.outcome != "unparsed"]
        return np.where(o == "b", 1.0, np.where(o == "a", 0.0, 0.5))

    @property
    def win_rate(self) -> float:
        v = self._values()
        return float(v.mean()) if len(v) else float("nan")

    @property
    def ci(self) -> tuple[float, float]:
        v = self._values()
        if len(v) < 2:
            return (float("nan"), float("nan"))
        boot = _m.bootstrap(v.reshape(-1, 1), "mean", {"column": 0}, self.n_samples, self.seed)
        return float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))

    @property
    def p_sign(self) -> float:
        m = self.wins + self.losses
        return min(1.0, 2 * binom_cdf_half(min(self.wins, self.losses), m)) if m else 1.0

    @property
    def first_position_rate(self) -> float:
        first = int((self.first == "A").sum() + (self.second == "A").sum())
        decisive = int(np.isin(self.first, ("A", "B")).sum() + np.isin(self.second, ("A", "B")).sum())
        return first / decisive if decisive else float("nan")

    @property
    def p_position(self) -> float:
        first = int((self.first == "A").sum() + (self.second == "A").sum())
        decisive = int(np.isin(self.first, ("A", "B")).sum() + np.isin(self.second, ("A", "B")).sum())
        return min(1.0, 2 * binom_cdf_half(min(first, decisive - first), decisive)) if decisive else 1.0

    @property
    def consistency(self) -> float:
        parsed = self.outcome != "unparsed"
        return float((self.outcome[parsed] != "inconsistent").mean()) if parsed.any() else float("nan")

    def summary_line(self) -> str:
        lo, hi = self.ci
        return (
            f"{self.b} vs {self.a} on {self.criterion} ({self.judge}): win rate {self.win_rate:.3f} "
            f"[{lo:.3f}, {hi:.3f}], {self.wins} wins / {self.losses} losses / {self.ties} ties; "
            f"first position chosen {self.first_position_rate:.0%} of decisive answers"
        )

    def row(self) -> dict:
        lo, hi = self.ci
        return {
            "model": self.b,
            "baseline": self.a,
            "criterion": self.criterion,
            "judge": self.judge,
            "n": len(self.outcome),
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "inconsistent": self.inconsistent,
            "unparsed": self.unparsed,
            "win_rate": self.win_rate,
            "ci_low": lo,
            "ci_high": hi,
            "p_sign": self.p_sign,
            "first_position_rate": self.first_position_rate,
            "p_position": self.p_position,
            "consistency": self.consistency,
        }

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame([self.row()])


def _combine(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    # Undo the order: with a first, "B" means b; with b first, "A" means b.
    def pref(v: str, b_label: str) -> str | None:
        if v == "tie":
            return "tie"
        if v in ("A", "B"):
            return "b" if v == b_label else "a"
        return None

    out = np.empty(len(first), dtype=object)
    for i, (x, y) in enumerate(zip(first, second)):
        p, q = pref(x, "B"), pref(y, "A")
        if p is None or q is None:
            out[i] = "unparsed"
        elif p == q:
            out[i] = p
        elif "tie" in (p, q):
            out[i] = p if q == "tie" else q
        else:
            out[i] = "inconsistent"
    return out


class PairwiseJudge:
    """Asks ``model`` (callable prompt -> text) which of two answers is better on ``criterion``
    (a ready rubric name, a :class:`Rubric`, or words), in both orders. ``template``: default
    :data:`PAIRWISE_TEMPLATE` (placeholders checked). ``name`` identifies the judge in the cache."""

    def __init__(
        self,
        model: Any,
        criterion: str | Rubric = "relevance",
        *,
        template: str | None = None,
        name: str | None = None,
        seed: int = DEFAULT_SEED,
        max_workers: int = 4,
        retries: int = 2,
        n_samples: int = 1000,
    ) -> None:
        if isinstance(criterion, str) and " " in criterion.strip():
            criterion = Rubric("overall", criterion)
        self.rubric = _as_rubrics(criterion)[0]
        self.model = model
        self.template = check_template(
            template if template is not None else PAIRWISE_TEMPLATE, _PAIR_FIELDS, ("answer_a", "answer_b")
        )
        self.name = judge_name(model, name)
        self.seed, self.max_workers, self.retries, self.n_samples = int(seed), max_workers, retries, n_samples

    def __repr__(self) -> str:
        return f"PairwiseJudge({self.name!r}, criterion={self.rubric.name!r})"

    def prompt(self, input: Any, answer_a: Any, answer_b: Any, reference: Any = None) -> str:
        ref = "" if reference is None else str(reference)
        return self.template.format(
            criterion=self.rubric.name.replace("_", " "),
            description=self.rubric.description,
            input="" if input is None else str(input),
            reference=ref,
            reference_section=f"\n[Reference answer]\n{ref}\n" if reference is not None else "",
            answer_a="" if answer_a is None else str(answer_a),
            answer_b="" if answer_b is None else str(answer_b),
        )

    def compare(
        self,
        inputs: Sequence[Any],
        a: Sequence[Any],
        b: Sequence[Any],
        references: Sequence[Any] | None = None,
        *,
        names: tuple[str, str] = ("a", "b"),
        cache: PredictionCache | None = None,
        progress: bool = True,
    ) -> PairwiseResult:
        """b against a on every item, both orders (2 n calls, cached)."""
        inputs, a, b = list(inputs), list(a), list(b)
        if not len(inputs) == len(a) == len(b):
            raise ValueError(f"inputs, a and b differ in length: {len(inputs)}, {len(a)}, {len(b)}")
        refs = list(references) if references is not None else [None] * len(inputs)
        p1 = [self.prompt(i, x, y, r) for i, x, y, r in zip(inputs, a, b, refs)]
        p2 = [self.prompt(i, y, x, r) for i, x, y, r in zip(inputs, a, b, refs)]
        kw: dict[str, Any] = dict(
            sample=0, seed=self.seed, cache=cache, max_workers=self.max_workers, retries=self.retries
        )
        o1, f1 = call_judge(self.name, self.model, p1, progress=progress, **kw)
        o2, f2 = call_judge(self.name, self.model, p2, progress=progress, **kw)
        first, second = parse_pairwise(o1), parse_pairwise(o2)
        errors = {**{i: m for i, m in f2.items()}, **f1}
        return PairwiseResult(
            self.name,
            self.rubric.name,
            names[0],
            names[1],
            first,
            second,
            _combine(first, second),
            errors,
            self.n_samples,
            self.seed,
        )
