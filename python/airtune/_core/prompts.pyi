"""
Prompt variations, system-prompt statistics, gap analysis
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['KMeansResult', 'PromptGroups', 'Scaffold', 'Variator', 'distinct_n', 'find_protected_spans', 'find_scaffolds', 'group_prompts', 'kmeans', 'self_bleu', 'shingle_distance', 'shingle_jaccard', 'transform_names']
class Scaffold:
    """
    A prefix (or suffix) many texts share (prompts/scaffolds.h).
    """
    @property
    def distinct(self) -> int:
        """
        distinct texts among its rows
        """
    @property
    def members(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        row indices, ascending
        """
    @property
    def rows(self) -> int:
        ...
    @property
    def suffix(self) -> bool:
        ...
    @property
    def text(self) -> str:
        ...
class PromptGroups:
    """
    Exact and near-duplicate groups of prompts.
    """
    @property
    def count(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        per distinct prompt: rows
        """
    @property
    def exact_of_row(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        per row: distinct-prompt id, -1 when absent
        """
    @property
    def first_row(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        per distinct prompt: first row
        """
    @property
    def n_near(self) -> int:
        """
        number of near-duplicate groups
        """
    @property
    def near_of_distinct(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        per distinct prompt: near-duplicate group id
        """
    @property
    def near_truncated(self) -> bool:
        ...
class KMeansResult:
    """
    kmeans' result (vectors/kmeans.h).
    """
    @property
    def assign(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        per row: its centroid (int64)
        """
    @property
    def centroids(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        k x d
        """
    @property
    def distance(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        per row: squared L2 distance to its centroid
        """
    @property
    def inertia(self) -> float:
        """
        sum of squared distances to the assigned centroids
        """
class Variator:
    def __init__(self, synonyms: collections.abc.Sequence[collections.abc.Sequence[str]], contractions: collections.abc.Sequence[tuple[str, str]], imperative_verbs: collections.abc.Sequence[str], anaphora: collections.abc.Sequence[str], polite_prefixes: collections.abc.Sequence[str] = []) -> None:
        ...
    def generate(self, prompt: str, n: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, min_distance: typing.SupportsFloat | typing.SupportsIndex, max_attempts: typing.SupportsInt | typing.SupportsIndex, transforms: typing.SupportsInt | typing.SupportsIndex, protect: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]], optional: collections.abc.Sequence[str], slots: collections.abc.Sequence[tuple[str, collections.abc.Sequence[str]]]) -> tuple:
        ...
    def generate_many(self, prompts: collections.abc.Sequence, n: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, min_distance: typing.SupportsFloat | typing.SupportsIndex, max_attempts: typing.SupportsInt | typing.SupportsIndex, transforms: typing.SupportsInt | typing.SupportsIndex, optional: collections.abc.Sequence[str], slots: collections.abc.Sequence[tuple[str, collections.abc.Sequence[str]]]) -> list:
        ...
def distinct_n(texts: collections.abc.Sequence, n: typing.SupportsInt | typing.SupportsIndex) -> float:
    ...
def find_protected_spans(text: str, caller: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]] = []) -> list[tuple[int, int, str]]:
    """
    Protected [begin, end, kind] byte spans of a UTF-8 text.
    """
def find_scaffolds(texts: collections.abc.Sequence, suffix: bool, min_chars: typing.SupportsInt | typing.SupportsIndex, min_rows: typing.SupportsInt | typing.SupportsIndex) -> list[Scaffold]:
    ...
def group_prompts(prompts: collections.abc.Sequence, threshold: typing.SupportsFloat | typing.SupportsIndex, shingle: typing.SupportsInt | typing.SupportsIndex, max_distinct: typing.SupportsInt | typing.SupportsIndex) -> PromptGroups:
    """
    Exact and near-duplicate groups of prompts; None entries are rows without a prompt.
    """
def kmeans(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, niter: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, nredo: typing.SupportsInt | typing.SupportsIndex = 1) -> KMeansResult:
    """
    Deterministic L2 k-means (k-means++ init, nredo restarts keep the lowest inertia): centroids (k x d), assign (n), distance (squared L2 to the assigned centroid), inertia.
    """
def self_bleu(texts: collections.abc.Sequence) -> float:
    ...
def shingle_distance(a: str, b: str) -> float:
    ...
def shingle_jaccard(a: str, b: str, shingle: typing.SupportsInt | typing.SupportsIndex = 5) -> float:
    ...
def transform_names() -> list[str]:
    ...
