"""Prompt variations that keep the meaning: rule-based transforms in C++ with protected spans copied
byte for byte, and an optional pluggable paraphraser with a fidelity filter."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from .._results import ResultMixin, require
from ._common import _P, TRANSFORMS
from .diversity import diversity, fidelity


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
