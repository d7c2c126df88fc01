"""
JSONL ingestion into canonical records (columnar).
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import os
import typing
__all__: list[str] = ['BatchSummary', 'JsonlReader', 'ReadCounts', 'RecordBatch', 'parse_lines', 'write_jsonl']
class BatchSummary:
    """
    RecordBatch.summary()'s result (io/summary.h).
    """
    @property
    def content_chars(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Unicode code points per message
        """
    @property
    def distinct_system_prompts(self) -> int:
        ...
    @property
    def empty_contents(self) -> int:
        """
        messages with empty or null content
        """
    @property
    def formats(self) -> dict[str, int]:
        """
        records per format, in Format order
        """
    @property
    def instruct_rows(self) -> int:
        """
        [system,] user, assistant
        """
    @property
    def messages(self) -> int:
        ...
    @property
    def roles(self) -> dict[str, int]:
        """
        messages per role, in Role order
        """
    @property
    def rows(self) -> int:
        ...
    @property
    def rows_with_system(self) -> int:
        ...
    @property
    def top_system_prompts(self) -> list[tuple[str, int]]:
        """
        (text, count), most frequent first
        """
    @property
    def turns(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        messages per record
        """
class ReadCounts:
    """
    What a JsonlReader has read (io/jsonl_reader.h).
    """
    @property
    def blank(self) -> int:
        ...
    @property
    def bytes(self) -> int:
        """
        bytes of (decompressed) input consumed
        """
    @property
    def errors_not_kept(self) -> int:
        """
        rejections over max_errors
        """
    @property
    def kept(self) -> int:
        ...
    @property
    def lines_read(self) -> int:
        ...
    @property
    def rejected(self) -> int:
        ...
class RecordBatch:
    """
    Canonical records in columns. Immutable once handed to Python.
    """
    @staticmethod
    def concat(parts: collections.abc.Sequence[RecordBatch]) -> RecordBatch:
        ...
    def __init__(self) -> None:
        ...
    def __len__(self) -> int:
        ...
    def columns(self) -> dict[str, numpy.ndarray | tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray | None]]:
        """
        Zero-copy numpy views of every column: string columns as (data, offsets, valid-or-None).
        """
    def instruct_mask(self) -> numpy.typing.NDArray[numpy.uint8]:
        ...
    def summary(self, top_k: typing.SupportsInt | typing.SupportsIndex = 5) -> BatchSummary:
        ...
    def take(self, rows: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> RecordBatch:
        ...
    def to_json(self, i: typing.SupportsInt | typing.SupportsIndex, format: str = 'auto') -> str:
        ...
    @property
    def message_count(self) -> int:
        ...
class JsonlReader:
    """
    Streaming JSONL reader; see airtune.io.read_jsonl.
    """
    def __init__(self, path: os.PathLike | str | bytes, format: str = 'auto', errors: str = 'raise', quarantine_path: os.PathLike | str | bytes | None = None, block_bytes: typing.SupportsInt | typing.SupportsIndex = 16777216, max_line_bytes: typing.SupportsInt | typing.SupportsIndex = 67108864, max_bytes: typing.SupportsInt | typing.SupportsIndex | None = None, max_lines: typing.SupportsInt | typing.SupportsIndex | None = None, max_errors: typing.SupportsInt | typing.SupportsIndex = 1000, start_offset: typing.SupportsInt | typing.SupportsIndex = 0, first_line: typing.SupportsInt | typing.SupportsIndex = 1) -> None:
        """
        Paths are str, bytes or os.PathLike (file system encoding). max_bytes / max_lines: None for no limit. start_offset / first_line: read a byte range of a plain file that starts at a line start.
        """
    def counts(self) -> ReadCounts:
        ...
    def finish(self) -> None:
        ...
    def read_block(self, out: RecordBatch) -> bool:
        """
        Appends the next block's records to `out`; False at the end.
        """
    def reserve_for_file(self, out: RecordBatch) -> None:
        """
        Reserve address space in `out` for the whole file (no reallocation while reading).
        """
    def take_errors(self) -> list[tuple[int, int, str, str]]:
        """
        Errors since the last call as (line, column, field, reason) tuples.
        """
    @property
    def file_size(self) -> int:
        ...
    @property
    def limit_reached(self) -> str | None:
        """
        The limit that ended the read before the end of the input: max_bytes, max_lines or None.
        """
def parse_lines(lines: collections.abc.Sequence, format: str = 'auto', id_prefix: str = 'row', first_number: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[RecordBatch, list[tuple[int, int, str, str]], int]:
    """
    Parses JSON texts (one record each) in parallel: (batch, errors, blank_count).
    """
def write_jsonl(batch: RecordBatch, path: os.PathLike | str | bytes, format: str = 'auto') -> int:
    ...
