"""Evaluation: can the candidate replace the baseline?

    split = airtune.split.holdout_split(records, fraction=0.1, stratify="category", seed=0)
    report = evaluate(split.test, models={"gpt-3.5": preds, "mistral-ft": call_model},
                      metrics=["bleu", "rougeL"], baseline="gpt-3.5", margin={"rougeL": 0.02})
    report.table; report.plot(); report.to_html("report.html")

* ``evaluate/harness.py``: :func:`evaluate` (models x metrics, intervals, significance against the
  baseline, non-inferiority verdicts) and :func:`assert_no_regression` (the pytest plugin's check).
* ``evaluate/models.py``: models in, answers out: :func:`resolve_model` turns a callable, a model
  folder, a base + PEFT adapter or an endpoint into a :class:`GenerativeModel` (``identity``,
  ``generate``); ``evaluate/endpoint.py``: :class:`EndpointModel` (OpenAI-compatible HTTP).
* ``evaluate/predict.py``, ``evaluate/cache.py``: :func:`predict`, through the SQLite
  :class:`PredictionCache` (every answer stored as it arrives; keyed by model identity, prompt and
  parameters; old, corrupt and locked files handled); ``evaluate/identity.py``:
  :func:`model_identity`, what a callable's answers are keyed by (``model_id=``, a declared
  ``identity`` / ``cache_key``, or a fingerprint of its code).
* ``evaluate/report.py``: :class:`EvalReport` (tables, markdown/HTML, plots).
* ``evaluate/significance.py``: seeded bootstrap, paired bootstrap, approximate randomisation,
  non-inferiority, Wilcoxon; ``evaluate/judges.py``: judge-score parsing, Likert summaries,
  Krippendorff's alpha, agreement.
* ``evaluate/robustness.py``: a model's sensitivity to prompt variations.
* ``evaluate/playground.py``: several models side by side on a few inputs.

Metrics come from :mod:`airtune.metrics` (C++, exact). The holdout split lives in
:mod:`airtune.split` (``holdout_split`` and ``normalized_hash`` stay importable here).
"""

from __future__ import annotations

from ..split.holdout import SplitResult, holdout_split, normalized_hash
from .cache import CacheFileError, CacheLockedError, PredictionCache
from .endpoint import EndpointError, EndpointModel
from .harness import assert_no_regression, evaluate
from .identity import model_identity
from .judges import judge_agreement, krippendorff_alpha, likert_summary, parse_judge_scores
from .models import (
    CallableModel,
    Completion,
    GenerationParams,
    GenerativeModel,
    LocalModel,
    ModelFolderError,
    resolve_model,
)
from .playground import playground
from .predict import ModelPredictions, PredictionError, predict
from .report import EvalReport
from .robustness import RobustnessReport, robustness
from .significance import (
    NonInferiorityResult,
    SignificanceResult,
    approximate_randomization,
    bootstrap_ci,
    non_inferiority,
    paired_bootstrap,
    wilcoxon,
)

__all__ = [
    "CacheFileError",
    "CacheLockedError",
    "CallableModel",
    "Completion",
    "EndpointError",
    "EndpointModel",
    "EvalReport",
    "GenerationParams",
    "GenerativeModel",
    "LocalModel",
    "ModelFolderError",
    "ModelPredictions",
    "PredictionError",
    "NonInferiorityResult",
    "PredictionCache",
    "RobustnessReport",
    "SignificanceResult",
    "SplitResult",
    "approximate_randomization",
    "assert_no_regression",
    "bootstrap_ci",
    "evaluate",
    "holdout_split",
    "judge_agreement",
    "krippendorff_alpha",
    "likert_summary",
    "model_identity",
    "non_inferiority",
    "normalized_hash",
    "paired_bootstrap",
    "predict",
    "parse_judge_scores",
    "playground",
    "resolve_model",
    "robustness",
    "wilcoxon",
]
