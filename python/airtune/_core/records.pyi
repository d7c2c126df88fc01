"""
Selectors (text out of records) and rewrites (contents back in), in C++.
"""
from __future__ import annotations
import airtune._core.io
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['TextColumn', 'empty_message_rows', 'json_array_elements', 'message_record', 'message_texts', 'messages_with_roles', 'parse_arrow', 'select_text', 'unicode_normalize', 'with_contents', 'with_lines', 'with_metadata_field']
class TextColumn:
    """
    One text per row, owned by C++ (a selector's result or a kernel's output). Every text binding of airtune._core reads it in place.
    """
    def __getitem__(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> str:
        ...
    def __len__(self) -> int:
        ...
    def buffers(self) -> tuple[numpy.typing.NDArray[numpy.uint8], numpy.typing.NDArray[numpy.int64], None]:
        """
        (data, offsets, None): the Arrow large_string buffers (no copy).
        """
    def byte_lengths(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    def to_list(self) -> list:
        """
        The texts as a list of str.
        """
    @property
    def first_missing(self) -> int:
        ...
    @property
    def missing(self) -> int:
        ...
    @property
    def present(self) -> numpy.typing.NDArray[numpy.uint8]:
        """
        uint8 per row: 1 when the row had the selected field (a view).
        """
    @property
    def selector(self) -> str:
        ...
def empty_message_rows(batch: airtune._core.io.RecordBatch, roles: typing.Any = None) -> numpy.typing.NDArray[numpy.uint8]:
    """
    uint8 per record: 1 when a message of those roles has an empty content (and no tool calls).
    """
def json_array_elements(text: str) -> TextColumn:
    """
    The compact JSON text of each element of a JSON array (one json.dumps for a column).
    """
def message_record(batch: airtune._core.io.RecordBatch, messages: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> numpy.typing.NDArray[numpy.int64]:
    """
    The record of each message index.
    """
def message_texts(batch: airtune._core.io.RecordBatch, messages: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> TextColumn:
    ...
def messages_with_roles(batch: airtune._core.io.RecordBatch, roles: typing.Any = None) -> numpy.typing.NDArray[numpy.int64]:
    """
    Indices of the messages of those roles (None or 'all': every role) with a non-null content.
    """
def parse_arrow(table: dict, format: str = 'auto', id_prefix: str = 'arrow', first_number: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[airtune._core.io.RecordBatch, list, int]:
    """
    Records from Arrow columns (described by airtune.io.arrow_in): encoded to JSON and parsed in C++.
    """
def select_text(batch: airtune._core.io.RecordBatch, selector: str) -> TextColumn:
    """
    The selected text of every record (see io/text_select.h).
    """
def unicode_normalize(text: str, form: str = 'NFC') -> str:
    """
    Unicode normalisation (utf8proc).
    """
def with_contents(batch: airtune._core.io.RecordBatch, messages: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], texts: collections.abc.Sequence) -> airtune._core.io.RecordBatch:
    """
    A new batch with message messages[k] holding texts[k]; everything else is kept.
    """
def with_lines(batch: airtune._core.io.RecordBatch, lines: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> airtune._core.io.RecordBatch:
    """
    A copy of `batch` with these source lines.
    """
def with_metadata_field(batch: airtune._core.io.RecordBatch, key: str, json_values: collections.abc.Sequence) -> airtune._core.io.RecordBatch:
    """
    A new batch with metadata[key] = json_values[i] (JSON texts) in every record.
    """
