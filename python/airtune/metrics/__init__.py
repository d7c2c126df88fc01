"""Exact batch metrics (C++), with per-item sufficient statistics for resampling statistics.

Text metrics (``metrics/text.py``) reproduce their reference implementations exactly (tests
compare on thousands of pairs): ``bleu`` and ``chrf`` = sacreBLEU 2.6 (tokenizers 13a/intl/char/
none, smoothing, effective order, several references, signature string), ``rouge`` = Google's
rouge-score (its tokenizer and NLTK Porter stemmer, rougeLsum on newlines), ``token_f1`` = the SQuAD
script, ``exact_match`` = HF ``evaluate``'s exact_match. Label metrics (``metrics/labels.py``):
``classification`` = scikit-learn's definitions (allowed labels, a normaliser, an invalid bucket;
scored by accuracy or a corpus statistic such as macro-F1), Cohen's kappa, taxonomy accuracy and
hierarchical F1. User metrics are declared per item or corpus-level (``metrics/custom.py``). Structured
outputs (``metrics/structured.py``): JSON validity, lengths. Each function returns a
:class:`MetricResult` with the corpus score, per-item scores and the statistics from which the
resampling statistics of :mod:`airtune.evaluate` (bootstrap, paired bootstrap, approximate
randomisation, non-inferiority, Wilcoxon; judge-score tools) resample; those stay importable here.

References: a list of str (one reference per item) or a list of per-item lists of references
(variable length allowed). ``streams=True`` takes sacreBLEU's layout ``refs[k][i]`` instead.
Scales follow each reference tool: BLEU and chrF 0-100, ROUGE 0-1, SQuAD EM/F1 0-100, exact match
and classification 0-1.
"""

from __future__ import annotations

from typing import Any

from ._result import DEFAULT_SEED, SACREBLEU_COMPAT, MetricResult
from .custom import corpus_metric, item_metric
from .labels import CLASS_STATISTICS, classification, cohen_kappa, taxonomy_accuracy
from .normalize import LabelNormalizer
from .registry import LABEL_METRICS, REGISTRY, MetricFn
from .structured import json_validity, length_stats
from .text import bleu, chrf, exact_match, rouge, token_f1

__all__ = [
    "CLASS_STATISTICS",
    "DEFAULT_SEED",
    "LABEL_METRICS",
    "LabelNormalizer",
    "REGISTRY",
    "SACREBLEU_COMPAT",
    "MetricFn",
    "MetricResult",
    "NonInferiorityResult",
    "SignificanceResult",
    "approximate_randomization",
    "bleu",
    "bootstrap_ci",
    "chrf",
    "classification",
    "cohen_kappa",
    "corpus_metric",
    "exact_match",
    "item_metric",
    "json_validity",
    "judge_agreement",
    "krippendorff_alpha",
    "length_stats",
    "likert_summary",
    "mcnemar",
    "non_inferiority",
    "paired_bootstrap",
    "parse_judge_scores",
    "rouge",
    "taxonomy_accuracy",
    "token_f1",
    "wilcoxon",
    "wilson_interval",
]

# Statistics and judge tools live in airtune.evaluate; importable here lazily (no import cycle).
_MOVED = {
    **dict.fromkeys(
        [
            "SignificanceResult",
            "NonInferiorityResult",
            "bootstrap_ci",
            "paired_bootstrap",
            "approximate_randomization",
            "non_inferiority",
            "wilcoxon",
            "mcnemar",
            "wilson_interval",
        ],
        "airtune.evaluate.significance",
    ),
    **dict.fromkeys(
        ["parse_judge_scores", "likert_summary", "krippendorff_alpha", "judge_agreement"],
        "airtune.evaluate.judges",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'airtune.metrics' has no attribute {name!r}")
