"""
Deduplication core (exact, MinHash-LSH, FAISS kNN, SemDeDup, outliers).
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['MinHashIndex', 'candidate_probability', 'centroid_outliers', 'choose_bands_rows', 'clusters_from_pairs', 'exact_duplicates', 'exact_hashes', 'iqr_fence', 'ivf_plan', 'knn_cross_cosine', 'knn_outliers', 'knn_self_cosine', 'lof_outliers', 'normalize', 'reference_outliers', 'removed_at_thresholds', 'rescore_knn', 'semdedup', 'shingle_hashes', 'shingles', 'signatures_of_sets', 'unit_rows']
class MinHashIndex:
    @staticmethod
    def load(path: str) -> MinHashIndex:
        ...
    def __init__(self, num_perm: typing.SupportsInt | typing.SupportsIndex, ngram: typing.SupportsInt | typing.SupportsIndex, char_ngrams: bool, seed: typing.SupportsInt | typing.SupportsIndex, normalize: dict, bands: typing.SupportsInt | typing.SupportsIndex, rows: typing.SupportsInt | typing.SupportsIndex, keep_shingles: bool = True) -> None:
        ...
    def __len__(self) -> int:
        ...
    def add(self, arg0: collections.abc.Sequence) -> None:
        ...
    def query(self, texts: collections.abc.Sequence, threshold: typing.SupportsFloat | typing.SupportsIndex, verify: bool = True) -> dict:
        ...
    def save(self, path: str) -> None:
        ...
    def self_pairs(self, threshold: typing.SupportsFloat | typing.SupportsIndex, verify: bool = True, max_bucket: typing.SupportsInt | typing.SupportsIndex = 256) -> dict:
        ...
    def signatures(self) -> numpy.typing.NDArray[numpy.uint64]:
        ...
    @property
    def bands(self) -> int:
        ...
    @property
    def has_shingles(self) -> bool:
        ...
    @property
    def options(self) -> dict:
        ...
    @property
    def rows(self) -> int:
        ...
    @property
    def threshold(self) -> float:
        ...
    @threshold.setter
    def threshold(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
def candidate_probability(s: typing.SupportsFloat | typing.SupportsIndex, bands: typing.SupportsInt | typing.SupportsIndex, rows: typing.SupportsInt | typing.SupportsIndex) -> float:
    ...
def centroid_outliers(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], factor: typing.SupportsFloat | typing.SupportsIndex) -> dict:
    ...
def choose_bands_rows(threshold: typing.SupportsFloat | typing.SupportsIndex, num_perm: typing.SupportsInt | typing.SupportsIndex, fp_weight: typing.SupportsFloat | typing.SupportsIndex = 0.5, fn_weight: typing.SupportsFloat | typing.SupportsIndex = 0.5) -> tuple[int, int]:
    ...
def clusters_from_pairs(n: typing.SupportsInt | typing.SupportsIndex, a: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], b: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], keep: str = 'first', lengths: typing.Annotated[numpy.typing.ArrayLike, numpy.int64] | None = None, scores: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None) -> dict:
    """
    Clusters of rows [0, n) joined by the pairs (a[k], b[k]), survivors by keep.
    """
def exact_duplicates(texts: collections.abc.Sequence, normalize: dict, keep: str = 'first', scores: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None) -> dict:
    ...
def exact_hashes(texts: collections.abc.Sequence, normalize: dict) -> numpy.typing.NDArray[numpy.uint64]:
    ...
def iqr_fence(values: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], factor: typing.SupportsFloat | typing.SupportsIndex) -> float:
    ...
def ivf_plan(base: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], query: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], index: str, nlist: typing.SupportsInt | typing.SupportsIndex = 0, nprobe: typing.SupportsInt | typing.SupportsIndex = 0, seed: typing.SupportsInt | typing.SupportsIndex = 1234) -> dict:
    """
    The lists and probes that index='ivf' or 'ivf-gemm' scans (k-means of the base rows; each query's nprobe best lists, best first): dict nlist, nprobe, centroids (nlist x d), assign (per base row), probe_ids and probe_scores (nq x nprobe). Another engine scanning them, its candidates rescored by rescore_knn, returns the same kNN graph.
    """
def knn_cross_cosine(base: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], query: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, index: str = 'auto', flat_max_rows: typing.SupportsInt | typing.SupportsIndex = 20000, nlist: typing.SupportsInt | typing.SupportsIndex = 0, nprobe: typing.SupportsInt | typing.SupportsIndex = 0, hnsw_m: typing.SupportsInt | typing.SupportsIndex = 32, ef_search: typing.SupportsInt | typing.SupportsIndex = 0, seed: typing.SupportsInt | typing.SupportsIndex = 1234, deterministic: bool = True) -> tuple:
    ...
def knn_outliers(sim: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], factor: typing.SupportsFloat | typing.SupportsIndex) -> dict:
    ...
def knn_self_cosine(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, index: str = 'auto', flat_max_rows: typing.SupportsInt | typing.SupportsIndex = 20000, nlist: typing.SupportsInt | typing.SupportsIndex = 0, nprobe: typing.SupportsInt | typing.SupportsIndex = 0, hnsw_m: typing.SupportsInt | typing.SupportsIndex = 32, ef_search: typing.SupportsInt | typing.SupportsIndex = 0, seed: typing.SupportsInt | typing.SupportsIndex = 1234, deterministic: bool = True) -> tuple:
    ...
def lof_outliers(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, threshold: typing.SupportsFloat | typing.SupportsIndex) -> dict:
    ...
def normalize(text: str, normalize: dict) -> str:
    ...
def reference_outliers(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], reference: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], factor: typing.SupportsFloat | typing.SupportsIndex) -> dict:
    ...
def removed_at_thresholds(n: typing.SupportsInt | typing.SupportsIndex, a: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], b: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], similarity: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], thresholds: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> numpy.typing.NDArray[numpy.int64]:
    """
    Rows removed (keep='first') at each threshold when the pairs with similarity >= it join rows.
    """
def rescore_knn(base: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], query: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], rows: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], cand_ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], cand_scores: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, exclude_self: bool) -> tuple[numpy.ndarray, numpy.ndarray, typing.Any]:
    """
    Exact top-k (score desc, id asc) of query rows[i] among cand_ids[i] (float32 scores of any engine), and whether each list provably holds the exact top-k (else: search again with more candidates).
    """
def semdedup(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], n_clusters: typing.SupportsInt | typing.SupportsIndex = 0, niter: typing.SupportsInt | typing.SupportsIndex = 20, seed: typing.SupportsInt | typing.SupportsIndex = 1234, keep: str = 'hard', scores: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None) -> dict:
    ...
def shingle_hashes(text: str, ngram: typing.SupportsInt | typing.SupportsIndex, char_ngrams: bool, normalize: dict) -> numpy.typing.NDArray[numpy.uint64]:
    ...
def shingles(text: str, ngram: typing.SupportsInt | typing.SupportsIndex, char_ngrams: bool, normalize: dict) -> list[str]:
    ...
def signatures_of_sets(hashes: typing.Annotated[numpy.typing.ArrayLike, numpy.uint64], offsets: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], num_perm: typing.SupportsInt | typing.SupportsIndex = 128, seed: typing.SupportsInt | typing.SupportsIndex = 1) -> numpy.typing.NDArray[numpy.uint64]:
    """
    MinHash signatures (rows x num_perm, uint64) of shingle sets given as 64-bit hashes: set i is hashes[offsets[i]:offsets[i+1]] (any order, repeats allowed).
    """
def unit_rows(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> numpy.typing.NDArray[numpy.float32]:
    """
    The rows every cosine search uses: x itself when each row has unit length, else a normalised copy (ValueError naming a zero or non-finite row).
    """
