"""The Ray engine of :class:`airtune.Pipeline` (``engine="ray"``; ``pip install 'airtune[ray]'``).

Modules: read (shards, byte ranges, read tasks), blocks (records <-> Arrow blocks), rowstages
(per-row stages and the decisions of global ones), shuffle (hash shuffles over Ray tasks),
globalstages (exact and near dedup), faults (fault injection for the tests), engine (the run).
Ray is imported only when a run starts.
"""

from .engine import RAY_STAGES, check_stages, run_ray

__all__ = ["RAY_STAGES", "check_stages", "run_ray"]
