"""A fast OpenAI-compatible stub "model" for benchmarks/evaluate.py (its own process).

asyncio, HTTP/1.1 keep-alive, no framework: it answers /v1/chat/completions and /v1/completions in
microseconds, so a benchmark against it measures the evaluation harness, not a model. The answer
is a deterministic function of the model name and the prompt: the label after "label:" in the
prompt, replaced by another label for a share of prompts that depends on the model (``cand-a``
15%, ``cand-b`` 25%). ``GET /stats`` returns the requests served and the server's CPU seconds.

    python benchmarks/_stub_endpoint.py PORT
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time

LABELS = ["billing", "shipping", "returns", "account", "technical", "other"]
WRONG_SHARE = {"cand-a": 0.15, "cand-b": 0.25}


def answer(model: str, prompt: str) -> str:
    label = prompt.rsplit("label:", 1)[-1].strip().split()[0] if "label:" in prompt else "other"
    h = int.from_bytes(hashlib.blake2b(f"{model}|{prompt}".encode(), digest_size=8).digest(), "little")
    if (h % 10_000) / 10_000 < WRONG_SHARE.get(model, 0.0):
        label = LABELS[(LABELS.index(label) + 1 + h % 5) % len(LABELS)] if label in LABELS else "other"
    return label


STATS = {"requests": 0}


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            STATS["requests"] += 1
            if method == "GET" and path == "/stats":
                doc = {**STATS, "cpu_seconds": time.process_time()}
            elif method == "GET" and path.endswith("/models"):
                doc = {"object": "list", "data": [{"id": m, "object": "model"} for m in WRONG_SHARE]}
            else:
                req = json.loads(body)
                model = req.get("model", "")
                if "messages" in req:
                    text = answer(model, req["messages"][-1]["content"])
                    choice = {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                    kind = "chat.completion"
                else:
                    text = answer(
                        model, req["prompt"] if isinstance(req["prompt"], str) else req["prompt"][0]
                    )
                    choice = {"index": 0, "text": text, "finish_reason": "stop"}
                    kind = "text_completion"
                doc = {
                    "id": "stub",
                    "object": kind,
                    "created": 0,
                    "model": model,
                    "choices": [choice],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
                }
            payload = json.dumps(doc).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(payload)).encode()
                + b"\r\n\r\n"
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=256)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
