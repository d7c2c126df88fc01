"""How different the variants are: distinct-n, self-BLEU (= sacreBLEU sentence BLEU) and embedding fidelity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._core import metrics as _m
from .._inputs import as_str_list
from ._common import _P


def distinct_n(texts: Any, n: int = 2) -> float:
    """Distinct word n-grams / all word n-grams over the texts (lower-cased sacreBLEU-13a tokens)."""
    return float(_P.distinct_n(as_str_list(texts), int(n)))


def sentence_bleu(hypothesis: str, references: Sequence[str]) -> float:
    """sacreBLEU's sentence BLEU (13a, exp smoothing, effective order) in [0, 1]: the metrics' BLEU."""
    refs = list(references)
    if not refs:
        raise ValueError("sentence_bleu: at least one reference is needed")
    stats = _m.bleu_statistics([hypothesis], [[r] for r in refs], "13a", 4)
    return float(_m.bleu_sentence_scores(stats, 4, "exp", -1.0, True)[0]) / 100


def self_bleu(texts: Any) -> float:
    """Mean sentence BLEU of each text against all the others (lower = more diverse), in [0, 1].

    sacreBLEU's sentence BLEU, computed by the metrics' C++ BLEU over texts tokenised once.
    """
    return float(_P.self_bleu(as_str_list(texts)))


def fidelity(original: str, variants: Sequence[str], embedder: Any = None) -> np.ndarray:
    """Cosine similarity of each variant's embedding to the original's (``embedder`` any
    :class:`airtune.embed.Embedder`; default ``HashedNgramEmbedder()``)."""
    from ..embed import HashedNgramEmbedder, embed

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
