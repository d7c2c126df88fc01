"""The demo's fine-tune and its measurement on a holdout.

- :func:`finetune`: a LoRA adapter on the training split with :func:`airtune.train.train_lora`
  (loss on the assistant turn only, chat template of the base), merged for generation.
- :func:`predict`: greedy answers of a model folder for the prompts of some rows (system + user
  turns; the logged assistant turn is never shown to the model).
- :func:`score_holdout`: the untuned base, the fine-tuned model and the API baseline (the logged
  assistant turns) scored against the gold labels with :func:`airtune.metrics.taxonomy_accuracy`
  (exact accuracy, per-level accuracy, hierarchical F1, invalid answers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._results import ResultMixin, progress
from .taxonomy import load_taxonomy


@dataclass
class FinetuneRecipe:
    """LoRA settings of the demo fine-tune (see :class:`airtune.train.LoraConfig`)."""

    r: int = 32
    lora_alpha: float = 64.0
    target_modules: str = "all-linear"
    learning_rate: float = 3e-3
    epochs: int = 4
    max_steps: int = -1
    batch_size: int = 8
    max_length: int = 256
    warmup_ratio: float = 0.05
    lr_scheduler: str = "cosine"
    seed: int = 0
    max_new_tokens: int = 32  # generation on the holdout
    generate_batch: int = 64


@dataclass
class FinetuneResult:
    adapter_path: str
    merged_path: str
    seconds: float  # of this call (about 0 when reused)
    train: Any  # airtune.train.TrainResult (curves, row accounting), also when reused
    cached: bool = False
    key: str = ""

    def summary_line(self) -> str:
        how = "reused" if self.cached else f"{self.seconds:.0f} s"
        return f"fine-tune: {self.train.summary_line()} ({how})"


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with libtorch's intra-op pool at ``n`` threads (None: leave it), restored afterwards.

    The demo's steps default to one thread: on a 2-core machine shared with other work, two
    threads took 2.5-5x longer than one on the same matmuls (OpenMP threads wait for each other
    whenever one is descheduled).
    """
    if n is None:
        yield
        return
    from ..nn._lib import torch

    t = torch()
    before = t.get_num_threads()
    t.set_num_threads(int(n))
    try:
        yield
    finally:
        t.set_num_threads(before)


def _messages(row: Any) -> list[dict[str, Any]]:
    if hasattr(row, "messages") and not isinstance(row, dict):
        return [m.to_dict() if hasattr(m, "to_dict") else dict(m) for m in row.messages]
    return [dict(m) for m in row["messages"]]


def _metadata(row: Any) -> dict[str, Any]:
    if hasattr(row, "metadata") and not isinstance(row, dict):
        return dict(row.metadata or {})
    meta = dict(row.get("metadata") or {})
    return {**{k: v for k, v in row.items() if k not in ("messages", "metadata")}, **meta}


def prompt_of(row: Any) -> list[dict[str, Any]]:
    """The conversation up to (without) the last assistant turn."""
    msgs = _messages(row)
    while msgs and msgs[-1].get("role") == "assistant":
        msgs = msgs[:-1]
    return [{"role": m["role"], "content": m.get("content") or ""} for m in msgs]


def logged_answer(row: Any) -> str:
    """The last assistant turn as logged (the API model's answer)."""
    msgs = _messages(row)
    return str(msgs[-1].get("content") or "") if msgs and msgs[-1].get("role") == "assistant" else ""


def gold_label(row: Any, key: str = "gold_label") -> str | None:
    value = _metadata(row).get(key)
    return None if value is None else str(value)


def quick_splits(
    path: str | os.PathLike, fraction: float = 0.1, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A minimal stand-in for the curation pipeline, built from airtune's own stages, for tests
    and benchmarks of the recipe: read the log (malformed lines dropped), HTML to text on the user
    turn, rows whose logged answer is not a taxonomy node dropped (refusals, timeouts), near and
    exact duplicates dropped (MinHash on character 5-grams, Jaccard >= 0.7, first kept), then a
    holdout split stratified by the logged answer. It does not check system prompts or drop
    off-domain rows that got a category: the pipeline does. Rows are dicts: ``text`` (the cleaned
    description), ``messages``, ``metadata``."""
    from .. import clean, io
    from ..dedup import near_duplicates
    from ..split import holdout_split

    valid = set(load_taxonomy().valid_paths)
    recs = io.read_jsonl(path, errors="skip", progress=False)
    texts = clean.html_to_text([r.messages[1].content for r in recs], show_progress=False)
    rows = []
    for r, text in zip(recs, texts):
        answer = logged_answer(r)
        if answer not in valid:
            continue
        msgs = [
            {"role": "system", "content": r.messages[0].content},
            {"role": "user", "content": text},
            {"role": "assistant", "content": answer},
        ]
        rows.append({"text": text, "messages": msgs, "metadata": dict(r.metadata)})
    keep = near_duplicates([r["text"] for r in rows], threshold=0.7, ngram=5, char_ngrams=True).keep
    rows = [r for r, k in zip(rows, keep) if k]
    split = holdout_split(
        rows, fraction=fraction, seed=seed, text_key="text", stratify=lambda x: x["messages"][2]["content"]
    )
    return list(split.train), list(split.test)


_CACHE_FILE = "finetune_cache.json"


def _finetune_key(base_path: Path, train: Any, eval_rows: Any, recipe: FinetuneRecipe) -> str:
    """What decides the adapter: the base weights, the training (and eval) conversations, the
    recipe and the versions of the code that trains."""
    from .. import __version__
    from .._paths import file_sha256
    from ..train.data import to_conversations
    from .model import _version

    h = hashlib.sha256()
    for f in sorted(base_path.glob("*.safetensors")):
        h.update(file_sha256(f).encode())
    for part in (train, eval_rows):
        convs = to_conversations(part) if part is not None else []
        h.update(json.dumps(convs, sort_keys=True, ensure_ascii=False, default=str).encode())
    meta = {"recipe": asdict(recipe), "airtune": __version__, "torch": _version("torch")}
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()


def _cached_finetune(out: Path, key: str) -> FinetuneResult | None:
    from ..train import DataReport, TrainResult

    marker = out / _CACHE_FILE
    if not marker.is_file():
        return None
    info = json.loads(marker.read_text(encoding="utf-8"))
    merged = out / "merged"
    if info.get("key") != key or not (merged / "model.safetensors").is_file():
        return None
    d = dict(info["train"])
    d["train_report"] = DataReport(**d["train_report"])
    if d.get("eval_report") is not None:
        d["eval_report"] = DataReport(**d["eval_report"])
    d["eval_history"] = [tuple(x) for x in d["eval_history"]]
    return FinetuneResult(str(out), str(merged), 0.0, TrainResult(**d), cached=True, key=key)


def finetune(
    base_path: str | os.PathLike,
    train: Any,
    out_dir: str | os.PathLike,
    recipe: FinetuneRecipe | None = None,
    eval: Any = None,  # noqa: A002 - train_lora's name
    show_progress: bool = True,
    num_threads: int | None = 1,
    reuse: bool = True,
) -> FinetuneResult:
    """LoRA fine-tune of ``base_path`` on ``train`` (chat records; the loss covers the assistant
    turn), adapter in ``out_dir`` and merged weights in ``out_dir/merged``.

    With ``reuse``, a folder from an earlier call with the same base weights, training rows,
    recipe and versions is returned as is (``cached=True``); ``finetune_cache.json``, written
    last, marks a finished folder."""
    from ..train import LoraConfig, train_lora

    recipe = recipe or FinetuneRecipe()
    out = Path(out_dir)
    key = _finetune_key(Path(base_path), train, eval, recipe)
    if reuse:
        hit = _cached_finetune(out, key)
        if hit is not None:
            return hit
    (out / _CACHE_FILE).unlink(missing_ok=True)
    cfg = LoraConfig(
        r=recipe.r,
        lora_alpha=recipe.lora_alpha,
        target_modules=recipe.target_modules,
        mode="chat",
        max_length=recipe.max_length,
        learning_rate=recipe.learning_rate,
        epochs=recipe.epochs,
        max_steps=recipe.max_steps,
        batch_size=recipe.batch_size,
        lr_scheduler=recipe.lr_scheduler,
        warmup_ratio=recipe.warmup_ratio,
        seed=recipe.seed,
        dtype="float32",
        device="cpu",
        save_merged=True,
    )
    t0 = time.perf_counter()
    with torch_threads(num_threads):
        res = train_lora(
            base_path,
            train,
            eval=eval,
            config=cfg,
            output_dir=out,
            show_progress=show_progress,
            overwrite_output_dir=True,  # a folder of another key: retrained from scratch, never mixed
        )
    tmp = out / f".{_CACHE_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps({"key": key, "train": asdict(res)}, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, out / _CACHE_FILE)
    return FinetuneResult(str(out), str(res.merged_path), time.perf_counter() - t0, res, key=key)


def predict(
    model_path: str | os.PathLike,
    rows: Sequence[Any],
    max_new_tokens: int = 32,
    batch_size: int = 64,
    show_progress: bool = True,
    desc: str = "generate",
    num_threads: int | None = 1,
) -> list[str]:
    """Greedy answers of the model at ``model_path`` to the prompt of each row, in row order."""
    from ..nn import load_model

    with torch_threads(num_threads):
        model = load_model(model_path, dtype="float32", device="cpu")
        prompts = [prompt_of(r) for r in rows]
        # Similar lengths per batch: less left padding.
        order = sorted(range(len(prompts)), key=lambda i: len(str(prompts[i])))
        out = [""] * len(prompts)
        bar = progress(total=len(prompts), desc=desc, enabled=show_progress, unit="row")
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            res = model.generate([prompts[i] for i in idx], max_new_tokens=max_new_tokens)
            for i, text in zip(idx, res.texts or []):
                out[i] = text.strip()
            bar.update(len(idx))
        bar.close()
    return out


@dataclass
class ModelScore:
    name: str
    accuracy: float
    hierarchical_f1: float
    level_accuracy: list[float]
    invalid_rate: float
    n: int
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.name:<11} accuracy {self.accuracy:6.1%}  hierarchical F1 {self.hierarchical_f1:6.1%}  "
            f"invalid {self.invalid_rate:5.1%}  (n={self.n})"
        )


@dataclass
class HoldoutScores(ResultMixin):
    """Untuned base, fine-tuned model and API baseline on the same holdout rows."""

    scores: list[ModelScore]
    predictions: dict[str, list[str]] = field(repr=False, default_factory=dict)
    gold: list[str] = field(repr=False, default_factory=list)

    def __getitem__(self, name: str) -> ModelScore:
        for s in self.scores:
            if s.name == name:
                return s
        raise KeyError(name)

    def summary_line(self) -> str:
        return " | ".join(f"{s.name} {s.accuracy:.1%} / hF1 {s.hierarchical_f1:.1%}" for s in self.scores)

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame([asdict(s) for s in self.scores])

    def table(self) -> str:
        return "\n".join(s.line() for s in self.scores)


def _score(name: str, gold: list[str], pred: list[str], valid: list[str], seconds: float) -> ModelScore:
    from ..metrics import taxonomy_accuracy

    m = taxonomy_accuracy(gold, pred, valid_paths=valid)
    d = m.details
    return ModelScore(
        name,
        float(m.score),
        float(d["hierarchical_f1"]),
        [lv["accuracy"] for lv in d["levels"]],
        float(d["invalid_rate"]),
        len(gold),
        seconds,
    )


def score_holdout(
    holdout: Sequence[Any],
    base_path: str | os.PathLike,
    finetuned_path: str | os.PathLike,
    gold_key: str = "gold_label",
    valid_paths: Sequence[str] | None = None,
    max_new_tokens: int = 32,
    batch_size: int = 64,
    show_progress: bool = True,
    num_threads: int | None = 1,
) -> HoldoutScores:
    """Score the untuned base, the fine-tuned model and the API baseline on ``holdout``.

    Rows without a gold label (``metadata[gold_key]``) are skipped. Answers that are not a node of
    the taxonomy (``valid_paths``; default: the demo taxonomy's nodes) count as wrong at every
    level.
    """
    rows = [r for r in holdout if gold_label(r, gold_key) is not None]
    if not rows:
        raise ValueError(f"holdout: no row has a gold label in metadata[{gold_key!r}]")
    gold = [str(gold_label(r, gold_key)) for r in rows]
    valid = list(valid_paths) if valid_paths is not None else load_taxonomy().valid_paths
    preds: dict[str, list[str]] = {}
    scores: list[ModelScore] = []
    for name, path in (("untuned", base_path), ("fine-tuned", finetuned_path)):
        t0 = time.perf_counter()
        preds[name] = predict(
            path, rows, max_new_tokens, batch_size, show_progress, f"generate ({name})", num_threads
        )
        scores.append(_score(name, gold, preds[name], valid, time.perf_counter() - t0))
    preds["baseline"] = [logged_answer(r) for r in rows]
    scores.append(_score("baseline", gold, preds["baseline"], valid, 0.0))
    return HoldoutScores(scores, preds, gold)


def model_size(path: str | os.PathLike) -> int:
    """Bytes of the safetensors weights of a model folder."""
    return sum(f.stat().st_size for f in Path(path).glob("*.safetensors"))
