"""pytest plugin: regression checks of model quality against stored baselines.

Registered through the ``pytest11`` entry point (``airtune = "airtune.pytest_plugin"``). It adds:

- the option ``--airtune-update-baselines``: rewrite baseline files instead of checking them;
- the fixture ``airtune_baseline_dir`` (``tests/baselines`` next to the test file, created on demand);
- the fixture ``airtune_regression``: ``airtune_regression(report, "name.json", metric="rougeL", margin=0.01)``;
- :func:`assert_no_regression`, usable without the fixture.

A baseline file stores, for one model and metric, the per-item sufficient statistics, the item
hashes and the score. A check passes when the current model is non-inferior to the stored baseline
(paired bootstrap: the one-sided lower bound of current - baseline >= -margin at ``alpha``). A failure
prints the comparison table. The module imports nothing heavy at load time (pytest loads it for
every session once registered); airtune's compiled core is imported on first use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_UPDATE_ENV = "AIRTUNE_UPDATE_BASELINES"


def _metric_result(report: Any, model: str | None, metric: str) -> tuple[str, Any]:
    from . import metrics as M

    if isinstance(report, M.MetricResult):
        return model or "model", report
    name = model or (report.models[-1] if report.models else None)
    if name is None or name not in report.results:
        raise ValueError(f"model {name!r} is not in the report ({report.models})")
    if metric not in report.results[name]:
        raise ValueError(f"metric {metric!r} is not in the report ({report.metrics})")
    return name, report.results[name][metric]


def assert_no_regression(
    report: Any,
    baseline_path: str | Path,
    metric: str,
    margin: float = 0.0,
    alpha: float = 0.05,
    *,
    model: str | None = None,
    update: bool | None = None,
    n_samples: int = 2000,
    seed: int = 12345,
) -> Any:
    """Fail (AssertionError with the comparison table) if ``metric`` regressed beyond ``margin``.

    ``report``: an :class:`airtune.evaluate.EvalReport` (``model`` defaults to its last model) or a
    :class:`airtune.metrics.MetricResult`. With ``update`` (default: ``--airtune-update-baselines`` or
    the environment variable ``AIRTUNE_UPDATE_BASELINES=1``), or when the file does not exist yet
    and updating is on, the baseline is (re)written and nothing is checked. A missing baseline
    without update fails with a message saying how to create it.
    """
    import numpy as np

    from . import metrics as M

    path = Path(baseline_path)
    name, res = _metric_result(report, model, metric)
    if update is None:
        update = os.environ.get(_UPDATE_ENV, "") not in ("", "0")
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "metric": metric,
            "model": name,
            "score": res.score,
            "aggregate": res.aggregate,
            "options": res.options,
            "signature": res.signature,
            "n": int(res.stats.shape[0]),
            "stats": res.stats.tolist(),
        }
        path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        return None
    if not path.exists():
        raise AssertionError(f"no baseline at {path}: run pytest --airtune-update-baselines to create it")
    base = json.loads(path.read_text(encoding="utf-8"))
    if base["metric"] != metric:
        raise AssertionError(f"{path} holds metric {base['metric']!r}, not {metric!r}")
    stats = np.asarray(base["stats"], dtype=np.float64)
    if stats.shape != res.stats.shape:
        raise AssertionError(
            f"{path}: baseline has {stats.shape[0]} items, the report {res.stats.shape[0]}; "
            "regenerate the baseline with --airtune-update-baselines"
        )
    baseline = M.MetricResult(
        metric, float(base["score"]), stats[:, 0], stats, base["aggregate"], base["options"]
    )
    if baseline.aggregate != res.aggregate or baseline.options != _jsonable(res.options):
        raise AssertionError(f"{path}: the metric options changed since the baseline was stored")
    baseline.options = res.options
    verdict = M.non_inferiority(res, baseline, margin=margin, alpha=alpha, n_samples=n_samples, seed=seed)
    if not verdict.non_inferior:
        table = (
            "| | score |\n|---|---:|\n"
            f"| baseline ({base.get('model')}) | {verdict.baseline:.4f} |\n"
            f"| current ({name}) | {verdict.candidate:.4f} |\n"
            f"| difference | {verdict.difference:+.4f} |\n"
            # the one-sided bound at alpha is the lower end of the two-sided (1 - 2 alpha) CI the reading shows
            f"| {100 * (1 - alpha):.0f}% lower bound (lower end of the {100 * (1 - 2 * alpha):.0f}% CI) "
            f"| {verdict.lower_bound:+.4f} |\n"
            f"| allowed (-margin) | {-margin:+.4f} |\n"
            f"\n{verdict.reading}\n"
        )
        raise AssertionError(f"{metric} regressed against {path}:\n{table}")
    return verdict


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("airtune")
    group.addoption(
        "--airtune-update-baselines",
        action="store_true",
        default=False,
        help="rewrite airtune regression baselines instead of checking them",
    )


def pytest_configure(config: Any) -> None:
    if config.getoption("--airtune-update-baselines", default=False):
        os.environ[_UPDATE_ENV] = "1"


try:
    import pytest

    @pytest.fixture
    def airtune_baseline_dir(request: Any) -> Path:
        """Directory for baseline files: ``baselines/`` next to the test module."""
        return Path(str(request.node.fspath)).parent / "baselines"

    @pytest.fixture
    def airtune_regression(airtune_baseline_dir: Path) -> Any:
        """``check(report, "file.json", metric=..., margin=..., alpha=..., model=...)`` against the
        baseline directory; honours ``--airtune-update-baselines``."""

        def check(
            report: Any, filename: str, metric: str, margin: float = 0.0, alpha: float = 0.05, **kwargs: Any
        ) -> Any:
            return assert_no_regression(
                report, airtune_baseline_dir / filename, metric, margin, alpha, **kwargs
            )

        return check

except ImportError:  # pragma: no cover - pytest is only needed when the plugin is loaded
    pass
