"""Shared fixtures: files of generated records in every supported layout."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "python" / "airtune" / "data" / "sample_chat.jsonl"

_WORDS = [
    "alpha",
    "béta",
    "γάμμα",
    'delta "quoted"',
    "tab\there",
    "new\nline",
    "emoji 😀",
    "back\\slash",
    "<b>html</b>",
    "naïve café",
    "数据",
    "",
    "  spaced  ",
]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def make_record(rng: random.Random, i: int) -> dict:
    kind = i % 5
    if kind == 0:
        msgs = [{"role": "system", "content": _text(rng, 3)}] if rng.random() < 0.5 else []
        for _ in range(rng.randint(1, 3)):
            msgs.append({"role": "user", "content": _text(rng, rng.randint(1, 8))})
            msgs.append({"role": "assistant", "content": _text(rng, rng.randint(1, 12))})
        return {"id": f"r{i}", "messages": msgs, "label": rng.choice(["a", "b", None])}
    if kind == 1:
        return {
            "instruction": _text(rng, 4),
            "input": rng.choice(["", _text(rng, 3)]),
            "output": _text(rng, 6),
        }
    if kind == 2:
        return {
            "conversations": [
                {"from": "human", "value": _text(rng, 4)},
                {"from": "gpt", "value": _text(rng, 5)},
            ]
        }
    if kind == 3:
        return {"prompt": _text(rng, 4), "completion": _text(rng, 4), "meta": {"k": i}}
    return {"text": _text(rng, 10)}


@pytest.fixture
def mixed_file(tmp_path: Path) -> tuple[Path, list[dict]]:
    rng = random.Random(7)
    rows = [make_record(rng, i) for i in range(500)]
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=bool(i % 2)) + "\n" for i, r in enumerate(rows)), "utf-8"
    )
    return path, rows


def reference_messages(row: dict) -> list[tuple[str, str | None]]:
    """The canonical (role, content) list of a row, computed independently in Python."""
    if "messages" in row:
        return [(m["role"], m["content"]) for m in row["messages"]]
    if "conversations" in row:
        names = {"human": "user", "gpt": "assistant"}
        return [(names[t["from"]], t["value"]) for t in row["conversations"]]
    if "instruction" in row:
        user = row["instruction"] + ("\n\n" + row["input"] if row.get("input") else "")
        return [("user", user), ("assistant", row["output"])]
    if "prompt" in row:
        return [("user", row["prompt"]), ("assistant", row["completion"])]
    return [("text", row["text"])]
