"""Records: canonical training records, held column-wise in C++ and viewed from Python.

A ``Records`` object wraps an ``airtune._core.io.RecordBatch``. Its columns are numpy views of
the C++ memory (no copy); ``to_arrow()`` builds pyarrow arrays on the same buffers, so going to
pandas, parquet or a Hugging Face ``Dataset`` copies only where those libraries need to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _core
from .._results import ResultMixin, require

if TYPE_CHECKING:
    from .report import IngestReport
    from .summary import DatasetSummary

ROLES = ("system", "user", "assistant", "tool", "text")
FORMATS = ("chat", "sharegpt", "alpaca", "prompt_completion", "text")
_OPTIONAL_MESSAGE_FIELDS = ("name", "tool_calls", "tool_call_id", "extra")


@dataclass
class Message:
    role: str
    content: str | None
    name: str | None = None
    tool_calls: list | None = None
    tool_call_id: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI chat form of the message (fields that are set only)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name is not None:
            out["name"] = self.name
        if self.tool_calls is not None:
            out["tool_calls"] = self.tool_calls
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        out.update(self.extra)
        return out


@dataclass
class Record:
    id: str
    messages: list[Message]
    label: str | None = None
    metadata: dict = field(default_factory=dict)
    format: str = "chat"
    line: int = 0

    @property
    def is_instruct(self) -> bool:
        roles = [m.role for m in self.messages]
        if roles and roles[0] == "system":
            roles = roles[1:]
        return roles == ["user", "assistant"]

    @property
    def prompt(self) -> str | None:
        """The user turn of an instruct record (None for multi-turn records)."""
        return self.messages[-2].content if self.is_instruct else None

    @property
    def response(self) -> str | None:
        """The assistant turn of an instruct record (None for multi-turn records)."""
        return self.messages[-1].content if self.is_instruct else None

    @property
    def system(self) -> str | None:
        return self.messages[0].content if self.messages and self.messages[0].role == "system" else None


class _StringColumn:
    """Read access to one (data, offsets, valid) string column."""

    __slots__ = ("data", "offsets", "valid")

    def __init__(self, buffers: tuple) -> None:
        self.data, self.offsets, self.valid = buffers

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def get(self, i: int) -> str | None:
        if self.valid is not None and not self.valid[i]:
            return None
        return self.data[self.offsets[i] : self.offsets[i + 1]].tobytes().decode("utf-8")

    def any_valid(self) -> bool:
        return len(self) > 0 and (self.valid is None or bool(self.valid.any()))

    def to_arrow(self) -> Any:
        pa = require("pyarrow", "data")
        n = len(self)
        validity = None
        null_count = 0
        if self.valid is not None:
            null_count = int(n - np.count_nonzero(self.valid))
            if null_count:
                validity = pa.py_buffer(np.packbits(self.valid.astype(bool), bitorder="little"))
        return pa.Array.from_buffers(
            pa.large_string(),
            n,
            [validity, pa.py_buffer(self.offsets), pa.py_buffer(self.data)],
            null_count=null_count,
        )


class Records(ResultMixin):
    """Canonical records: ``id``, ``messages`` (role, content, ...), ``label``, ``metadata``.

    Index with an int for a ``Record``; with a slice, a list of ints or a boolean mask for a new
    ``Records``. ``report`` holds the ingestion accounting when the records came from a file.
    """

    def __init__(self, batch: Any = None, report: IngestReport | None = None) -> None:
        self._batch = batch if batch is not None else _core.io.RecordBatch()
        self.report = report
        cols: dict[str, Any] = self._batch.columns()  # arrays and string buffers by name
        self._format = cols["format"]
        self._line = cols["line"]
        self._offsets = cols["message_offsets"]
        self._role = cols["role"]
        self._strings = {
            k: _StringColumn(cols[k])
            for k in ("id", "label", "metadata", "content", "name", "tool_calls", "tool_call_id", "extra")
        }

    # -- size and access --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._format)

    @property
    def message_count(self) -> int:
        return len(self._role)

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self)):
            yield self._record(i)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if i < 0:
                i += len(self)
            if not 0 <= i < len(self):
                raise IndexError(f"record {key} out of range for {len(self)} records")
            return self._record(i)
        return self.take(key)

    def take(self, rows: Any) -> Records:
        """A new Records with the given rows (slice, int sequence or boolean mask), in that order."""
        if isinstance(rows, slice):
            idx = np.arange(len(self), dtype=np.int64)[rows]
        else:
            arr = np.asarray(rows)
            if arr.dtype == bool:
                if arr.shape != (len(self),):
                    raise ValueError(f"boolean mask has shape {arr.shape}, expected ({len(self)},)")
                idx = np.flatnonzero(arr)
            else:
                idx = arr.astype(np.int64, copy=False)
                idx = np.where(idx < 0, idx + len(self), idx)
        return Records(self._batch.take(idx.tolist()))

    def _record(self, i: int) -> Record:
        s = self._strings
        messages = []
        for j in range(int(self._offsets[i]), int(self._offsets[i + 1])):
            tool_calls = s["tool_calls"].get(j)
            extra = s["extra"].get(j)
            messages.append(
                Message(
                    role=ROLES[self._role[j]],
                    content=s["content"].get(j),
                    name=s["name"].get(j),
                    tool_calls=json.loads(tool_calls) if tool_calls is not None else None,
                    tool_call_id=s["tool_call_id"].get(j),
                    extra=json.loads(extra) if extra is not None else {},
                )
            )
        metadata = s["metadata"].get(i)
        return Record(
            id=s["id"].get(i),  # type: ignore[arg-type]  # every row has an id
            messages=messages,
            label=s["label"].get(i),
            metadata=json.loads(metadata) if metadata is not None else {},
            format=FORMATS[self._format[i]],
            line=int(self._line[i]),
        )

    # -- columns ------------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        ids = self._strings["id"]
        return [ids.get(i) for i in range(len(self))]  # type: ignore[misc]  # every row has an id

    @property
    def formats(self) -> np.ndarray:
        """Format name per record (numpy array of str)."""
        return np.asarray(FORMATS, dtype=object)[self._format]

    @property
    def lines(self) -> np.ndarray:
        """1-based source line of each record (row number for in-memory inputs). A view."""
        return self._line

    @property
    def instruct_mask(self) -> np.ndarray:
        """True for instruct-shaped records: [system,] user, assistant."""
        return self._batch.instruct_mask().astype(bool)

    def messages_of_role(self, role: str) -> tuple[np.ndarray, list[str | None]]:
        """(record index, content) of every message with `role`, in order."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {ROLES}")
        where = np.flatnonzero(self._role == ROLES.index(role))
        rows = np.searchsorted(self._offsets, where, side="right") - 1
        content = self._strings["content"]
        return rows, [content.get(int(j)) for j in where]

    # -- conversions --------------------------------------------------------------------------
    def to_arrow(self) -> Any:
        """A pyarrow Table: id, format, line, messages (list of structs), label, metadata.

        String buffers are shared with the C++ records (no copy). Message fields name,
        tool_calls (JSON text), tool_call_id and extra (JSON text) appear only when some message
        has them; metadata is JSON text.
        """
        pa = require("pyarrow", "data")
        s = self._strings
        fields = {
            "role": pa.array(np.asarray(ROLES, dtype=object)[self._role], type=pa.string()),
            "content": s["content"].to_arrow(),
        }
        for name in _OPTIONAL_MESSAGE_FIELDS:
            if s[name].any_valid():
                fields[name] = s[name].to_arrow()
        struct = pa.StructArray.from_arrays(list(fields.values()), names=list(fields))
        messages = pa.LargeListArray.from_arrays(pa.array(self._offsets, type=pa.int64()), struct)
        return pa.table(
            {
                "id": s["id"].to_arrow(),
                "format": pa.array(np.asarray(FORMATS, dtype=object)[self._format], type=pa.string()),
                "line": pa.array(self._line),
                "messages": messages,
                "label": s["label"].to_arrow(),
                "metadata": s["metadata"].to_arrow(),
            }
        )

    def to_pandas(self) -> Any:
        """A DataFrame with one row per record; messages as lists of dicts, metadata as dicts
        (``{}`` for a record without metadata), typed as they were read."""
        require("pandas", "data")
        frame = self.to_arrow().to_pandas()
        frame["metadata"] = self.metadata_dicts()
        return frame

    def metadata_dicts(self) -> list[dict]:
        """Every record's metadata as a dict, parsed in one pass (not one json.loads per row)."""
        m = self._strings["metadata"]
        n = len(self)
        if n == 0:
            return []
        valid = np.ones(n, dtype=bool) if m.valid is None else m.valid.astype(bool)
        starts, ends = m.offsets[:-1], m.offsets[1:]
        if valid.all():
            body = m.data.tobytes()
            parts = [body[s:e] for s, e in zip(starts.tolist(), ends.tolist())]
        else:
            body = m.data.tobytes()
            parts = [
                body[s:e] if v else b"{}" for s, e, v in zip(starts.tolist(), ends.tolist(), valid.tolist())
            ]
        return json.loads(b"[" + b",".join(parts) + b"]")

    def to_hf(self) -> Any:
        """A Hugging Face ``datasets.Dataset`` with the columns of ``to_arrow()``."""
        datasets = require("datasets", "data")
        return datasets.Dataset(self.to_arrow())

    def to_dicts(self, format: str = "auto") -> list[dict]:
        """Each record as the dict of its JSONL line in `format` (auto: its source layout)."""
        return [json.loads(self._batch.to_json(i, format)) for i in range(len(self))]

    def to_json(self, i: int, format: str = "auto") -> str:
        return self._batch.to_json(i, format)

    def write_jsonl(self, path: str | bytes | os.PathLike, format: str = "auto") -> int:
        """Write to `path` atomically (gzip when it ends in .gz); returns bytes written."""
        from .jsonl import write_jsonl

        return write_jsonl(self, path, format=format)

    def summary(self, top_k: int = 5) -> DatasetSummary:
        """Rows, formats, roles, turns, lengths and distinct system prompts."""
        from .summary import DatasetSummary

        return DatasetSummary.from_batch(self._batch, top_k=top_k)

    # -- display ------------------------------------------------------------------------------
    def summary_line(self) -> str:
        line = f"Records: {len(self)} rows, {self.message_count} messages"
        if self.report is not None:
            line += f" | {self.report.summary_line()}"
        return line

    def __repr__(self) -> str:
        return f"<airtune {self.summary_line()}>"

    @staticmethod
    def concat(parts: Sequence[Records]) -> Records:
        return Records(_core.io.RecordBatch.concat([p._batch for p in parts]))
