"""
Deduplication core (exact, MinHash-LSH, FAISS kNN, SemDeDup, outliers).
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['Clusters', 'ExactResult', 'IvfPlan', 'MinHashIndex', 'MinHashOptions', 'NormalizeOptions', 'OutlierScores', 'PairSet', 'SemDedupResult', 'candidate_probability', 'centroid_outliers', 'choose_bands_rows', 'clusters_from_pairs', 'exact_duplicates', 'exact_hashes', 'iqr_fence', 'ivf_plan', 'knn_cross_cosine', 'knn_outliers', 'knn_self_cosine', 'lof_outliers', 'normalize', 'reference_outliers', 'removed_at_thresholds', 'rescore_knn', 'semdedup', 'shingle_hashes', 'shingles', 'signatures_of_sets', 'unit_rows']
class NormalizeOptions:
    """
    The one text normalisation's options (core/normalize.h); unicode: 'NFKC', 'NFC' or None (validated when set).
    """
    collapse_whitespace: bool
    digits_to_zero: bool
    lowercase: bool
    strip_punctuation: bool
    unicode: str | None
    def __init__(self, lowercase: bool = True, collapse_whitespace: bool = True, strip_punctuation: bool = False, digits_to_zero: bool = False, unicode: str | None = 'NFKC') -> None:
        ...
class MinHashOptions:
    """
    A MinHash index's options (dedup/minhash.h).
    """
    @property
    def char_ngrams(self) -> bool:
        ...
    @property
    def ngram(self) -> int:
        ...
    @property
    def normalize(self) -> NormalizeOptions:
        ...
    @property
    def num_perm(self) -> int:
        ...
    @property
    def seed(self) -> int:
        ...
class Clusters:
    """
    Duplicate clusters with one survivor each (dedup/survivors.h).
    """
    @property
    def cluster(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        per row: cluster id = the surviving row's index
        """
    @property
    def keep(self) -> numpy.typing.NDArray[numpy.uint8]:
        """
        per row: 1 for the survivor (and every singleton)
        """
    @property
    def n_clusters(self) -> int:
        """
        clusters with at least two rows
        """
    @property
    def n_removed(self) -> int:
        """
        rows with keep == 0
        """
    @property
    def size(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        per row: size of its cluster
        """
class ExactResult:
    """
    exact_duplicates' result (dedup/exact.h).
    """
    @property
    def clusters(self) -> Clusters:
        ...
    @property
    def hash_collisions(self) -> int:
        """
        equal hashes with different normalised text (kept apart)
        """
    @property
    def hashes(self) -> numpy.typing.NDArray[numpy.uint64]:
        """
        per row: XXH64 of the normalised text
        """
class PairSet:
    """
    Pairs of similar rows (dedup/lsh_index.h).
    """
    @property
    def a(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def b(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def candidates(self) -> int:
        """
        distinct candidate pairs examined
        """
    @property
    def capped_buckets(self) -> int:
        """
        buckets larger than max_bucket
        """
    @property
    def similarity(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        exact Jaccard when verified, else the estimate
        """
class OutlierScores:
    """
    Outlier scores and flags (dedup/outliers.h).
    """
    @property
    def fence(self) -> float:
        """
        score above which a row is flagged
        """
    @property
    def flag(self) -> numpy.typing.NDArray[numpy.uint8]:
        """
        1 = outlier
        """
    @property
    def score(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        higher = more outlying
        """
class IvfPlan:
    """
    ivf_plan's result (dedup/knn.h): the lists and probes an IVF search scans.
    """
    @property
    def assign(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        per base row: its list
        """
    @property
    def centroids(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        nlist x d, unit rows
        """
    @property
    def nlist(self) -> int:
        ...
    @property
    def nprobe(self) -> int:
        ...
    @property
    def probe_ids(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        nq x nprobe, best first
        """
    @property
    def probe_scores(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        nq x nprobe: inner product with the centroid
        """
class SemDedupResult:
    """
    semdedup's result (dedup/semdedup.h).
    """
    @property
    def centroid_distance(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        1 - cosine to its centroid
        """
    @property
    def cluster(self) -> numpy.typing.NDArray[numpy.int32]:
        """
        k-means cluster of each row
        """
    @property
    def max_id(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        that earlier row (-1 for the first)
        """
    @property
    def max_similarity(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        max cosine to an earlier row of its cluster (-1 for the first)
        """
    @property
    def n_clusters(self) -> int:
        ...
class MinHashIndex:
    @staticmethod
    def load(path: str) -> MinHashIndex:
        ...
    def __init__(self, num_perm: typing.SupportsInt | typing.SupportsIndex, ngram: typing.SupportsInt | typing.SupportsIndex, char_ngrams: bool, seed: typing.SupportsInt | typing.SupportsIndex, normalize: NormalizeOptions, bands: typing.SupportsInt | typing.SupportsIndex, rows: typing.SupportsInt | typing.SupportsIndex, keep_shingles: bool = True) -> None:
        ...
    def __len__(self) -> int:
        ...
    def add(self, arg0: collections.abc.Sequence) -> None:
        ...
    def pairs_within(self, texts: collections.abc.Sequence, threshold: typing.SupportsFloat | typing.SupportsIndex, max_bucket: typing.SupportsInt | typing.SupportsIndex = 256) -> PairSet:
        ...
    def query(self, texts: collections.abc.Sequence, threshold: typing.SupportsFloat | typing.SupportsIndex, verify: bool = True) -> PairSet:
        ...
    def save(self, path: str) -> None:
        ...
    def self_pairs(self, threshold: typing.SupportsFloat | typing.SupportsIndex, verify: bool = True, max_bucket: typing.SupportsInt | typing.SupportsIndex = 256, texts: collections.abc.Sequence | None = None) -> PairSet:
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
    def options(self) -> MinHashOptions:
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
def centroid_outliers(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], factor: typing.SupportsFloat | typing.SupportsIndex) -> OutlierScores:
    ...
def choose_bands_rows(threshold: typing.SupportsFloat | typing.SupportsIndex, num_perm: typing.SupportsInt | typing.SupportsIndex, fp_weight: typing.SupportsFloat | typing.SupportsIndex = 0.5, fn_weight: typing.SupportsFloat | typing.SupportsIndex = 0.5) -> tuple[int, int]:
    ...
def clusters_from_pairs(n: typing.SupportsInt | typing.SupportsIndex, a: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], b: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], keep: str = 'first', lengths: typing.Annotated[numpy.typing.ArrayLike, numpy.int64] | None = None, scores: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None) -> Clusters:
    """
    Clusters of rows [0, n) joined by the pairs (a[k], b[k]), survivors by keep.
    """
def exact_duplicates(texts: collections.abc.Sequence, normalize: NormalizeOptions, keep: str = 'first', scores: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None) -> ExactResult:
    ...
def exact_hashes(texts: collections.abc.Sequence, normalize: NormalizeOptions) -> numpy.typing.NDArray[numpy.uint64]:
    ...
def iqr_fence(values: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], factor: typing.SupportsFloat | typing.SupportsIndex) -> float:
    ...
def ivf_plan(base: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], query: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], index: str, nlist: typing.SupportsInt | typing.SupportsIndex = 0, nprobe: typing.SupportsInt | typing.SupportsIndex = 0, seed: typing.SupportsInt | typing.SupportsIndex = 1234) -> IvfPlan:
    """
    The lists and probes that index='ivf' or 'ivf-gemm' scans (k-means of the base rows; each query's nprobe best lists, best first) as an IvfPlan. Another engine scanning them, its candidates rescored by rescore_knn, returns the same kNN graph.
    """
def knn_cross_cosine(base: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], query: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, index: str = 'auto', flat_max_rows: typing.SupportsInt | typing.SupportsIndex = 20000, nlist: typing.SupportsInt | typing.SupportsIndex = 0, nprobe: typing.SupportsInt | typing.SupportsIndex = 0, hnsw_m: typing.SupportsInt | typing.SupportsIndex = 32, ef_search: typing.SupportsInt | typing.SupportsIndex = 0, seed: typing.SupportsInt | typing.SupportsIndex = 1234, deterministic: bool = True) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.int64], str]:
    ...
def knn_outliers(sim: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], factor: typing.SupportsFloat | typing.SupportsIndex) -> OutlierScores:
    ...
def knn_self_cosine(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, index: str = 'auto', flat_max_rows: typing.SupportsInt | typing.SupportsIndex = 20000, nlist: typing.SupportsInt | typing.SupportsIndex = 0, nprobe: typing.SupportsInt | typing.SupportsIndex = 0, hnsw_m: typing.SupportsInt | typing.SupportsIndex = 32, ef_search: typing.SupportsInt | typing.SupportsIndex = 0, seed: typing.SupportsInt | typing.SupportsIndex = 1234, deterministic: bool = True) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.int64], str]:
    ...
def lof_outliers(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, threshold: typing.SupportsFloat | typing.SupportsIndex) -> OutlierScores:
    ...
def normalize(text: str, normalize: NormalizeOptions) -> str:
    ...
def reference_outliers(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], reference: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], factor: typing.SupportsFloat | typing.SupportsIndex) -> OutlierScores:
    ...
def removed_at_thresholds(n: typing.SupportsInt | typing.SupportsIndex, a: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], b: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], similarity: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], thresholds: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> numpy.typing.NDArray[numpy.int64]:
    """
    Rows removed (keep='first') at each threshold when the pairs with similarity >= it join rows.
    """
def rescore_knn(base: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], query: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], rows: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], cand_ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], cand_scores: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, exclude_self: bool) -> tuple[numpy.ndarray, numpy.ndarray, typing.Any]:
    """
    Exact top-k (score desc, id asc) of query rows[i] among cand_ids[i] (float32 scores of any engine), and whether each list provably holds the exact top-k (else: search again with more candidates).
    """
def semdedup(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], n_clusters: typing.SupportsInt | typing.SupportsIndex = 0, niter: typing.SupportsInt | typing.SupportsIndex = 20, seed: typing.SupportsInt | typing.SupportsIndex = 1234, keep: str = 'hard', scores: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None) -> SemDedupResult:
    ...
def shingle_hashes(text: str, ngram: typing.SupportsInt | typing.SupportsIndex, char_ngrams: bool, normalize: NormalizeOptions) -> numpy.typing.NDArray[numpy.uint64]:
    ...
def shingles(text: str, ngram: typing.SupportsInt | typing.SupportsIndex, char_ngrams: bool, normalize: NormalizeOptions) -> list[str]:
    ...
def signatures_of_sets(hashes: typing.Annotated[numpy.typing.ArrayLike, numpy.uint64], offsets: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], num_perm: typing.SupportsInt | typing.SupportsIndex = 128, seed: typing.SupportsInt | typing.SupportsIndex = 1) -> numpy.typing.NDArray[numpy.uint64]:
    """
    MinHash signatures (rows x num_perm, uint64) of shingle sets given as 64-bit hashes: set i is hashes[offsets[i]:offsets[i+1]] (any order, repeats allowed).
    """
def unit_rows(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> numpy.typing.NDArray[numpy.float32]:
    """
    The rows every cosine search uses: x itself when each row has unit length, else a normalised copy (ValueError naming a zero or non-finite row).
    """
