"""The SQLite prediction cache: every model answer stored, so a rerun costs nothing, and never an
answer served to a model that did not give it.

An answer is keyed by (model identity, prompt, generation parameters). The identity is what must
change for the answers to change (:mod:`airtune.evaluate.identity`: a declared ``identity`` /
``cache_key``, ``model_id=``, or a fingerprint of a callable's code); the prompt and the parameters
are hashed (sha256). Each row carries a checksum of its key and answer: a damaged row is never
served (it is recomputed, with a warning).

The file is checked when it is opened: a cache of airtune's earlier schema (answers keyed by the
model's name only, so a changed model got the old answers) is migrated, its rows kept aside in the
table ``predictions_v1_unkeyed`` and never served, with a warning; a corrupt file, another SQLite
database or a cache of a newer airtune is refused with a :class:`CacheFileError` that names the
file and what to do. A cache another process holds locked is waited for (SQLite's busy timeout,
then retries with backoff) up to ``lock_timeout`` seconds in all, then :class:`CacheLockedError`.

Concurrency: one connection per cache object, guarded by a lock (worker threads share it safely);
several processes may share one file (WAL journal: readers never wait for the writer, writers
take turns, each answer is its own transaction).
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SCHEMA_VERSION = 2
APPLICATION_ID = 0x41495443  # "AITC" in the SQLite header: this file is an airtune prediction cache
_V1_COLUMNS = ["model", "input_hash", "params", "output", "created"]
_V1_KEPT_AS = "predictions_v1_unkeyed"


class CacheFileError(ValueError):
    """The cache file cannot be used (corrupt, another kind of file, a newer schema): the message
    names the file and what to do."""


class CacheLockedError(TimeoutError):
    """Another process held the cache locked for longer than ``lock_timeout``."""


def params_key(params: str | Mapping[str, Any] | None) -> str:
    """Canonical text of generation parameters (a mapping as sorted JSON)."""
    if params is None:
        return ""
    if isinstance(params, str):
        return params
    return json.dumps(params, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _checksum(model: str, input_hash: str, params_hash: str, output: str) -> str:
    h = hashlib.sha256()
    for part in (model, input_hash, params_hash, output):
        b = part.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:32]


def _busy(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class PredictionCache:
    """SQLite cache of model answers keyed by (model identity, prompt, generation parameters).

    ``lock_timeout``: seconds to wait in all for a lock another process holds before
    :class:`CacheLockedError` (each wait is SQLite's busy timeout, retried with backoff).
    Thread safety: one connection guarded by a lock; reads and writes from worker threads are safe.
    """

    def __init__(self, path: str | Path, *, lock_timeout: float = 60.0) -> None:
        if not lock_timeout >= 0:
            raise ValueError(f"lock_timeout must be >= 0 seconds, got {lock_timeout!r}")
        self.path = str(path)
        self.lock_timeout = float(lock_timeout)
        self.damaged_rows = 0  # rows whose checksum did not match (ignored, recomputed)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self._db = sqlite3.connect(
                self.path, timeout=min(1.0, self.lock_timeout), isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._file_error(
                f"cannot open it ({exc})",
                "check that its folder exists and that you may write there, or pass another path as cache=",
            ) from exc
        try:
            self._retry("opening", self._open)
        except BaseException:
            self._db.close()
            self._db = None
            raise

    # ---- keys ----------------------------------------------------------------------------------

    @staticmethod
    def key(inp: Any) -> str:
        """sha256 of a prompt: a str as itself, anything else (a conversation) as sorted JSON."""
        if isinstance(inp, str):
            text = "s:" + inp
        else:
            text = "j:" + json.dumps(inp, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    @staticmethod
    def params_hash(params: str | Mapping[str, Any] | None) -> str:
        return hashlib.sha256(params_key(params).encode("utf-8", "surrogatepass")).hexdigest()

    # ---- reads and writes ----------------------------------------------------------------------

    def get(self, model: str, inp: Any, params: str | Mapping[str, Any] | None = "") -> str | None:
        """The cached answer of model identity ``model`` to ``inp`` under ``params``, or None."""
        ih, ph = self.key(inp), self.params_hash(params)

        def read() -> Any:
            return (
                self._conn()
                .execute(
                    "SELECT output, checksum FROM answers WHERE model=? AND input_hash=? AND params_hash=?",
                    (model, ih, ph),
                )
                .fetchone()
            )

        with self._lock:
            row = self._retry("reading", read)
        if row is None:
            return None
        output, checksum = row
        if not isinstance(output, str) or checksum != _checksum(model, ih, ph, output):
            self.damaged_rows += 1
            if self.damaged_rows == 1:
                warnings.warn(
                    f"prediction cache {self.path}: a damaged answer (checksum mismatch) is ignored and "
                    "recomputed; if this repeats, the file is failing: move it away and start a fresh cache",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return None
        return output

    def put(self, model: str, inp: Any, output: str, params: str | Mapping[str, Any] | None = "") -> None:
        """Stores (replaces) the answer of model identity ``model`` to ``inp`` under ``params``."""
        if not isinstance(output, str):
            raise TypeError(f"output must be a str, got {type(output).__name__}")
        ih, ph = self.key(inp), self.params_hash(params)
        row = (model, ih, ph, output, _checksum(model, ih, ph, output), time.time())

        def write() -> None:
            self._conn().execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)", row)

        with self._lock:
            self._retry("writing", write)

    def __len__(self) -> int:
        with self._lock:
            return int(
                self._retry(
                    "counting", lambda: self._conn().execute("SELECT COUNT(*) FROM answers").fetchone()[0]
                )
            )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> PredictionCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- internals -----------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError(f"prediction cache {self.path} is closed")
        return self._db

    def _file_error(self, reason: str, advice: str = "") -> CacheFileError:
        advice = advice or "move it away or delete it to start a fresh cache, or pass another path as cache="
        return CacheFileError(f"prediction cache {self.path}: {reason}; {advice}")

    def _sqlite_error(self, exc: sqlite3.Error) -> CacheFileError:
        if isinstance(exc, sqlite3.OperationalError):  # can open it, cannot use it: permissions, disk
            return self._file_error(
                f"cannot be used ({exc})",
                "check the file's permissions and free disk space, or pass another path as cache=",
            )
        return self._file_error(
            f"not a usable SQLite database ({exc}): it is damaged or another kind of file"
        )

    def _retry(self, doing: str, fn: Callable[[], T]) -> T:
        """fn() with SQLite's busy timeout per try and backoff between tries, ``lock_timeout`` in all."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise self._sqlite_error(exc) from exc
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CacheLockedError(
                        f"prediction cache {self.path}: locked by another process for more than "
                        f"{self.lock_timeout:g} s while {doing}; let the other run finish, give this run its "
                        "own cache file (cache=...), or wait longer (PredictionCache(path, lock_timeout=...))"
                    ) from exc
                time.sleep(min(left, delay * (0.5 + random.random())))
                delay = min(delay * 2, 1.0)
            except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
                raise self._sqlite_error(exc) from exc

    def _open(self) -> None:
        db = self._conn()
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if app_id == APPLICATION_ID:
            if version > SCHEMA_VERSION:
                raise self._file_error(
                    f"written by a newer airtune (cache schema {version}, this one reads {SCHEMA_VERSION})",
                    "run the airtune that wrote it, or pass another path as cache=",
                )
            if version == SCHEMA_VERSION:
                self._tune()
                return
        elif app_id != 0:
            raise self._file_error(f"an SQLite database of another application (application_id {app_id:#x})")
        db.execute("BEGIN IMMEDIATE")  # one process creates or migrates; the others then see the result
        try:
            self._create_or_migrate(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._tune()

    def _create_or_migrate(self, db: sqlite3.Connection) -> None:
        if db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
            return  # another process did it while we waited for the lock
        tables = sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'"))
        legacy = 0
        if tables == ["predictions"]:
            columns = [r[1] for r in db.execute("PRAGMA table_info(predictions)")]
            if columns != _V1_COLUMNS:
                raise self._file_error(f"an SQLite database with a foreign 'predictions' table {columns}")
            legacy = int(db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
            db.execute(f"ALTER TABLE predictions RENAME TO {_V1_KEPT_AS}")
        elif tables:
            raise self._file_error(f"an SQLite database of something else (tables: {', '.join(tables)})")
        db.execute(
            "CREATE TABLE answers (model TEXT NOT NULL, input_hash TEXT NOT NULL, params_hash TEXT NOT NULL, "
            "output TEXT NOT NULL, checksum TEXT NOT NULL, created REAL NOT NULL, "
            "PRIMARY KEY (model, input_hash, params_hash)) WITHOUT ROWID"
        )
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if tables:
            warnings.warn(
                f"prediction cache {self.path}: written by an earlier airtune, which keyed answers by the "
                f"model's name only (a changed model was served the old answers); its {legacy} answers "
                f"cannot be attributed to a model version, so they are kept in table {_V1_KEPT_AS} and never "
                "served: this run computes them again",
                UserWarning,
                stacklevel=4,
            )

    def _tune(self) -> None:
        db = self._conn()
        # WAL: readers never wait for the writer; synchronous=NORMAL: no fsync per answer (an answer
        # committed before a power cut may be lost, the file stays consistent).
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
