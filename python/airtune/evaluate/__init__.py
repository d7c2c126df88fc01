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
* ``evaluate/scoring.py``: one model on one metric (what the name says, counted bad items, the
  interval that fits).
* ``evaluate/significance.py``: seeded bootstrap, paired bootstrap, approximate randomisation, the
  three-way non-inferiority verdict, exact McNemar, Wilson, Wilcoxon; ``evaluate/power.py``: the
  minimum detectable effect and the items that would settle a verdict.
* ``evaluate/judges/``: rubric and pairwise LLM judges, judge-score parsing, Likert summaries,
  Krippendorff's alpha, agreement.
* ``evaluate/plots.py``: plots that fit the metric (confusion matrix, judge distributions, groups).
* ``evaluate/robustness.py``: a model's sensitivity to prompt variations.
* ``evaluate/playground.py``: several models side by side on a few inputs, differences marked.

Metrics come from :mod:`airtune.metrics` (C++, exact). The holdout split lives in
:mod:`airtune.split` (``holdout_split`` and ``normalized_hash`` stay importable here).
"""

from __future__ import annotations

from ..split.holdout import SplitResult, holdout_split, normalized_hash
from .cache import CacheFileError, CacheLockedError, PredictionCache
from .endpoint import EndpointError, EndpointModel
from .harness import assert_no_regression, evaluate
from .identity import model_identity
from .judges import (
    DEFAULT_TEMPLATE,
    PAIRWISE_TEMPLATE,
    RUBRICS,
    JudgeScores,
    PairwiseJudge,
    PairwiseResult,
    Rubric,
    RubricJudge,
    judge_agreement,
    krippendorff_alpha,
    likert_summary,
    parse_judge_outputs,
    parse_judge_scores,
)
from .models import (
    CallableModel,
    Completion,
    GenerationParams,
    GenerativeModel,
    LocalModel,
    ModelFolderError,
    resolve_model,
)
from .playground import Playground, playground, word_diff
from .power import mcnemar_sample_size, minimum_detectable_effect, sample_size
from .predict import ModelPredictions, PredictionError, predict
from .report import EvalReport
from .robustness import RobustnessReport, robustness
from .significance import (
    OUTCOMES,
    NonInferiorityResult,
    SignificanceResult,
    approximate_randomization,
    bootstrap_ci,
    mcnemar,
    non_inferiority,
    paired_bootstrap,
    wilcoxon,
    wilson_interval,
)

__all__ = [
    "CacheFileError",
    "CacheLockedError",
    "CallableModel",
    "Completion",
    "DEFAULT_TEMPLATE",
    "EndpointError",
    "EndpointModel",
    "EvalReport",
    "GenerationParams",
    "GenerativeModel",
    "JudgeScores",
    "LocalModel",
    "ModelFolderError",
    "ModelPredictions",
    "NonInferiorityResult",
    "OUTCOMES",
    "PAIRWISE_TEMPLATE",
    "PairwiseJudge",
    "PairwiseResult",
    "Playground",
    "PredictionCache",
    "PredictionError",
    "RUBRICS",
    "RobustnessReport",
    "Rubric",
    "RubricJudge",
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
    "mcnemar",
    "mcnemar_sample_size",
    "minimum_detectable_effect",
    "model_identity",
    "non_inferiority",
    "normalized_hash",
    "paired_bootstrap",
    "parse_judge_outputs",
    "parse_judge_scores",
    "playground",
    "predict",
    "resolve_model",
    "robustness",
    "sample_size",
    "wilcoxon",
    "wilson_interval",
    "word_diff",
]
