"""Headless Chromium for the HTML tests: render a page, keep a screenshot, collect console messages."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Rendered:
    dom: str  # the DOM after the page's scripts ran
    console: list[str]  # every console message (log, warning, error, uncaught exception)
    screenshot: Path


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    return exe


def _run(args: list[str]) -> subprocess.CompletedProcess:
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120)


def render(page: Path, out_dir: Path, size: str = "1280,900") -> Rendered:
    """Renders ``page`` twice: once for the DOM (after scripts), once for a screenshot kept in
    ``out_dir``. The console messages of both runs are returned."""
    url = page.resolve().as_uri()
    shot = out_dir / (page.stem + ".png")
    dom_run = _run(["--dump-dom", url])
    shot_run = _run([f"--screenshot={shot}", f"--window-size={size}", url])
    console = [line for run in (dom_run, shot_run) for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert shot.exists() and shot.stat().st_size > 1000, shot_run.stderr[-2000:]
    return Rendered(dom_run.stdout, console, shot)
