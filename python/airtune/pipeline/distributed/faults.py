"""Fault injection for the tests of the Ray engine (off unless ``AIRTUNE_RAY_FAULTS`` names a folder),
and the error a task that runs out of memory reports (:func:`named`).

A test arms a fault by creating ``<folder>/<point>`` (point: ``read``, ``clean``, ``quality``,
``keys``, ``reduce``, ``embed``, ``write``) holding an action: ``kill`` (the task that claims it
writes its pid to ``<folder>/<point>.pid`` and waits; the test kills that worker from outside,
and Ray must retry the task) or ``oom`` (the task's process gets an address-space limit and
allocates past it: a real allocation failure). Exactly one task claims a fault (an atomic
rename), so a retried task runs normally.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENV = "AIRTUNE_RAY_FAULTS"


def faults_dir() -> str | None:
    return os.environ.get(ENV) or None


def fault_point(folder: str | None, point: str) -> None:
    if not folder:
        return
    armed = os.path.join(folder, point)
    claimed = f"{armed}.claimed-{os.getpid()}"
    try:
        os.rename(armed, claimed)
    except OSError:
        return  # not armed, or another task claimed it
    with open(claimed, encoding="utf-8") as f:
        action = f.read().strip()
    if action == "kill":
        tmp = f"{armed}.pid.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
        os.replace(tmp, f"{armed}.pid")
        time.sleep(300)  # the test kills this process; Ray retries the task elsewhere
    elif action == "oom":
        import resource

        import numpy as np

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm", encoding="ascii") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + (64 << 20), hard))
        try:
            np.ones(1 << 30, dtype=np.uint8)  # 1 GiB past a 64 MiB allowance: MemoryError
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def record(folder: str | None, event: str) -> None:
    """Appends this process's pid to ``<folder>/<event>.log`` (tests count what ran where)."""
    if folder:
        with open(os.path.join(folder, f"{event}.log"), "a", encoding="ascii") as f:
            f.write(f"{os.getpid()}\n")


def node() -> str:
    """The IP of the node this task runs on (for messages)."""
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - only for a message
        return "?"


def block_span(block: Any) -> str:
    """The input rows of a block: 'shard #<i> lines <a>-<b>' (the driver names shard i's file)."""
    from .blocks import ROW, SHARD_SHIFT

    rows = block.column(ROW)
    if not len(rows):
        return "an empty block"
    a, b = int(rows[0].as_py()), int(rows[-1].as_py())
    mask = (1 << SHARD_SHIFT) - 1
    end = (
        f"{b & mask}"
        if b >> SHARD_SHIFT == a >> SHARD_SHIFT
        else f"shard #{b >> SHARD_SHIFT} line {b & mask}"
    )
    return f"shard #{a >> SHARD_SHIFT} lines {a & mask}-{end}"


@contextmanager
def named(stage: str, where: str) -> Iterator[None]:
    """A MemoryError inside names the stage, the rows (`where`) and the node; Ray does not retry it
    (a task that needs more memory than its worker has would fail again)."""
    try:
        yield
    except MemoryError as exc:
        raise MemoryError(f"{stage}: {where} ran out of memory on node {node()}: {exc}") from None
