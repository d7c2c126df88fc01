"""The split: a holdout that no duplicate straddles, and a leakage check between the two sides.

* ``split/holdout.py``: :func:`holdout_split` (deterministic, stratified, singletons safe,
  normalised-exact duplicates and given groups kept on one side).
* ``split/leakage.py``: :func:`leakage` (exact, near and semantic matches of train rows in test).
"""

from __future__ import annotations

from .holdout import GROUP_FLAGS, SplitResult, holdout_split, normalized_hash
from .leakage import LeakageResult, leakage

__all__ = ["GROUP_FLAGS", "LeakageResult", "SplitResult", "holdout_split", "leakage", "normalized_hash"]
