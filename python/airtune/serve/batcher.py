"""Dynamic batching: concurrent requests to one model are generated together.

Requests wait in a queue; one worker thread takes the first, gathers whatever else arrives within
``max_wait`` seconds (up to ``max_batch`` prompts), groups them by generation parameters and runs
each group through :meth:`airtune.evaluate.LocalModel.generate_ids` (greedy groups in batches,
sampled prompts one by one with their own seed, so an answer does not depend on its neighbours).
One worker: the model is used from one thread, its intra-op threads do the parallel work.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..evaluate.models import Completion, GenerationParams


@dataclass
class _Job:
    prompts: list[list[int]]
    params: GenerationParams
    future: Future = field(default_factory=Future)


class Batcher:
    """Runs prompts (token ids) through ``model`` (a LocalModel) in dynamic batches."""

    def __init__(self, model: Any, max_batch: int = 16, max_wait: float = 0.005) -> None:
        self.model = model
        self.max_batch = max(1, int(max_batch))
        self.max_wait = float(max_wait)
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="airtune-serve-batcher", daemon=True)
        self._thread.start()

    def submit(self, prompts: Sequence[list[int]], params: GenerationParams) -> Future:
        """A future of the list of Completions, one per prompt."""
        job = _Job([list(p) for p in prompts], params)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        jobs, n, stop = [first], len(first.prompts), False
        while n < self.max_batch:
            try:
                job = self._queue.get(timeout=self.max_wait)
            except queue.Empty:
                break
            if job is None:
                stop = True
                break
            jobs.append(job)
            n += len(job.prompts)
        return jobs, stop

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, stop = self._gather(first)
            groups: dict[str, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(job.params.key(), []).append(job)
            for group in groups.values():
                self._generate(group)
            if stop:
                return

    def _generate(self, jobs: list[_Job]) -> None:
        results: dict[tuple[int, int], Completion] = {}
        items = [((j, k), ids) for j, job in enumerate(jobs) for k, ids in enumerate(job.prompts)]
        try:
            self.model.generate_ids(items, jobs[0].params, lambda key, c: results.__setitem__(key, c))
        except BaseException as exc:  # noqa: BLE001 - hand the error to the waiting requests
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        for j, job in enumerate(jobs):
            job.future.set_result([results[(j, k)] for k in range(len(job.prompts))])
