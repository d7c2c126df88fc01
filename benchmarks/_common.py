"""Shared plumbing of the benchmark scripts: machine facts, timing, result files.

Benchmarks never assert times. Each script writes benchmarks/results/<area>.json (machine,
versions, medians of repeats, ratios) and benchmarks/results/<area>.md (its table), then
``python benchmarks/update_readme.py`` rebuilds the table section of benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    import airtune

    info = airtune.build_info()
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "airtune": airtune.__version__,
        "airtune_threads": airtune.get_num_threads(),
        "blas": info["blas"]["name"],
        "simdjson": info["simdjson"],
        "simdjson_implementation": info["simdjson_implementation"],
        "date": time.strftime("%Y-%m-%d"),
    }


def median_time(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """Median wall time of `repeats` calls (seconds) and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def write_results(area: str, payload: dict[str, Any], table_md: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    payload = {"area": area, "machine": machine(), **payload}
    (RESULTS / f"{area}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / f"{area}.md").write_text(table_md.rstrip() + "\n")
    print(table_md)
