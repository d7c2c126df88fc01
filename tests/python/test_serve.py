"""Models in, predictions out, on tiny models built here: model folders and adapters generate on
airtune's runtime (checked against transformers and PEFT), AdapterModel.generate without a merged
folder, the prompt format shared with the trainer (parity, mismatch errors), and `airtune serve`
as a real HTTP server on localhost, called by the evaluator's endpoint client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("airtune._nn")

import airtune.evaluate as E  # noqa: E402
from airtune.evaluate.models import GenerationParams, LocalModel  # noqa: E402
from airtune.serve import start_server  # noqa: E402
from airtune.train import FormatMismatchError, LoraConfig, load_adapter, train_lora  # noqa: E402
from airtune.train.format import PromptFormat, Tokenization, check_parity, format_row  # noqa: E402
from tiny_models import tiny_causal_lm, write_tokenizer  # noqa: E402

WORDS = "the quick brown fox jumps over the lazy dog hello world how are you today".split()


def _rows(n: int, seed: int = 0) -> list[dict]:
    import random

    rng = random.Random(seed)
    return [
        {
            "input": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))),
            "reference": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))),
        }
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("base")
    tiny_causal_lm(folder, "llama", 0, weight_scale=0.1, norm_scale=0.1)
    write_tokenizer(folder)
    return folder


@pytest.fixture(scope="module")
def adapter(base, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("adapter")
    rows = [{"prompt": r["input"], "completion": r["reference"]} for r in _rows(16, 1)]
    cfg = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules="all-linear",
        mode="instruct",
        instruct_template="Q: {prompt}\nA:",
        max_steps=3,
        batch_size=4,
        learning_rate=5e-2,
        device="cpu",
        dtype="float32",
    )
    train_lora(base, rows, config=cfg, output_dir=out, show_progress=False)
    return out


def _hf_greedy(folder: Path, ids: list[int], n: int) -> list[int]:
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        out = model.generate(
            torch.tensor([ids]), max_new_tokens=n, do_sample=False, eos_token_id=2, pad_token_id=0
        )
    return out[0, len(ids) :].tolist()


def test_local_model_generates_what_transformers_generates(base) -> None:
    m = LocalModel(base, device="cpu", batch_size=3)
    assert m.prompt_format.mode == "chat"  # the tiny tokenizer has a chat template
    prompts = [r["input"] for r in _rows(5)]
    out = m.generate(prompts, GenerationParams(max_tokens=6))
    tok = m.tokenizer
    for p, c in zip(prompts, out):
        ids = m.prompt_ids(p)
        assert (
            ids
            == tok.encode_batch(
                [tok.apply_chat_template([{"role": "user", "content": p}])], add_special_tokens=False
            )[0]
        )
        ref = _hf_greedy(base, ids, 6)
        while ref and ref[-1] == 0:
            ref.pop()
        assert c.ok and c.usage["completion_tokens"] == len(ref)
        assert c.text == tok.decode(ref, skip_special_tokens=True)
    assert m.identity.startswith("airtune-local:") and LocalModel(base, device="cpu").identity == m.identity


def test_sampled_answers_do_not_depend_on_the_batch(base) -> None:
    m = LocalModel(base, device="cpu", batch_size=4)
    params = GenerationParams(max_tokens=5, temperature=1.0, seed=3)
    prompts = [r["input"] for r in _rows(6)]
    together = [c.text for c in m.generate(prompts, params)]
    alone = [m.generate([p], params)[0].text for p in prompts[::-1]][::-1]
    assert together == alone
    other_seed = [
        c.text for c in m.generate(prompts, GenerationParams(max_tokens=5, temperature=1.0, seed=4))
    ]
    assert other_seed != together


def test_adapter_generate_equals_the_merged_model_and_peft(base, adapter, tmp_path) -> None:
    am = load_adapter(base, adapter)
    assert am.prompt_format == PromptFormat.load(adapter) and am.prompt_format.mode == "instruct"
    prompts = [r["input"] for r in _rows(4, 2)]
    res = am.generate(prompts, max_new_tokens=6)
    merged = tmp_path / "merged"
    am.save_merged(merged)
    assert PromptFormat.load(merged) == am.prompt_format  # the merged folder keeps the format
    reloaded = LocalModel(merged, device="cpu")
    assert [c.text for c in reloaded.generate(prompts, GenerationParams(max_tokens=6))] == res.texts
    # PEFT's own merge, generating from the same (instruct-format) prompt ids.
    hf = transformers.AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
    pm = peft.PeftModel.from_pretrained(hf, adapter).merge_and_unload().eval()
    tz = am.tokenization()
    for p, ours in zip(prompts, res.token_ids):
        ids = format_row(tz, p, generation=True)
        assert ids == tz.prefix + tz._encode([f"Q: {p}\nA:"])[0]
        with torch.no_grad():
            ref = pm.generate(
                torch.tensor([ids]), max_new_tokens=6, do_sample=False, eos_token_id=2, pad_token_id=0
            )
        assert ours == ref[0, len(ids) :].tolist()[: len(ours)]
    # The evaluator's adapter model: same answers, identity from the base and adapter hashes.
    lm = E.resolve_model(str(adapter), "ft", device="cpu")
    assert lm.adapter == adapter and lm.identity.startswith("airtune-adapter:")
    assert [c.text for c in lm.generate(prompts, GenerationParams(max_tokens=6))] == res.texts


def test_evaluation_tokens_are_the_training_tokens(base) -> None:
    from airtune.nn.tokenizer import Tokenizer

    tok = Tokenizer(base)
    rows = [
        {
            "messages": [
                {"role": "user", "content": "hello world"},
                {"role": "assistant", "content": "the fox"},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "how are you"},
                {"role": "assistant", "content": "today"},
                {"role": "user", "content": "the dog"},
                {"role": "assistant", "content": "jumps over"},
            ]
        },
        {"prompt": "numbers 123", "completion": "456", "system": "count"},
    ]
    chat = Tokenization(tok, "chat")
    assert check_parity(chat, rows) == 3
    instruct = Tokenization(tok, "instruct", template="### {system}\n{prompt}\n=>")
    assert check_parity(instruct, rows) == 2  # the two-turn row cannot be trained in instruct mode
    for tz in (chat, instruct):
        for row in rows:
            made = format_row(tz, row, generation=False)
            if isinstance(made, str):
                continue
            ids, labels, _ = made
            prompt = format_row(tz, row, generation=True)
            assert ids[: len(prompt)] == prompt and labels[len(prompt)] == ids[len(prompt)]

    class Drifted(Tokenization):  # an evaluation path that formats differently: must be caught
        def prompt(self, msgs):
            ids = super().prompt(msgs)
            return ids if isinstance(ids, str) else ids + [5]

    with pytest.raises(FormatMismatchError, match="row 0: the evaluation prompt"):
        check_parity(Drifted(tok, "chat"), rows)


def test_a_format_other_than_the_trained_one_fails_loudly(base, adapter, tmp_path) -> None:
    with pytest.raises(FormatMismatchError, match="mode 'chat' instead of 'instruct'"):
        LocalModel(base, adapter, prompt_format="chat", device="cpu")
    with pytest.raises(FormatMismatchError, match="instruct_template"):
        LocalModel(base, adapter, prompt_format=PromptFormat("instruct", "{prompt}\n"), device="cpu")
    # A base whose tokenizer changed since training (edited chat template): refused too.
    other = tmp_path / "other-base"
    shutil.copytree(base, other)
    cfg = json.loads((other / "tokenizer_config.json").read_text())
    cfg["chat_template"] = cfg["chat_template"].replace("<|assistant|>\n", "<|assistant|>")
    (other / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(FormatMismatchError, match="another tokenizer"):
        LocalModel(other, adapter, device="cpu")
    with pytest.raises(FormatMismatchError):
        load_adapter(other, adapter).generate("hello", max_new_tokens=2)


def test_model_folder_problems_are_clear_errors(base, tmp_path) -> None:
    no_tok = tmp_path / "no-tokenizer"
    shutil.copytree(base, no_tok)
    (no_tok / "tokenizer.json").unlink()
    with pytest.raises(E.ModelFolderError, match="tokenizer.json: missing"):
        E.evaluate(_rows(3), {"m": str(no_tok)}, metrics=["exact_match"], progress=False)
    gelu = tmp_path / "gelu"
    shutil.copytree(base, gelu)
    cfg = json.loads((gelu / "config.json").read_text())
    cfg["hidden_act"] = "gelu"  # a config the runtime does not support
    (gelu / "config.json").write_text(json.dumps(cfg))
    cache = tmp_path / "c.sqlite"
    with pytest.raises(E.ModelFolderError, match="gelu: cannot be loaded.*hidden_act"):
        E.evaluate(
            _rows(3),
            {"ok": str(base), "gelu": str(gelu)},
            metrics=["exact_match"],
            cache=cache,
            model_options={"device": "cpu"},
            generation={"max_tokens": 2},
            progress=False,
        )
    assert len(E.PredictionCache(cache)) == 3  # the first model's answers were kept
    too_long = [{"input": " ".join(["hello world"] * 80), "reference": "x"}, *_rows(3)]
    rep = E.evaluate(
        too_long,
        {"m": str(base)},
        metrics=["exact_match"],
        on_failure="score",
        progress=False,
        generation={"max_tokens": 3},
        model_options={"device": "cpu"},
        n_samples=50,
        ar_trials=50,
    )
    assert rep.settings["failures"] == {"m": {"prompt_too_long": 1}}


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _post(url: str, body: object, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_serve_answers_as_the_adapter_and_the_evaluator_reads_it(base, adapter, tmp_path) -> None:
    am = load_adapter(base, adapter)
    rows = _rows(12, 3)
    expected = am.generate([r["input"] for r in rows], max_new_tokens=5).texts
    with start_server(base, adapter, name="ft", device="cpu", max_batch=8) as srv:
        status, models = _get(f"{srv.base_url}/models")
        assert status == 200 and [m["id"] for m in models["data"]] == ["ft"]
        status, doc = _post(
            f"{srv.base_url}/chat/completions",
            {
                "model": "ft",
                "messages": [{"role": "user", "content": rows[0]["input"]}],
                "max_tokens": 5,
                "temperature": 0,
            },
        )
        assert status == 200 and doc["object"] == "chat.completion"
        assert doc["choices"][0]["message"]["content"] == expected[0]
        assert doc["usage"]["prompt_tokens"] == len(
            am.tokenization().prompt([{"role": "user", "content": rows[0]["input"]}])
        )
        status, doc = _post(
            f"{srv.base_url}/completions",
            {"model": "ft", "prompt": ["hello", "the dog"], "max_tokens": 4, "temperature": 0},
        )
        tok = am.generator().tokenizer
        raw = am.generator().generate(tok.encode_batch(["hello", "the dog"]), max_new_tokens=4).texts
        assert status == 200 and [c["text"] for c in doc["choices"]] == raw
        # Errors in OpenAI's shape.
        assert _post(f"{srv.base_url}/chat/completions", {"model": "nope", "messages": []})[0] == 404
        status, doc = _post(f"{srv.base_url}/chat/completions", None, raw=b"{not json")
        assert status == 400 and doc["error"]["code"] == "invalid_json"
        assert (
            _post(
                f"{srv.base_url}/chat/completions",
                {"messages": [{"role": "user", "content": "x"}], "stream": True},
            )[1]["error"]["param"]
            == "stream"
        )
        long = {"messages": [{"role": "user", "content": " ".join(["hello world"] * 80)}]}
        status, doc = _post(f"{srv.base_url}/chat/completions", long)
        assert status == 400 and doc["error"]["code"] == "context_length_exceeded"
        two_turns = {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
            ]
        }
        assert _post(f"{srv.base_url}/chat/completions", two_turns)[1]["error"]["code"] == "invalid_messages"
        # The evaluator against the real server: concurrent requests (dynamically batched), cached.
        spec = {"endpoint": srv.base_url, "model": "ft", "concurrency": 4}
        cache = tmp_path / "c.sqlite"
        kw = dict(
            metrics=["exact_match"],
            cache=cache,
            generation={"max_tokens": 5},
            progress=False,
            n_samples=50,
            ar_trials=50,
        )
        rep = E.evaluate(rows, {"ft": spec}, **kw)
        assert rep.predictions["ft"] == expected
        rep2 = E.evaluate(
            rows, {"ft": spec, "local": str(adapter)}, baseline="local", model_options={"device": "cpu"}, **kw
        )
        assert rep2.settings["cache_hits"]["ft"] == 12 and rep2.predictions["local"] == expected


def test_cli_serve_subprocess(base, tmp_path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = {**os.environ, "PYTHONPATH": str(Path(E.__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airtune.cli",
            "serve",
            str(base),
            "--port",
            str(port),
            "--device",
            "cpu",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if _get(f"{url}/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"airtune serve did not start: {proc.stdout.read() if proc.stdout else ''}"
                )
            time.sleep(0.2)
        m = E.EndpointModel(f"{url}/v1", base.name, timeout=60)
        out = m.generate(["hello world"], GenerationParams(max_tokens=4))
        assert (
            out[0].text
            == LocalModel(base, device="cpu")
            .generate(["hello world"], GenerationParams(max_tokens=4))[0]
            .text
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_judges_and_playground_take_model_folders(base, tmp_path) -> None:
    """A model folder (or any spec resolve_model takes) judges and plays like a callable."""
    rows = _rows(3, 5)
    inputs = [r["input"] for r in rows]
    local = LocalModel(base, device="cpu")
    want = [
        c.text for c in local.generate(inputs, GenerationParams())
    ]  # the playground asks with the defaults
    pg = E.playground({"folder": str(base), "echo": lambda x: x}, inputs, cache=tmp_path / "c.sqlite")
    assert pg.outputs["folder"] == want and pg.outputs["echo"] == inputs
    judge = E.RubricJudge(str(base), "relevance", name="tiny-judge")
    rep = E.evaluate(rows, {"echo": lambda x: x}, ["exact_match"], judge=judge, progress=False)
    # Every judge answer of the random tiny model lands in a bucket (scored or unparsed), none lost.
    assert "judge:relevance" in rep.metrics
    assert len(rep.per_item) == 3 and rep.judge
