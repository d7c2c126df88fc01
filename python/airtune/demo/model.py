"""A small Llama built in place and pretrained on the demo corpus.

Nothing is downloaded. :func:`build_base` trains a byte-level BPE tokenizer on ``corpus.txt``
(``tokenizers``), creates a Llama with random weights (transformers' ``LlamaForCausalLM``, tied
embeddings), pretrains it on the corpus and saves it in the Hugging Face layout (safetensors) with
a chat template, ready for :func:`airtune.train.train_lora` and :func:`airtune.nn.load_model`.

Why pretraining does not use airtune's trainer: :func:`airtune.train.train_lora` trains LoRA
adapters only (no full-parameter training, no ``modules_to_save``), so the embeddings, the output
layer and the norms of a random model stay random. Measured on this corpus (one thread, batch 16 x
128 tokens): LoRA on every linear layer (r=64, merged afterwards) stalls at an eval loss of 6.96
after 400 steps (161 CPU s), while full-parameter training reaches 1.95 after 150 steps (48 CPU s).
The smallest honest alternative is a plain torch loop (AdamW, warm-up + cosine, clipping) over
transformers' reference Llama, whose logits airtune's runtime is tested to match.

The result is cached in ``out_dir/base-<hash>`` where the hash covers the recipe, the corpus
bytes, the torch and transformers versions and the format version: a second run reuses it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._paths import file_sha256
from .._results import progress, require

FORMAT_VERSION = 1
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' + message['role']) }}{% endif %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] | trim }}</s>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass
class BaseRecipe:
    """Shape of the small Llama and how it is pretrained (every field enters the cache key)."""

    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 352
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    max_position_embeddings: int = 512
    init_std: float = 0.02  # HF initializer_range
    steps: int = 400  # optimizer steps of pretraining
    seq: int = 128  # tokens per pretraining row (corpus lines joined by newlines)
    batch_size: int = 16
    learning_rate: float = 3e-3
    warmup_steps: int = 10
    min_lr_ratio: float = 0.1  # cosine decays to this share of the peak
    weight_decay: float = 0.0
    eval_rows: int = 32  # corpus rows held out to report the pretraining loss
    seed: int = 0

    def validate(self) -> None:
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError("hidden_size must divide by num_heads and num_heads by num_kv_heads")
        if self.vocab_size < len(SPECIAL_TOKENS) + 256:
            raise ValueError(f"vocab_size must be >= {len(SPECIAL_TOKENS) + 256} (bytes + special tokens)")
        if self.steps < 0 or self.seq < 8 or self.batch_size < 1:
            raise ValueError("steps >= 0, seq >= 8 and batch_size >= 1 are needed")
        if self.seq + 2 > self.max_position_embeddings:
            raise ValueError("seq + 2 must fit in max_position_embeddings")

    def key(self, corpus_sha256: str) -> str:
        """Cache key: the recipe, the corpus bytes, the libraries that compute the weights."""
        blob = json.dumps(
            {
                "recipe": asdict(self),
                "corpus": corpus_sha256,
                "format": FORMAT_VERSION,
                "torch": _version("torch"),
                "transformers": _version("transformers"),
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class BaseModel:
    """A built base model folder and how it was made."""

    path: str
    key: str
    cached: bool
    seconds: float  # of this call (0 when reused)
    recipe: dict[str, Any]
    num_parameters: int = 0
    loss: list[float] = field(default_factory=list)  # training loss per step
    eval_loss: float | None = None  # on the held-out corpus rows, after pretraining
    initial_eval_loss: float | None = None
    build_seconds: float = 0.0  # of the build that made it

    def summary_line(self) -> str:
        how = "reused" if self.cached else f"built in {self.seconds:.0f} s"
        ev = f"{self.initial_eval_loss:.2f} -> {self.eval_loss:.2f}" if self.eval_loss is not None else "n/a"
        return f"base model {self.path} ({self.num_parameters:,} parameters, eval loss {ev}, {how})"


def _version(dist: str) -> str:
    """Installed version of a distribution, without importing it (None-safe: '' when absent)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


def write_tokenizer(folder: Path, lines: list[str], vocab_size: int) -> None:
    """Byte-level BPE (GPT-2 style) trained on ``lines``, with the chat template, in the HF layout."""
    tk = require("tokenizers", "demo")
    tok = tk.Tokenizer(tk.models.BPE())
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer)
    tok.post_processor = tk.processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok.save(str(folder / "tokenizer.json"))
    cfg = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 512,
        "chat_template": CHAT_TEMPLATE,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=1), encoding="utf-8")


def pretraining_rows(lines: list[str], tokenizer: Any, seq: int) -> list[list[int]]:
    """Token ids of the corpus lines joined with newlines into rows of at most ``seq`` tokens
    (BOS first, EOS last; a longer line is cut)."""
    nl = tokenizer.encode_batch(["\n"], add_special_tokens=False)[0]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    rows: list[list[int]] = []
    cur: list[int] = []
    for ids in tokenizer.encode_batch(lines, add_special_tokens=False):
        ids = list(ids)[:seq]
        if cur and len(cur) + len(nl) + len(ids) > seq:
            rows.append([bos, *cur, eos])
            cur = []
        cur = [*cur, *nl, *ids] if cur else ids
    if cur:
        rows.append([bos, *cur, eos])
    return rows


def _batch(t: Any, rows: list[list[int]], pad: int) -> tuple[Any, Any, Any]:
    width = max(len(r) for r in rows)
    ids = t.full((len(rows), width), pad, dtype=t.long)
    mask = t.zeros((len(rows), width), dtype=t.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = t.tensor(r, dtype=t.long)
        mask[i, : len(r)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def _eval_loss(t: Any, model: Any, rows: list[list[int]], pad: int) -> float | None:
    if not rows:
        return None
    model.eval()
    total, count = 0.0, 0
    with t.no_grad():
        for s in range(0, len(rows), 16):
            ids, mask, labels = _batch(t, rows[s : s + 16], pad)
            n = int((labels[:, 1:] != -100).sum())
            total += float(model(input_ids=ids, attention_mask=mask, labels=labels).loss) * n
            count += n
    model.train()
    return total / count


def pretrain(
    folder: Path,
    rows: list[list[int]],
    eval_rows: list[list[int]],
    r: BaseRecipe,
    vocab: int,
    pad: int,
    show_progress: bool = True,
) -> tuple[int, list[float], float | None, float | None]:
    """Full-parameter causal-LM training of a new Llama on ``rows``; saves it into ``folder``.
    Returns (parameters, loss per step, eval loss before, eval loss after)."""
    t = require("torch", "demo")
    transformers = require("transformers", "demo")
    t.manual_seed(r.seed)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=r.hidden_size,
        intermediate_size=r.intermediate_size,
        num_hidden_layers=r.num_layers,
        num_attention_heads=r.num_heads,
        num_key_value_heads=r.num_kv_heads,
        max_position_embeddings=r.max_position_embeddings,
        initializer_range=r.init_std,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=pad,
    )
    model = transformers.LlamaForCausalLM(cfg)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    before = _eval_loss(t, model, eval_rows, pad)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = t.optim.AdamW(
        [{"params": decay, "weight_decay": r.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=r.learning_rate,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    g = t.Generator().manual_seed(r.seed)
    order: list[int] = []
    losses: list[float] = []
    bar = progress(total=r.steps, desc="pretrain base", enabled=show_progress, unit="step")
    for step in range(r.steps):
        if step < r.warmup_steps:
            scale = (step + 1) / r.warmup_steps
        else:
            frac = (step - r.warmup_steps) / max(1, r.steps - r.warmup_steps)
            scale = r.min_lr_ratio + (1 - r.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac))
        for group in opt.param_groups:
            group["lr"] = r.learning_rate * scale
        batch: list[Any] = []
        while len(batch) < r.batch_size:
            if not order:
                order = t.randperm(len(rows), generator=g).tolist()
            batch.append(rows[order.pop()])
        ids, mask, labels = _batch(t, batch, pad)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        t.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
        bar.set_postfix({"loss": f"{losses[-1]:.3f}"}, refresh=False)
        bar.update(1)
    bar.close()
    after = _eval_loss(t, model, eval_rows, pad)
    hf_logging = transformers.utils.logging
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # its "Writing model shards" bar, under ours
    try:
        model.save_pretrained(folder, safe_serialization=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return n_params, losses, before, after


def build_base(
    out_dir: str | os.PathLike,
    corpus: str | os.PathLike,
    recipe: BaseRecipe | None = None,
    show_progress: bool = True,
    force: bool = False,
    num_threads: int | None = 1,
) -> BaseModel:
    """Build (or reuse) the pretrained base model for ``corpus`` under ``out_dir``.

    Returns a :class:`BaseModel` whose ``path`` is a Hugging Face model folder (config,
    tokenizer with a chat template, safetensors weights). ``cached`` says whether it was reused.
    ``num_threads``: libtorch threads while pretraining (1 by default: the same weights on every
    run on a CPU, and the cheapest per token when other work shares the cores).
    """
    from .recipe import torch_threads

    recipe = recipe or BaseRecipe()
    recipe.validate()
    corpus = Path(corpus)
    if not corpus.is_file():
        raise FileNotFoundError(f"{corpus}: no such corpus file")
    key = recipe.key(file_sha256(corpus))
    root = Path(out_dir)
    final = root / f"base-{key[:12]}"
    info_path = final / "base_recipe.json"
    if info_path.is_file() and not force:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("key") == key:
            return BaseModel(
                str(final),
                key,
                True,
                0.0,
                info["recipe"],
                info["num_parameters"],
                info["loss"],
                info["eval_loss"],
                info["initial_eval_loss"],
                info["seconds"],
            )
    t0 = time.perf_counter()
    work = root / f".base-{key[:12]}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        lines = [x for x in corpus.read_text(encoding="utf-8").splitlines() if x.strip()]
        if not lines:
            raise ValueError(f"{corpus}: the corpus is empty")
        write_tokenizer(work, lines, recipe.vocab_size)
        from ..nn.tokenizer import Tokenizer

        tok = Tokenizer(work)
        vocab = tok._tok.get_vocab_size()
        rows = pretraining_rows(lines, tok, recipe.seq)
        eval_rows, train_rows = rows[: recipe.eval_rows], rows[recipe.eval_rows :] or rows
        pad = tok.pad_token_id
        if pad is None:
            raise ValueError(f"{work}: the demo tokenizer has no pad token")
        with torch_threads(num_threads):
            n_params, losses, before, after = pretrain(
                work, train_rows, eval_rows, recipe, vocab, int(pad), show_progress
            )
        seconds = time.perf_counter() - t0
        info = {
            "key": key,
            "recipe": asdict(recipe),
            "num_parameters": n_params,
            "loss": losses,
            "initial_eval_loss": before,
            "eval_loss": after,
            "seconds": seconds,
            "corpus": str(corpus),
            "corpus_rows": len(rows),
            "corpus_tokens": sum(map(len, rows)),
        }
        (work / "base_recipe.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BaseModel(
        str(final), key, False, seconds, asdict(recipe), n_params, losses, after, before, seconds
    )
