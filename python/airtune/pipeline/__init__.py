"""The curation pipeline: ``airtune.Pipeline([...]).run(source, out_dir)`` and ``airtune curate CONFIG``.

Stages (see :data:`STAGES` for every option and its default): ``read``, ``clean``, ``quality``,
``exact``, ``near``, ``semantic``, ``outliers``, ``system_prompt_check``, ``split``, ``diversify``
(training side only), ``write``. Options are validated before any work; every row is accounted for
(rows in = kept + dropped with stage and reason + quarantined, checked by the pipeline); outputs
are written atomically; finished stages are reused by a rerun with the same input and options.
``report.json`` and ``report.html`` (one self-contained page) describe the run.
"""

from __future__ import annotations

from .config import load_config
from .run import AccountingError, Pipeline, PipelineResult
from .spec import STAGES, Option, PipelineConfigError, StageConfig, StageSpec, stage, validate

__all__ = [
    "STAGES",
    "AccountingError",
    "Option",
    "Pipeline",
    "PipelineConfigError",
    "PipelineResult",
    "StageConfig",
    "StageSpec",
    "load_config",
    "stage",
    "validate",
]
