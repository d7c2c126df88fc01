"""How a row becomes tokens for a model: one formatting, shared by the trainer and the evaluator.

A row is a conversation (``system``?, ``user``, ``assistant``, ...). Two formats:

* ``instruct``: ``prefix + template.format(prompt=..., system=...) + response + EOS``, where
  ``prefix`` is whatever the tokenizer's post-processor puts before a text (BOS for Llama and
  Mistral, nothing for Qwen2) and the default template is ``"{prompt}\\n"``. A system message
  goes before the prompt as ``"{system}\\n\\n"`` unless the template places ``{system}`` itself.
  Single turn only. The prompt text and the response are tokenized separately (no BPE merge across
  the seam), so the generation prompt of a row is exactly the training prefix of that row.
* ``chat``: the tokenizer's chat template. The text is cut at the start and end of every assistant
  turn (found by rendering prefixes of the conversation) and tokenized segment by segment.

:meth:`Tokenization.example` gives the training ids and labels of a row; :meth:`Tokenization.prompt`
gives the ids a model generates from for a conversation whose last message is not the assistant's:
the same segments, hence the same tokens as the training prefix. :class:`PromptFormat` names the
format and the tokenizer it was used with; ``train_lora`` writes it to ``prompt_format.json`` in the
adapter folder and the evaluator refuses to generate with another one (:func:`check_parity` also
compares the tokens row by row).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..nn.chat import TemplateLimitError

IGNORE = -100
KNOWN_ROLES = ("system", "user", "assistant", "tool")
FORMAT_FILE = "prompt_format.json"
DEFAULT_INSTRUCT_TEMPLATE = "{prompt}\n"


class FormatMismatchError(ValueError):
    """A model would be evaluated with another prompt format (or tokenizer) than it was trained with."""


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of what decides the tokens of a text: the tokenizer model, its special tokens and chat
    template (so two folders with the same tokenizer agree, and an edited template does not)."""
    h = hashlib.sha256()
    h.update(tokenizer._tok.to_str().encode("utf-8"))
    extra = [tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token, tokenizer.chat_template]
    h.update(json.dumps(extra, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


@dataclass(frozen=True)
class PromptFormat:
    """The format a model was trained with: ``mode`` ("instruct" or "chat"), the instruct template,
    and the fingerprint of the tokenizer (:func:`tokenizer_fingerprint`; None: not recorded)."""

    mode: str
    instruct_template: str = DEFAULT_INSTRUCT_TEMPLATE
    tokenizer_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("instruct", "chat"):
            raise ValueError(f"prompt format mode must be 'instruct' or 'chat', got {self.mode!r}")
        if "{prompt}" not in self.instruct_template:
            raise ValueError(f"instruct_template {self.instruct_template!r} has no {{prompt}} field")

    @classmethod
    def for_tokenizer(
        cls, tokenizer: Any, mode: str = "auto", instruct_template: str = DEFAULT_INSTRUCT_TEMPLATE
    ) -> PromptFormat:
        """``mode="auto"``: chat when the tokenizer has a chat template, else instruct."""
        if mode == "auto":
            mode = "chat" if tokenizer.chat_template else "instruct"
        return cls(mode, instruct_template, tokenizer_fingerprint(tokenizer))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / FORMAT_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> PromptFormat | None:
        """The format recorded in ``folder/prompt_format.json``, or None when there is none."""
        path = Path(folder) / FORMAT_FILE
        if not path.is_file():
            return None
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                str(d["mode"]),
                str(d.get("instruct_template", DEFAULT_INSTRUCT_TEMPLATE)),
                d.get("tokenizer_sha256"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a valid prompt format file ({exc})") from exc

    def check_same(self, used: PromptFormat, where: str) -> None:
        """Raises :class:`FormatMismatchError` when ``used`` differs from this (trained) format."""
        diffs = []
        if used.mode != self.mode:
            diffs.append(f"mode {used.mode!r} instead of {self.mode!r}")
        if used.mode == "instruct" and used.instruct_template != self.instruct_template:
            diffs.append(
                f"instruct_template {used.instruct_template!r} instead of {self.instruct_template!r}"
            )
        if self.tokenizer_sha256 and used.tokenizer_sha256 and used.tokenizer_sha256 != self.tokenizer_sha256:
            diffs.append("another tokenizer or chat template (fingerprints differ)")
        if diffs:
            raise FormatMismatchError(
                f"{where}: evaluating with {'; '.join(diffs)} than the model was trained with: its "
                f"answers would not measure the trained model (pass the trained format, or none)"
            )


class Tokenization:
    """Builds the tokens of conversations for one tokenizer and format (training and generation)."""

    def __init__(
        self,
        tokenizer: Any,
        mode: str,
        max_length: int = 1 << 30,
        truncation: str = "truncate",
        template: str = DEFAULT_INSTRUCT_TEMPLATE,
    ) -> None:
        self.tok = tokenizer
        self.mode = mode
        self.max_length = max_length
        self.truncation = truncation
        self.template = template
        self.eos_id = tokenizer.eos_token_id
        if self.eos_id is None:
            raise ValueError("the tokenizer has no eos_token: it is needed to end each response")
        # Whatever the post-processor puts in front of a text (BOS for Llama / Mistral, nothing for Qwen).
        self.prefix = list(tokenizer.encode_batch([""], add_special_tokens=True)[0])
        if mode == "chat" and not tokenizer.chat_template:
            raise ValueError(
                "chat mode needs a chat template but the model folder has none (tokenizer_config.json "
                "'chat_template' or chat_template.jinja); use mode='instruct'"
            )

    @classmethod
    def from_format(cls, tokenizer: Any, fmt: PromptFormat, **kwargs: Any) -> Tokenization:
        return cls(tokenizer, fmt.mode, template=fmt.instruct_template, **kwargs)

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return [list(x) for x in self.tok.encode_batch(texts, add_special_tokens=False)]

    def _instruct_prompt(self, msgs: list[dict[str, Any]]) -> str:
        system = None
        if msgs and msgs[0].get("role") == "system":
            system = msgs[0].get("content") or ""
            msgs = msgs[1:]
        prompt = msgs[0].get("content") or ""
        text = self.template.format(prompt=prompt, system=system or "")
        if system and "{system}" not in self.template:
            text = f"{system}\n\n{text}"
        return text

    @staticmethod
    def _instruct_roles(msgs: list[dict[str, Any]]) -> list[Any]:
        roles = [m.get("role") for m in msgs]
        return roles[1:] if roles and roles[0] == "system" else roles

    def instruct(self, msgs: list[dict[str, Any]]) -> tuple[list[int], list[int]] | str:
        if self._instruct_roles(msgs) != ["user", "assistant"]:
            return "not_single_turn"
        response = msgs[-1].get("content") or ""
        if not response.strip():
            return "empty_response"
        p_ids, r_ids = self._encode([self._instruct_prompt(msgs), response])
        ids = self.prefix + p_ids + r_ids + [self.eos_id]
        labels = [IGNORE] * (len(self.prefix) + len(p_ids)) + r_ids + [self.eos_id]
        return ids, labels

    def _chat_segments(
        self, msgs: list[dict[str, Any]], add_generation_prompt: bool
    ) -> tuple[str, list[tuple[int, int]]] | str:
        """The rendered text and the (start, end) character spans of its assistant turns."""
        render = self.tok.apply_chat_template
        for m in msgs:
            if m.get("role") not in KNOWN_ROLES:
                return "unknown_role"
        turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
        try:
            full = render(msgs, add_generation_prompt=add_generation_prompt)
            bounds: list[tuple[int, int]] = []
            for i in turns:
                start = len(render(msgs[:i], add_generation_prompt=True)) if i > 0 else 0
                upto = render(msgs[: i + 1], add_generation_prompt=False)
                if not full.startswith(upto) or start > len(upto):
                    return "template_not_prefix"
                if i > 0 and not full.startswith(render(msgs[:i], add_generation_prompt=True)):
                    return "template_not_prefix"
                bounds.append((start, len(upto)))
        except TemplateLimitError:  # the template broke a bound (time, size): the row is not used
            return "template_limit"
        except Exception:  # noqa: BLE001 - the template's own raise_exception (e.g. role order)
            return "template_error"
        return full, bounds

    def _encode_segments(self, full: str, bounds: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
        cuts = sorted({0, len(full), *[b for span in bounds for b in span]})
        segments = [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
        encoded = self._encode([full[a:b] for a, b in segments])
        ids: list[int] = []
        labels: list[int] = []
        for (a, b), seg in zip(segments, encoded, strict=True):
            trained = any(s <= a and b <= e for s, e in bounds)
            ids += seg
            labels += seg if trained else [IGNORE] * len(seg)
        return ids, labels

    def chat(self, msgs: list[dict[str, Any]]) -> tuple[list[int], list[int]] | str:
        if any(m.get("role") not in KNOWN_ROLES for m in msgs):
            return "unknown_role"
        if not any(m.get("role") == "assistant" for m in msgs):
            return "no_assistant_turn"
        if any(not (m.get("content") or "").strip() for m in msgs if m.get("role") == "assistant"):
            return "empty_response"
        made = self._chat_segments(msgs, add_generation_prompt=False)
        if isinstance(made, str):
            return made
        return self._encode_segments(*made)

    def prompt(self, msgs: list[dict[str, Any]]) -> list[int] | str:
        """Token ids to generate the next assistant turn from (the conversation must not end with an
        assistant message); a reason string when the conversation cannot be formatted."""
        if not msgs or msgs[-1].get("role") == "assistant":
            return "ends_with_assistant" if msgs else "empty_conversation"
        if self.mode == "instruct":
            if self._instruct_roles(msgs) != ["user"]:
                return "not_single_turn"
            return self.prefix + self._encode([self._instruct_prompt(msgs)])[0]
        made = self._chat_segments(msgs, add_generation_prompt=True)
        if isinstance(made, str):
            return made
        return self._encode_segments(*made)[0]

    def example(self, msgs: list[dict[str, Any]]) -> tuple[list[int], list[int], bool] | str:
        made = self.chat(msgs) if self.mode == "chat" else self.instruct(msgs)
        if isinstance(made, str):
            return made
        ids, labels = made
        truncated = False
        if len(ids) > self.max_length:
            if self.truncation == "drop":
                return "too_long"
            ids, labels = ids[: self.max_length], labels[: self.max_length]
            truncated = True
        if sum(1 for x in labels[1:] if x != IGNORE) == 0:
            return "no_labels_after_truncation" if truncated else "no_labels"
        return ids, labels, truncated


def _message_dict(m: Any) -> dict[str, Any]:
    if isinstance(m, dict):
        return m
    if hasattr(m, "to_dict"):
        return m.to_dict()
    raise TypeError(f"a message must be a dict with role and content, got {type(m).__name__}")


def row_conversation(row: Any) -> list[dict[str, Any]] | str:
    """One row as a conversation, or an error string. A row is an ``airtune.io`` Record, a dict
    (``messages``; ``prompt`` + ``completion`` / ``response``; ``instruction`` + optional ``input`` +
    ``output``; optional ``system``), a conversation (list of role/content dicts) or a plain string
    (one user message)."""
    if isinstance(row, str):
        return [{"role": "user", "content": row}]
    if isinstance(row, list):
        try:
            return [_message_dict(m) for m in row]
        except TypeError as exc:
            return str(exc)
    if hasattr(row, "messages") and not isinstance(row, dict):  # airtune.io Record
        return [_message_dict(m) for m in row.messages]
    if not isinstance(row, dict):
        return f"a row must be a dict or a Record, got {type(row).__name__}"
    if row.get("messages") is not None:
        try:
            return [_message_dict(m) for m in row["messages"]]
        except TypeError as exc:
            return str(exc)
    prompt = row.get("prompt", row.get("instruction"))
    response = row.get("completion", row.get("response", row.get("output")))
    if prompt is None or response is None:
        return "row has neither 'messages' nor a prompt/completion pair"
    if row.get("input"):
        prompt = f"{prompt}\n\n{row['input']}"
    msgs = []
    if row.get("system"):
        msgs.append({"role": "system", "content": row["system"]})
    msgs += [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    return msgs


def to_conversations(rows: Any) -> list[list[dict[str, Any]] | str]:
    """Normalises input rows to conversations (see :func:`row_conversation`); accepts
    ``airtune.io.Records``, a list of rows, a pandas DataFrame or a Hugging Face ``Dataset``. A row
    that fits no layout becomes an error string (counted as ``unrecognised_row``)."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas
        rows = rows.to_dict("records")
    out: list[list[dict[str, Any]] | str] = []
    for row in rows if isinstance(rows, Iterable) else []:
        out.append(
            row_conversation(row)
            if isinstance(row, dict) or hasattr(row, "messages")
            else f"a row must be a dict or a Record, got {type(row).__name__}"
        )
    return out


def format_row(tokenization: Tokenization, row: Any, *, generation: bool) -> Any:
    """THE formatting of a row for a model, used by the trainer and the evaluator alike.

    ``generation=False``: ``(ids, labels, truncated)`` of the row for training (a reason string when
    it cannot be used). ``generation=True``: the prompt ids to generate the answer from; a row that
    ends with an assistant turn (its reference answer) is cut before that turn.
    """
    conv = row_conversation(row)
    if isinstance(conv, str):
        return "unrecognised_row"
    if not generation:
        return tokenization.example(conv)
    if conv and conv[-1].get("role") == "assistant":
        conv = conv[:-1]
    return tokenization.prompt(conv)


def check_parity(tokenization: Tokenization, rows: Iterable[Any], where: str = "rows") -> int:
    """Checks row by row that the generation prompt is exactly the training prefix of the row's last
    assistant turn (same token ids; the next position is the first trained token). ``rows`` end with
    their answer (a reference). Rows that cannot be trained on are skipped; returns how many were
    checked. Raises :class:`FormatMismatchError` naming the first row that differs."""
    checked = 0
    for i, row in enumerate(rows):
        conv = row_conversation(row)
        if isinstance(conv, str) or not conv or conv[-1].get("role") != "assistant":
            continue
        made = tokenization.chat(conv) if tokenization.mode == "chat" else tokenization.instruct(conv)
        prompt = tokenization.prompt(conv[:-1])
        if isinstance(made, str) or isinstance(prompt, str):
            continue
        ids, labels = made
        n = len(prompt)
        if ids[:n] != prompt or n >= len(labels) or labels[n] == IGNORE or labels[n - 1] != IGNORE:
            first = next((j for j, (a, b) in enumerate(zip(ids, prompt)) if a != b), min(n, len(ids)))
            raise FormatMismatchError(
                f"{where}: row {i}: the evaluation prompt ({n} tokens) is not the training prefix of the "
                f"row (first difference at token {first}): the model would be evaluated on other tokens "
                f"than it was trained on"
            )
        checked += 1
    return checked
