"""Monitoring: how production traffic differs from the training data.

* ``monitor/drift.py``: :func:`drift` (calibrated embedding, coverage, cluster, label, system-prompt
  and length tests, per time window, with a retrain recommendation and the drifted rows exported).
* ``monitor/gaps.py``: :func:`gaps` (clusters, by label or k-means, that a reference set holds and
  the training data under-covers) and :func:`fill_gaps` (candidates chosen to fill them).
"""

from __future__ import annotations

from .drift import DriftReport, WindowDrift, drift, psi
from .gaps import FillReport, GapReport, fill_gaps, gaps

__all__ = ["DriftReport", "FillReport", "GapReport", "WindowDrift", "drift", "fill_gaps", "gaps", "psi"]
