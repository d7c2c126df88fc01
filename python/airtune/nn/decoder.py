"""Llama-family causal language models (Llama, Mistral, Qwen2) on airtune's libtorch runtime."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._results import ResultMixin
from ._lib import native, resolve_device, resolve_dtype, torch
from .tokenizer import Tokenizer

if TYPE_CHECKING:
    from .. import _nn

#: The fields of ``_nn.DecoderConfig`` that ``DecoderModel.config`` holds, in this order.
CONFIG_FIELDS = (
    "model_type",
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_type",
    "rope_theta",
    "attention_bias",
    "tie_word_embeddings",
    "activation",
    "rotary_dim",
    "quantization_method",
    "layer_window",
    "eos_token_ids",
    "bos_token_id",
    "pad_token_id",
)


def config_dict(config: _nn.DecoderConfig) -> dict[str, Any]:
    """A ``_nn.DecoderConfig`` (the C++ reading of config.json) as a plain dict."""
    return {name: getattr(config, name) for name in CONFIG_FIELDS}


@dataclass
class GenerationResult(ResultMixin):
    """Generated continuations: one entry per prompt, in prompt order."""

    token_ids: list[list[int]]
    finish_reasons: list[str]  # "eos" | "stop" | "length"
    texts: list[str] | None = None
    prompt_tokens: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.token_ids)

    def summary_line(self) -> str:
        n = sum(len(t) for t in self.token_ids)
        return f"GenerationResult: {len(self)} prompts, {n} new tokens"

    def to_pandas(self) -> Any:
        import pandas as pd

        data: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens or [None] * len(self),
            "new_tokens": [len(t) for t in self.token_ids],
            "finish_reason": self.finish_reasons,
        }
        if self.texts is not None:
            data["text"] = self.texts
        return pd.DataFrame(data)


def _is_conversation(x: Any) -> bool:
    return isinstance(x, list) and len(x) > 0 and all(isinstance(m, dict) for m in x)


class DecoderModel:
    """A loaded causal LM. Use :func:`load_model`."""

    def __init__(
        self,
        path: str | os.PathLike,
        dtype: Any = "auto",
        device: str = "auto",
        mmap: bool = False,
        _impl: Any = None,
    ) -> None:
        self.path = Path(path)
        if _impl is None:  # else: weights built elsewhere (LoRA merged in memory), files of `path`
            dev = resolve_device(device)
            _impl = native().Decoder(str(self.path), resolve_dtype(dtype, dev), dev, bool(mmap))
        self._impl = _impl
        self.config: dict[str, Any] = config_dict(self._impl.config)
        self.tokenizer: Tokenizer | None = None
        if (self.path / "tokenizer.json").is_file():
            self.tokenizer = Tokenizer(self.path)
        eos = list(self.config["eos_token_ids"])
        gen_cfg = self.path / "generation_config.json"
        if gen_cfg.is_file():
            g = json.loads(gen_cfg.read_text(encoding="utf-8")).get("eos_token_id")
            if g is not None:
                eos = list(g) if isinstance(g, list) else [int(g)]
        if not eos and self.tokenizer is not None and self.tokenizer.eos_token_id is not None:
            eos = [self.tokenizer.eos_token_id]
        self.eos_token_ids: list[int] = [int(e) for e in eos]
        pad = self.config["pad_token_id"]
        if pad < 0 and self.tokenizer is not None and self.tokenizer.pad_token_id is not None:
            pad = self.tokenizer.pad_token_id
        if pad < 0:
            pad = self.eos_token_ids[0] if self.eos_token_ids else 0
        self.pad_token_id: int = int(pad)

    @property
    def device(self) -> str:
        return str(self._impl.device)

    @property
    def dtype(self) -> str:
        return str(self._impl.dtype)

    def logits(self, input_ids: Any, attention_mask: Any = None) -> Any:
        """Logits ``[batch, seq, vocab]`` (torch, model dtype, model device) of token ids.

        ``input_ids`` / ``attention_mask``: numpy or torch, 1-D or 2-D. Padding may be left or right;
        positions follow the attention mask (cumsum - 1) as in transformers' generate.
        """
        t = torch()
        ids = t.as_tensor(input_ids)
        if ids.dim() == 1:
            ids = ids.unsqueeze(0)
        mask = None
        if attention_mask is not None:
            mask = t.as_tensor(attention_mask)
            if mask.dim() == 1:
                mask = mask.unsqueeze(0)
        return self._impl.logits(ids.to(t.int64), mask)

    def _prompt_ids(self, prompts: Any) -> list[list[int]]:
        t = torch()
        if isinstance(prompts, str) or _is_conversation(prompts):
            prompts = [prompts]
        if isinstance(prompts, t.Tensor) or hasattr(prompts, "__array__"):
            arr = t.as_tensor(prompts)
            if arr.dim() == 1:
                arr = arr.unsqueeze(0)
            return [list(map(int, row)) for row in arr.tolist()]
        prompts = list(prompts)
        if not prompts:
            raise ValueError("no prompts given")
        out: list[list[int]] = []
        for i, p in enumerate(prompts):
            if isinstance(p, str):
                if self.tokenizer is None:
                    raise ValueError(f"prompt {i} is text but {self.path} has no tokenizer.json")
                out.append(self.tokenizer.encode_batch([p], add_special_tokens=True)[0])
            elif _is_conversation(p):
                if self.tokenizer is None:
                    raise ValueError(f"prompt {i} is a conversation but {self.path} has no tokenizer.json")
                text = self.tokenizer.apply_chat_template(p, add_generation_prompt=True)
                # The template already emits BOS etc.: do not add special tokens a second time.
                out.append(self.tokenizer.encode_batch([text], add_special_tokens=False)[0])
            else:
                try:
                    out.append([int(x) for x in p])
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"prompt {i} is neither text, a conversation nor a list of token ids"
                    ) from exc
            if not out[-1]:
                raise ValueError(f"prompt {i} has no tokens")
        return out

    def generate(
        self,
        prompts_or_ids: Any,
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
        stop: str | list[str] | None = None,
        do_sample: bool | None = None,
    ) -> GenerationResult:
        """Generate continuations for a batch of prompts (left-padded, KV cache).

        ``prompts_or_ids``: a str, a list of str, a conversation (list of role/content dicts, rendered
        with the chat template), a list of conversations, or token ids (list of lists, numpy, torch).
        ``temperature`` 0 (default) is greedy decoding, identical to transformers' greedy generate;
        > 0 samples with temperature, then ``top_k`` (0 = off), then ``top_p`` (1 = off), seeded by
        ``seed``. Rows stop at an EOS token, at any of the ``stop`` strings (the text is cut before
        it), or after ``max_new_tokens``.
        """
        t = torch()
        if do_sample is None:
            do_sample = temperature is not None and temperature > 0
        if do_sample and not (temperature and temperature > 0):
            raise ValueError("sampling needs temperature > 0")
        if int(max_new_tokens) < 0:
            raise ValueError("max_new_tokens must be >= 0")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if any(not isinstance(s, str) or not s for s in stops):
            raise ValueError("stop must be a non-empty string or a list of non-empty strings")
        if stops and self.tokenizer is None:
            raise ValueError(f"stop strings need a tokenizer but {self.path} has no tokenizer.json")
        rows = self._prompt_ids(prompts_or_ids)
        width = max(len(r) for r in rows)
        ids = t.full((len(rows), width), self.pad_token_id, dtype=t.int64)
        mask = t.zeros((len(rows), width), dtype=t.int64)
        for i, r in enumerate(rows):
            ids[i, width - len(r) :] = t.tensor(r, dtype=t.int64)
            mask[i, width - len(r) :] = 1

        on_step = None
        generated: list[list[int]] = [[] for _ in rows]
        if stops:
            tok = self.tokenizer
            assert tok is not None  # stop strings without a tokenizer were refused above
            longest = max(len(s) for s in stops)

            def on_step(step_tokens: list[int]) -> list[bool]:
                flags = []
                for r, tid in enumerate(step_tokens):
                    hit = False
                    if tid >= 0:
                        generated[r].append(tid)
                        tail = tok.decode(generated[r][-(longest + 8) :], skip_special_tokens=False)
                        hit = any(s in tail for s in stops)
                    flags.append(hit)
                return flags

        tokens, lengths, reasons = self._impl.generate(
            ids,
            mask,
            int(max_new_tokens),
            bool(do_sample),
            float(temperature or 1.0),
            int(top_k),
            float(top_p),
            int(seed),
            self.eos_token_ids,
            self.pad_token_id,
            on_step,
        )
        token_ids = [tokens[i, : lengths[i]].tolist() for i in range(len(rows))]
        texts = None
        if self.tokenizer is not None:
            texts = []
            for i, row in enumerate(token_ids):
                text = self.tokenizer.decode(row, skip_special_tokens=True)
                if reasons[i] == "stop":
                    full = self.tokenizer.decode(row, skip_special_tokens=False)
                    cut = min((full.find(s) for s in stops if s in full), default=-1)
                    if cut >= 0:
                        text = self.tokenizer.decode(row, skip_special_tokens=False)[:cut]
                texts.append(text)
        return GenerationResult(token_ids, list(reasons), texts, [len(r) for r in rows])


def load_model(
    path: str | os.PathLike, dtype: Any = "auto", device: str = "auto", mmap: bool = False
) -> DecoderModel:
    """Load a Llama / Mistral / Qwen2 causal LM from a Hugging Face folder (config.json + safetensors).

    ``dtype``: 'float32', 'bfloat16', 'float16' or 'auto' (bfloat16 on CUDA, float32 on CPU).
    ``device``: 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'. Sharded checkpoints
    (model.safetensors.index.json) are supported; pickled ``.bin`` weights are refused.
    The weight files are read into memory, so changing them later cannot affect the model;
    ``mmap=True`` maps them instead (less memory on CPU), and then **the files must not change**
    while the model lives (a truncated mapping kills the process with SIGBUS).
    """
    return DecoderModel(path, dtype=dtype, device=device, mmap=mmap)
