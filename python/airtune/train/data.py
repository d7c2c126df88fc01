"""Training examples from records: token ids plus labels whose masks come from the structure.

Instruct mode: ``prefix + prompt + response + EOS`` with the loss on the response and the EOS.
Chat mode: the conversation rendered with the model's chat template; the loss covers each assistant
turn (the text the template emits for it, end-of-turn / EOS token included). Spans are found by
rendering prefixes of the conversation (``messages[:i]`` with the generation prompt, and
``messages[:i+1]``) and tokenizing the text segment by segment, so a label never depends on a token
id: padding with the EOS id cannot mask the EOS that ends a response.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .._results import ResultMixin
from ..nn.chat import TemplateLimitError

IGNORE = -100
KNOWN_ROLES = ("system", "user", "assistant", "tool")


@dataclass
class DataReport(ResultMixin):
    """Row accounting of one split: ``kept + sum(dropped.values()) == total``."""

    split: str
    total: int = 0
    kept: int = 0
    truncated: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    label_tokens: int = 0
    tokens: int = 0
    examples: list[str] = field(default_factory=list)  # first few drop messages, "row N: reason"

    def summary_line(self) -> str:
        return (
            f"{self.split}: {self.kept}/{self.total} rows kept, {self.truncated} truncated, dropped "
            f"{dict(self.dropped)}"
        )

    def to_pandas(self) -> Any:
        import pandas as pd

        rows = [("kept", self.kept), ("truncated (kept)", self.truncated)]
        rows += [(f"dropped: {k}", v) for k, v in sorted(self.dropped.items())]
        return pd.DataFrame(rows, columns=["rows", "count"])


def _message_dict(m: Any) -> dict[str, Any]:
    if isinstance(m, dict):
        return m
    if hasattr(m, "to_dict"):
        return m.to_dict()
    raise TypeError(f"a message must be a dict with role and content, got {type(m).__name__}")


def to_conversations(rows: Any) -> list[list[dict[str, Any]] | str]:
    """Normalises input rows to conversations (lists of role/content dicts).

    Accepts ``airtune.io.Records``, a list of dicts (``messages``; ``prompt`` + ``completion`` /
    ``response``; ``instruction`` + optional ``input`` + ``output``), a pandas DataFrame or a Hugging
    Face ``Dataset`` with such columns. A row that fits none of them becomes an error string (counted
    as ``unrecognised_row``).
    """
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas
        rows = rows.to_dict("records")
    out: list[list[dict[str, Any]] | str] = []
    for row in rows if isinstance(rows, Iterable) else []:
        if hasattr(row, "messages") and not isinstance(row, dict):  # airtune.io Record
            out.append([_message_dict(m) for m in row.messages])
            continue
        if not isinstance(row, dict):
            out.append(f"a row must be a dict or a Record, got {type(row).__name__}")
            continue
        if row.get("messages") is not None:
            try:
                out.append([_message_dict(m) for m in row["messages"]])
            except TypeError as exc:
                out.append(str(exc))
            continue
        prompt = row.get("prompt", row.get("instruction"))
        response = row.get("completion", row.get("response", row.get("output")))
        if prompt is None or response is None:
            out.append("row has neither 'messages' nor a prompt/completion pair")
            continue
        if row.get("input"):
            prompt = f"{prompt}\n\n{row['input']}"
        msgs = []
        if row.get("system"):
            msgs.append({"role": "system", "content": row["system"]})
        msgs += [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        out.append(msgs)
    return out


class Tokenization:
    """Builds (ids, labels) per conversation for one tokenizer and mode."""

    def __init__(self, tokenizer: Any, mode: str, max_length: int, truncation: str, template: str) -> None:
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

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return [list(x) for x in self.tok.encode_batch(texts, add_special_tokens=False)]

    def instruct(self, msgs: list[dict[str, Any]]) -> tuple[list[int], list[int]] | str:
        roles = [m.get("role") for m in msgs]
        system = None
        if roles and roles[0] == "system":
            system = msgs[0].get("content") or ""
            msgs, roles = msgs[1:], roles[1:]
        if roles != ["user", "assistant"]:
            return "not_single_turn"
        prompt = msgs[0].get("content") or ""
        response = msgs[1].get("content") or ""
        if not response.strip():
            return "empty_response"
        prompt_text = self.template.format(prompt=prompt, system=system or "")
        if system and "{system}" not in self.template:
            prompt_text = f"{system}\n\n{prompt_text}"
        p_ids, r_ids = self._encode([prompt_text, response])
        ids = self.prefix + p_ids + r_ids + [self.eos_id]
        labels = [IGNORE] * (len(self.prefix) + len(p_ids)) + r_ids + [self.eos_id]
        return ids, labels

    def chat(self, msgs: list[dict[str, Any]]) -> tuple[list[int], list[int]] | str:
        render = self.tok.apply_chat_template
        for m in msgs:
            if m.get("role") not in KNOWN_ROLES:
                return "unknown_role"
        turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
        if not turns:
            return "no_assistant_turn"
        if any(not (msgs[i].get("content") or "").strip() for i in turns):
            return "empty_response"
        try:
            full = render(msgs, add_generation_prompt=False)
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


def build_examples(
    rows: Any, tokenization: Tokenization, split: str
) -> tuple[list[list[int]], list[list[int]], DataReport]:
    """Tokenized examples of ``rows`` plus the row accounting (reasons for every dropped row)."""
    convs = to_conversations(rows)
    report = DataReport(split=split, total=len(convs))
    reasons: Counter[str] = Counter()
    ids_out: list[list[int]] = []
    labels_out: list[list[int]] = []
    for i, conv in enumerate(convs):
        made = "unrecognised_row" if isinstance(conv, str) else tokenization.example(conv)
        if isinstance(made, str):
            reasons[made] += 1
            if len(report.examples) < 20:
                detail = conv if isinstance(conv, str) else made
                report.examples.append(f"row {i}: {detail}")
            continue
        ids, labels, truncated = made
        ids_out.append(ids)
        labels_out.append(labels)
        report.truncated += int(truncated)
        report.tokens += len(ids)
        report.label_tokens += sum(1 for x in labels[1:] if x != IGNORE)
    report.kept = len(ids_out)
    report.dropped = dict(reasons)
    return ids_out, labels_out, report
