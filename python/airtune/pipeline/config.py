"""Pipeline configuration files: TOML (tomllib) or YAML (PyYAML), the same stages as in Python.

    input = "prod_logs.jsonl"          # optional: `airtune curate CONFIG --input` overrides
    output = "curated"                 # optional: `--out` overrides

    [[stages]]
    stage = "read"
    errors = "quarantine"

    [[stages]]
    stage = "quality"
    preset = "chat"

YAML: ``stages:`` is a list whose items are a name, ``{stage: name, ...}`` or ``{name: {...}}``.
Relative ``input``/``output`` paths are read relative to the config file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._results import require
from .spec import PipelineConfigError

_KEYS = ("input", "output", "stages")


def parse_config_file(p: Path, error: type[Exception]) -> Any:
    """The parsed contents of the TOML or YAML file ``p`` (None for an empty YAML file): the one
    config parser of the pipeline and the CLI. A wrong suffix or a parse failure raises ``error``
    naming the file."""
    text = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            return require("yaml", "pipeline").safe_load(text)
        raise error(f"{p}: expected a .toml, .yaml or .yml file")
    except error:
        raise
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError: name the file
        raise error(f"{p}: cannot parse: {exc}") from None


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """The config at ``path`` as {"input", "output", "stages"}; errors name the file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such config file")
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a directory, expected a .toml or .yaml config file")
    data = parse_config_file(p, PipelineConfigError)
    if not isinstance(data, dict):
        raise PipelineConfigError(f"{p}: expected a table with 'stages', got {type(data).__name__}")
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise PipelineConfigError(f"{p}: unknown key {unknown[0]!r} (keys: {', '.join(_KEYS)})")
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages:
        raise PipelineConfigError(f"{p}: 'stages' must be a non-empty list of stages")
    out: dict[str, Any] = {"stages": stages}
    for key in ("input", "output"):
        if key in data:
            if not isinstance(data[key], str):
                raise PipelineConfigError(f"{p}: {key!r} must be a path string")
            out[key] = str((p.parent / data[key]).resolve()) if not os.path.isabs(data[key]) else data[key]
    return out
