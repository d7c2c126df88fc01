"""airtune.io: ingestion of training data and production logs into canonical records.

Formats: OpenAI chat (``messages``, tool calls kept), ShareGPT (``conversations``), Alpaca
(``instruction``/``input``/``output``), ``prompt``/``completion`` and ``text``. Files are read
with simdjson in parallel, streaming, with every line accounted for.

    records = airtune.io.read_jsonl("train.jsonl.gz", errors="quarantine")
    records.report          # lines read / kept / rejected, with reasons
    records.summary()       # formats, roles, turns, lengths, system prompts
    records.to_pandas()     # or to_arrow(), to_hf()
    io.select_text(records, "last_user")   # the text a stage works on (C++ selectors)
"""

from . import select
from .convert import canonicalize, from_any, from_arrow, from_dicts, from_hf, from_pandas
from .jsonl import JsonlStream, iter_jsonl, read_jsonl, write_jsonl
from .records import FORMATS, ROLES, Message, Record, Records
from .report import IngestReport, LineError
from .select import SELECTORS, select_text
from .summary import DatasetSummary

__all__ = [
    "FORMATS",
    "ROLES",
    "SELECTORS",
    "DatasetSummary",
    "IngestReport",
    "JsonlStream",
    "LineError",
    "Message",
    "Record",
    "Records",
    "canonicalize",
    "from_any",
    "from_arrow",
    "from_dicts",
    "from_hf",
    "from_pandas",
    "iter_jsonl",
    "read_jsonl",
    "select",
    "select_text",
    "write_jsonl",
]
