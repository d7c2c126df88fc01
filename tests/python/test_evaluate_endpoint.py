"""The endpoint client against real HTTP servers started here on localhost (no mock of the HTTP
layer): answers, retries with backoff on 429 / 5xx, timeouts against a server that hangs, malformed
JSON, a server that is down, the concurrency limit, and the prediction cache across a run that fails
half way. These servers are small stdlib servers written for the test; the real ``airtune serve``
is tested in test_serve.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import airtune.evaluate as E
import pytest
from airtune.evaluate.endpoint import EndpointError, EndpointModel
from airtune.evaluate.models import Completion, GenerationParams


class Behaviour:
    """What the test server does; `plan` maps a prompt to a list of actions, one per request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.plan: dict[str, list[str]] = {}
        self.default = "ok"
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self.headers: list[dict] = []

    def next_action(self, prompt: str) -> str:
        with self.lock:
            steps = self.plan.get(prompt)
            return steps.pop(0) if steps else self.default


def answer_for(prompt: str) -> str:
    return prompt.upper()[::-1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, payload: bytes, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        b: Behaviour = self.server.behaviour  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
        with b.lock:
            b.requests.append(body)
            b.headers.append(dict(self.headers))
            b.in_flight += 1
            b.max_in_flight = max(b.max_in_flight, b.in_flight)
        try:
            action = b.next_action(prompt)
            if b.delay:
                time.sleep(b.delay)
            if action == "hang":
                time.sleep(3.0)
                action = "ok"
            if action == "429":
                self._send(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": "0"})
            elif action == "500":
                self._send(500, b'{"error": {"message": "boom"}}')
            elif action == "400":
                self._send(400, b'{"error": {"message": "bad prompt"}}')
            elif action == "garbage":
                self._send(200, b'{"choices": [{"message": {"content": ')
            elif action == "nocontent":
                self._send(200, b'{"choices": []}')
            else:
                if action == "drop_after":  # closes the kept-alive connection silently afterwards
                    self.close_connection = True
                text = answer_for(prompt)
                if "messages" in body:
                    choice = {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                else:
                    choice = {"index": 0, "text": text, "finish_reason": "stop"}
                doc = {
                    "object": "chat.completion",
                    "choices": [choice],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
                }
                self._send(200, json.dumps(doc).encode())
        finally:
            with b.lock:
                b.in_flight -= 1


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.behaviour = Behaviour()  # type: ignore[attr-defined]
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/v1"


FAST = dict(backoff=0.01, max_backoff=0.05, timeout=5.0)


def test_answers_in_order_with_the_request_fields(server) -> None:
    m = EndpointModel(_url(server), "tiny", concurrency=4, **FAST)
    prompts = [f"prompt {i}" for i in range(40)]
    params = GenerationParams(max_tokens=7, stop=("\n",))
    out = m.generate(prompts, params)
    assert [c.text for c in out] == [answer_for(p) for p in prompts]
    body = server.behaviour.requests[0]
    assert body["model"] == "tiny" and body["max_tokens"] == 7 and body["stop"] == ["\n"]
    assert body["temperature"] == 0.0 and "seed" not in body  # greedy: no sampling knobs
    assert server.behaviour.max_in_flight <= 4
    assert m.identity == f"endpoint:{_url(server)}|tiny"
    sampled = GenerationParams(temperature=0.7, top_p=0.9, seed=5)
    m.generate(["x"], sampled)
    last = server.behaviour.requests[-1]
    assert last["temperature"] == 0.7 and last["top_p"] == 0.9 and last["seed"] == 5


def test_concurrency_limit_is_respected(server) -> None:
    server.behaviour.delay = 0.05
    m = EndpointModel(_url(server), "tiny", concurrency=3, **FAST)
    m.generate([f"p{i}" for i in range(24)], GenerationParams())
    assert server.behaviour.max_in_flight == 3


def test_retries_with_backoff_on_429_and_500(server) -> None:
    b = server.behaviour
    b.plan = {"a": ["429", "429"], "b": ["500", "500", "500"], "c": ["500"] * 10}
    m = EndpointModel(_url(server), "tiny", retries=3, **FAST)
    out = m.generate(["a", "b", "c"], GenerationParams())
    assert out[0].text == answer_for("a") and out[1].text == answer_for("b")
    assert not out[2].ok and out[2].reason == "http_5xx" and "HTTP 500" in out[2].error
    sent = [r["messages"][-1]["content"] for r in b.requests]
    assert sent.count("a") == 3 and sent.count("b") == 4 and sent.count("c") == 4  # retries + 1 at most
    assert m.stats["retries"] == 2 + 3 + 3 and m.stats["failed:http_5xx"] == 1


def test_retry_after_is_honoured_within_the_bound(server) -> None:
    b = server.behaviour
    b.plan = {"a": ["429"]}
    m = EndpointModel(_url(server), "tiny", retries=1, backoff=5.0, max_backoff=5.0, timeout=5.0)
    t0 = time.perf_counter()
    assert m.generate(["a"], GenerationParams())[0].ok
    assert time.perf_counter() - t0 < 2.0  # Retry-After: 0 beat the 5 s backoff


def test_client_errors_and_malformed_json_are_counted_not_retried(server) -> None:
    b = server.behaviour
    b.plan = {"bad": ["400"], "junk": ["garbage"], "empty": ["nocontent"]}
    m = EndpointModel(_url(server), "tiny", retries=3, **FAST)
    out = m.generate(["bad", "junk", "empty", "fine"], GenerationParams())
    assert [c.reason for c in out[:3]] == ["http_4xx", "malformed_response", "malformed_response"]
    assert out[3].text == answer_for("fine")
    assert len(b.requests) == 4  # none retried


def test_a_connection_closed_by_the_server_while_idle_is_reopened_not_retried(server) -> None:
    b = server.behaviour
    b.default = "drop_after"
    m = EndpointModel(_url(server), "tiny", concurrency=1, retries=0, **FAST)
    out = m.generate([f"p{i}" for i in range(5)], GenerationParams())
    assert [c.text for c in out] == [answer_for(f"p{i}") for i in range(5)]
    assert m.stats["retries"] == 0 and len(b.requests) == 5


def test_a_server_that_hangs_times_out(server) -> None:
    b = server.behaviour
    b.default = "hang"
    m = EndpointModel(_url(server), "tiny", timeout=0.3, retries=1, backoff=0.01, max_backoff=0.01)
    t0 = time.perf_counter()
    out = m.generate(["a"], GenerationParams())
    took = time.perf_counter() - t0
    assert out[0].reason == "timeout" and "0.3 s" in out[0].error
    assert len(b.requests) == 2 and took < 2.0  # two attempts of 0.3 s, not the server's 3 s


def test_an_endpoint_that_is_down_fails_fast_after_a_few_prompts() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    m = EndpointModel(
        f"http://127.0.0.1:{port}/v1", "tiny", retries=2, max_consecutive_failures=5, concurrency=1, **FAST
    )
    out = m.generate([f"p{i}" for i in range(200)], GenerationParams())
    reasons = [c.reason for c in out]
    assert reasons[:5] == ["connection"] * 5 and set(reasons[5:]) == {"endpoint_down"}
    assert m.stats["requests"] == 5 * 3  # the other 195 were never sent


def test_api_key_from_the_environment(server, monkeypatch) -> None:
    with pytest.raises(EndpointError, match="AIRTUNE_TEST_KEY"):
        EndpointModel(_url(server), "tiny", api_key_env="AIRTUNE_TEST_KEY")
    monkeypatch.setenv("AIRTUNE_TEST_KEY", "sekret")
    m = EndpointModel(_url(server), "tiny", api_key_env="AIRTUNE_TEST_KEY", **FAST)
    m.generate(["a"], GenerationParams())
    assert server.behaviour.headers[-1]["Authorization"] == "Bearer sekret"
    with pytest.raises(EndpointError, match="base URL"):
        EndpointModel("localhost:8000", "tiny")


def test_completions_route(server) -> None:
    m = EndpointModel(_url(server), "tiny", chat=False, **FAST)
    out = m.generate(["abc", [{"role": "user", "content": "x"}]], GenerationParams())
    assert out[0].text == answer_for("abc")
    assert out[1].reason == "unformattable_prompt"
    assert server.behaviour.requests[0]["prompt"] == "abc"


def _records(n: int) -> list[dict]:
    return [{"input": f"question {i}", "reference": answer_for(f"question {i}")} for i in range(n)]


def test_evaluate_through_the_cache_keeps_answers_of_a_run_that_fails_half_way(
    server, tmp_path: Path
) -> None:
    b = server.behaviour
    recs = _records(30)
    failing = {f"question {i}" for i in range(0, 30, 3)}
    b.plan = {p: ["500"] * 50 for p in failing}
    cache = tmp_path / "preds.sqlite"
    spec = {"endpoint": _url(server), "model": "tiny", "retries": 1, "max_consecutive_failures": 100, **FAST}
    with pytest.raises(E.PredictionError, match=r"failed on 10 of 30 rows \(http_5xx: 10\)") as err:
        E.evaluate(
            recs,
            {"ep": spec},
            metrics=["exact_match"],
            cache=cache,
            progress=False,
            n_samples=50,
            ar_trials=50,
        )
    assert err.value.failures == {"ep": {"http_5xx": 10}}
    assert len(E.PredictionCache(cache)) == 20  # every answer received survived the failure
    b.plan = {}
    b.requests.clear()
    rep = E.evaluate(
        recs, {"ep": spec}, metrics=["exact_match"], cache=cache, progress=False, n_samples=50, ar_trials=50
    )
    assert len(b.requests) == 10  # only the failed rows were asked again
    assert rep.settings["cache_hits"]["ep"] == 20
    assert rep.table.score.iloc[0] == pytest.approx(1.0)
    b.requests.clear()
    rep = E.evaluate(
        recs, {"ep": spec}, metrics=["exact_match"], cache=cache, progress=False, n_samples=50, ar_trials=50
    )
    assert len(b.requests) == 0 and rep.settings["cache_hits"]["ep"] == 30
    # Another model name, other generation parameters: never the stale answers.
    other = {**spec, "model": "tiny-v2"}
    E.evaluate(
        recs, {"ep": other}, metrics=["exact_match"], cache=cache, progress=False, n_samples=50, ar_trials=50
    )
    assert len(b.requests) == 30
    E.evaluate(
        recs,
        {"ep": spec},
        metrics=["exact_match"],
        cache=cache,
        progress=False,
        n_samples=50,
        ar_trials=50,
        generation={"max_tokens": 12},
    )
    assert len(b.requests) == 60
    assert rep.settings["model_identities"]["ep"] == f"endpoint:{_url(server)}|tiny"


def test_on_failure_score_counts_the_failed_rows(server, tmp_path: Path) -> None:
    b = server.behaviour
    recs = _records(10)
    b.plan = {"question 4": ["garbage"]}
    spec = {"endpoint": _url(server), "model": "tiny", **FAST}
    rep = E.evaluate(
        recs,
        {"ep": spec},
        metrics=["exact_match"],
        on_failure="score",
        progress=False,
        n_samples=50,
        ar_trials=50,
    )
    assert rep.settings["failures"] == {"ep": {"malformed_response": 1}}
    assert rep.predictions["ep"][4] == "" and rep.table.score.iloc[0] == pytest.approx(0.9)


class Interrupted(Exception):
    pass


class DiesHalfWay:
    """A GenerativeModel that answers 5 prompts, then its process "dies" (an exception mid-call)."""

    identity = "dies-half-way"

    def generate(self, prompts, params, on_result=None):
        for i, p in enumerate(prompts):
            if i == 5:
                raise Interrupted("killed")
            on_result(i, Completion(answer_for(p), "stop"))


def test_answers_before_a_crash_are_in_the_cache(tmp_path: Path) -> None:
    cache = E.PredictionCache(tmp_path / "c.sqlite")
    with pytest.raises(Interrupted):
        E.predict(DiesHalfWay(), [f"q{i}" for i in range(20)], cache=cache, show_progress=False)
    assert len(cache) == 5
    assert cache.get("dies-half-way", "q3", GenerationParams().key()) == answer_for("q3")


def test_generation_params_validation_and_key() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        GenerationParams(max_tokens=0)
    with pytest.raises(ValueError, match="top_p"):
        GenerationParams(top_p=0)
    with pytest.raises(ValueError, match="unknown parameters"):
        GenerationParams.of({"max_new_tokens": 3})
    assert GenerationParams(seed=1).key() == GenerationParams(seed=2).key()  # greedy ignores the seed
    assert GenerationParams(temperature=1, seed=1).key() != GenerationParams(temperature=1, seed=2).key()
    assert GenerationParams(stop="x").stop == ("x",)


def test_resolve_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs its model name"):
        E.resolve_model("http://localhost:1/v1", "m")
    with pytest.raises(E.ModelFolderError, match="does not exist"):
        E.resolve_model(tmp_path / "nope", "m")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(E.ModelFolderError, match="model_type 'bert' is not supported"):
        E.resolve_model(tmp_path / "bert", "m")
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(E.ModelFolderError, match="no \\*.safetensors weights"):
        E.resolve_model(tmp_path / "llama", "m")
    (tmp_path / "llama" / "model.safetensors").write_bytes(b"")
    with pytest.raises(E.ModelFolderError, match="tokenizer.json: missing"):
        E.resolve_model(tmp_path / "llama", "m")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(E.ModelFolderError, match="unreadable the model config"):
        E.resolve_model(tmp_path / "broken", "m")


def test_cli_evaluate_with_an_endpoint_and_logged_answers(server, tmp_path: Path) -> None:
    data = tmp_path / "test.jsonl"
    recs = _records(12)
    for i, r in enumerate(recs):
        r["logged"] = r["reference"] if i % 2 else "wrong"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    cmd = [
        sys.executable,
        "-m",
        "airtune.cli",
        "evaluate",
        str(data),
        "--predictions",
        "api=logged",
        "--model",
        f"ft={_url(server)}",
        "--endpoint-model",
        "ft=tiny",
        "--metric",
        "exact_match",
        "--baseline",
        "api",
        "--margin",
        "0.05",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--predictions-out",
        str(tmp_path / "preds.jsonl"),
        "--no-progress",
    ]
    env = {"PYTHONPATH": str(Path(E.__file__).resolve().parents[2]), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "exact_match" in done.stdout
    preds = [json.loads(line) for line in (tmp_path / "preds.jsonl").read_text().splitlines()]
    assert [p["ft"] for p in preds] == [r["reference"] for r in recs]
    assert [p["api"] for p in preds] == [r["logged"] for r in recs]
    server.behaviour.default = "500"
    bad = subprocess.run(
        cmd[:-3] + ["--cache", str(tmp_path / "other.sqlite"), "--retries", "0", "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 1 and "failed on 12 of 12 rows" in bad.stderr
