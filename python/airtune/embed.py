"""Text embedders for semantic deduplication, outliers and leakage checks.

An *embedder* is any callable that maps a ``list[str]`` to a 2-D array with one row per text
(the :class:`Embedder` protocol): sentence-transformers models, an API client, or the built-in
:class:`HashedNgramEmbedder` (C++, no model needed). :func:`embed` calls one and checks what it
returns (shape, dtype, finite values), so every consumer can rely on a C-contiguous float32 matrix.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from . import _core
from ._inputs import as_float32_matrix, as_str_list
from ._results import require

__all__ = ["Embedder", "HashedNgramEmbedder", "SentenceTransformerEmbedder", "embed"]


@runtime_checkable
class Embedder(Protocol):
    """Anything callable as ``embedder(texts: list[str]) -> array of shape (len(texts), dim)``."""

    def __call__(self, texts: list[str]) -> Any: ...


class HashedNgramEmbedder:
    """Model-free embeddings by feature hashing of character and word n-grams (C++).

    Texts are lower-cased and whitespace-collapsed; character n-grams of lengths
    ``char_ngrams[0]..char_ngrams[1]`` and word n-grams of lengths ``1..word_ngrams`` are hashed
    (XXH64) into ``dim`` signed buckets and the rows L2-normalised, so inner products are cosine
    similarities. Captures surface (lexical) similarity, not meaning. Deterministic; runs in
    parallel in airtune's thread pool.
    """

    def __init__(
        self,
        dim: int = 256,
        char_ngrams: tuple[int, int] | None = (3, 5),
        word_ngrams: int = 1,
        word_weight: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.dim = int(dim)
        self.char_ngrams = (0, 0) if char_ngrams is None else (int(char_ngrams[0]), int(char_ngrams[1]))
        self.word_ngrams = int(word_ngrams)
        self.word_weight = float(word_weight)
        self.seed = int(seed)
        # Validate now (cheap) so a bad configuration fails where it is written.
        self([""])

    def __call__(self, texts: list[str]) -> np.ndarray:
        return _core.embed.hashed_ngram(
            texts if isinstance(texts, _core.records.TextColumn) else as_str_list(texts),
            self.dim,
            self.char_ngrams[0],
            self.char_ngrams[1],
            self.word_ngrams,
            self.word_weight,
            self.seed,
        )

    def __repr__(self) -> str:
        return (
            f"HashedNgramEmbedder(dim={self.dim}, char_ngrams={self.char_ngrams}, "
            f"word_ngrams={self.word_ngrams})"
        )


class SentenceTransformerEmbedder:
    """A sentence-transformers model as an :class:`Embedder` (loaded lazily on first call).

    ``model`` is a name or a local path; with ``HF_HUB_OFFLINE=1`` only cached/local models load.
    Embeddings are L2-normalised.
    """

    def __init__(
        self,
        model: str = "sentence-transformers/all-MiniLM-L6-v2",
        device: str | None = None,
        batch_size: int = 64,
    ) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = int(batch_size)
        self._model: Any = None

    def __call__(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            st = require("sentence_transformers", "embed")
            self._model = st.SentenceTransformer(self.model_name, device=self.device)
        out = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)


def embed(texts: Any, embedder: Embedder | None = None, column: str | None = None) -> np.ndarray:
    """Embed ``texts`` with ``embedder`` (default :class:`HashedNgramEmbedder`) and validate.

    Returns a C-contiguous float32 array of shape ``(len(texts), dim)``. Raises ValueError when
    the embedder returns the wrong number of rows, a non-2-D array, or NaN/inf (naming the row).
    """
    rows = as_str_list(texts, column=column)
    fn = embedder if embedder is not None else HashedNgramEmbedder()
    if not callable(fn):
        raise TypeError(f"embedder: expected a callable list[str] -> 2-D array, got {type(fn).__name__}")
    out = as_float32_matrix(fn(rows), name="embedder output")
    if out.shape[0] != len(rows):
        raise ValueError(f"embedder output: {out.shape[0]} rows for {len(rows)} texts")
    return out
