"""airtune: curate training data, fine-tune with LoRA, prove it with evaluations.

The heavy work runs in C++ (``airtune._core``; ``airtune._nn`` for the libtorch parts). Importing
airtune never imports torch: the neural modules load it on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from typing import Any

from . import _core, _torch_guard
from ._core import ParseError

_torch_guard.install()  # `import airtune._nn` checks the torch release before loading it

__version__: str = _core.__version__

__all__ = ["ParseError", "__version__", "build_info", "get_num_threads", "set_num_threads"]

# Areas are imported on first attribute access so that `import airtune` stays light.
_SUBMODULES = {
    "io",
    "clean",
    "dedup",
    "embed",
    "prompts",
    "metrics",
    "evaluate",
    "cost",
    "nn",
    "train",
    "demo",
    "cli",
    "split",
    "monitor",
    "stage",
    "pipeline",
}
_LAZY = {"Pipeline": "pipeline", "StageOutput": "stage"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'airtune' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | _SUBMODULES | set(_LAZY))


def set_num_threads(n: int) -> None:
    """Size the one thread pool (oneTBB arena) that all airtune work runs in.

    FAISS's OpenMP, OpenBLAS and (when torch is loaded) libtorch are kept at the same count.
    Results never depend on it.
    The environment variable ``AIRTUNE_NUM_THREADS`` sets the size at import.
    """
    _core.set_num_threads(int(n))
    # libtorch keeps its own pool; follow it when torch is already loaded (never import it here).
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(n))


def _check_thread_env() -> None:
    """One warning per thread-count variable that is not a positive integer or asks for more threads
    than this process has CPUs, saying what airtune uses instead. airtune is not at their mercy:
    FAISS's OpenMP and OpenBLAS follow its own pool (:func:`set_num_threads`), set at import."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for var in ("AIRTUNE_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        raw = os.environ.get(var, "").strip()
        if not raw:
            continue
        try:
            n = int(raw.split(",")[0])  # OMP_NUM_THREADS may list one count per nesting level
        except ValueError:
            n = 0
        if n < 1:
            problem = "is not a positive integer"
        elif var == "AIRTUNE_NUM_THREADS" and n > 4096:
            problem = "is above 4096"
        elif var != "AIRTUNE_NUM_THREADS" and n > cpus:
            problem = f"asks for more threads than the {cpus} CPUs this process may use"
        else:
            continue
        warnings.warn(
            f"{var}={raw!r} {problem}: airtune runs its work, FAISS (OpenMP) and OpenBLAS on its own pool of "
            f"{get_num_threads()} threads (set AIRTUNE_NUM_THREADS or call airtune.set_num_threads(n) to choose)",
            RuntimeWarning,
            stacklevel=2,
        )


def get_num_threads() -> int:
    """The size of airtune's thread pool."""
    return _core.get_num_threads()


def build_info() -> dict[str, Any]:
    """Versions of the libraries airtune was built with and what this machine offers.

    Keys: version, faiss, faiss_gpu, simdjson, onetbb, blas ({name, library, config, threads}),
    num_threads, nn_built / nn_torch_built (the torch release ``_nn`` was compiled against), and
    torch / cuda_available when ``_nn`` loads (this call imports torch in that case; ``import
    airtune`` alone does not), or nn_error saying why it does not (e.g. another torch release).
    """
    info: dict[str, Any] = dict(_core.build_info())
    info["nn_built"] = importlib.util.find_spec("airtune._nn") is not None
    info["nn_torch_built"] = _torch_guard.built_against() or None
    info["torch"] = None
    info["cuda_available"] = False
    if info["nn_built"] and os.environ.get("AIRTUNE_NO_TORCH") != "1":
        from .nn._lib import native

        try:
            nn_info = native().build_info()  # imports torch's shared libraries
        except ImportError as exc:  # another torch release, or none: say so, the rest still works
            info["nn_error"] = str(exc)
            return info
        info["torch"] = nn_info["torch_runtime"]
        info["cuda_available"] = nn_info["cuda_available"]
        info["cuda_devices"] = nn_info["cuda_devices"]
    return info


_check_thread_env()
