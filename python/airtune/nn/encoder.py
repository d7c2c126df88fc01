"""Sentence embeddings with BERT-family encoders, as sentence-transformers computes them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._inputs import as_str_list
from .._results import progress, require
from ._lib import native, resolve_device, resolve_dtype, torch

_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
}


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class Encoder:
    """A native sentence embedder: ``Encoder(path).encode(texts)`` -> ``float32 [n, dim]``.

    ``path`` is a sentence-transformers folder (modules.json, 1_Pooling/, sentence_bert_config.json)
    or a plain BERT folder (config.json + model.safetensors + tokenizer.json; mean pooling then).
    Pooling and normalisation follow the folder's modules; ``max_seq_length`` (default: the folder's
    sentence_bert_config.json, else 512) truncates token sequences. Usable wherever an embedder with
    ``encode(texts) -> ndarray`` is accepted.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        device: str = "auto",
        dtype: Any = "float32",
        max_seq_length: int | None = None,
        pooling: str | None = None,
        normalize: bool | None = None,
    ) -> None:
        self.path = Path(path)
        dev = resolve_device(device)
        self._impl = native().Encoder(str(self.path), resolve_dtype(dtype, dev), dev)
        modules = _read_json(self.path / "modules.json") or []
        pool_dir = next((m.get("path") for m in modules if str(m.get("type", "")).endswith("Pooling")), None)
        has_norm = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
        pool_cfg = _read_json(self.path / pool_dir / "config.json") if pool_dir else None
        mode = None
        if pool_cfg:
            mode = next((v for k, v in _POOLING_KEYS.items() if pool_cfg.get(k)), None)
            if pool_cfg.get("pooling_mode") and not mode:
                mode = str(pool_cfg["pooling_mode"]).replace("mean_sqrt_len_tokens", "mean_sqrt_len")
        self.pooling: str = pooling or mode or "mean"
        self.normalize: bool = has_norm if normalize is None else bool(normalize)
        sbert = _read_json(self.path / "sentence_bert_config.json") or {}
        limit = max_seq_length or sbert.get("max_seq_length") or 512
        self.max_seq_length: int = int(min(limit, self._impl.max_position_embeddings))
        self.do_lower_case: bool = bool(sbert.get("do_lower_case", False))
        tokenizers = require("tokenizers", "nn")
        tok_file = self.path / "tokenizer.json"
        if not tok_file.is_file():
            raise FileNotFoundError(
                f"{tok_file}: no tokenizer.json (airtune tokenizes with the tokenizers package)"
            )
        self._tok = tokenizers.Tokenizer.from_file(str(tok_file))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=self.max_seq_length)

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self._impl.hidden_size)

    def __call__(self, texts: Any, batch_size: int = 32) -> np.ndarray:
        """Same as :meth:`encode` (so an Encoder can be passed where a callable embedder is expected)."""
        return self.encode(texts, batch_size=batch_size)

    def encode(
        self, texts: Any, batch_size: int = 32, show_progress: bool = False, column: str | None = None
    ) -> np.ndarray:
        """Embed ``texts`` (list, numpy, pandas, pyarrow, HF datasets with ``column``) -> float32 ``[n, dim]``.

        Texts are tokenized at once, sorted by token count and batched (padding only to the longest
        of each batch); the output is in input order. Empty input gives ``[0, dim]``.
        """
        t = torch()
        items = as_str_list(texts, column=column)
        for i, x in enumerate(items):
            if not isinstance(x, str):
                raise ValueError(f"texts[{i}] is {type(x).__name__}, not str")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        n = len(items)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        if self.do_lower_case:
            items = [x.lower() for x in items]
        # Tokenize everything in one call (Rust), then batch by token count: rows of a batch have
        # near-equal lengths, so little compute goes to padding (sentence-transformers sorts by
        # characters). The output is in input order.
        encodings = self._tok.encode_batch(items, add_special_tokens=True)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=n)
        order = np.argsort(-lengths, kind="stable")
        bar = progress(total=n, desc="encode", enabled=show_progress)
        with t.inference_mode():
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                width = int(lengths[idx].max())
                ids = np.zeros((len(idx), width), dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.int64)
                for r, i in enumerate(idx):
                    row = encodings[i].ids
                    ids[r, : len(row)] = row
                    mask[r, : len(row)] = 1
                emb = self._impl.embed(t.from_numpy(ids), t.from_numpy(mask), self.pooling, self.normalize)
                out[idx] = emb.numpy()
                bar.update(len(idx))
        bar.close()
        return out
