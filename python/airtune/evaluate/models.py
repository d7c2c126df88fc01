"""Models in, answers out: one small protocol over callables, model folders, adapters and endpoints.

Every model the evaluator runs is a :class:`GenerativeModel`: an ``identity`` (the prediction
cache's key: what must change for its answers to change) and ``generate(prompts, params,
on_result)``. :func:`resolve_model` turns what a user passes into one:

* a callable ``f(input) -> str`` -> :class:`CallableModel` (identity: a fingerprint of its code,
  defaults, closure and the globals it reads, or what it declares: :mod:`airtune.evaluate.identity`);
* a model folder (transformers layout, safetensors) -> :class:`LocalModel` (identity: sha256 of
  the weights, config, tokenizer and prompt format);
* a PEFT adapter folder, or ``{"base": ..., "adapter": ...}`` -> :class:`LocalModel` with the
  adapter merged in memory (identity: the base's and the adapter's hashes);
* ``{"endpoint": URL, "model": NAME}`` or an :class:`~airtune.evaluate.endpoint.EndpointModel`
  (identity: base URL + model name) -> an OpenAI-compatible HTTP endpoint.

A prompt is a string (one user message) or a conversation (list of role/content dicts). A failure
on one prompt (an endpoint that gave up, a prompt too long for the context, malformed JSON) is a
:class:`Completion` with ``text=None`` and a ``reason``: counted, never an exception that loses the
answers already received.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._paths import file_sha256
from .identity import model_identity

Prompt = Any  # str | list[dict[str, Any]]
OnResult = Callable[[int, "Completion"], None]

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2")


@dataclass(frozen=True)
class GenerationParams:
    """How to generate: greedy (``temperature`` 0) or sampled with ``seed``; ``stop`` strings cut the
    answer before them; ``max_tokens`` new tokens at most. Part of the cache key."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        object.__setattr__(self, "stop", stop)
        if int(self.max_tokens) < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if float(self.temperature) < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < float(self.top_p) <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if int(self.top_k) < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if any(not isinstance(s, str) or not s for s in stop):
            raise ValueError("stop must be non-empty strings")

    @classmethod
    def of(cls, value: GenerationParams | Mapping[str, Any] | None) -> GenerationParams:
        if value is None:
            return cls()
        if isinstance(value, GenerationParams):
            return value
        if isinstance(value, Mapping):
            known = set(cls.__dataclass_fields__)
            extra = set(value) - known
            if extra:
                raise ValueError(f"generation: unknown parameters {sorted(extra)}; known: {sorted(known)}")
            return cls(**dict(value))
        raise TypeError(f"generation: expected GenerationParams or a dict, got {type(value).__name__}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def key(self) -> str:
        """Canonical JSON of the parameters (sampling knobs dropped when greedy: they change nothing)."""
        d = asdict(self)
        d["stop"] = list(self.stop)
        if self.greedy:
            for k in ("top_p", "top_k", "seed"):
                d.pop(k)
        return json.dumps(d, sort_keys=True, ensure_ascii=False)


@dataclass
class Completion:
    """One answer: ``text`` (None when it failed), why it ended (``"eos"``, ``"stop"``, ``"length"``)
    or why it failed (``reason``, a counted bucket such as ``"timeout"``, ``"http_429"``,
    ``"malformed_response"``, ``"prompt_too_long"``), with a message for the first few."""

    text: str | None
    finish_reason: str = ""
    reason: str = ""
    error: str = ""
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.text is not None

    @classmethod
    def failed(cls, reason: str, error: str = "") -> Completion:
        return cls(None, reason=reason, error=error or reason)


@runtime_checkable
class GenerativeModel(Protocol):
    """What the evaluator and ``airtune serve`` need of a model."""

    identity: str

    def generate(
        self, prompts: Sequence[Prompt], params: GenerationParams, on_result: OnResult | None = None
    ) -> list[Completion]:
        """One completion per prompt, in order; ``on_result(i, completion)`` as each one is ready
        (possibly from worker threads) so the caller can store it at once."""
        ...


def _emit(out: list[Completion], i: int, c: Completion, on_result: OnResult | None) -> None:
    out[i] = c
    if on_result is not None:
        on_result(i, c)


class CallableModel:
    """``fn(input) -> output`` called concurrently (``max_workers``) with ``retries`` on exceptions;
    identity: ``model_id`` when given, else what ``fn`` declares (``identity`` / ``cache_key``), else a
    fingerprint of its code, defaults, closure and the globals it reads
    (:func:`~airtune.evaluate.identity.model_identity`): editing or breaking it changes the key."""

    def __init__(
        self,
        fn: Callable[[Any], Any],
        name: str,
        max_workers: int = 4,
        retries: int = 2,
        model_id: str | None = None,
    ) -> None:
        self.fn = fn
        self.identity = model_identity(fn, str(name), model_id)
        self.max_workers = max(1, int(max_workers))
        self.retries = max(0, int(retries))

    def generate(
        self, prompts: Sequence[Prompt], params: GenerationParams, on_result: OnResult | None = None
    ) -> list[Completion]:
        import time

        out: list[Completion] = [Completion.failed("not_run")] * len(prompts)

        def call(i: int) -> None:
            last: Exception | None = None
            for attempt in range(self.retries + 1):
                try:
                    res = self.fn(prompts[i])
                    _emit(out, i, Completion("" if res is None else str(res), "stop"), on_result)
                    return
                except Exception as exc:  # a model API can fail transiently: retry, then count the row
                    last = exc
                    time.sleep(min(0.05 * 2**attempt, 1.0))
            msg = f"failed after {self.retries + 1} attempts: {type(last).__name__}: {last}"
            _emit(out, i, Completion.failed("exception", msg), on_result)

        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            list(pool.map(call, range(len(prompts))))
        return out


_HASHES: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def folder_fingerprint(folder: Path, patterns: Sequence[str]) -> str:
    """sha256 over the names and contents of the files of ``folder`` matching ``patterns``
    (content hashes memoised per path, size and mtime: a rerun does not hash the weights again)."""
    h = hashlib.sha256()
    files = sorted({p for pat in patterns for p in folder.glob(pat) if p.is_file()})
    for p in files:
        h.update(f"{p.name}\0{_file_sha256(p)}\n".encode())
    return h.hexdigest()


class ModelFolderError(ValueError):
    """A model or adapter folder airtune cannot run (names the file and what is wrong)."""


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFolderError(f"{path}: missing ({what})") from None
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{path}: unreadable {what}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelFolderError(f"{path}: {what} must be a JSON object")
    return data


def check_model_folder(folder: Path) -> dict[str, Any]:
    """The config of a model folder airtune can generate with, or a :class:`ModelFolderError` that
    names the file and field (no config, unsupported architecture, no weights, no tokenizer)."""
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: not a folder")
    cfg = _read_json(folder / "config.json", "the model config")
    mt = cfg.get("model_type")
    if mt not in SUPPORTED_MODEL_TYPES:
        raise ModelFolderError(
            f"{folder / 'config.json'}: model_type {mt!r} is not supported (airtune runs "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}); serve it elsewhere and evaluate the endpoint"
        )
    if not any(folder.glob("*.safetensors")):
        bins = [p.name for p in folder.glob("*.bin")]
        hint = (
            f" (found {bins}: pickled weights are never loaded; convert them to safetensors)" if bins else ""
        )
        raise ModelFolderError(f"{folder}: no *.safetensors weights{hint}")
    if not (folder / "tokenizer.json").is_file():
        raise ModelFolderError(
            f"{folder / 'tokenizer.json'}: missing: airtune formats and tokenizes prompts itself and "
            f"needs the folder's tokenizer.json (copy it from the base model)"
        )
    return cfg


class LocalModel:
    """A model folder (or a base folder plus a PEFT adapter) generating on airtune's runtime.

    Prompts are formatted by :func:`airtune.train.format.format_row` with the format the folder
    records (``prompt_format.json``, written by ``train_lora`` and ``save_merged``), else the
    tokenizer's chat template, else the instruct format; ``prompt_format`` overrides it but must
    agree with a recorded one (:class:`~airtune.train.format.FormatMismatchError` otherwise).
    Greedy prompts run in batches of ``batch_size`` (sorted by length); sampled prompts one by one,
    seeded by ``seed`` and the prompt's tokens, so an answer never depends on its batch or on what
    the cache already held. Weights load on the first prompt that is not in the cache.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        adapter: str | os.PathLike | None = None,
        *,
        prompt_format: Any = None,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = 8,
    ) -> None:
        from ..train.format import PromptFormat, tokenizer_fingerprint

        self.path = Path(path)
        self.adapter = None if adapter is None else Path(adapter)
        self.config = check_model_folder(self.path)
        if self.adapter is not None:
            acfg = _read_json(self.adapter / "adapter_config.json", "the PEFT adapter config")
            if acfg.get("peft_type") != "LORA":
                raise ModelFolderError(
                    f"{self.adapter / 'adapter_config.json'}: peft_type {acfg.get('peft_type')!r} is not LORA"
                )
            if not (self.adapter / "adapter_model.safetensors").is_file():
                raise ModelFolderError(f"{self.adapter / 'adapter_model.safetensors'}: missing")
        self.batch_size = max(1, int(batch_size))
        self.context = int(self.config.get("max_position_embeddings") or 0)
        self._dtype, self._device = dtype, device
        from ..nn.tokenizer import Tokenizer

        self.tokenizer = Tokenizer(self.path)
        fp = tokenizer_fingerprint(self.tokenizer)
        recorded = PromptFormat.load(self.adapter or self.path)
        if prompt_format is None:
            fmt = PromptFormat.for_tokenizer(self.tokenizer, "auto") if recorded is None else recorded
        elif isinstance(prompt_format, str):
            fmt = PromptFormat.for_tokenizer(self.tokenizer, prompt_format)
        elif isinstance(prompt_format, PromptFormat):
            fmt = prompt_format
        else:
            raise TypeError("prompt_format: expected 'chat', 'instruct', 'auto' or a PromptFormat")
        self.prompt_format = PromptFormat(fmt.mode, fmt.instruct_template, fp)
        if recorded is not None:
            recorded.check_same(self.prompt_format, str(self.adapter or self.path))
        from ..nn._lib import resolve_device, resolve_dtype

        self.dtype = resolve_dtype(dtype, resolve_device(device))
        h = hashlib.sha256()
        h.update(folder_fingerprint(self.path, ["*.safetensors", "config.json"]).encode())
        if self.adapter is not None:
            h.update(
                folder_fingerprint(
                    self.adapter, ["adapter_model.safetensors", "adapter_config.json"]
                ).encode()
            )
        h.update(json.dumps([self.prompt_format.to_dict(), self.dtype]).encode())
        kind = "adapter" if self.adapter is not None else "local"
        self.identity = f"airtune-{kind}:{h.hexdigest()}"
        self._model: Any = None
        self._tokenization: Any = None

    @property
    def name(self) -> str:
        return self.path.name if self.adapter is None else f"{self.path.name}+{self.adapter.name}"

    def tokenization(self) -> Any:
        if self._tokenization is None:
            from ..train.format import Tokenization

            self._tokenization = Tokenization.from_format(self.tokenizer, self.prompt_format)
        return self._tokenization

    def model(self) -> Any:
        """The loaded :class:`airtune.nn.DecoderModel` (adapters merged in memory); a config or
        weights the runtime cannot use raise :class:`ModelFolderError` with the runtime's message."""
        if self._model is None:
            try:
                self._model = self._load()
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelFolderError(f"{self.adapter or self.path}: cannot be loaded: {exc}") from exc
        return self._model

    def _load(self) -> Any:
        if self.adapter is None:
            from ..nn.decoder import DecoderModel

            return DecoderModel(self.path, dtype=self._dtype, device=self._device)
        from ..train import load_adapter

        # Keep only the merged decoder: the LoRA model (and the base projections only it holds) is
        # freed, so the steady state is one copy of the weights.
        return load_adapter(self.path, self.adapter, dtype=self.dtype, device=self._device).generator()

    def check_parity(self, rows: Sequence[Any]) -> int:
        """:func:`airtune.train.format.check_parity` on rows that end with their reference answer."""
        from ..train.format import check_parity

        return check_parity(self.tokenization(), rows, where=str(self.adapter or self.path))

    def prompt_ids(self, prompt: Prompt) -> list[int] | str:
        from ..train.format import format_row

        return format_row(self.tokenization(), prompt, generation=True)

    def generate(
        self, prompts: Sequence[Prompt], params: GenerationParams, on_result: OnResult | None = None
    ) -> list[Completion]:
        out: list[Completion] = [Completion.failed("not_run")] * len(prompts)
        ready: list[tuple[int, list[int]]] = []
        for i, p in enumerate(prompts):
            ids = self.prompt_ids(p)
            if isinstance(ids, str):
                _emit(
                    out,
                    i,
                    Completion.failed("unformattable_prompt", f"{self.prompt_format.mode}: {ids}"),
                    on_result,
                )
            elif self.context and len(ids) >= self.context:
                msg = f"{len(ids)} prompt tokens leave no room in the context of {self.context}"
                _emit(out, i, Completion.failed("prompt_too_long", msg), on_result)
            else:
                ready.append((i, ids))
        self.generate_ids(ready, params, lambda i, c: _emit(out, i, c, on_result))
        return out

    def generate_ids(
        self, items: Sequence[tuple[int, list[int]]], params: GenerationParams, on_result: OnResult
    ) -> None:
        """Generate from token ids: ``items`` are (key, ids); ``on_result(key, completion)`` per item."""
        if not items:
            return
        model = self.model()
        kw = dict(max_new_tokens=int(params.max_tokens), stop=list(params.stop) or None)
        if params.greedy:
            order = sorted(items, key=lambda x: len(x[1]))
            groups = [order[k : k + self.batch_size] for k in range(0, len(order), self.batch_size)]
        else:
            groups = [[it] for it in items]
        for group in groups:
            extra: dict[str, Any] = {}
            if not params.greedy:
                digest = hashlib.sha256(json.dumps([params.seed, group[0][1]]).encode()).digest()
                extra = dict(
                    temperature=float(params.temperature),
                    top_p=float(params.top_p),
                    top_k=int(params.top_k),
                    seed=int.from_bytes(digest[:8], "little") >> 1,
                )
            try:
                res = model.generate([ids for _, ids in group], **kw, **extra)
            except Exception as exc:  # noqa: BLE001 - count the rows, keep the others' answers
                for key, _ in group:
                    on_result(key, Completion.failed("generation_error", f"{type(exc).__name__}: {exc}"))
                continue
            for j, (key, ids) in enumerate(group):
                usage = {"prompt_tokens": len(ids), "completion_tokens": len(res.token_ids[j])}
                on_result(key, Completion(res.texts[j], res.finish_reasons[j], usage=usage))


class PrecomputedPredictions:
    """Answers already at hand (a list, one per record): nothing to generate, nothing to cache."""

    def __init__(self, predictions: Sequence[Any], name: str) -> None:
        self.predictions = list(predictions)
        self.identity = f"precomputed:{name}"


def _is_adapter_folder(p: Path) -> bool:
    return (p / "adapter_config.json").is_file()


def resolve_model(
    spec: Any, name: str, *, max_workers: int = 4, retries: int = 2, **local_options: Any
) -> Any:
    """What a user passes for one model -> a :class:`GenerativeModel` (or precomputed predictions).

    ``spec``: a GenerativeModel (used as is); a callable; a folder path (model or PEFT adapter; an
    adapter's base comes from its ``adapter_config.json`` ``base_model_name_or_path``);
    ``{"base": path, "adapter": path}``; ``{"endpoint": url, "model": name, ...}`` (the other keys
    go to :class:`~airtune.evaluate.endpoint.EndpointModel`); or a sequence of predictions.
    ``max_workers`` / ``retries`` go to :class:`CallableModel`, ``local_options`` (dtype, device,
    batch_size, prompt_format) to :class:`LocalModel`.
    """
    if isinstance(spec, GenerativeModel) and not isinstance(spec, type):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if text.startswith(("http://", "https://")):
            raise ValueError(
                f"model {name!r}: an endpoint needs its model name: pass "
                f"{{'endpoint': {text!r}, 'model': '...'}} (and 'api_key_env' if it needs a key)"
            )
        path = Path(text)
        if not path.exists():
            raise ModelFolderError(f"model {name!r}: {path} does not exist")
        if _is_adapter_folder(path):
            acfg = _read_json(path / "adapter_config.json", "the PEFT adapter config")
            base = acfg.get("base_model_name_or_path")
            if not base or not Path(base).is_dir():
                raise ModelFolderError(
                    f"model {name!r}: {path / 'adapter_config.json'}: base_model_name_or_path {base!r} is "
                    f"not a local folder; pass {{'base': <folder>, 'adapter': {text!r}}}"
                )
            return LocalModel(base, path, **local_options)
        return LocalModel(path, **local_options)
    if isinstance(spec, Mapping):
        if "endpoint" in spec:
            from .endpoint import EndpointModel

            opts = {k: v for k, v in spec.items() if k != "endpoint"}
            if "model" not in opts:
                raise ValueError(f"model {name!r}: an endpoint needs 'model' (the served model's name)")
            return EndpointModel(spec["endpoint"], **opts)
        if "base" in spec:
            extra = {k: v for k, v in spec.items() if k not in ("base", "adapter")}
            return LocalModel(spec["base"], spec.get("adapter"), **{**local_options, **extra})
        raise ValueError(f"model {name!r}: a dict needs 'endpoint' + 'model' or 'base' (+ 'adapter')")
    if callable(spec):
        return CallableModel(spec, name, max_workers=max_workers, retries=retries)
    if isinstance(spec, Sequence) or hasattr(spec, "__len__"):
        return PrecomputedPredictions(spec, name)
    raise TypeError(
        f"model {name!r}: {type(spec).__name__} is not a model (see airtune.evaluate.resolve_model)"
    )
