"""Shared plumbing of the benchmark scripts: machine and load, alternating repeats, memory net of
imports, result files.

Benchmarks never assert times. Each script writes benchmarks/results/<area>.json (machine,
versions, medians of repeats, ratios) and benchmarks/results/<area>.md (its table), then
``python benchmarks/update_readme.py`` rebuilds the table section of benchmarks/README.md.

Fairness rules every script follows (issue 19):
- airtune and each peer run the same number of times, alternating (``alternating``), and the
  figures are medians of those runs; wall and process CPU seconds are both kept, since on a shared
  machine a process waiting for a core counts as wall time but not as CPU time.
- each table says the threads, sizes and load (``setting_line``); a peer measured on fewer rows
  says so and nothing is extrapolated.
- peak memory is the peak RSS of a fresh process minus its RSS after the imports
  (``peak_rss_net_of_imports``), so a library's import footprint is reported apart from the work.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU's name with its family and model numbers: "AMD EPYC" alone has covered Zen 4
    (family 25) and Zen 5 (family 26) machines, whose AVX-512 units differ enough to move ratios."""
    try:
        fields: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model") and key not in fields:
                fields[key] = value.strip()
            if not line.strip() and fields:
                break  # the first processor's block is enough
        if "model name" in fields:
            name = fields["model name"]
            if "cpu family" in fields and "model" in fields:
                name += f" (family {fields['cpu family']}, model {fields['model']})"
            return name
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    import airtune

    info = airtune.build_info()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "airtune": airtune.__version__,
        "airtune_threads": airtune.get_num_threads(),
        "blas": info["blas"]["name"],
        "simdjson": info["simdjson"],
        "simdjson_implementation": info["simdjson_implementation"],
        "loadavg": [round(v, 2) for v in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d"),
    }


class Load:
    """1-minute load average before and after a benchmark (the machine is shared)."""

    def __init__(self) -> None:
        self.before = os.getloadavg()[0]
        self.after = self.before

    def stop(self) -> Load:
        self.after = os.getloadavg()[0]
        return self

    def as_dict(self) -> dict[str, float]:
        return {"loadavg_1m_before": round(self.before, 2), "loadavg_1m_after": round(self.after, 2)}

    def __str__(self) -> str:
        return f"1-minute load {self.before:.1f} before, {self.after:.1f} after"


def setting_line(threads: int | str, sizes: str, load: Load, repeats: int, extra: str = "") -> str:
    """The sentence above each table: machine, threads, sizes, load and statistic."""
    cores = os.cpu_count()
    s = (
        f"{cpu_model()}, {cores} cores, {threads} thread(s) for every tool; {sizes}; {load}; "
        f"medians of {repeats} runs of each tool, alternating"
    )
    return s + (f"; {extra}" if extra else "") + "."


@dataclass
class Timing:
    """Wall and process-CPU seconds of the repeats of one function."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    result: Any = None

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def best(self) -> float:
        return min(self.wall)

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_s": round(self.median, 5),
            "cpu_median_s": round(self.cpu_median, 5),
            "best_s": round(self.best, 5),
            "repeats": len(self.wall),
            "wall_s": [round(t, 5) for t in self.wall],
        }


def alternating(fns: Mapping[str, Callable[[], Any]], repeats: int, warmup: bool = True) -> dict[str, Timing]:
    """Times every function `repeats` times, in rounds that run each once, the order rotated each
    round, so that load changes hit all alike. `warmup` runs each once before (untimed; its result
    is kept for the equality checks when repeats is 0)."""
    names = list(fns)
    out = {n: Timing() for n in names}
    if warmup:
        for n in names:
            out[n].result = fns[n]()
    for r in range(repeats):
        for n in names[r % len(names) :] + names[: r % len(names)]:
            # As timeit: the cyclic collector off inside the timing (collected before it), so a
            # collection of objects a peer left alive (millions of shingle strings) is not
            # charged to whichever tool happens to allocate next.
            out[n].result = None
            gc.collect()
            gc.disable()
            try:
                c0, t0 = time.process_time(), time.perf_counter()
                res = fns[n]()
                out[n].wall.append(time.perf_counter() - t0)
                out[n].cpu.append(time.process_time() - c0)
            finally:
                gc.enable()
            out[n].result = res
    return out


def median_time(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """Median wall time of `repeats` calls (seconds) and the last result."""
    t = alternating({"fn": fn}, repeats, warmup=False)["fn"]
    return t.median, t.result


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def release_memory() -> None:
    """Return freed heap to the OS so that the next RSS baseline is honest."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def peak_extra_mib(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(peak RSS during one call minus RSS before it, MiB; the result), RSS sampled every 5 ms in
    this process after gc + malloc_trim: the memory of the work itself, imports excluded."""
    import threading

    release_memory()
    base = rss_mib()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib())
            time.sleep(0.005)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result = fn()
    finally:
        stop.set()
        t.join()
    return max(peak[0], rss_mib()) - base, result


_CHILD = r"""
import json, sys, time
def _status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]
exec(spec["imports"], globals())
after_imports = _status("VmRSS:")
try:
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset VmHWM to the current RSS: the peak below is that of the work
    reset = True
except OSError:
    reset = False
t0 = time.perf_counter()
exec(spec["work"], globals())
print(json.dumps({"rss_after_imports_mb": after_imports, "peak_rss_mb": _status("VmHWM:"),
                  "seconds": time.perf_counter() - t0, "hwm_reset": reset}))
"""


def peak_rss_net_of_imports(
    imports: str, work: str, env: Mapping[str, str] | None = None, path: list[str] | None = None
) -> dict[str, float]:
    """Runs `imports` then `work` (Python source) in a fresh interpreter and returns its RSS after
    the imports, its peak RSS during the work and the difference (MB): the memory of the work,
    net of the libraries' import footprint."""
    spec = {"imports": imports, "work": work, "path": path or [str(Path(__file__).resolve().parent)]}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed:\n{proc.stderr[-3000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["net_mb"] = r["peak_rss_mb"] - r["rss_after_imports_mb"]
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()}


def native_binary(name: str, libs: tuple[str, ...] = ()) -> Path | None:
    """Compiles benchmarks/native/<name>.cpp (g++ -O3 -march=native) once into a temp folder and
    returns the binary, or None when there is no compiler (the rows that need it are skipped)."""
    import shutil
    import tempfile

    src = Path(__file__).resolve().parent / "native" / f"{name}.cpp"
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        return None
    out = Path(tempfile.gettempdir()) / f"airtune_bench_{name}_{os.getuid()}"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        cmd = [cxx, "-O3", "-march=native", "-std=c++17", "-o", str(out), str(src), *libs]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"[native] {name} did not build, its rows are skipped:\n{proc.stderr[-2000:]}", flush=True)
            return None
    return out


def run_native(name: str, *args: str, libs: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """Runs a native helper (see native_binary) and parses the JSON line it prints."""
    exe = native_binary(name, libs)
    if exe is None:
        return None
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_results(area: str, payload: dict[str, Any], table_md: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    payload = {"area": area, "machine": machine(), **payload}
    (RESULTS / f"{area}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / f"{area}.md").write_text(table_md.rstrip() + "\n")
    print(table_md)
