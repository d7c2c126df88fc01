"""Prompts: system-prompt overfitting check, prompt variations, diversity.

A dataset whose rows all carry one exact system prompt teaches the model to depend on that wording;
when production changes the prompt, the model breaks. This package finds that risk
(:func:`system_prompt_report`, ``prompts/system_report.py``), repairs it with meaning-preserving
variations (:func:`variations` and an optional pluggable :func:`paraphrase`,
``prompts/variations.py``; :func:`diversify` over a dataset, ``prompts/diversify.py``) and measures
the variants (distinct-n, self-BLEU, fidelity: ``prompts/diversity.py``).

Text transforms, grouping, scaffolds, BLEU and k-means run in C++ (``airtune._core.prompts``).
Protected spans (fenced and inline code, JSON, URLs, ``{name}`` / ``{{var}}`` placeholders, XML-like
tags, snake_case identifiers, e-mail addresses, caller-marked spans) are copied byte for byte into
every variant.

A model's sensitivity to variations moved to :mod:`airtune.evaluate` (:func:`robustness`) and the
distribution gaps to :mod:`airtune.monitor` (:func:`gaps`, :func:`fill_gaps`); both stay
importable from here.
"""

from __future__ import annotations

from typing import Any

from ._common import TRANSFORMS
from .diversify import DiversifyResult, diversify
from .diversity import distinct_n, diversity, fidelity, self_bleu, sentence_bleu
from .system_report import PromptGroup, SystemPromptReport, system_prompt_report
from .variations import ParaphraseResult, VariationSet, load_lexicon, paraphrase, protected_spans, variations

__all__ = [
    "TRANSFORMS",
    "DiversifyResult",
    "FillReport",
    "GapReport",
    "ParaphraseResult",
    "PromptGroup",
    "RobustnessReport",
    "SystemPromptReport",
    "VariationSet",
    "distinct_n",
    "diversify",
    "diversity",
    "fidelity",
    "fill_gaps",
    "gaps",
    "load_lexicon",
    "paraphrase",
    "protected_spans",
    "robustness",
    "self_bleu",
    "sentence_bleu",
    "system_prompt_report",
    "variations",
]

_MOVED = {
    "robustness": "airtune.evaluate.robustness",
    "RobustnessReport": "airtune.evaluate.robustness",
    "gaps": "airtune.monitor.gaps",
    "fill_gaps": "airtune.monitor.gaps",
    "GapReport": "airtune.monitor.gaps",
    "FillReport": "airtune.monitor.gaps",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'airtune.prompts' has no attribute {name!r}")
