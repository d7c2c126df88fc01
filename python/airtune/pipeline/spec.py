"""The stages a pipeline can run, their options (typed, with defaults), and the validation of a
configuration before any work starts: an unknown stage, a mistyped option or a value of the wrong
type is an error that names the stage (and its position) and the key."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class PipelineConfigError(ValueError):
    """A configuration that cannot run: names the stage, its position and the option."""


@dataclass(frozen=True)
class Option:
    types: tuple[type, ...]
    default: Any
    doc: str = ""
    choices: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class StageSpec:
    name: str
    doc: str
    options: dict[str, Option]
    streaming: bool  # runs batch by batch with bounded memory
    drops: bool = True  # may drop rows


_STR, _BOOL, _INT, _NUM = (str,), (bool,), (int,), (int, float)
_STR_OR_NONE = (str, type(None))
_SEL = Option(_STR, "conversation", "the text the stage compares (a selector: conversation, last_user, ...)")

STAGES: dict[str, StageSpec] = {
    "read": StageSpec(
        "read",
        "read the input JSONL (plain or gzip), quarantining bad lines",
        {
            "format": Option(
                _STR,
                "auto",
                "record layout",
                ("auto", "chat", "sharegpt", "alpaca", "prompt_completion", "text"),
            ),
            "errors": Option(
                _STR, "quarantine", "what to do with a bad line", ("quarantine", "skip", "raise")
            ),
            "batch_bytes": Option(_INT, 16 << 20, "bytes of input per streamed batch"),
            "max_line_bytes": Option(
                _INT, 64 << 20, "longer lines are quarantined without being held in memory"
            ),
        },
        streaming=True,
    ),
    "clean": StageSpec(
        "clean",
        "strip leaked markup/JS/base64/tracking parameters and repair Unicode in message contents",
        {
            "strip_garbage": Option(_BOOL, True),
            "fix_text": Option(_BOOL, True),
            "html_to_text": Option(_BOOL, False, "convert whole HTML documents in messages to text"),
            "messages": Option((str, list), "all", "roles whose contents are cleaned"),
            "normalization": Option(_STR_OR_NONE, "NFC", "Unicode form of fix_text", ("NFC", "NFKC", None)),
        },
        streaming=True,
    ),
    "quality": StageSpec(
        "quality",
        "quality filter: the chat preset (or a web preset: c4, gopher, fineweb)",
        {
            "preset": Option(_STR, "chat", "", ("chat", "c4", "gopher", "fineweb")),
            "select": _SEL,
            "warn_above": Option((int, float, type(None)), 0.3, "warn when more than this share is dropped"),
            "params": Option(
                (dict,), {}, "threshold overrides by name (see airtune.clean.quality_presets())"
            ),
        },
        streaming=True,
    ),
    "exact": StageSpec(
        "exact",
        "exact duplicates after the shared normalisation (NFKC, case folding, whitespace)",
        {
            "select": _SEL,
            "punctuation": Option(_BOOL, False),
            "digits": Option(_BOOL, False),
            "on_conflict": Option(
                _STR, "first", "duplicates with different labels", ("first", "majority", "drop")
            ),
        },
        streaming=True,
    ),
    "near": StageSpec(
        "near",
        "near duplicates: MinHash-LSH, verified by exact Jaccard (needs the whole set)",
        {
            "select": _SEL,
            "threshold": Option(_NUM, 0.8),
            "ngram": Option(_INT, 5),
            "num_perm": Option(_INT, 128),
            "bands": Option(
                (int, type(None)), None, "LSH bands (with rows; default: chosen from the threshold)"
            ),
            "rows": Option((int, type(None)), None, "LSH rows per band"),
            "char_ngrams": Option(_BOOL, False),
            "on_conflict": Option(_STR, "first", "", ("first", "majority", "drop")),
            "warn_above": Option((int, float, type(None)), 0.3),
        },
        streaming=False,
    ),
    "semantic": StageSpec(
        "semantic",
        "semantic duplicates: cosine kNN of embeddings (needs the whole set)",
        {
            "select": _SEL,
            "threshold": Option(_NUM, 0.95),
            "k": Option(_INT, 10),
            "embedder": Option(
                _STR, "hashed", "'hashed' (no model) or the path of a sentence-transformers model"
            ),
            "device": Option(
                _STR, "auto", "where the embedder runs (Ray: 'cuda' requests a GPU)", ("auto", "cpu", "cuda")
            ),
            "clusters": Option(
                _INT, 1, "k-means clusters rows are routed to, each deduplicated alone (1: one kNN graph)"
            ),
            "sample": Option(_INT, 100_000, "rows k-means trains on: the smallest XXH64 of the row id"),
            "warn_above": Option((int, float, type(None)), 0.3),
        },
        streaming=False,
    ),
    "outliers": StageSpec(
        "outliers",
        "off-domain rows: mean kNN distance of embeddings above an IQR fence (needs the whole set)",
        {
            "select": _SEL,
            "method": Option(_STR, "knn", "", ("knn", "lof", "centroid")),
            "k": Option(_INT, 10),
            "factor": Option(_NUM, 1.7),
            "embedder": Option(_STR, "hashed"),
            "action": Option(_STR, "drop", "drop the flagged rows or only report them", ("drop", "report")),
        },
        streaming=False,
    ),
    "system_prompt_check": StageSpec(
        "system_prompt_check",
        "concentration of system prompts (reported before and after diversification; drops nothing)",
        {"near_threshold": Option(_NUM, 0.8)},
        streaming=False,
        drops=False,
    ),
    "split": StageSpec(
        "split",
        "holdout split: stratified, no duplicate group across the sides (needs the whole set)",
        {
            "fraction": Option(_NUM, 0.1),
            "stratify": Option(_STR_OR_NONE, "label", "a selector (label, metadata.<key>) or None"),
            "seed": Option(_INT, 0),
            "select": _SEL,
        },
        streaming=False,
        drops=False,
    ),
    "diversify": StageSpec(
        "diversify",
        "system-prompt variations on the training side only (the test side keeps production prompts)",
        {"n_variants": Option(_INT, 5), "seed": Option(_INT, 0)},
        streaming=False,
        drops=False,
    ),
    "write": StageSpec(
        "write",
        "write train/test (and the dropped rows with stage and reason) atomically",
        {
            "format": Option(
                _STR, "auto", "", ("auto", "chat", "sharegpt", "alpaca", "prompt_completion", "text")
            ),
            "output": Option(
                _STR,
                "jsonl",
                "train/test as JSONL files or as Parquet shards (train/part-*.parquet)",
                ("jsonl", "parquet"),
            ),
        },
        streaming=True,
        drops=False,
    ),
}


@dataclass
class StageConfig:
    """One stage of a pipeline: its name, position and validated options (defaults filled in)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    position: int = 0

    @property
    def spec(self) -> StageSpec:
        return STAGES[self.name]

    def label(self) -> str:
        return f"stage {self.position} ({self.name!r})"


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def stage(name: str, **options: Any) -> StageConfig:
    """A stage for :class:`airtune.Pipeline`, e.g. ``stage("quality", preset="chat")``."""
    return StageConfig(name, dict(options))


def parse_stage(item: Any, position: int) -> StageConfig:
    """A stage from the forms users write: ``"clean"``, ``("quality", {...})``,
    ``{"stage": "quality", ...}`` (or ``{"name": ...}``), ``{"quality": {...}}`` or ``stage(...)``."""
    if isinstance(item, StageConfig):
        name, options = item.name, dict(item.options)
    elif isinstance(item, str):
        name, options = item, {}
    elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
        name, options = item[0], dict(item[1] or {})
    elif isinstance(item, Mapping):
        d = dict(item)
        if "stage" in d or "name" in d:
            name = d.pop("stage", None) or d.pop("name")
            options = d
        elif len(d) == 1:
            ((name, options),) = d.items()
            options = dict(options or {})
        else:
            raise PipelineConfigError(
                f"stage {position}: expected a stage name or a table with 'stage = ...', got {item!r}"
            )
    else:
        raise PipelineConfigError(
            f"stage {position}: expected a stage name or a table, got {type(item).__name__}"
        )
    if not isinstance(name, str) or name not in STAGES:
        raise PipelineConfigError(
            f"stage {position}: unknown stage {name!r}{_suggest(str(name), STAGES)} (stages: {', '.join(STAGES)})"
        )
    spec = STAGES[name]
    values = {}
    for key, value in options.items():
        if key not in spec.options:
            raise PipelineConfigError(
                f"stage {position} ({name!r}): unknown option {key!r}{_suggest(key, spec.options)} "
                f"(options: {', '.join(spec.options) or 'none'})"
            )
        opt = spec.options[key]
        ok = isinstance(value, opt.types) and not (isinstance(value, bool) and bool not in opt.types)
        if not ok:
            raise PipelineConfigError(
                f"stage {position} ({name!r}): option {key!r} must be {_type_names(opt.types)}, "
                f"got {type(value).__name__} {value!r}"
            )
        if opt.choices is not None and value not in opt.choices:
            raise PipelineConfigError(
                f"stage {position} ({name!r}): option {key!r} must be one of {list(opt.choices)}, got {value!r}"
            )
        values[key] = value
    full = {k: (values[k] if k in values else opt.default) for k, opt in spec.options.items()}
    _check_values(name, position, full)
    return StageConfig(name, full, position)


def _check_values(name: str, position: int, o: dict[str, Any]) -> None:
    where = f"stage {position} ({name!r})"

    def bad(key: str, why: str) -> None:
        raise PipelineConfigError(f"{where}: option {key!r} {why}, got {o[key]!r}")

    if name in ("near", "semantic") and not 0 < o["threshold"] <= 1:
        bad("threshold", "must be in (0, 1]")
    if name == "split" and not 0 < o["fraction"] < 1:
        bad("fraction", "must be in (0, 1)")
    for key in (
        "ngram",
        "num_perm",
        "k",
        "n_variants",
        "batch_bytes",
        "max_line_bytes",
        "clusters",
        "sample",
    ):
        if key in o and o[key] < 1:
            bad(key, "must be >= 1")
    if "select" in o:
        from ..io.select import is_selector

        if not is_selector(o["select"]):
            bad(
                "select",
                "is not a selector (conversation, user, assistant, last_user, prompt, label, metadata.<key>...)",
            )
    if name == "quality":
        from ..clean import _params

        try:
            _params(o["preset"], dict(o["params"]))
        except (ValueError, TypeError) as exc:
            raise PipelineConfigError(f"{where}: option 'params': {exc}") from None


def validate(stages: Sequence[Any], *, has_source_records: bool = False) -> list[StageConfig]:
    """Parse and check every stage and their order; raises PipelineConfigError before any work."""
    out = [parse_stage(item, i) for i, item in enumerate(stages)]
    names = [s.name for s in out]
    for n in set(names):
        if names.count(n) > 1:
            raise PipelineConfigError(
                f"stage {names.index(n, names.index(n) + 1)} ({n!r}): a stage may appear once"
            )
    if "read" in names and names.index("read") != 0:
        raise PipelineConfigError(f"stage {names.index('read')} ('read'): read must be the first stage")
    if "write" in names and names.index("write") != len(names) - 1:
        raise PipelineConfigError(f"stage {names.index('write')} ('write'): write must be the last stage")
    if "diversify" in names:
        if "split" not in names or names.index("diversify") < names.index("split"):
            raise PipelineConfigError(
                f"stage {names.index('diversify')} ('diversify'): diversify runs on the training side, after 'split'"
            )
    if "split" in names:
        after = [
            s
            for s in out[names.index("split") + 1 :]
            if s.name not in ("diversify", "write", "system_prompt_check")
        ]
        if after:
            raise PipelineConfigError(
                f"{after[0].label()}: only diversify, system_prompt_check and write may follow 'split'"
            )
    return out
