"""A generated support-chat data set with what production logs carry: leaked HTML, exact and
near duplicates (some with conflicting labels), off-domain rows, one repeated system prompt,
refusals, truncated and empty answers, answers in another language. Deterministic for a seed.

Used by the pipeline tests (a few thousand rows) and benchmarks/pipeline.py (>= 1 GB), so both
curate the same kind of data. ``write_jsonl(path, n)`` streams rows to a file in bounded memory.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

SYSTEM = "You are the support assistant of Acme Cloud. Answer briefly, politely and cite the docs."
PRODUCTS = [
    "storage buckets",
    "API keys",
    "billing",
    "the CLI",
    "two-factor authentication",
    "webhooks",
    "the search API",
    "backups",
    "DNS records",
    "team seats",
    "invoices",
    "SSO",
    "rate limits",
]
ACTIONS = ["reset", "rotate", "enable", "disable", "export", "move", "delete", "configure", "audit", "share"]
LABELS = ["billing", "account", "technical", "security"]
FILLER = (
    "Open the dashboard, go to Settings and pick the section for it. Changes apply within a few "
    "minutes to every project of the organisation, and the audit log records who made them. "
)
OFF_DOMAIN = [
    "Write a sonnet about the sea at dawn, with seagulls and salt.",
    "What is the capital of Mongolia and how many people live there?",
    "Give me a recipe for sourdough bread with a long cold fermentation.",
    "Explain the offside rule in football as if I were five.",
]


def _question(rng: random.Random) -> tuple[str, str]:
    product, action = rng.choice(PRODUCTS), rng.choice(ACTIONS)
    n = rng.randint(1000, 99999)
    q = rng.choice(
        [
            f"How do I {action} {product} for project {n}?",
            f"hi, I can't {action} {product} (ticket {n}), what am I doing wrong?",
            f"Is it possible to {action} {product} from the CLI? Ref {n}.",
        ]
    )
    return q, rng.choice(LABELS)


def _answer(rng: random.Random, q: str) -> str:
    words = q.split()
    body = " ".join(rng.choice(FILLER.split()) for _ in range(rng.randint(25, 60)))
    return f"To {words[3] if len(words) > 3 else 'do'} it: {body.capitalize()}. See docs: /help/{rng.randint(1, 400)}."


def rows(n: int, seed: int = 0) -> Iterator[dict]:
    """n support-chat rows (OpenAI chat layout with id, label, metadata)."""
    rng = random.Random(seed)
    recent: list[dict] = []
    for i in range(n):
        kind = rng.random()
        if recent and kind < 0.10:  # exact duplicate (10%), sometimes with another label
            row = json.loads(json.dumps(rng.choice(recent)))
            if rng.random() < 0.2:
                row["label"] = rng.choice(LABELS)
        elif recent and kind < 0.15:  # near duplicate: a few words changed in the answer
            row = json.loads(json.dumps(rng.choice(recent)))
            words = row["messages"][-1]["content"].split()
            for _ in range(2 if words else 0):
                words[rng.randrange(len(words))] = rng.choice(["quickly", "then", "also"])
            row["messages"][-1]["content"] = " ".join(words)
        else:
            q, label = _question(rng)
            a = _answer(rng, q)
            if kind < 0.20:  # leaked HTML from the ticketing system
                a = f'<div class="answer"><p>{a}</p><br/></div>&nbsp;'
            elif kind < 0.23:
                a = "I'm sorry, but I can't help with that request."
            elif kind < 0.26:  # truncated by a token limit
                a = a[: len(a) // 2].rstrip(" .,")
            elif kind < 0.28:
                a = "   "
            elif kind < 0.30:
                a = (
                    "Um Ihr Konto zu verwalten, öffnen Sie die Einstellungen und wählen Sie den Bereich aus, "
                    "der für Ihr Projekt gilt. Die Änderungen werden in wenigen Minuten wirksam."
                )
            elif kind < 0.33:
                q, a, label = rng.choice(OFF_DOMAIN), _answer(rng, "write it now"), "other"
            row = {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": q},
                    {"role": "assistant", "content": a},
                ],
                "label": label,
                "metadata": {"request_id": f"req-{seed}-{i}", "channel": rng.choice(["chat", "email"])},
            }
            if rng.random() < 0.3:  # a short follow-up turn: conversational, must be kept
                row["messages"] += [
                    {"role": "user", "content": "Thanks! Which region?"},
                    {"role": "assistant", "content": "Your project's default region, eu-west."},
                ]
            recent.append(row)
            if len(recent) > 200:
                recent.pop(0)
        row = dict(row, id=f"conv-{seed}-{i}")
        yield row


def write_jsonl(path: str | Path, n: int, seed: int = 0) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows(n, seed):
            f.write(json.dumps(r, ensure_ascii=False))
            f.write("\n")
    return path
