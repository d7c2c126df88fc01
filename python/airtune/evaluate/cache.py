"""The SQLite prediction cache: every model answer stored, so a rerun costs nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


class PredictionCache:
    """SQLite cache of model outputs keyed by (model, input hash, parameters).

    Thread safety: one connection guarded by a lock; reads and writes from worker threads are safe.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS predictions (model TEXT, input_hash TEXT, params TEXT, output TEXT, "
            "created REAL, PRIMARY KEY (model, input_hash, params))"
        )
        self._db.commit()

    @staticmethod
    def key(inp: Any) -> str:
        text = (
            inp if isinstance(inp, str) else json.dumps(inp, sort_keys=True, ensure_ascii=False, default=str)
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, model: str, inp: Any, params: str = "") -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT output FROM predictions WHERE model=? AND input_hash=? AND params=?",
                (model, self.key(inp), params),
            ).fetchone()
        return None if row is None else row[0]

    def put(self, model: str, inp: Any, output: str, params: str = "") -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?)",
                (model, self.key(inp), params, output, time.time()),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
