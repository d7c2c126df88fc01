"""Run folders: the outputs of each step of a run with a manifest (inputs, options, versions,
hashes, timings, exit codes), reuse of finished steps, the HTML report of a run and the comparison
of two runs.

* ``runs/folder.py``: :class:`RunFolder`, :class:`Step` (staging folder, atomic commit, reuse).
* ``runs/report.py``: :func:`collect` and :func:`render` (the self-contained HTML page);
  ``runs/charts.py`` its SVG charts.
* ``runs/compare.py``: :func:`compare` of two runs (options, inputs, figures that moved).
"""

from __future__ import annotations

from pathlib import Path

from .compare import compare, text_compare
from .folder import MANIFEST_VERSION, RunFolder, RunFolderError, Step, hash_path, versions
from .report import SECTIONS, collect, render

__all__ = [
    "MANIFEST_VERSION",
    "SECTIONS",
    "RunFolder",
    "RunFolderError",
    "Step",
    "collect",
    "compare",
    "hash_path",
    "render",
    "text_compare",
    "versions",
    "write_report",
]


def write_report(
    run: str | Path, *, compare_with: str | Path | None = None, out: str | Path | None = None
) -> Path:
    """Rebuild the HTML report of ``run`` (``RUN/report.html`` unless ``out``) from its manifest and
    outputs, with the differences against ``compare_with`` when given; written atomically."""
    from .._atomic import write_text_atomic

    folder = RunFolder(run, create=False)
    data = collect(folder)
    diff = compare(data, collect(RunFolder(compare_with, create=False))) if compare_with is not None else None
    target = Path(out) if out is not None else folder.path / "report.html"
    write_text_atomic(target, render(data, diff))
    return target
