"""airtune.serve: a model folder (or base + LoRA adapter) behind an OpenAI-compatible HTTP API.

    airtune serve path/to/base --adapter out/adapter --port 8000
    # then: POST http://localhost:8000/v1/chat/completions {"model": "...", "messages": [...]}

:func:`create_app` (``serve/app.py``) builds the FastAPI application over a
:class:`~airtune.evaluate.LocalModel` with dynamic batching (``serve/batcher.py``); :func:`serve`
runs it with uvicorn; :func:`start_server` runs it in a background thread (notebooks, tests) and
returns its URL. Needs the ``serve`` extra (FastAPI, uvicorn) and the ``nn`` one (torch).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from .._results import require
from .app import create_app

__all__ = ["RunningServer", "create_app", "load", "serve", "start_server"]


def load(model: Any, adapter: Any = None, **options: Any) -> Any:
    """A LocalModel from a folder (model or adapter folder) or one already built."""
    from ..evaluate.models import LocalModel, resolve_model

    if isinstance(model, LocalModel):
        return model
    spec = {"base": model, "adapter": adapter} if adapter is not None else model
    resolved = resolve_model(spec, "served", **options)
    if not isinstance(resolved, LocalModel):
        raise TypeError(
            f"airtune serve runs a model folder or a base + adapter, not {type(resolved).__name__}"
        )
    return resolved


def serve(
    model: Any,
    adapter: Any = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    name: str | None = None,
    max_batch: int = 16,
    log_level: str = "info",
    **options: Any,
) -> None:
    """Serve until interrupted (uvicorn). ``options``: dtype, device, batch_size, prompt_format."""
    uvicorn = require("uvicorn", "serve")
    app = create_app(load(model, adapter, **options), name=name, max_batch=max_batch)
    uvicorn.run(app, host=host, port=int(port), log_level=log_level)


@dataclass
class RunningServer:
    """A server running in a background thread: ``base_url`` is what OpenAI clients take."""

    url: str
    name: str
    _server: Any
    _thread: threading.Thread

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_server(
    model: Any,
    adapter: Any = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str | None = None,
    max_batch: int = 16,
    timeout: float = 60.0,
    **options: Any,
) -> RunningServer:
    """Start serving in a background thread (``port=0``: a free port) and wait until it answers."""
    uvicorn = require("uvicorn", "serve")
    local = load(model, adapter, **options)
    app = create_app(local, name=name, max_batch=max_batch)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    config = uvicorn.Config(app, log_level=os.environ.get("AIRTUNE_SERVE_LOG", "warning"), lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="airtune-serve"
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"airtune serve did not start on {host}:{sock.getsockname()[1]}")
        time.sleep(0.01)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(f"http://{shown}:{bound}", app.state.served_name, server, thread)
