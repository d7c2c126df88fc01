"""
Records from Arrow block buffers; per-row keys and per-group kernels of deduplication across machines.
"""
from __future__ import annotations
import airtune._core.dedup
import airtune._core.io
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['MinHashKeys', 'batch_from_columns', 'bucket_pairs', 'exact_keys', 'input_at', 'jaccard_rows', 'minhash_keys', 'semantic_centroids', 'semantic_route']
class MinHashKeys:
    """
    minhash_keys' result (dedup/shuffle_keys.h): one row per text.
    """
    @property
    def band_keys(self) -> numpy.typing.NDArray[numpy.uint64]:
        """
        rows x bands
        """
    @property
    def bands(self) -> int:
        ...
    @property
    def empty(self) -> numpy.typing.NDArray[numpy.uint8]:
        """
        per row: 1 when the text has no shingles
        """
    @property
    def set_hash(self) -> numpy.typing.NDArray[numpy.uint64]:
        """
        per row: XXH64 of the sorted shingle hashes
        """
    @property
    def shingle_data(self) -> numpy.typing.NDArray[numpy.uint64]:
        """
        every shingle set back to back (sorted, unique)
        """
    @property
    def shingle_offsets(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        rows + 1 entries
        """
    @property
    def signature_hash(self) -> numpy.typing.NDArray[numpy.uint64]:
        """
        per row: XXH64 of the signature values
        """
def batch_from_columns(columns: dict) -> airtune._core.io.RecordBatch:
    """
    A RecordBatch from columns laid out as RecordBatch.columns() gives them (plus input_at), offsets starting at 0; each buffer is copied once and checked (lengths, offsets, format and role codes).
    """
def bucket_pairs(band: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], key: typing.Annotated[numpy.typing.ArrayLike, numpy.uint64], row: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], max_bucket: typing.SupportsInt | typing.SupportsIndex = 256) -> tuple[numpy.typing.NDArray[numpy.int64], numpy.typing.NDArray[numpy.int64], int]:
    """
    (a, b, capped_buckets): the candidate pairs (a < b, sorted, unique) of the buckets of equal (band, key).
    """
def exact_keys(texts: collections.abc.Sequence, flags: typing.SupportsInt | typing.SupportsIndex) -> tuple[numpy.typing.NDArray[numpy.uint64], numpy.typing.NDArray[numpy.uint64]]:
    """
    (hash, check): XXH64 of each normalised text with seed 0 (the exact-dedup hash) and with a second seed. `flags`: NormalizeOptions::flags() (bit 0 lowercase, 1 whitespace, 2 punctuation, 3 digits, bits 4-6 the Unicode form).
    """
def input_at(batch: airtune._core.io.RecordBatch) -> numpy.typing.NDArray[numpy.int64]:
    """
    Per record: where an Alpaca input starts (RecordBatch::input_at; -1 when not Alpaca).
    """
def jaccard_rows(a_data: typing.Annotated[numpy.typing.ArrayLike, numpy.uint64], a_offsets: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], b_data: typing.Annotated[numpy.typing.ArrayLike, numpy.uint64], b_offsets: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> numpy.typing.NDArray[numpy.float64]:
    """
    Exact Jaccard of set i of A with set i of B (sorted unique uint64 sets given by data and offsets).
    """
def minhash_keys(texts: collections.abc.Sequence, index: airtune._core.dedup.MinHashIndex) -> MinHashKeys:
    """
    Band keys (rows x bands), copy-group keys, empty flags and shingle sets of `texts` under the options, bands and rows of `index` (an airtune._core.dedup.MinHashIndex; it is not modified).
    """
def semantic_centroids(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, niter: typing.SupportsInt | typing.SupportsIndex = 20, seed: typing.SupportsInt | typing.SupportsIndex = 1234) -> numpy.ndarray:
    """
    Spherical k-means centroids (min(k, n) x d, unit rows) of the unit rows `x` (every row trains, k-means++ init): the clusters semantic dedup routes rows to. Deterministic.
    """
def semantic_route(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], centroids: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> numpy.typing.NDArray[numpy.int32]:
    """
    Per row of `x` (unit rows): its centroid (highest inner product, ties to the lower centroid), decided by the exact kernel, so a row gets the same centroid whatever the other rows of its batch.
    """
