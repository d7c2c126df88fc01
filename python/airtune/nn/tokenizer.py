"""Tokenizers of model folders: Hugging Face ``tokenizers`` (tokenizer.json) plus tokenizer_config.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._results import require
from .chat import render_chat_template


def _token_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get("content")
    return str(value)


class Tokenizer:
    """Wraps ``tokenizers.Tokenizer`` with the special tokens and chat template of a model folder."""

    def __init__(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no tokenizer.json (airtune tokenizes with the tokenizers package)"
            )
        tokenizers = require("tokenizers", "nn")
        self._tok = tokenizers.Tokenizer.from_file(str(path))
        self._tok.no_padding()
        self._tok.no_truncation()
        cfg_path = folder / "tokenizer_config.json"
        self.config: dict[str, Any] = (
            json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
        )
        special_map = folder / "special_tokens_map.json"
        specials = json.loads(special_map.read_text(encoding="utf-8")) if special_map.is_file() else {}
        self.bos_token = _token_text(self.config.get("bos_token", specials.get("bos_token")))
        self.eos_token = _token_text(self.config.get("eos_token", specials.get("eos_token")))
        self.pad_token = _token_text(self.config.get("pad_token", specials.get("pad_token")))
        template = self.config.get("chat_template")
        jinja_file = folder / "chat_template.jinja"
        if template is None and jinja_file.is_file():
            template = jinja_file.read_text(encoding="utf-8")
        if isinstance(template, list):  # named templates: use "default"
            named = {t["name"]: t["template"] for t in template}
            template = named.get("default", next(iter(named.values()), None))
        self.chat_template: str | None = template

    def token_to_id(self, token: str | None) -> int | None:
        return None if token is None else self._tok.token_to_id(token)

    @property
    def bos_token_id(self) -> int | None:
        return self.token_to_id(self.bos_token)

    @property
    def eos_token_id(self) -> int | None:
        return self.token_to_id(self.eos_token)

    @property
    def pad_token_id(self) -> int | None:
        return self.token_to_id(self.pad_token)

    def encode_batch(self, texts: list[str], add_special_tokens: bool = True) -> list[list[int]]:
        """Token ids of each text (no padding, no truncation)."""
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=add_special_tokens)]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def apply_chat_template(
        self, messages: list[dict[str, Any]], add_generation_prompt: bool = True, **variables: Any
    ) -> str:
        """Render a conversation with the folder's chat template (see ``render_chat_template``)."""
        if not self.chat_template:
            raise ValueError(
                "this tokenizer has no chat_template (tokenizer_config.json / chat_template.jinja)"
            )
        values = {
            "bos_token": self.bos_token or "",
            "eos_token": self.eos_token or "",
            "pad_token": self.pad_token or "",
            **variables,
        }
        return render_chat_template(self.chat_template, messages, add_generation_prompt, **values)
