"""
Model-free text embedders.
"""
from __future__ import annotations
import collections.abc
import numpy
import typing
__all__: list[str] = ['hashed_ngram']
def hashed_ngram(texts: collections.abc.Sequence, dim: typing.SupportsInt | typing.SupportsIndex = 256, char_min: typing.SupportsInt | typing.SupportsIndex = 3, char_max: typing.SupportsInt | typing.SupportsIndex = 5, word_max: typing.SupportsInt | typing.SupportsIndex = 1, word_weight: typing.SupportsFloat | typing.SupportsIndex = 1.0, seed: typing.SupportsInt | typing.SupportsIndex = 0) -> numpy.ndarray:
    """
    Rows x dim float32 L2-normalised hashed n-gram embeddings (see cpp/embed/hashed_ngram.h).
    """
