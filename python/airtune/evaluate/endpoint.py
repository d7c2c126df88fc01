"""An OpenAI-compatible endpoint as a model (vLLM, TGI, llama.cpp's server, OpenAI, ``airtune serve``).

Requests go out ``concurrency`` at a time over kept-alive connections (one per worker thread, the
standard library's ``http.client``: no dependency). Each request has a ``timeout`` (connect and each
read); a timeout, a refused or dropped connection, a 429 or a 5xx is retried up to ``retries`` times
with exponential backoff (``backoff`` * 2^attempt seconds, at most ``max_backoff``; a ``Retry-After``
header is honoured within that bound). Other 4xx answers and malformed JSON are not retried. A
prompt that still fails becomes a counted :class:`~airtune.evaluate.models.Completion` failure
(``timeout``, ``connection``, ``http_429``, ``http_5xx``, ``http_4xx``, ``malformed_response``);
after ``max_consecutive_failures`` failed prompts in a row the endpoint is taken as down and the
rest fail at once as ``endpoint_down`` (no hour of retries against a dead server). ``stats`` counts
requests, retries, failures and the seconds spent waiting on the server.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from .models import Completion, GenerationParams, OnResult, Prompt, _emit

RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


class EndpointError(RuntimeError):
    """The endpoint cannot be used at all (bad URL, missing API key)."""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class EndpointModel:
    """``base_url`` (e.g. ``http://localhost:8000/v1``) + ``model`` (the served name).

    ``api_key_env``: the environment variable holding the key (sent as ``Authorization: Bearer``);
    None: ``OPENAI_API_KEY`` when set, else no key. ``chat``: ``/chat/completions`` with messages
    (a string prompt is one user message) or ``/completions`` with the prompt text. ``extra_body``:
    more JSON fields for every request. Identity (the cache key): base URL + model name.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        chat: bool = True,
        concurrency: int = 8,
        timeout: float = 60.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_consecutive_failures: int = 16,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        parts = urlsplit(str(base_url).rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EndpointError(f"endpoint {base_url!r}: expected an http(s)://host[:port]/path base URL")
        if not model:
            raise EndpointError(f"endpoint {base_url!r}: no model name")
        self.base_url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self.model = str(model)
        self.identity = f"endpoint:{self.base_url}|{self.model}"
        self.chat = bool(chat)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._route = parts.path + ("/chat/completions" if self.chat else "/completions")
        self.api_key_env = api_key_env
        if api_key_env is not None and not os.environ.get(api_key_env):
            raise EndpointError(
                f"endpoint {self.base_url}: environment variable {api_key_env} (the API key) is not set"
            )
        self.concurrency = max(1, int(concurrency))
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_consecutive_failures = max(1, int(max_consecutive_failures))
        self.extra_body = dict(extra_body or {})
        self.stats: Counter[str] = Counter()
        self.wait_seconds = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._consecutive = 0
        self._down = ""
        self._pool: ThreadPoolExecutor | None = None

    # -- transport -------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env or "OPENAI_API_KEY")
        if key:
            h["Authorization"] = f"Bearer {key}"
        return h

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _post(self, body: bytes) -> tuple[int, str | None, bytes]:
        """One round trip: (status, Retry-After, body); raises OSError / HTTPException on transport errors.

        A kept-alive connection the server closed while idle fails on first use: that one is reopened
        and the request sent again at once (not an attempt: the server never saw it)."""
        for fresh in (getattr(self._local, "conn", None) is None, True):
            conn = self._connection()
            t0 = time.perf_counter()
            try:
                conn.request("POST", self._route, body=body, headers=self._headers())
                resp = conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self._drop_connection()
                return resp.status, resp.getheader("Retry-After"), data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop_connection()
                if fresh:
                    raise
            except BaseException:
                self._drop_connection()
                raise
            finally:
                with self._lock:
                    self.wait_seconds += time.perf_counter() - t0
                    self.stats["requests"] += 1
        raise AssertionError("unreachable")

    # -- one prompt ------------------------------------------------------------------------------
    def request_body(self, prompt: Prompt, params: GenerationParams) -> dict[str, Any] | str:
        body: dict[str, Any] = {"model": self.model, "max_tokens": int(params.max_tokens), "n": 1}
        if self.chat:
            if isinstance(prompt, str):
                body["messages"] = [{"role": "user", "content": prompt}]
            elif isinstance(prompt, list) and prompt and all(isinstance(m, dict) for m in prompt):
                body["messages"] = prompt
            else:
                return "a chat prompt must be a string or a list of role/content dicts"
        else:
            if not isinstance(prompt, str):
                return "a /completions prompt must be a string (use chat=True for conversations)"
            body["prompt"] = prompt
        body["temperature"] = float(params.temperature)
        if not params.greedy:
            body["top_p"] = float(params.top_p)
            body["seed"] = int(params.seed)
            if params.top_k:
                body["top_k"] = int(params.top_k)
        if params.stop:
            body["stop"] = list(params.stop)
        body.update(self.extra_body)
        return body

    def _parse(self, data: bytes) -> Completion:
        try:
            doc = json.loads(data)
            choice = doc["choices"][0]
            text = choice["message"]["content"] if self.chat else choice["text"]
            if not isinstance(text, str):
                raise TypeError(f"content is {type(text).__name__}")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            snippet = data[:200].decode("utf-8", "replace")
            return Completion.failed("malformed_response", f"{type(exc).__name__}: {exc}; body {snippet!r}")
        usage = doc.get("usage") if isinstance(doc.get("usage"), dict) else {}
        usage = {k: int(v) for k, v in usage.items() if isinstance(v, int)}
        return Completion(text, str(choice.get("finish_reason") or ""), usage=usage)

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """One prompt with retries; never raises for what the server or the network does."""
        if self._down:
            return Completion.failed("endpoint_down", self._down)
        body = self.request_body(prompt, params)
        if isinstance(body, str):
            return Completion.failed("unformattable_prompt", body)
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        result = Completion.failed("not_run")
        for attempt in range(self.retries + 1):
            wait_hint: float | None = None
            try:
                status, retry_after, data = self._post(payload)
            except TimeoutError as exc:
                result = Completion.failed("timeout", f"no answer within {self.timeout:g} s ({exc})")
            except (OSError, http.client.HTTPException) as exc:
                result = Completion.failed("connection", f"{type(exc).__name__}: {exc}")
            else:
                if status == 200:
                    result = self._parse(data)
                    break
                snippet = data[:300].decode("utf-8", "replace")
                kind = "http_429" if status == 429 else ("http_5xx" if status >= 500 else "http_4xx")
                result = Completion.failed(kind, f"HTTP {status}: {snippet}")
                if status not in RETRYABLE_STATUS:
                    break
                wait_hint = _retry_after(retry_after)
            if attempt == self.retries or self._down:
                break
            with self._lock:
                self.stats["retries"] += 1
            delay = self.backoff * 2**attempt if wait_hint is None else wait_hint
            time.sleep(min(self.max_backoff, delay))
        with self._lock:
            if result.ok:
                self._consecutive = 0
            else:
                self.stats[f"failed:{result.reason}"] += 1
                self._consecutive += 1
                if self._consecutive >= self.max_consecutive_failures and not self._down:
                    self._down = (
                        f"{self.base_url}: {self._consecutive} prompts in a row failed (last: {result.error}); "
                        f"the rest were not sent"
                    )
        return result

    # -- the protocol ----------------------------------------------------------------------------
    def generate(
        self, prompts: Sequence[Prompt], params: GenerationParams, on_result: OnResult | None = None
    ) -> list[Completion]:
        out: list[Completion] = [Completion.failed("not_run")] * len(prompts)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix="airtune-endpoint"
            )

        def one(i: int) -> None:
            _emit(out, i, self.complete(prompts[i], params), on_result)

        for f in [self._pool.submit(one, i) for i in range(len(prompts))]:
            f.result()
        return out

    def reset(self) -> None:
        """Forget an earlier 'endpoint down' verdict (e.g. after the server was restarted)."""
        with self._lock:
            self._down = ""
            self._consecutive = 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)
