"""LLM judges.

* ``judges/scores.py``: parsing judge answers (with unparsed / off-scale / error buckets), Likert
  summaries, Krippendorff's alpha, agreement between two judges.
* ``judges/rubric.py``: :class:`RubricJudge` (criteria in plain words on a 1-5 scale, a fixed
  overridable template, repeated sampling with its spread).
* ``judges/pairwise.py``: :class:`PairwiseJudge` (both orders, position bias measured).
* ``judges/calls.py``: calling a judge model (any callable prompt -> text) through the cache.
"""

from __future__ import annotations

from .pairwise import PAIRWISE_TEMPLATE, PairwiseJudge, PairwiseResult, parse_pairwise
from .rubric import DEFAULT_TEMPLATE, RUBRICS, JudgeScores, Rubric, RubricJudge
from .scores import (
    JUDGE_STATUSES,
    judge_agreement,
    krippendorff_alpha,
    likert_summary,
    parse_judge_outputs,
    parse_judge_scores,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "JUDGE_STATUSES",
    "PAIRWISE_TEMPLATE",
    "RUBRICS",
    "JudgeScores",
    "PairwiseJudge",
    "PairwiseResult",
    "Rubric",
    "RubricJudge",
    "judge_agreement",
    "krippendorff_alpha",
    "likert_summary",
    "parse_judge_outputs",
    "parse_judge_scores",
    "parse_pairwise",
]
