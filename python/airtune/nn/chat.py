"""Chat templates rendered the way transformers does (sandboxed jinja2)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any


def _raise_exception(message: str) -> None:
    from jinja2.exceptions import TemplateError

    raise TemplateError(message)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=16)
def _compile(template: str) -> Any:
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(template)


def render_chat_template(
    template: str,
    messages: list[dict[str, Any]],
    add_generation_prompt: bool = True,
    **variables: Any,
) -> str:
    """Render ``messages`` with a Hugging Face chat template.

    Same environment as transformers: ``ImmutableSandboxedEnvironment(trim_blocks=True,
    lstrip_blocks=True)`` with loop controls, ``raise_exception``, ``strftime_now`` and a ``tojson``
    that keeps non-ASCII text. ``variables`` (bos_token, eos_token, tools, ...) are passed through.
    The result already holds the template's special tokens: tokenize it without adding them again.
    """
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError("messages must be a list of {'role': ..., 'content': ...} dicts")
    return _compile(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt, **variables
    )
