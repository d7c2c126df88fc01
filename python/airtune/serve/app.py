"""The OpenAI-compatible HTTP API (FastAPI) over a LocalModel: ``/v1/chat/completions``,
``/v1/completions``, ``/v1/models``, ``/health``.

Chat requests are formatted exactly as the model was trained (:func:`airtune.train.format.format_row`:
the recorded instruct format or the chat template); ``/v1/completions`` takes raw text (tokenized
with the tokenizer's special tokens, as OpenAI-style servers do). Errors have OpenAI's shape
``{"error": {"message", "type", "param", "code"}}``: 400 for a bad request (unparsable JSON, a bad
field, a prompt longer than the context, ``stream`` or ``n`` > 1, which are not supported), 404 for
another model name, 500 when generation itself fails.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations (fastapi.Request)
# at definition time, inside create_app where fastapi is imported lazily.
import asyncio
import time
import uuid
from typing import Any

from .._results import require
from ..evaluate.models import Completion, GenerationParams, LocalModel
from .batcher import Batcher


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


DEFAULT_MAX_TOKENS = 256


def _number(body: dict[str, Any], name: str, default: Any, kind: type) -> Any:
    v = body.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ApiError(400, f"'{name}' must be a number", name, "invalid_type")
    return kind(v)


def _params(body: dict[str, Any]) -> GenerationParams:
    """Generation parameters of an OpenAI request (temperature defaults to 1, as OpenAI's)."""
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise ApiError(400, "'stop' must be a string or a list of strings", "stop", "invalid_type")
    if body.get("stream"):
        raise ApiError(400, "stream=true is not supported by airtune serve", "stream", "unsupported")
    if _number(body, "n", 1, int) != 1:
        raise ApiError(400, "only n=1 is supported", "n", "unsupported")
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    try:
        return GenerationParams(
            max_tokens=_number(body, key, DEFAULT_MAX_TOKENS, int),
            temperature=_number(body, "temperature", 1.0, float),
            top_p=_number(body, "top_p", 1.0, float),
            top_k=_number(body, "top_k", 0, int),
            seed=_number(body, "seed", 0, int),
            stop=tuple([stop] if isinstance(stop, str) else (stop or [])),
        )
    except ValueError as exc:
        raise ApiError(400, str(exc), None, "invalid_value") from exc


def _finish(c: Completion) -> str:
    return "length" if c.finish_reason == "length" else "stop"


def create_app(
    model: LocalModel, name: str | None = None, max_batch: int = 16, max_wait: float = 0.005
) -> Any:
    """The FastAPI application serving ``model`` under ``name`` (default: the folder's name)."""
    require("fastapi", "serve")  # an ImportError naming the extra when it is missing
    import fastapi
    from fastapi.responses import JSONResponse

    served = name or model.name
    created = int(time.time())
    batcher = Batcher(model, max_batch=max_batch, max_wait=max_wait)
    app = fastapi.FastAPI(title=f"airtune serve: {served}")
    app.state.batcher = batcher
    app.state.model = model
    app.state.served_name = served
    app.router.add_event_handler("shutdown", batcher.close)

    @app.exception_handler(ApiError)
    async def api_error(_request: Any, exc: ApiError) -> Any:
        kind = "invalid_request_error" if exc.status < 500 else "server_error"
        err = {"message": exc.message, "type": kind, "param": exc.param, "code": exc.code}
        return JSONResponse({"error": err}, status_code=exc.status)

    async def body_of(request: Any) -> dict[str, Any]:
        try:
            body = await request.json()
        except Exception as exc:  # noqa: BLE001 - any parse failure is the client's
            raise ApiError(400, f"the request body is not valid JSON: {exc}", None, "invalid_json") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object", None, "invalid_json")
        requested = body.get("model")
        if requested is not None and requested != served:
            raise ApiError(
                404,
                f"the model {requested!r} does not exist; this server serves {served!r}",
                "model",
                "model_not_found",
            )
        return body

    def check_length(ids: list[int], where: str) -> list[int]:
        if model.context and len(ids) >= model.context:
            raise ApiError(
                400,
                f"{where}: {len(ids)} prompt tokens leave no room in the model's context of {model.context} tokens",
                where,
                "context_length_exceeded",
            )
        return ids

    async def run(prompts: list[list[int]], params: GenerationParams) -> list[Completion]:
        out = await asyncio.wrap_future(batcher.submit(prompts, params))
        for c in out:
            if not c.ok:
                raise ApiError(500, f"generation failed: {c.error}", None, c.reason)
        return out

    def usage(prompts: list[list[int]], out: list[Completion]) -> dict[str, int]:
        p = sum(len(x) for x in prompts)
        c = sum(o.usage.get("completion_tokens", 0) for o in out)
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": served, "object": "model", "created": created, "owned_by": "airtune"}],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: fastapi.Request) -> Any:
        body = await body_of(request)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, "'messages' must be a non-empty list", "messages", "invalid_type")
        for i, m in enumerate(messages):
            if (
                not isinstance(m, dict)
                or not isinstance(m.get("role"), str)
                or not isinstance(m.get("content"), str)
            ):
                raise ApiError(
                    400, f"messages[{i}] must have a string 'role' and 'content'", "messages", "invalid_type"
                )
        params = _params(body)
        ids = model.prompt_ids([{"role": m["role"], "content": m["content"]} for m in messages])
        if isinstance(ids, str):
            raise ApiError(
                400,
                f"messages cannot be formatted with the model's {model.prompt_format.mode} format: {ids}",
                "messages",
                "invalid_messages",
            )
        prompts = [check_length(ids, "messages")]
        out = await run(prompts, params)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": served,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": out[0].text},
                    "finish_reason": _finish(out[0]),
                }
            ],
            "usage": usage(prompts, out),
        }

    @app.post("/v1/completions")
    async def completions(request: fastapi.Request) -> Any:
        body = await body_of(request)
        prompt = body.get("prompt")
        texts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise ApiError(
                400, "'prompt' must be a string or a non-empty list of strings", "prompt", "invalid_type"
            )
        params = _params(body)
        encoded = model.tokenizer.encode_batch(texts, add_special_tokens=True)
        prompts = [check_length(list(ids), "prompt") for ids in encoded]
        if any(not p for p in prompts):
            raise ApiError(400, "an empty prompt has no tokens", "prompt", "invalid_value")
        out = await run(prompts, params)
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": served,
            "choices": [
                {"index": i, "text": c.text, "finish_reason": _finish(c), "logprobs": None}
                for i, c in enumerate(out)
            ],
            "usage": usage(prompts, out),
        }

    return app
