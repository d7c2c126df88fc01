"""A run folder: the outputs of every step of one run (curate, split, train, evaluate, cost,
monitor, report), each in its own sub-folder, and ``manifest.json`` that says what produced them.

    run = RunFolder("runs/r1")                       # created if absent; refused if not a run folder
    with run.step("split", inputs={"data": "curated.jsonl"}, options={"fraction": 0.1}) as step:
        if not step.reused:
            write(step.dir / "train.jsonl"); ...
            step.commit({"train": 900, "test": 100})
    step.result, step.exit_code, run.manifest["steps"]["split"]

A step writes into a staging folder (``RUN/.staging-<step>-...``); ``commit`` hashes its files,
moves the folder to ``RUN/<step>/`` (the previous one is removed only after) and rewrites the
manifest atomically (temporary file, fsync, rename) under a lock. An exception inside the ``with``
removes the staging folder and leaves the manifest and the previous outputs as they were: nothing
is ever half written. The manifest is the commit point: a ``RUN/<step>/`` whose files do not match
the manifest's hashes is never reused.

Reuse: a step's key hashes its name, the SHA-256 of every input (a folder: the names and contents
of all its files), its options and airtune's version. When the manifest holds a step with the same
key whose outputs are all present with their recorded SHA-256, ``step.reused`` is True and the
recorded result and exit code are given back without recomputing anything.

Manifest (``MANIFEST_VERSION`` 1)::

    {"kind": "airtune-run", "manifest_version": 1, "created": "...", "updated": "...",
     "versions": {"airtune": ..., "python": ..., "torch": ..., "numpy": ...},
     "steps": {"<step>": {"key", "started", "seconds", "exit_code",
                          "inputs": {name: {"path", "sha256", "bytes", "files"?}},
                          "options": {...}, "outputs": {relpath: {"sha256", "bytes"}},
                          "versions": {...}, "result": {...}}},
     "history": [{"step", "started", "seconds", "exit_code", "reused"}]}

Paths of outputs are relative to the run folder, so a run folder can be moved or copied.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .._atomic import write_text_atomic
from .._paths import file_sha256

__all__ = ["MANIFEST_VERSION", "RunFolder", "RunFolderError", "Step", "hash_path", "versions"]

#: The layout of ``manifest.json`` this airtune writes and reads.
MANIFEST_VERSION = 1
_KIND = "airtune-run"
_HISTORY = 200  # entries of the run history kept in the manifest
_MAX_MANIFEST = 64 << 20  # a manifest larger than this is not one of ours


class RunFolderError(ValueError):
    """A folder that is not a run folder this airtune can use (names the file and what is wrong)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """airtune, Python, numpy and torch versions (torch's from its installed metadata: never imported)."""
    from .. import __version__

    return {
        "airtune": __version__,
        "python": platform.python_version(),
        "numpy": _dist_version("numpy"),
        "torch": _dist_version("torch"),
        "platform": f"{platform.system()} {platform.machine()}",
    }


# ----------------------------------------------------------------------------------------------
# hashing


class _HashCache:
    """SHA-256 of files memoised by (device, inode) with their size and mtime in
    ``RUN/.cache/hashes.json``: a rerun does not read the weights of a model folder again, and a
    folder renamed into place (a committed step) keeps its hashes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, list] = {}
        self.dirty = False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    self.entries = {k: v for k, v in data.items() if isinstance(v, list) and len(v) == 3}
            except (OSError, ValueError):
                self.entries = {}  # a damaged cache is only a cache: rebuilt

    def file(self, p: Path) -> str:
        st = p.stat()
        key = f"{st.st_dev}:{st.st_ino}"
        stamp = [st.st_size, st.st_mtime_ns]
        hit = self.entries.get(key)
        if hit is not None and hit[:2] == stamp:
            return str(hit[2])
        digest = file_sha256(p)
        self.entries[key] = [*stamp, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if len(self.entries) > 100_000:  # bounded: keep the newest half
            self.entries = dict(list(self.entries.items())[-50_000:])
        write_text_atomic(self.path, json.dumps(self.entries))
        self.dirty = False


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def hash_path(path: str | os.PathLike, cache: _HashCache | None = None) -> dict[str, Any]:
    """{"path", "sha256", "bytes"} of a file, or of a folder (SHA-256 over the sorted relative
    names and SHA-256 of all its files, plus "files": their count). Raises FileNotFoundError, or
    RunFolderError for a pipe or another file that is not a regular one."""
    p = Path(path)
    cache = cache or _HashCache(None)
    if p.is_file():
        return {"path": str(p), "sha256": cache.file(p), "bytes": p.stat().st_size}
    if p.is_dir():
        h = hashlib.sha256()
        total = 0
        files = _files(p)
        for f in files:
            rel = f.relative_to(p).as_posix()
            h.update(f"{rel}\0{cache.file(f)}\n".encode("utf-8", "surrogateescape"))
            total += f.stat().st_size
        return {"path": str(p), "sha256": h.hexdigest(), "bytes": total, "files": len(files)}
    if p.exists():  # a pipe, a socket, a device: nothing to hash and read again
        raise RunFolderError(
            f"{p}: not a regular file or folder (a run step hashes its inputs: read it without --run)"
        )
    raise FileNotFoundError(f"{p}: no such file or folder")


# ----------------------------------------------------------------------------------------------
# the folder


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))


def _check_manifest(data: Any, where: Path) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RunFolderError(f"{where}: not a run manifest (a JSON object was expected)")
    if data.get("kind") != _KIND:
        hint = (
            " (it looks like the manifest of a curation output folder: pass the run folder, "
            "or give `airtune curate --run`)"
            if "stages" in data and "accounting" in data
            else ""
        )
        raise RunFolderError(f"{where}: not an airtune run manifest{hint}")
    version = data.get("manifest_version")
    if version != MANIFEST_VERSION:
        from .. import __version__

        age = "an older" if isinstance(version, int) and version < MANIFEST_VERSION else "another"
        raise RunFolderError(
            f"{where}: manifest version {version!r} was written by {age} airtune; airtune "
            f"{__version__} reads version {MANIFEST_VERSION}: start a new run folder (the old one is "
            "left as it is)"
        )
    steps = data.get("steps")
    if not isinstance(steps, dict):
        raise RunFolderError(f"{where}: 'steps' must be an object")
    for name, st in steps.items():
        if not isinstance(st, dict):
            raise RunFolderError(f"{where}: step {name!r} must be an object")
        for key, kind in (("key", str), ("outputs", dict), ("exit_code", int), ("result", dict)):
            if not isinstance(st.get(key), kind):
                raise RunFolderError(f"{where}: step {name!r}: {key!r} missing or not a {kind.__name__}")
        for rel, out in st["outputs"].items():
            if not isinstance(out, dict) or not isinstance(out.get("sha256"), str):
                raise RunFolderError(f"{where}: step {name!r}: output {rel!r} has no sha256")
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise RunFolderError(f"{where}: step {name!r}: output path {rel!r} leaves the run folder")
    if not isinstance(data.get("history", []), list):
        raise RunFolderError(f"{where}: 'history' must be a list")
    return data


class RunFolder:
    """The run folder at ``path`` (see the module docstring).

    ``create=True`` makes the folder when it is absent or empty. A folder that holds files but no
    ``manifest.json``, or a manifest of another kind or version, raises :class:`RunFolderError`
    (nothing is written to it)."""

    def __init__(self, path: str | os.PathLike, *, create: bool = True) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path}: exists and is not a folder")
        self.manifest_path = self.path / "manifest.json"
        if not self.manifest_path.exists() and (self.path / ".lock").exists():
            with self._locked():  # another process commits its first step: the folder and the manifest
                pass  # appear together under the lock
        if self.manifest_path.exists():
            self.manifest = self._read()
        else:
            visible = (
                [p.name for p in self.path.iterdir() if not p.name.startswith(".")]
                if self.path.exists()
                else []
            )
            if visible:
                raise RunFolderError(
                    f"{self.path}: not a run folder (no manifest.json, but it holds {sorted(visible)[:5]}): "
                    "give an empty or new folder"
                )
            if not create:
                raise RunFolderError(f"{self.path}: no manifest.json (not a run folder)")
            self.manifest = {
                "kind": _KIND,
                "manifest_version": MANIFEST_VERSION,
                "created": _now(),
                "updated": None,
                "versions": versions(),
                "steps": {},
                "history": [],
            }

    def _read(self) -> dict[str, Any]:
        p = self.manifest_path
        if not p.is_file():
            raise RunFolderError(f"{p}: not a regular file")
        if p.stat().st_size > _MAX_MANIFEST:
            raise RunFolderError(f"{p}: {p.stat().st_size} bytes: too large for a run manifest")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise RunFolderError(f"{p}: not valid JSON ({exc})") from None
        return _check_manifest(data, p)

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        return self.manifest["steps"]

    def output(self, step: str, rel: str) -> Path | None:
        """The path of a committed output file of ``step`` (``rel`` inside its folder), or None."""
        st = self.steps.get(step)
        if st is None or f"{step}/{rel}" not in st["outputs"]:
            return None
        return self.path / step / rel

    def step(
        self, name: str, *, inputs: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None
    ) -> Step:
        """A step of this run; use it as a context manager (see the module docstring).
        ``inputs``: name -> path (a file or folder, hashed) or None (absent). ``options``: anything
        JSON can hold (what changes the outputs; not presentation flags)."""
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"step name {name!r}: a plain folder name expected")
        return Step(self, name, dict(inputs or {}), dict(options or {}))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _hash_cache(self) -> _HashCache:
        return _HashCache(self.path / ".cache" / "hashes.json")

    def _write_manifest(self) -> None:
        self.manifest["updated"] = _now()
        self.manifest["versions"] = versions()
        write_text_atomic(
            self.manifest_path, json.dumps(self.manifest, indent=1, ensure_ascii=False, default=str)
        )
        with contextlib.suppress(OSError):  # the rename is durable once the folder is synced
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def record(self, entry: dict[str, Any]) -> None:
        """Append to the run history (a reused step is recorded too)."""
        with self._locked():
            if self.manifest_path.exists():
                self.manifest = self._read()
            hist = self.manifest.setdefault("history", [])
            hist.append(entry)
            del hist[:-_HISTORY]
            self._write_manifest()


class Step:
    """One step of a run: the staging folder ``dir`` to write into, ``commit`` to publish it.
    ``reused``: the manifest already holds this step with the same key and intact outputs;
    ``result`` and ``exit_code`` are then the recorded ones."""

    def __init__(self, run: RunFolder, name: str, inputs: dict[str, Any], options: dict[str, Any]) -> None:
        self.run = run
        self.name = name
        self.options = options
        self.started = _now()
        self._t0 = time.perf_counter()
        cache = run._hash_cache()
        self.inputs: dict[str, Any] = {}
        for k, v in inputs.items():
            self.inputs[k] = None if v is None else hash_path(v, cache)
        from .. import __version__

        self.key = hashlib.sha256(
            _canonical(
                [name, __version__, {k: (v or {}).get("sha256") for k, v in self.inputs.items()}, options]
            ).encode()
        ).hexdigest()
        prev = run.steps.get(name)
        self.reused = prev is not None and prev["key"] == self.key and self._intact(prev, cache)
        cache.save()
        self.result: dict[str, Any] = dict(prev["result"]) if prev is not None and self.reused else {}
        self.exit_code: int = int(prev["exit_code"]) if prev is not None and self.reused else 0
        self.dir = (
            run.path / name if self.reused else run.path / f".staging-{name}-{os.getpid()}-{time.time_ns()}"
        )
        self.committed = False

    def _intact(self, prev: dict[str, Any], cache: _HashCache) -> bool:
        for rel, out in prev["outputs"].items():
            p = self.run.path / rel
            if not p.is_file() or p.stat().st_size != out.get("bytes") or cache.file(p) != out["sha256"]:
                return False
        return True

    @property
    def final_dir(self) -> Path:
        return self.run.path / self.name

    def __enter__(self) -> Step:
        if not self.reused:
            self.dir.mkdir(parents=True)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self.reused and not self.committed:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self.reused and exc_type is None:
            self.run.record(
                {
                    "step": self.name,
                    "started": self.started,
                    "seconds": 0.0,
                    "exit_code": self.exit_code,
                    "reused": True,
                }
            )

    def commit(
        self, result: Mapping[str, Any] | None = None, exit_code: int = 0, *, seconds: float | None = None
    ) -> None:
        """Publish the staging folder as ``RUN/<step>/`` and record the step in the manifest.
        ``seconds``: the work's own duration when it ran before the step was opened (a driver such
        as the demo records finished work); by default the time since the step was opened."""
        if self.reused:
            raise RuntimeError(f"step {self.name!r} was reused: nothing to commit")
        if self.committed:
            raise RuntimeError(f"step {self.name!r} is already committed")
        cache = self.run._hash_cache()
        outputs = {}
        for f in _files(self.dir):
            rel = f"{self.name}/{f.relative_to(self.dir).as_posix()}"
            outputs[rel] = {"sha256": cache.file(f), "bytes": f.stat().st_size}
        if seconds is None:
            seconds = time.perf_counter() - self._t0
        entry = {
            "key": self.key,
            "started": self.started,
            "seconds": round(seconds, 3),
            "exit_code": int(exit_code),
            "inputs": self.inputs,
            "options": self.options,
            "outputs": outputs,
            "versions": versions(),
            "result": json.loads(_canonical(dict(result or {}))),
        }
        with self.run._locked():
            if self.run.manifest_path.exists():
                self.run.manifest = self.run._read()
            final, old = self.final_dir, None
            if final.exists():
                old = self.run.path / f".old-{self.name}-{os.getpid()}-{time.time_ns()}"
                os.rename(final, old)
            os.rename(self.dir, final)
            self.dir = final
            self.run.manifest["steps"][self.name] = entry
            hist = self.run.manifest.setdefault("history", [])
            hist.append(
                {
                    "step": self.name,
                    "started": self.started,
                    "seconds": entry["seconds"],
                    "exit_code": int(exit_code),
                    "reused": False,
                }
            )
            del hist[:-_HISTORY]
            self.run._write_manifest()
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        cache.save()
        self.result = entry["result"]
        self.exit_code = int(exit_code)
        self.committed = True
