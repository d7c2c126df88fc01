"""Monitoring: how production traffic differs from the training data.

* ``monitor/gaps.py``: :func:`gaps` (clusters, by label or k-means, that a reference set holds and
  the training data under-covers) and :func:`fill_gaps` (candidates chosen to fill them).
"""

from __future__ import annotations

from .gaps import FillReport, GapReport, fill_gaps, gaps

__all__ = ["FillReport", "GapReport", "fill_gaps", "gaps"]
