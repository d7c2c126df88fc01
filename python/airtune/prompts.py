"""Prompts: system-prompt overfitting check, prompt variations, diversity, robustness, distribution gaps.

A dataset whose rows all carry one exact system prompt teaches the model to depend on that wording;
when production changes the prompt, the model breaks. This module finds that risk
(:func:`system_prompt_report`), repairs it with meaning-preserving variations (:func:`variations`,
:func:`diversify`, an optional pluggable :func:`paraphrase` step), measures the variants (distinct-n,
self-BLEU, fidelity) and a model's sensitivity to them (:func:`robustness`), and finds the parts of a
reference distribution that the training data under-covers (:func:`gaps`, :func:`fill_gaps`).

Text transforms, grouping, scaffolds, BLEU and k-means run in C++ (``airtune._core.prompts``).
Protected spans (fenced and inline code, JSON, URLs, ``{name}`` / ``{{var}}`` placeholders, XML-like
tags, snake_case identifiers, e-mail addresses, caller-marked spans) are copied byte for byte into
every variant.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from . import _core
from ._inputs import as_float32_matrix, as_str_list
from ._results import ResultMixin, progress, require

__all__ = [
    "TRANSFORMS",
    "DiversifyResult",
    "GapReport",
    "FillReport",
    "ParaphraseResult",
    "RobustnessReport",
    "SystemPromptReport",
    "VariationSet",
    "distinct_n",
    "diversify",
    "diversity",
    "fidelity",
    "fill_gaps",
    "gaps",
    "load_lexicon",
    "paraphrase",
    "protected_spans",
    "robustness",
    "self_bleu",
    "sentence_bleu",
    "system_prompt_report",
    "variations",
]

_P = _core.prompts
TRANSFORMS: tuple[str, ...] = tuple(_P.transform_names())


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def _is_records(obj: Any) -> bool:
    from .io import Records

    return isinstance(obj, Records)


def _to_records(obj: Any) -> Any:
    from .io import from_any, from_dicts

    if _is_records(obj):
        return obj
    if isinstance(obj, list) and (not obj or isinstance(obj[0], dict)):
        return from_dicts(obj)
    return from_any(obj)


def _first_of_role(records: Any, role: str) -> list[str | None]:
    rows, contents = records.messages_of_role(role)
    out: list[str | None] = [None] * len(records)
    for r, c in zip(rows.tolist(), contents):
        if out[r] is None:
            out[r] = c
    return out


def _looks_like_texts(obj: Any) -> bool:
    if isinstance(obj, (list, tuple)):
        first = next((x for x in obj if x is not None), None)
        return not isinstance(first, dict)
    mod = type(obj).__module__
    return (mod.startswith("numpy") and getattr(obj, "ndim", 0) == 1) or type(obj).__name__ in (
        "Series",
        "Array",
        "ChunkedArray",
        "Column",
    )


def _prompts_and_users(data: Any) -> tuple[list[str | None], list[str | None], bool]:
    """(system prompts per row, user prompts per row, whether input was records)."""
    if _looks_like_texts(data):
        return as_str_list(data, "system prompts"), [], False
    records = _to_records(data)
    return _first_of_role(records, "system"), _first_of_role(records, "user"), True


# ---------------------------------------------------------------------------------------------
# detection
# ---------------------------------------------------------------------------------------------
@dataclass
class PromptGroup:
    text: str
    rows: int
    share: float  # of the rows with a system prompt
    near_group: int
    first_row: int


@dataclass
class SystemPromptReport(ResultMixin):
    """Concentration of a dataset's system prompts and repeated user-prompt scaffolds.

    ``shares`` are fractions of the rows that have a system prompt. ``entropy_bits`` is the Shannon
    entropy of the exact-prompt distribution; ``effective_prompts`` = 2 ** entropy.
    """

    n_rows: int
    n_with_system: int
    distinct: int
    near_groups: int
    top_share: float
    top_k_share: dict[int, float]
    near_top_share: float
    entropy_bits: float
    normalized_entropy: float
    effective_prompts: float
    risk: str
    reason: str
    groups: list[PromptGroup]
    near: list[dict[str, Any]]
    scaffolds: list[dict[str, Any]]
    near_threshold: float
    near_truncated: bool = False

    def summary_line(self) -> str:
        return (
            f"system prompts: {self.n_with_system}/{self.n_rows} rows, {self.distinct} distinct, "
            f"{self.near_groups} near-groups, top share {self.top_share:.1%}, "
            f"entropy {self.entropy_bits:.2f} bits | risk {self.risk.upper()}: {self.reason}"
        )

    def __str__(self) -> str:
        return self.summary_line()

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame(
            [
                {
                    "text": g.text,
                    "rows": g.rows,
                    "share": g.share,
                    "near_group": g.near_group,
                    "first_row": g.first_row,
                }
                for g in self.groups
            ]
        )

    def scaffolds_frame(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame(self.scaffolds)

    def plot(self, ax: Any = None, top: int = 10) -> Any:
        """Bar chart of the top exact prompts' shares, coloured by near-duplicate group."""
        plt = require("matplotlib.pyplot", "plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        gs = self.groups[:top]
        labels = [(g.text[:40] + "...") if len(g.text) > 40 else g.text for g in gs]
        cmap = plt.get_cmap("tab10")
        ax.barh(range(len(gs)), [g.share for g in gs], color=[cmap(g.near_group % 10) for g in gs])
        ax.set_yticks(range(len(gs)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("share of rows with a system prompt")
        ax.set_title(f"system prompts (risk: {self.risk})")
        return ax


def _entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def _risk(n_sys: int, n_rows: int, near_top: float, effective: float, distinct: int) -> tuple[str, str]:
    if n_sys == 0:
        return "none", "no row has a system prompt"
    few = f" (only {n_sys} rows: a small sample)" if n_sys < 20 else ""
    if near_top >= 0.9:
        return "high", (
            f"one system prompt (with its near-duplicates) is on {near_top:.0%} of the {n_sys} rows that "
            f"have one: a model tuned on this will depend on its exact wording; add variations "
            f"(airtune.prompts.diversify){few}"
        )
    if near_top >= 0.5 or effective < 3.0:
        return "medium", (
            f"the most common system prompt covers {near_top:.0%} of rows and the effective number "
            f"of prompts is {effective:.1f}; consider variations{few}"
        )
    return "low", f"{distinct} distinct system prompts, none above {near_top:.0%} of rows{few}"


def system_prompt_report(
    records: Any,
    near_threshold: float = 0.8,
    shingle: int = 5,
    top_k: Sequence[int] = (1, 3, 5),
    scaffold_min_chars: int = 20,
    scaffold_min_rows: int = 3,
    max_distinct: int = 5000,
    examples: int = 3,
) -> SystemPromptReport:
    """Group a dataset's system prompts exactly and by near-duplicate similarity; flag concentration.

    ``records``: :class:`airtune.io.Records`, a list of record dicts (any layout ``airtune.io``
    reads), a DataFrame/Arrow table/HF dataset of records, or a list of system-prompt strings
    (``None`` for rows without one). Near-duplicates: exact Jaccard similarity of character
    ``shingle``-grams (lower-cased, whitespace collapsed) >= ``near_threshold``, joined
    transitively. Risk: ``high`` when one near-duplicate group has >= 90% of the rows with a
    system prompt, ``medium`` when >= 50% or the effective number of prompts (2 ** entropy) is
    below 3, ``low`` otherwise, ``none`` without system prompts. Scaffolds: user prompts that
    share a prefix or suffix template of >= ``scaffold_min_chars`` characters across >=
    ``scaffold_min_rows`` rows (only for record input).
    """
    system, users, _ = _prompts_and_users(records)
    n = len(system)
    g = _P.group_prompts(system, float(near_threshold), int(shingle), int(max_distinct))
    counts = np.asarray(g["count"], dtype=np.int64)
    first_row = np.asarray(g["first_row"])
    near_of = np.asarray(g["near_of_distinct"])
    n_sys = int(counts.sum())
    order = np.argsort(-counts, kind="stable")
    groups = [
        PromptGroup(
            system[int(first_row[i])],
            int(counts[i]),
            float(counts[i] / n_sys),
            int(near_of[i]),
            int(first_row[i]),
        )
        for i in order
    ]
    near_counts = (
        np.bincount(near_of, weights=counts, minlength=int(g["n_near"])).astype(np.int64)
        if len(counts)
        else np.zeros(0, np.int64)
    )
    near = []
    for gid in np.argsort(-near_counts, kind="stable"):
        members = np.flatnonzero(near_of == gid)
        members = members[np.argsort(-counts[members], kind="stable")]
        near.append(
            {
                "near_group": int(gid),
                "rows": int(near_counts[gid]),
                "share": float(near_counts[gid] / n_sys),
                "distinct": int(len(members)),
                "example": system[int(first_row[members[0]])],
                "variants": [system[int(first_row[m])] for m in members[:examples]],
            }
        )
    top_share = float(counts.max() / n_sys) if n_sys else 0.0
    sorted_counts = np.sort(counts)[::-1]
    top_k_share = {int(k): float(sorted_counts[:k].sum() / n_sys) if n_sys else 0.0 for k in top_k}
    near_top = float(near_counts.max() / n_sys) if n_sys else 0.0
    h = _entropy_bits(counts)
    d = len(counts)
    risk, reason = _risk(n_sys, n, near_top, 2.0**h, d)
    scaffolds: list[dict[str, Any]] = []
    if users:
        idx = [i for i, u in enumerate(users) if u]
        texts = [users[i] for i in idx]
        if len(texts) >= scaffold_min_rows:
            for suffix in (False, True):
                for s in _P.find_scaffolds(texts, suffix, int(scaffold_min_chars), int(scaffold_min_rows)):
                    rows = [idx[int(m)] for m in s["members"]]
                    scaffolds.append(
                        {
                            "kind": "suffix" if suffix else "prefix",
                            "text": s["text"],
                            "rows": s["rows"],
                            "share": s["rows"] / n,
                            "distinct": s["distinct"],
                            "example_rows": rows[:examples],
                        }
                    )
            scaffolds.sort(key=lambda s: (-s["rows"], s["kind"], s["text"]))
    return SystemPromptReport(
        n_rows=n,
        n_with_system=n_sys,
        distinct=d,
        near_groups=int(g["n_near"]),
        top_share=top_share,
        top_k_share=top_k_share,
        near_top_share=near_top,
        entropy_bits=h,
        normalized_entropy=float(h / math.log2(d)) if d > 1 else 0.0,
        effective_prompts=float(2.0**h),
        risk=risk,
        reason=reason,
        groups=groups,
        near=near,
        scaffolds=scaffolds,
        near_threshold=float(near_threshold),
        near_truncated=bool(g["near_truncated"]),
    )


# ---------------------------------------------------------------------------------------------
# lexicon and protected spans
# ---------------------------------------------------------------------------------------------
def load_lexicon(path: str | None = None) -> dict[str, Any]:
    """The phrasing lexicon: the shipped ``prompts_lexicon.json`` or a JSON file of the same shape."""
    if path is None:
        text = resources.files("airtune").joinpath("data/prompts_lexicon.json").read_text(encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    lex = json.loads(text)
    for key in ("synonyms", "contractions", "imperative_verbs", "anaphora", "polite_prefixes"):
        lex.setdefault(key, [])
    return lex


@lru_cache(maxsize=8)
def _variator_for(lexicon_json: str) -> Any:
    lex = json.loads(lexicon_json)
    return _P.Variator(
        [list(g) for g in lex["synonyms"]],
        [tuple(p) for p in lex["contractions"]],
        list(lex["imperative_verbs"]),
        list(lex["anaphora"]),
        list(lex["polite_prefixes"]),
    )


def _variator(lexicon: dict | str | None) -> Any:
    lex = lexicon if isinstance(lexicon, dict) else load_lexicon(lexicon)
    for key in ("synonyms", "contractions", "imperative_verbs", "anaphora", "polite_prefixes"):
        lex.setdefault(key, [])
    blob = json.dumps(
        {k: lex[k] for k in ("synonyms", "contractions", "imperative_verbs", "anaphora", "polite_prefixes")},
        sort_keys=True,
    )
    return _variator_for(blob)


def _char_to_byte(text: str) -> Callable[[int], int]:
    # prefix byte lengths, computed once
    lens = np.fromiter((len(c.encode("utf-8")) for c in text), dtype=np.int64, count=len(text))
    cum = np.concatenate([[0], np.cumsum(lens)])
    return lambda i: int(cum[i])


def _protect_ranges(prompt: str, protect: Any) -> list[tuple[int, int]]:
    """Byte ranges from caller marks: substrings, compiled regexes, or (start, end) character ranges."""
    if not protect:
        return []
    if isinstance(protect, (str, re.Pattern)) or (
        isinstance(protect, tuple) and len(protect) == 2 and all(isinstance(x, int) for x in protect)
    ):
        protect = [protect]
    to_b = _char_to_byte(prompt)
    out = []
    for k, p in enumerate(protect):
        if isinstance(p, str):
            if not p:
                raise ValueError(f"protect[{k}]: empty string")
            for m in re.finditer(re.escape(p), prompt):
                out.append((to_b(m.start()), to_b(m.end())))
        elif isinstance(p, re.Pattern):
            for m in p.finditer(prompt):
                if m.end() > m.start():
                    out.append((to_b(m.start()), to_b(m.end())))
        elif isinstance(p, tuple) and len(p) == 2:
            s, e = int(p[0]), int(p[1])
            if not 0 <= s <= e <= len(prompt):
                raise ValueError(f"protect[{k}]: range {p} outside the prompt of {len(prompt)} characters")
            out.append((to_b(s), to_b(e)))
        else:
            raise TypeError(
                f"protect[{k}]: expected a str, a compiled regex or a (start, end) tuple, "
                f"got {type(p).__name__}"
            )
    return out


def _byte_spans_to_chars(prompt: str, spans: list) -> list[tuple[int, int, str, str]]:
    b = prompt.encode("utf-8")
    out = []
    for s, e, kind in spans:
        start = len(b[:s].decode("utf-8"))
        text = b[s:e].decode("utf-8")
        out.append((start, start + len(text), kind, text))
    return out


def protected_spans(prompt: str, protect: Any = None) -> list[tuple[int, int, str, str]]:
    """The protected spans of a prompt as (start, end, kind, text), character offsets.

    Kinds: fenced_code, inline_code, url, placeholder, tag, json, identifier (snake_case names such as
    ``talk_to_agent``), email, caller. ``protect`` adds caller
    spans: substrings (every occurrence), compiled regexes, or (start, end) character ranges.
    """
    _check_prompt(prompt)
    return _byte_spans_to_chars(prompt, _P.find_protected_spans(prompt, _protect_ranges(prompt, protect)))


def _check_prompt(prompt: Any, where: str = "prompt") -> None:
    if not isinstance(prompt, str):
        raise TypeError(f"{where}: expected str, got {type(prompt).__name__}")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{where}: not encodable as UTF-8 (lone surrogate at {exc.start})") from None


def _transform_mask(transforms: Iterable[str] | None) -> int:
    if transforms is None:
        return (1 << len(TRANSFORMS)) - 1
    mask = 0
    for t in transforms:
        if t not in TRANSFORMS:
            raise ValueError(f"unknown transform {t!r}; transforms are {TRANSFORMS}")
        mask |= 1 << TRANSFORMS.index(t)
    return mask


def _names(mask: int) -> list[str]:
    return [n for i, n in enumerate(TRANSFORMS) if mask >> i & 1]


# ---------------------------------------------------------------------------------------------
# variations
# ---------------------------------------------------------------------------------------------
@dataclass
class VariationSet(ResultMixin):
    """Variants of one prompt: their text, the transforms that changed each, their distances."""

    original: str
    variants: list[str]
    transforms: list[list[str]]
    min_distance: list[float]
    protected: list[tuple[int, int, str, str]]
    requested: int
    attempts: int
    sources: list[str] = field(default_factory=list)  # "rules" or "paraphraser" per variant

    def __len__(self) -> int:
        return len(self.variants)

    def __iter__(self) -> Any:
        return iter(self.variants)

    def __getitem__(self, i: int) -> str:
        return self.variants[i]

    def summary_line(self) -> str:
        return (
            f"{len(self.variants)}/{self.requested} variants ({self.attempts} candidates), "
            f"{len(self.protected)} protected spans"
        )

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame(
            {
                "variant": self.variants,
                "transforms": [", ".join(t) for t in self.transforms],
                "min_distance": self.min_distance,
                "source": self.sources or ["rules"] * len(self.variants),
            }
        )

    def diversity(self, embedder: Any = None) -> dict[str, float]:
        """distinct-1/2, self-BLEU of the variants, fidelity (cosine to the original) mean and min."""
        return diversity(self.original, self.variants, embedder=embedder)


def variations(
    prompt: str,
    n: int = 10,
    seed: int = 0,
    *,
    min_distance: float = 0.05,
    transforms: Iterable[str] | None = None,
    protect: Any = None,
    optional: Sequence[str] = (),
    slots: dict[str, Sequence[str]] | None = None,
    lexicon: dict | str | None = None,
    max_attempts: int = 0,
    paraphraser: Callable[..., Any] | None = None,
    n_paraphrases: int = 0,
    embedder: Any = None,
    min_fidelity: float = 0.85,
) -> VariationSet:
    """Up to ``n`` meaning-preserving variants of ``prompt``, deterministic in ``seed``.

    Transforms (``TRANSFORMS``; all by default): reorder independent sentences and bullet items,
    list style (-, *, 1., 1), prose), heading style, blank lines, wording from the shipped lexicon
    (``lexicon`` replaces it: a dict or a JSON path), contractions, politeness, dropping the
    ``optional`` sentences, and ``slots`` (``{"Acme Corp": ["Acme", "ACME Inc."]}``: each variant
    picks one value for every occurrence). Every variant is at least ``min_distance`` (character
    4-gram Jaccard distance) from the original and from every other variant; fewer than ``n`` come
    back when the prompt leaves too little to vary. Protected spans (see :func:`protected_spans`,
    plus ``protect``) are byte-identical in every variant.

    With ``paraphraser`` (a callable ``(prompt, k) -> list[str]``, e.g. an LLM client),
    ``n_paraphrases`` more candidates are requested and kept by :func:`paraphrase`'s rules.
    """
    _check_prompt(prompt)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError("n must be an int >= 0")
    slot_list = [(str(k), [str(v) for v in vs]) for k, vs in (slots or {}).items()]
    texts, spans, attempts = _variator(lexicon).generate(
        prompt,
        int(n),
        int(seed) & 0xFFFFFFFFFFFFFFFF,
        float(min_distance),
        int(max_attempts),
        _transform_mask(transforms),
        _protect_ranges(prompt, protect),
        [str(o) for o in optional],
        slot_list,
    )
    vs = VariationSet(
        original=prompt,
        variants=[t for t, _, _ in texts],
        transforms=[_names(m) for _, m, _ in texts],
        min_distance=[float(d) for _, _, d in texts],
        protected=_byte_spans_to_chars(prompt, spans),
        requested=int(n),
        attempts=int(attempts),
        sources=["rules"] * len(texts),
    )
    if paraphraser is not None and n_paraphrases > 0:
        pr = paraphrase(
            prompt,
            paraphraser,
            n_paraphrases,
            embedder=embedder,
            min_fidelity=min_fidelity,
            min_distance=min_distance,
            existing=vs.variants,
            protect=protect,
        )
        vs.variants += pr.accepted
        vs.transforms += [["paraphrase"]] * len(pr.accepted)
        vs.min_distance += pr.min_distance
        vs.sources += ["paraphraser"] * len(pr.accepted)
        vs.requested += n_paraphrases
    return vs


@dataclass
class ParaphraseResult(ResultMixin):
    accepted: list[str]
    fidelity: list[float]
    min_distance: list[float]
    rejected: list[tuple[str, str]]  # (candidate, reason)

    def summary_line(self) -> str:
        return f"paraphrases: {len(self.accepted)} accepted, {len(self.rejected)} rejected"

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        rows = [
            {"text": t, "kept": True, "reason": "", "fidelity": f}
            for t, f in zip(self.accepted, self.fidelity)
        ]
        rows += [{"text": t, "kept": False, "reason": r, "fidelity": None} for t, r in self.rejected]
        return pd.DataFrame(rows)


def paraphrase(
    prompt: str,
    paraphraser: Callable[..., Any],
    n: int,
    *,
    embedder: Any = None,
    min_fidelity: float = 0.85,
    min_distance: float = 0.05,
    existing: Sequence[str] = (),
    protect: Any = None,
) -> ParaphraseResult:
    """Candidates from a pluggable ``paraphraser(prompt, n) -> list[str]``, filtered.

    A candidate is kept when it is a non-empty string, keeps every protected span of the prompt
    byte-identical (each span's text occurs in it at least as often as in the prompt), has
    fidelity (embedding cosine to the prompt through ``embedder``, default
    :class:`airtune.embed.HashedNgramEmbedder`) >= ``min_fidelity``, and is at least
    ``min_distance`` (character 4-gram Jaccard) from the prompt, ``existing`` variants and the
    candidates kept before it. Rejected candidates come back with their reason.
    """
    _check_prompt(prompt)
    cands = paraphraser(prompt, int(n))
    if isinstance(cands, str):
        cands = [cands]
    cands = list(cands)
    spans = [s[3] for s in protected_spans(prompt, protect)]
    need = {t: prompt.count(t) for t in set(spans)}
    ok_text: list[str] = []
    rejected: list[tuple[str, str]] = []
    for c in cands:
        if not isinstance(c, str) or not c.strip():
            rejected.append((repr(c), "empty or not a string"))
            continue
        missing = [t for t, k in need.items() if c.count(t) < k]
        if missing:
            rejected.append((c, f"protected span altered or missing: {missing[0][:40]!r}"))
            continue
        ok_text.append(c)
    fid = fidelity(prompt, ok_text, embedder=embedder) if ok_text else np.zeros(0)
    accepted, fids, dists = [], [], []
    pool = [prompt, *existing]
    for c, f in zip(ok_text, fid.tolist()):
        if f < min_fidelity:
            rejected.append((c, f"fidelity {f:.3f} < {min_fidelity}"))
            continue
        d = min(_P.shingle_distance(c, p) for p in pool)
        if d < min_distance or d <= 0.0:
            rejected.append((c, f"duplicate: distance {d:.3f} < {min_distance}"))
            continue
        accepted.append(c)
        fids.append(float(f))
        dists.append(float(d))
        pool.append(c)
    return ParaphraseResult(accepted=accepted, fidelity=fids, min_distance=dists, rejected=rejected)


# ---------------------------------------------------------------------------------------------
# diversify
# ---------------------------------------------------------------------------------------------
@dataclass
class DiversifyResult(ResultMixin):
    """Records with varied system prompts, and the accounting: every row is in exactly one bucket.

    ``variant_of_row[i]``: -1 no system prompt (unchanged), 0 original prompt kept, k >= 1 the k-th
    variant of its prompt. ``usage`` maps each distinct original prompt to the rows per pool entry.
    """

    records: Any
    variant_of_row: np.ndarray
    n_rows: int
    n_varied: int
    n_original: int
    n_no_system: int
    usage: dict[str, list[int]]
    variants: dict[str, list[str]]

    @property
    def balanced(self) -> bool:
        return self.n_varied + self.n_original + self.n_no_system == self.n_rows

    def summary_line(self) -> str:
        return (
            f"diversify: {self.n_rows} rows = {self.n_varied} varied + {self.n_original} original + "
            f"{self.n_no_system} without system prompt; {len(self.variants)} distinct prompts"
        )

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        rows = []
        for p, counts in self.usage.items():
            for k, c in enumerate(counts):
                rows.append({"prompt": p[:60], "pool_index": k, "rows": c})
        return pd.DataFrame(rows)


def diversify(
    records: Any,
    n_variants: int = 5,
    seed: int = 0,
    *,
    include_original: bool = True,
    output: str = "auto",
    **variation_kwargs: Any,
) -> DiversifyResult:
    """Replace each row's system prompt with one of ``n_variants`` variants of it, used evenly.

    For every distinct system prompt, :func:`variations` makes ``n_variants`` variants; the pool is
    the variants (plus the original when ``include_original``). Rows with that prompt are dealt
    the pool in a seeded shuffled order, round-robin, so pool entries differ in use by at most
    one row. Rows without a system prompt are kept unchanged. ``output``: ``"records"``
    (:class:`airtune.io.Records`), ``"dicts"`` (chat dicts), or ``"auto"`` (dicts for list-of-dict
    input, else Records). ``variation_kwargs`` go to :func:`variations` (``min_distance``,
    ``transforms``, ``protect``, ``optional``, ``slots``, ``lexicon``).
    """
    if output not in ("auto", "records", "dicts"):
        raise ValueError("output must be 'auto', 'records' or 'dicts'")
    was_dicts = isinstance(records, list) and (not records or isinstance(records[0], dict))
    recs = _to_records(records)
    system = _first_of_role(recs, "system")
    dicts = recs.to_dicts(format="chat")
    distinct: dict[str, list[int]] = {}
    for i, s in enumerate(system):
        if s is not None and s.strip():
            distinct.setdefault(s, []).append(i)
    rng = np.random.default_rng(seed)
    variant_of_row = np.full(len(recs), -1, dtype=np.int64)
    usage: dict[str, list[int]] = {}
    pools: dict[str, list[str]] = {}
    for k, (prompt, rows) in enumerate(distinct.items()):
        vs = variations(prompt, n=n_variants, seed=(int(seed) * 1_000_003 + k), **variation_kwargs)
        pool = ([prompt] if include_original else []) + vs.variants
        if not pool:
            pool = [prompt]
        pools[prompt] = vs.variants
        order = rng.permutation(len(pool))
        counts = [0] * len(pool)
        offset = int(rng.integers(len(pool)))
        for j, row in enumerate(rows):
            slot = int(order[(j + offset) % len(pool)])
            counts[slot] += 1
            idx = slot + (0 if include_original else 1)
            if not include_original and not vs.variants:
                idx = 0
            variant_of_row[row] = idx
            if idx > 0:
                msgs = dicts[row]["messages"]
                for m in msgs:
                    if m["role"] == "system":
                        m["content"] = pool[slot]
                        break
        usage[prompt] = counts
    n_no = int((variant_of_row == -1).sum())
    n_orig = int((variant_of_row == 0).sum())
    n_var = int((variant_of_row > 0).sum())
    want_dicts = output == "dicts" or (output == "auto" and was_dicts)
    if want_dicts:
        out: Any = dicts
    else:
        from .io import from_dicts

        out = from_dicts(dicts, source="diversify")
    return DiversifyResult(
        records=out,
        variant_of_row=variant_of_row,
        n_rows=len(recs),
        n_varied=n_var,
        n_original=n_orig,
        n_no_system=n_no,
        usage=usage,
        variants=pools,
    )


# ---------------------------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------------------------
def distinct_n(texts: Any, n: int = 2) -> float:
    """Distinct word n-grams / all word n-grams over the texts (lower-cased sacreBLEU-13a tokens)."""
    return float(_P.distinct_n(as_str_list(texts), int(n)))


def sentence_bleu(hypothesis: str, references: Sequence[str]) -> float:
    """sacreBLEU-compatible sentence BLEU (13a, exp smoothing, effective order) in [0, 1]."""
    return float(_P.sentence_bleu(hypothesis, list(references)))


def self_bleu(texts: Any) -> float:
    """Mean sentence BLEU of each text against all the others (lower = more diverse), in [0, 1].

    Our own C++ implementation of sacreBLEU's sentence BLEU; the metrics module's sacreBLEU-exact
    BLEU can replace it once merged.
    """
    return float(_P.self_bleu(as_str_list(texts)))


def fidelity(original: str, variants: Sequence[str], embedder: Any = None) -> np.ndarray:
    """Cosine similarity of each variant's embedding to the original's (``embedder`` any
    :class:`airtune.embed.Embedder`; default ``HashedNgramEmbedder()``)."""
    from .embed import HashedNgramEmbedder, embed

    if not variants:
        return np.zeros(0, dtype=np.float32)
    emb = embed([original, *variants], embedder if embedder is not None else HashedNgramEmbedder())
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return (emb[1:] @ emb[0]).astype(np.float64)


def diversity(original: str, variants: Sequence[str], embedder: Any = None) -> dict[str, float]:
    """distinct-1, distinct-2, self-BLEU of the variants, and their fidelity (mean, min)."""
    variants = list(variants)
    f = fidelity(original, variants, embedder=embedder)
    return {
        "n": float(len(variants)),
        "distinct_1": distinct_n(variants, 1) if variants else 0.0,
        "distinct_2": distinct_n(variants, 2) if variants else 0.0,
        "self_bleu": self_bleu(variants),
        "fidelity_mean": float(f.mean()) if len(f) else float("nan"),
        "fidelity_min": float(f.min()) if len(f) else float("nan"),
    }


@dataclass
class RobustnessReport(ResultMixin):
    """A metric under the original system prompt and under K variants of it."""

    scores: list[float]  # index 0: original prompts, k: variant k
    labels: list[str]
    metric: str
    n_rows: int

    @property
    def original(self) -> float:
        return self.scores[0]

    @property
    def spread(self) -> float:
        return float(max(self.scores) - min(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores[1:])) if len(self.scores) > 1 else 0.0

    @property
    def worst(self) -> float:
        return float(min(self.scores))

    def summary_line(self) -> str:
        return (
            f"robustness ({self.metric}, {self.n_rows} rows): original {self.original:.3f}, variants "
            f"{min(self.scores[1:], default=float('nan')):.3f}..{max(self.scores[1:], default=float('nan')):.3f}, "
            f"spread {self.spread:.3f}"
        )

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame({"prompt": self.labels, self.metric: self.scores})

    def plot(self, ax: Any = None) -> Any:
        plt = require("matplotlib.pyplot", "plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        ax.bar(range(len(self.scores)), self.scores, color=["C1"] + ["C0"] * (len(self.scores) - 1))
        ax.set_xticks(range(len(self.scores)), self.labels, rotation=45, fontsize=7)
        ax.set_ylabel(self.metric)
        ax.set_title(f"spread {self.spread:.3f}")
        return ax


def _exact_match(pred: str, ref: str) -> float:
    return float(" ".join(str(pred).split()).lower() == " ".join(str(ref).split()).lower())


def robustness(
    model_fn: Callable[[list[dict[str, Any]]], str],
    records: Any,
    n_variants: int = 5,
    metric: Callable[[str, str], float] | None = None,
    seed: int = 0,
    show_progress: bool = True,
    **variation_kwargs: Any,
) -> RobustnessReport:
    """Run ``model_fn(messages) -> str`` under the original system prompt and K variants of it.

    Each row's messages up to its last assistant turn go to the model, with the system prompt
    replaced by variant k of that prompt (the same k for every row); the reply is scored against
    the row's last assistant message by ``metric(prediction, reference)`` (default: exact match
    after whitespace and case normalisation). Rows without an assistant turn are skipped. When a
    prompt has fewer than K variants, they are reused in turn. A small spread shows the model no
    longer depends on one exact prompt. A progress bar counts model calls (``show_progress=False``
    turns it off).
    """
    recs = _to_records(records)
    metric_fn = metric or _exact_match
    name = getattr(metric, "__name__", "exact_match") if metric else "exact_match"
    dicts = recs.to_dicts(format="chat")
    system = _first_of_role(recs, "system")
    var_of: dict[str, list[str]] = {}
    for k, s in enumerate(dict.fromkeys(s for s in system if s and s.strip())):
        var_of[s] = variations(s, n=n_variants, seed=int(seed) * 1_000_003 + k, **variation_kwargs).variants
    rows = []
    for i, d in enumerate(dicts):
        msgs = d["messages"]
        last = max((j for j, m in enumerate(msgs) if m["role"] == "assistant"), default=-1)
        if last <= 0:
            continue
        rows.append((i, msgs[:last], msgs[last]["content"] or ""))
    scores, labels = [], []
    bar = progress(total=(n_variants + 1) * len(rows), desc="robustness", enabled=show_progress)
    for k in range(n_variants + 1):
        vals = []
        for i, ctx, ref in rows:
            s = system[i]
            msgs = [dict(m) for m in ctx]
            if k > 0 and s in var_of:
                pool = var_of[s]
                if not pool:
                    continue
                for m in msgs:
                    if m["role"] == "system":
                        m["content"] = pool[(k - 1) % len(pool)]
                        break
            vals.append(float(metric_fn(model_fn(msgs), ref)))
            bar.update(1)
        scores.append(float(np.mean(vals)) if vals else float("nan"))
        labels.append("original" if k == 0 else f"variant {k}")
    bar.close()
    return RobustnessReport(scores=scores, labels=labels, metric=name, n_rows=len(rows))


# ---------------------------------------------------------------------------------------------
# gaps
# ---------------------------------------------------------------------------------------------
def _texts_of(data: Any, name: str) -> list[str]:
    if _looks_like_texts(data):
        return [str(t) if t is not None else "" for t in as_str_list(data, name)]
    recs = _to_records(data)
    users = _first_of_role(recs, "user")
    texts = _first_of_role(recs, "text")
    return [u if u is not None else (t or "") for u, t in zip(users, texts)]


@dataclass
class GapReport(ResultMixin):
    """Training vs reference distribution over clusters or labels, with the under-represented ones.

    ``table`` rows: category, train rows/share, reference rows/share, ratio (train share / reference
    share), deficit (rows the training set lacks to match the reference share), under (bool),
    examples (training texts nearest the centroid, else reference texts).
    """

    method: str  # "kmeans" or "labels"
    categories: list[Any]
    train_counts: np.ndarray
    reference_share: np.ndarray
    reference_counts: np.ndarray | None
    under: list[Any]
    examples: dict[Any, list[str]]
    coverage: dict[str, float]
    min_ratio: float
    train_assign: np.ndarray
    centroids: np.ndarray | None = None
    embedder: Any = None
    train_texts: list[str] = field(default_factory=list, repr=False)
    train_embeddings: np.ndarray | None = field(default=None, repr=False)
    labels: list[Any] | None = field(default=None, repr=False)

    @property
    def train_share(self) -> np.ndarray:
        tot = self.train_counts.sum()
        return self.train_counts / tot if tot else self.train_counts.astype(float)

    def summary_line(self) -> str:
        c = self.coverage
        return (
            f"gaps ({self.method}, {len(self.categories)} categories): {len(self.under)} under-represented; "
            f"reference covered {c['reference_covered']:.1%}, balanced {c['reference_balanced']:.1%}"
        )

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        n_train = int(self.train_counts.sum())
        rows = []
        for k, cat in enumerate(self.categories):
            ts = float(self.train_share[k])
            rs = float(self.reference_share[k])
            rows.append(
                {
                    "category": cat,
                    "train_rows": int(self.train_counts[k]),
                    "train_share": ts,
                    "reference_rows": int(self.reference_counts[k])
                    if self.reference_counts is not None
                    else None,
                    "reference_share": rs,
                    "ratio": ts / rs if rs > 0 else float("inf"),
                    "deficit": max(0, int(round(rs * n_train - self.train_counts[k]))),
                    "under": cat in self.under,
                    "examples": self.examples.get(cat, []),
                }
            )
        return pd.DataFrame(rows)

    def plot(self, ax: Any = None) -> Any:
        """Training vs reference share per category; under-represented ones marked."""
        plt = require("matplotlib.pyplot", "plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(max(5, 0.45 * len(self.categories)), 3.5))
        x = np.arange(len(self.categories))
        ax.bar(x - 0.2, self.train_share, 0.4, label="train")
        ax.bar(x + 0.2, self.reference_share, 0.4, label="reference")
        for k, cat in enumerate(self.categories):
            if cat in self.under:
                ax.annotate(
                    "gap",
                    (x[k], max(self.train_share[k], self.reference_share[k])),
                    ha="center",
                    fontsize=7,
                    color="C3",
                )
        ax.set_xticks(x, [str(c) for c in self.categories], rotation=45, fontsize=7)
        ax.set_ylabel("share")
        ax.legend()
        return ax


def _kmeans(x: np.ndarray, k: int, niter: int, seed: int, nredo: int) -> dict[str, Any]:
    return _P.kmeans(np.ascontiguousarray(x, dtype=np.float32), int(k), int(niter), int(seed), int(nredo))


def gaps(
    train: Any,
    reference: Any = None,
    labels: Sequence[Any] | None = None,
    embeddings: Any = None,
    *,
    reference_labels: Sequence[Any] | None = None,
    reference_embeddings: Any = None,
    target_mix: dict[Any, float] | None = None,
    k: int | None = None,
    embedder: Any = None,
    min_ratio: float = 0.5,
    examples: int = 3,
    niter: int = 20,
    nredo: int = 3,
    seed: int = 0,
) -> GapReport:
    """Under-represented clusters or labels of the training data against a reference distribution.

    With ``labels`` (one per training row) the categories are the labels and the reference is
    ``reference_labels``, a ``target_mix`` ({label: share}) or, by default, a uniform mix.
    Otherwise the texts (user prompts of records, or the strings given) are embedded
    (``embeddings`` / ``reference_embeddings``, or ``embedder``, default ``HashedNgramEmbedder``)
    and clustered with airtune's deterministic k-means (L2, k-means++ init; ``k`` default
    ~ sqrt(n/2), 2..50; the best of ``nredo`` runs) over training and reference together, so
    regions that only the reference reaches form their own clusters; the reference share per
    cluster comes from the reference rows (uniform without a reference). A category is
    under-represented when its training share / reference share < ``min_ratio``. Coverage:
    ``reference_covered`` = share of reference mass in categories with any training row;
    ``reference_balanced`` = share of reference mass in categories that are not under-represented.
    """
    from .embed import HashedNgramEmbedder, embed

    if not 0 < min_ratio <= 1:
        raise ValueError("min_ratio must be in (0, 1]")
    train_texts = _texts_of(train, "train")
    n = len(train_texts)
    if n == 0:
        raise ValueError("train is empty")
    ref_texts = _texts_of(reference, "reference") if reference is not None else []
    if labels is not None:
        labels = list(labels)
        if len(labels) != n:
            raise ValueError(f"labels has {len(labels)} entries for {n} training rows")
        ref_lab = list(reference_labels) if reference_labels is not None else None
        cats = sorted(set(labels) | set(ref_lab or []) | set((target_mix or {}).keys()), key=str)
        index = {c: i for i, c in enumerate(cats)}
        assign = np.array([index[x] for x in labels], dtype=np.int64)
        counts = np.bincount(assign, minlength=len(cats))
        ref_counts = None
        if ref_lab is not None:
            ref_counts = np.bincount([index[x] for x in ref_lab], minlength=len(cats))
            ref_share = ref_counts / max(1, ref_counts.sum())
        elif target_mix is not None:
            tot = sum(target_mix.values())
            if tot <= 0:
                raise ValueError("target_mix shares must sum to > 0")
            ref_share = np.array([target_mix.get(c, 0.0) / tot for c in cats])
        else:
            ref_share = np.full(len(cats), 1.0 / len(cats))
        ex = {}
        for c in cats:
            rows = np.flatnonzero(assign == index[c])[:examples]
            ex[c] = [train_texts[i] for i in rows]
            if not ex[c] and ref_lab is not None:
                ex[c] = [ref_texts[i] for i, x in enumerate(ref_lab) if x == c][:examples]
        method, centroids, emb_t = "labels", None, None
    else:
        emb_model = embedder if embedder is not None else HashedNgramEmbedder()
        emb_t = (
            as_float32_matrix(embeddings, "embeddings")
            if embeddings is not None
            else embed(train_texts, emb_model)
        )
        if emb_t.shape[0] != n:
            raise ValueError(f"embeddings has {emb_t.shape[0]} rows for {n} training rows")
        if reference is not None or reference_embeddings is not None:
            emb_r = (
                as_float32_matrix(reference_embeddings, "reference_embeddings")
                if reference_embeddings is not None
                else embed(ref_texts, emb_model)
            )
            if emb_r.shape[1] != emb_t.shape[1]:
                raise ValueError("reference embeddings have a different dimension from the training ones")
        else:
            emb_r = np.zeros((0, emb_t.shape[1]), dtype=np.float32)
        allx = np.vstack([emb_t, emb_r])
        if k is None:
            k = int(min(50, max(2, round(math.sqrt(len(allx) / 2)))))
        k = int(min(k, len(allx)))
        km = _kmeans(allx, k, niter, seed, nredo)
        assign_all = np.asarray(km["assign"])
        dist_all = np.asarray(km["distance"])
        assign = assign_all[:n]
        cats = list(range(k))
        counts = np.bincount(assign, minlength=k)
        if len(emb_r):
            ref_counts = np.bincount(assign_all[n:], minlength=k)
            ref_share = ref_counts / ref_counts.sum()
        else:
            ref_counts = None
            ref_share = np.full(k, 1.0 / k)
        ex = {}
        for c in cats:
            rows = np.flatnonzero(assign == c)
            if len(rows):
                rows = rows[np.argsort(dist_all[:n][rows], kind="stable")][:examples]
                ex[c] = [train_texts[i] for i in rows]
            elif len(emb_r):
                rr = np.flatnonzero(assign_all[n:] == c)
                rr = rr[np.argsort(dist_all[n:][rr], kind="stable")][:examples]
                ex[c] = [ref_texts[i] for i in rr]
            else:
                ex[c] = []
        method, centroids = "kmeans", np.asarray(km["centroids"])
        embedder = emb_model
        ref_lab = None
    tshare = counts / counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref_share > 0, tshare / np.where(ref_share > 0, ref_share, 1), np.inf)
    under_idx = [i for i in range(len(cats)) if ref_share[i] > 0 and ratio[i] < min_ratio]
    under_idx.sort(key=lambda i: ratio[i])
    coverage = {
        "reference_covered": float(ref_share[counts > 0].sum()),
        "reference_balanced": float(ref_share[[i for i in range(len(cats)) if i not in under_idx]].sum()),
        "train_categories": float((counts > 0).sum()),
        "categories": float(len(cats)),
    }
    return GapReport(
        method=method,
        categories=cats,
        train_counts=counts,
        reference_share=np.asarray(ref_share, float),
        reference_counts=ref_counts,
        under=[cats[i] for i in under_idx],
        examples=ex,
        coverage=coverage,
        min_ratio=float(min_ratio),
        train_assign=assign,
        centroids=centroids,
        embedder=embedder,
        train_texts=train_texts,
        train_embeddings=emb_t,
        labels=list(labels) if labels is not None else None,
    )


@dataclass
class FillReport(ResultMixin):
    """What fill_gaps added and rejected, per gap."""

    added: list[dict[str, Any]]
    rejected: list[dict[str, Any]]

    def summary_line(self) -> str:
        return f"fill_gaps: {len(self.added)} added, {len(self.rejected)} rejected"

    @property
    def texts(self) -> list[str]:
        return [a["text"] for a in self.added]

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame(
            [{**a, "kept": True} for a in self.added] + [{**r, "kept": False} for r in self.rejected]
        )


def fill_gaps(
    gap_report: GapReport,
    generator: Callable[[list[str], int, Any], Sequence[str]],
    n_per_gap: int | None = None,
    *,
    duplicate_threshold: float = 0.9,
    validate: Callable[[str], bool] | None = None,
) -> FillReport:
    """Ask ``generator(examples, n, category) -> list[str]`` for new examples of each gap; validate.

    ``n_per_gap`` defaults to each gap's deficit (at most 50). A candidate is kept when it is a
    non-empty string passing ``validate`` (format check, optional), is not a duplicate (embedding
    cosine < ``duplicate_threshold`` to every training text and every kept candidate), and, for
    k-means gaps, its nearest centroid is the gap's cluster. Rejections carry their reason.
    """
    from .embed import HashedNgramEmbedder, embed

    emb_model = gap_report.embedder if gap_report.embedder is not None else HashedNgramEmbedder()
    base = gap_report.train_embeddings
    if base is None:
        base = embed(gap_report.train_texts, emb_model)
    base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
    kept_emb: list[np.ndarray] = []
    added, rejected = [], []
    frame = gap_report.to_pandas()
    for cat in gap_report.under:
        row = frame[frame["category"] == cat].iloc[0]
        want = int(n_per_gap) if n_per_gap is not None else max(1, min(50, int(row["deficit"])))
        cands = list(generator(list(gap_report.examples.get(cat, [])), want, cat) or [])
        good = []
        for c in cands:
            if not isinstance(c, str) or not c.strip():
                rejected.append({"category": cat, "text": repr(c), "reason": "empty or not a string"})
            elif validate is not None and not validate(c):
                rejected.append({"category": cat, "text": c, "reason": "failed validate()"})
            else:
                good.append(c)
        if not good:
            continue
        e = embed(good, emb_model)
        e_raw = e.copy()
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        for j, c in enumerate(good):
            sims = base @ e[j]
            if kept_emb:
                sims = np.concatenate([sims, np.stack(kept_emb) @ e[j]])
            if len(sims) and float(sims.max()) >= duplicate_threshold:
                rejected.append(
                    {"category": cat, "text": c, "reason": f"duplicate (cosine {float(sims.max()):.3f})"}
                )
                continue
            if gap_report.method == "kmeans" and gap_report.centroids is not None:
                d = ((gap_report.centroids - e_raw[j]) ** 2).sum(axis=1)
                nearest = int(np.argmin(d))
                if nearest != cat:
                    rejected.append(
                        {"category": cat, "text": c, "reason": f"nearest cluster is {nearest}, not {cat}"}
                    )
                    continue
            kept_emb.append(e[j])
            added.append({"category": cat, "text": c, "reason": ""})
    return FillReport(added=added, rejected=rejected)
