"""airtune.train: LoRA fine-tuning of decoder models in C++ on libtorch, PEFT-compatible output.

- :class:`LoraConfig`: adapter shape (PEFT's semantics: ranks and alphas per module, DoRA,
  modules_to_save), the quantization of the frozen base (NF4 / int8, QLoRA) and the training
  hyperparameters.
- :func:`train_lora` ``(base_model_path, train, eval=None, config=..., output_dir=...)`` ->
  :class:`TrainResult` (loss curves with ``plot()``, the best adapter by a metric, adapter path,
  throughput, row accounting).
- :func:`plan` ``(base, config, device="L4")`` -> :class:`TrainPlan`: the run's predicted peak
  memory term by term, the largest batch that fits a GPU, step time and training hours (feeding
  ``airtune.cost.OneTimeCosts``), from the model's config.json alone (``memory_plan.py``).
- :func:`load_adapter` -> :class:`AdapterModel` (logits and ``generate`` with the adapter, merged
  export). The adapter folder records the prompt format it was trained with (``prompt_format.json``,
  :class:`~airtune.train.format.PromptFormat`); generation uses it.

Importing this module does not import torch; training does.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._results import ResultMixin, progress
from ..nn._lib import native, resolve_device, resolve_dtype, torch
from .data import DataReport, Tokenization, build_examples
from .format import FormatMismatchError, PromptFormat, check_parity, format_row
from .memory_plan import DEVICES, ModelConfig, PlanError, TrainPlan, plan

if TYPE_CHECKING:  # the compiled module's stub types the trainer's options and results
    from .. import _nn

__all__ = [
    "DEVICES",
    "AdapterModel",
    "DataReport",
    "FormatMismatchError",
    "LoraConfig",
    "ModelConfig",
    "PlanError",
    "PromptFormat",
    "TrainPlan",
    "TrainResult",
    "TrainingDivergedError",
    "check_parity",
    "format_row",
    "load_adapter",
    "plan",
    "train_lora",
]

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "gemma", "gemma2", "gemma3_text", "phi3")
#: The metrics an evaluation computes (``metric_for_best_model``), and whether higher is better.
BEST_METRICS = {"eval_loss": False, "eval_perplexity": False, "eval_token_accuracy": True}
#: The quantization of the base an adapter was trained over (read back by load_adapter).
QUANTIZATION_FILE = "quantization.json"
#: What train_lora writes into output_dir (a folder holding any of these is a used one).
OUTPUT_ARTIFACTS = (
    "adapter_config.json",
    "adapter_model.safetensors",
    "training_log.json",
    "prompt_format.json",
    "quantization.json",  # QUANTIZATION_FILE
    "checkpoints",
    "best",
    "merged",
)


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN/inf; ``result`` holds the curves so far and the last good checkpoint."""

    def __init__(self, message: str, result: TrainResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class LoraConfig:
    r"""LoRA adapter and training settings (defaults follow PEFT and transformers' Trainer).

    ``target_modules``: a list of module names matched exactly or as a ``.suffix`` (PEFT), a str
    regex full-matched against names such as ``model.layers.0.self_attn.q_proj``, or ``"all-linear"``.
    ``mode``: ``"instruct"`` (loss on the response), ``"chat"`` (chat template, loss on assistant
    turns) or ``"auto"`` (chat when the tokenizer has a template). ``truncation``: rows longer than
    ``max_length`` are ``"truncate"``-d (kept, counted) or ``"drop"``-ped (counted).
    ``warmup_ratio`` is used when ``warmup_steps`` is 0. ``eval_steps`` 0: evaluate at the end only.
    ``gradient_checkpointing`` recomputes each decoder layer in the backward pass (less memory, same
    gradients). ``packing`` packs the examples of each micro-batch into rows of ``max_length`` tokens
    (positions restart and attention stays inside each example: same loss as unpacked, less padding).

    PEFT options: ``rank_pattern`` / ``alpha_pattern`` ({pattern: r or alpha}, the first pattern P
    whose regex ``(.*\.)?(P)`` matches a module's full name sets it), ``use_dora`` (DoRA: a trained
    magnitude per output row), ``modules_to_save`` (full trained copies of modules such as
    ``embed_tokens`` and ``lm_head``, saved in the adapter; a name selects every module ending with it).
    ``quantization``: ``"nf4"`` or ``"int8"`` holds the frozen projections in 4 / 8 bits with one
    absmax scale per ``quant_block_size`` weights (QLoRA; ``double_quant`` also quantizes the scales),
    dequantized inside each matmul; LoRA stays float32. A bitsandbytes NF4 checkpoint is read as it
    is (leave ``quantization`` None or give "nf4").
    Best adapter: every evaluation computes ``eval_loss``, ``eval_perplexity`` and
    ``eval_token_accuracy``; ``metric_for_best_model`` (default eval_loss; "loss" is accepted for
    "eval_loss") picks the best, ``greater_is_better`` its direction (default: lower for loss and
    perplexity, higher for accuracy). ``load_best_model_at_end`` ends with the best adapter in
    ``output_dir``; otherwise the best one, when it is not the last, goes to ``output_dir/best``.
    Early stopping follows the same metric. ``save_total_limit`` keeps the newest N checkpoints.
    """

    r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    target_modules: Sequence[str] | str = ("q_proj", "v_proj")
    use_rslora: bool = False
    mode: str = "auto"
    max_length: int = 1024
    truncation: str = "truncate"
    instruct_template: str = "{prompt}\n"
    learning_rate: float = 2e-4
    epochs: int = 1
    max_steps: int = -1
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    lr_scheduler: str = "linear"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    group_by_length: bool = True
    gradient_checkpointing: bool = False
    packing: bool = False
    eval_steps: int = 0
    eval_batch_size: int = 8
    early_stopping_patience: int = 0
    early_stopping_threshold: float = 0.0
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    load_best_model_at_end: bool = False
    save_steps: int = 0
    save_total_limit: int | None = None
    rank_pattern: dict[str, int] = field(default_factory=dict)
    alpha_pattern: dict[str, float] = field(default_factory=dict)
    use_dora: bool = False
    modules_to_save: Sequence[str] | None = None
    quantization: str | None = None
    quant_block_size: int = 64
    double_quant: bool = False
    seed: int = 0
    dtype: str = "auto"
    device: str = "auto"
    save_merged: bool = False

    def validate(self) -> None:
        """Raises ValueError naming the first bad field."""
        if self.r <= 0:
            raise ValueError(f"r must be > 0, got {self.r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.mode not in ("auto", "instruct", "chat"):
            raise ValueError(f"mode must be 'auto', 'instruct' or 'chat', got {self.mode!r}")
        if self.truncation not in ("truncate", "drop"):
            raise ValueError(f"truncation must be 'truncate' or 'drop', got {self.truncation!r}")
        if self.lr_scheduler not in ("linear", "cosine", "constant"):
            raise ValueError(f"lr_scheduler must be linear, cosine or constant, got {self.lr_scheduler!r}")
        if self.max_length < 2:
            raise ValueError("max_length must be >= 2")
        if self.batch_size <= 0 or self.gradient_accumulation_steps <= 0:
            raise ValueError("batch_size and gradient_accumulation_steps must be > 0")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError("epochs or max_steps must be > 0")
        if self.quantization not in (None, "nf4", "int8"):
            raise ValueError(f"quantization must be None, 'nf4' or 'int8', got {self.quantization!r}")
        if self.quant_block_size <= 0 or (self.quantization == "nf4" and self.quant_block_size % 2):
            raise ValueError(
                f"quant_block_size must be a positive (for nf4: even) number, got {self.quant_block_size}"
            )
        if self.save_total_limit is not None and self.save_total_limit < 1:
            raise ValueError(f"save_total_limit must be None or >= 1, got {self.save_total_limit}")
        for name, pattern in (("rank_pattern", self.rank_pattern), ("alpha_pattern", self.alpha_pattern)):
            if not isinstance(pattern, dict):
                raise ValueError(f"{name} must be a dict {{pattern: value}}, got {type(pattern).__name__}")
        for key, value in self.rank_pattern.items():
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"rank_pattern[{key!r}] must be a positive int, got {value!r}")
        if self.modules_to_save is not None and (
            isinstance(self.modules_to_save, str)
            or not all(isinstance(m, str) and m for m in self.modules_to_save)
        ):
            raise ValueError(f"modules_to_save must be a list of module names, got {self.modules_to_save!r}")
        self.best_metric()

    def best_metric(self) -> tuple[str, bool]:
        """The metric that picks the best adapter (eval_ prefixed) and whether greater is better."""
        name = self.metric_for_best_model or "eval_loss"
        if not name.startswith("eval_"):
            name = f"eval_{name}"
        if name not in BEST_METRICS:
            raise ValueError(
                f"metric_for_best_model {self.metric_for_best_model!r} is never computed: an evaluation "
                f"computes {', '.join(BEST_METRICS)}"
            )
        greater = BEST_METRICS[name] if self.greater_is_better is None else bool(self.greater_is_better)
        return name, greater

    def _quant_args(self) -> tuple[str, int, bool]:
        return (self.quantization or "", int(self.quant_block_size), bool(self.double_quant))

    def _targets(self) -> tuple[list[str], str, bool]:
        t = self.target_modules
        if isinstance(t, str):
            if t == "all-linear":
                return [], "", True
            return [], t, False
        names = [str(x) for x in t]
        if not names:
            raise ValueError("target_modules is empty")
        return names, "", False


@dataclass(repr=False)
class TrainResult(ResultMixin):
    """Outcome of :func:`train_lora`. ``print(result)`` shows a short summary (losses, steps,
    throughput, where the adapter is); ``history`` holds every step, ``evals`` every evaluation
    (step, eval_loss, eval_token_accuracy, metric)."""

    adapter_path: str
    history: list[dict[str, Any]]
    eval_history: list[tuple[int, float]]
    steps: int
    total_steps: int
    stop_reason: str
    train_seconds: float
    tokens_per_second: float  # all (unpadded) tokens processed per second of training
    label_tokens_per_second: float
    num_trainable: int
    train_report: DataReport
    eval_report: DataReport | None = None
    merged_path: str | None = None
    last_checkpoint: str | None = None
    message: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    evals: list[dict[str, Any]] = field(default_factory=list)
    metric_for_best_model: str = "eval_loss"
    best_step: int = 0  # step of the best evaluation (0: none ran)
    best_metric: float | None = None
    best_restored: bool = False  # the adapter in adapter_path is the best one (load_best_model_at_end)
    best_adapter_path: str | None = None  # where the best adapter is (adapter_path when it is the final one)

    @property
    def train_loss(self) -> list[float]:
        return [h["loss"] for h in self.history]

    @property
    def final_loss(self) -> float | None:
        return self.history[-1]["loss"] if self.history else None

    def summary_line(self) -> str:
        ev = f", eval loss {self.eval_history[-1][1]:.4f}" if self.eval_history else ""
        fl = f"{self.final_loss:.4f}" if self.final_loss is not None else "n/a"
        return (
            f"TrainResult: {self.steps}/{self.total_steps} steps ({self.stop_reason}), final loss {fl}{ev}, "
            f"{self.tokens_per_second:.0f} tokens/s, adapter {self.adapter_path}"
        )

    def __str__(self) -> str:
        fl = f"{self.final_loss:.4f}" if self.final_loss is not None else "n/a"
        first = f"{self.history[0]['loss']:.4f} -> " if len(self.history) > 1 else ""
        lines = [
            f"TrainResult: {self.steps}/{self.total_steps} steps ({self.stop_reason}) in "
            f"{self.train_seconds:.1f} s, {self.tokens_per_second:.0f} tokens/s",
            f"  train loss {first}{fl} (final)",
        ]
        if self.evals:
            last = self.evals[-1]
            line = f"  eval loss {last['eval_loss']:.4f} (final, step {last['step']})"
            if self.best_step > 0 and self.best_metric is not None:
                where = (
                    "restored"
                    if self.best_restored
                    else (
                        "the final adapter"
                        if self.best_step == self.steps
                        else f"saved to {self.best_adapter_path}"
                    )
                )
                line += f"; best {self.metric_for_best_model} {self.best_metric:.4f} at step {self.best_step} ({where})"
            lines.append(line)
        lines.append(f"  adapter: {self.adapter_path}")
        return "\n".join(lines)

    __repr__ = __str__

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.history)

    def plot(self, ax: Any = None) -> Any:
        """Training loss per step (and eval loss) with matplotlib; returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([h["step"] for h in self.history], self.train_loss, label="train")
        if self.eval_history:
            ax.plot([s for s, _ in self.eval_history], [v for _, v in self.eval_history], "o-", label="eval")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend()
        return ax


def _check_architecture(path: Path) -> dict[str, Any]:
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(
            f"{cfg_path}: no config.json (base_model_path must be a Hugging Face model folder)"
        )
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    mt = cfg.get("model_type")
    if mt not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"{cfg_path}: model_type {mt!r} is not supported for LoRA training "
            f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    return cfg


class AdapterModel:
    """A base model with LoRA adapters (fresh or loaded from a PEFT folder)."""

    def __init__(
        self, base_model_path: str | os.PathLike, config: LoraConfig, dtype: str, device: str
    ) -> None:
        self.base_model_path = Path(base_model_path)
        _check_architecture(self.base_model_path)
        names, regex, all_linear = config._targets()
        self.config = config
        self.adapter_path: Path | None = None
        # The format the adapter was trained with (load_adapter reads it from the folder); None: the
        # base tokenizer's default (chat template when it has one, else the instruct format).
        self.prompt_format: PromptFormat | None = None
        self._generator: Any = None
        self._impl = native().LoraModel(
            str(self.base_model_path),
            int(config.r),
            float(config.lora_alpha),
            float(config.lora_dropout),
            bool(config.use_rslora),
            names,
            regex,
            all_linear,
            int(config.seed),
            dtype,
            device,
            rank_pattern=[(str(k), int(v)) for k, v in config.rank_pattern.items()],
            alpha_pattern=[(str(k), float(v)) for k, v in config.alpha_pattern.items()],
            use_dora=bool(config.use_dora),
            modules_to_save=list(config.modules_to_save or []),
            quantization=config._quant_args()[0],
            quant_block_size=config._quant_args()[1],
            double_quant=config._quant_args()[2],
        )

    @property
    def modules(self) -> list[str]:
        """Full names of the adapted modules."""
        return list(self._impl.modules)

    @property
    def num_trainable(self) -> int:
        return int(self._impl.num_trainable)

    def state_dict(self) -> dict[str, Any]:
        """PEFT-named adapter tensors (float32, CPU)."""
        return dict(self._impl.state_dict())

    def logits(self, input_ids: Any, attention_mask: Any = None) -> Any:
        """Logits ``[B, S, V]`` with the adapters applied (no dropout)."""
        t = torch()
        ids = t.as_tensor(input_ids).to(t.int64)
        if ids.dim() == 1:
            ids = ids.unsqueeze(0)
        mask = t.ones_like(ids) if attention_mask is None else t.as_tensor(attention_mask).reshape(ids.shape)
        return self._impl.logits(ids, mask)

    def generator(self) -> Any:
        """An :class:`airtune.nn.DecoderModel` with the adapters merged in memory (no file written;
        built once, the base's unadapted tensors shared): ``logits`` and ``generate`` as for any model
        folder, with the base folder's tokenizer."""
        if self._generator is None:
            from ..nn.decoder import DecoderModel

            self._generator = DecoderModel(self.base_model_path, _impl=self._impl.merged_decoder())
        return self._generator

    def tokenization(self) -> Tokenization:
        """The trained prompt format over the base tokenizer (checked against the recorded tokenizer)."""
        tok = self.generator().tokenizer
        if tok is None:
            raise ValueError(f"{self.base_model_path}: no tokenizer.json, cannot format prompts")
        fmt = PromptFormat.for_tokenizer(tok, self.config.mode, self.config.instruct_template)
        if self.prompt_format is not None:
            used = PromptFormat(
                self.prompt_format.mode, self.prompt_format.instruct_template, fmt.tokenizer_sha256
            )
            self.prompt_format.check_same(used, str(self.adapter_path or self.base_model_path))
            fmt = used
        return Tokenization.from_format(tok, fmt)

    def generate(self, prompts: Any, max_new_tokens: int = 32, **kwargs: Any) -> Any:
        """Generate with the adapter applied, without saving a merged model.

        ``prompts``: a str (one user message), a conversation, a list of either, or token ids.
        Text and conversations are formatted as in training (:func:`airtune.train.format.format_row`:
        the recorded instruct format or chat template), so the model sees the tokens it was trained
        on. Keyword arguments as :meth:`airtune.nn.DecoderModel.generate` (temperature, top_p, top_k,
        seed, stop). Returns a :class:`airtune.nn.GenerationResult`.
        """
        single = isinstance(prompts, str) or (
            isinstance(prompts, list) and bool(prompts) and all(isinstance(m, dict) for m in prompts)
        )
        items = [prompts] if single else prompts
        if isinstance(items, list) and items and all(isinstance(p, (str, list)) for p in items):
            if not all(isinstance(p, list) and p and all(isinstance(x, int) for x in p) for p in items):
                tz = self.tokenization()
                ids = []
                for i, p in enumerate(items):
                    made = format_row(tz, p, generation=True)
                    if isinstance(made, str):
                        raise ValueError(f"prompt {i} cannot be formatted ({tz.mode} format): {made}")
                    ids.append(made)
                items = ids
        return self.generator().generate(items, max_new_tokens=max_new_tokens, **kwargs)

    def save_adapter(self, out_dir: str | os.PathLike) -> str:
        """PEFT adapter folder: adapter_model.safetensors + adapter_config.json."""
        self._impl.save_adapter(str(out_dir), str(self.base_model_path))
        return str(out_dir)

    def save_merged(self, out_dir: str | os.PathLike) -> str:
        """Full weights with the adapters merged (HF layout), config and tokenizer files copied."""
        out = Path(out_dir)
        self._impl.save_merged(str(out))
        if self.prompt_format is not None:
            self.prompt_format.save(out)
        for name in (
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "chat_template.jinja",
        ):
            src = self.base_model_path / name
            if src.is_file():
                shutil.copyfile(src, out / name)
        return str(out)


def load_adapter(
    base_model_path: str | os.PathLike,
    adapter_path: str | os.PathLike,
    dtype: str = "float32",
    device: str = "cpu",
    quantization: str | None = None,
    quant_block_size: int | None = None,
    double_quant: bool | None = None,
) -> AdapterModel:
    """Base model plus a PEFT LoRA adapter folder (ours or PEFT's: rank/alpha patterns, DoRA and
    modules_to_save included). ``quantization`` holds the base as in training (see
    :class:`LoraConfig`); by default, as the adapter folder's ``quantization.json`` records (written
    by :func:`train_lora` over a quantized base), else dense. Raises ValueError on any key mismatch."""
    adapter_path = Path(adapter_path)
    recorded = adapter_path / QUANTIZATION_FILE
    if quantization is None and recorded.is_file():
        q = json.loads(recorded.read_text(encoding="utf-8"))
        quantization = q.get("quantization")
        quant_block_size = q.get("quant_block_size") if quant_block_size is None else quant_block_size
        double_quant = q.get("double_quant") if double_quant is None else double_quant
    quant_block_size = 64 if quant_block_size is None else int(quant_block_size)
    double_quant = bool(double_quant)
    cfg = json.loads((adapter_path / "adapter_config.json").read_text(encoding="utf-8"))
    if cfg.get("peft_type") != "LORA":
        raise ValueError(f"{adapter_path}: peft_type {cfg.get('peft_type')!r} is not LORA")
    for key in ("rank_pattern", "alpha_pattern"):
        if not isinstance(cfg.get(key) or {}, dict):
            raise ValueError(f"{adapter_path}: {key} must be an object {{pattern: value}}")
    mts = cfg.get("modules_to_save") or None
    if mts is not None and not (isinstance(mts, list) and all(isinstance(m, str) for m in mts)):
        raise ValueError(f"{adapter_path}: modules_to_save must be a list of module names, got {mts!r}")
    targets = cfg.get("target_modules")
    if isinstance(targets, list):
        targets = sorted(targets)
    config = LoraConfig(
        r=int(cfg["r"]),
        lora_alpha=float(cfg.get("lora_alpha", 8)),
        target_modules=targets,
        use_rslora=bool(cfg.get("use_rslora", False)),
        rank_pattern={str(k): int(v) for k, v in (cfg.get("rank_pattern") or {}).items()},
        alpha_pattern={str(k): float(v) for k, v in (cfg.get("alpha_pattern") or {}).items()},
        use_dora=bool(cfg.get("use_dora", False)),
        modules_to_save=mts,
        quantization=quantization,
        quant_block_size=quant_block_size,
        double_quant=double_quant,
    )
    dev = resolve_device(device)
    model = AdapterModel(base_model_path, config, resolve_dtype(dtype, dev), dev)
    model._impl.load_adapter(str(adapter_path))
    model.adapter_path = adapter_path
    model.prompt_format = PromptFormat.load(adapter_path)
    return model


def _options(
    config: LoraConfig, total_steps: int, pad_id: int, base: str, output_dir: Path, resume_from: str | None
) -> _nn.TrainOptions:
    """The one conversion of a (validated) LoraConfig into ``_nn.TrainOptions``, the trainer's
    options (nn/trainer_loop.h; fields keep the C++ names)."""
    warmup = config.warmup_steps or (
        math.ceil(config.warmup_ratio * total_steps) if config.warmup_ratio else 0
    )
    metric, greater = config.best_metric()
    o: _nn.TrainOptions = native().TrainOptions()
    o.epochs = int(config.epochs)
    o.max_steps = int(config.max_steps)
    o.batch_size = int(config.batch_size)
    o.grad_accum = int(config.gradient_accumulation_steps)
    o.learning_rate = float(config.learning_rate)
    o.weight_decay = float(config.weight_decay)
    o.beta1 = float(config.adam_beta1)
    o.beta2 = float(config.adam_beta2)
    o.eps = float(config.adam_epsilon)
    o.max_grad_norm = float(config.max_grad_norm)
    o.schedule = str(config.lr_scheduler)
    o.warmup_steps = int(warmup)
    o.seed = int(config.seed)
    o.group_by_length = bool(config.group_by_length)
    o.gradient_checkpointing = bool(config.gradient_checkpointing)
    o.pack_length = int(config.max_length) if config.packing else 0
    o.pad_token_id = int(pad_id)
    o.eval_every = int(config.eval_steps)
    o.eval_batch_size = int(config.eval_batch_size)
    o.best_metric = metric
    o.greater_is_better = bool(greater)
    o.load_best_at_end = bool(config.load_best_model_at_end)
    o.best_dir = "" if config.load_best_model_at_end else str(output_dir / "best")
    o.early_stopping_patience = int(config.early_stopping_patience)
    o.early_stopping_threshold = float(config.early_stopping_threshold)
    o.save_every = int(config.save_steps)
    o.save_total_limit = int(config.save_total_limit or 0)
    o.checkpoint_dir = str(output_dir / "checkpoints") if config.save_steps > 0 else ""
    o.resume_from = str(resume_from or "")
    o.base_model_name_or_path = base
    return o


def _step_dict(s: _nn.StepInfo) -> dict[str, Any]:
    """A ``_nn.StepInfo`` as the dict callbacks and ``TrainResult.history`` hold."""
    evaluated = s.eval_loss >= 0
    return {
        "step": s.step,
        "total_steps": s.total_steps,
        "epoch": s.epoch,
        "loss": s.loss,
        "lr": s.lr,
        "grad_norm": s.grad_norm,
        "tokens": s.tokens,
        "seq_tokens": s.seq_tokens,
        "seconds": s.seconds,
        "eval_loss": float(s.eval_loss) if evaluated else None,
        "eval_token_accuracy": float(s.eval_accuracy) if evaluated else None,
    }


def _eval_dict(e: _nn.EvalOutcome) -> dict[str, Any]:
    """A ``_nn.EvalOutcome`` as ``TrainResult.evals`` holds it."""
    return {"step": e.step, "eval_loss": e.loss, "eval_token_accuracy": e.token_accuracy, "metric": e.metric}


def _write_quantization(folder: Path, config: LoraConfig) -> None:
    q = {
        "quantization": config.quantization,
        "quant_block_size": int(config.quant_block_size),
        "double_quant": bool(config.double_quant),
    }
    (folder / QUANTIZATION_FILE).write_text(json.dumps(q, indent=1) + "\n", encoding="utf-8")


def _prepare_output_dir(out: Path, overwrite: bool, resuming: bool) -> None:
    """Creates ``out``; refuses one holding a previous run's outputs unless overwriting or resuming."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output_dir {out} exists and is not a folder")
    used = sorted(name for name in OUTPUT_ARTIFACTS if (out / name).exists())
    if used and not resuming:
        if not overwrite:
            raise FileExistsError(
                f"output_dir {out} holds the outputs of an earlier run ({', '.join(used)}): pass "
                "overwrite_output_dir=True to replace them, resume_from_checkpoint to continue that run, "
                "or choose another folder"
            )
        for name in used:
            p = out / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def train_lora(
    base_model_path: str | os.PathLike,
    train: Any,
    eval: Any = None,  # noqa: A002 - the issue's public name
    config: LoraConfig | None = None,
    output_dir: str | os.PathLike = "lora-adapter",
    callbacks: Sequence[Callable[[dict[str, Any]], Any]] = (),
    resume_from_checkpoint: str | os.PathLike | None = None,
    show_progress: bool = True,
    overwrite_output_dir: bool = False,
) -> TrainResult:
    """Fine-tune LoRA adapters on ``train`` and write a PEFT adapter folder to ``output_dir``.

    ``train`` / ``eval``: ``airtune.io.Records``, a list of dicts (``messages``, or ``prompt`` +
    ``completion`` / ``response``, or ``instruction`` + ``input`` + ``output``), a pandas DataFrame or a
    datasets ``Dataset``. Rows that cannot be used are dropped and counted by reason in
    ``result.train_report`` (never silently). ``callbacks`` are called after every optimizer step
    with a dict (step, loss, lr, grad_norm, tokens, eval_loss, ...); returning ``False`` stops.
    ``resume_from_checkpoint``: a ``checkpoint-N`` folder written with ``save_steps``; the resumed
    run ends with the same adapter as an uninterrupted one. Raises :class:`TrainingDivergedError`
    when the loss becomes NaN/inf (the last good checkpoint is kept and named in the message).
    An ``output_dir`` that already holds the outputs of a run is refused (FileExistsError) unless
    ``overwrite_output_dir`` (those outputs are deleted first) or ``resume_from_checkpoint`` is
    given, so checkpoints of two runs never mix.
    """
    config = config or LoraConfig()
    config.validate()
    base = Path(base_model_path)
    _check_architecture(base)
    from ..nn.tokenizer import Tokenizer

    tokenizer = Tokenizer(base)
    prompt_format = PromptFormat.for_tokenizer(tokenizer, config.mode, config.instruct_template)
    mode = prompt_format.mode
    tokenization = Tokenization(
        tokenizer, mode, config.max_length, config.truncation, config.instruct_template
    )
    train_ids, train_labels, train_report = build_examples(train, tokenization, "train")
    if not train_ids:
        raise ValueError(
            f"no usable training rows: {train_report.summary_line()}; {train_report.examples[:3]}"
        )
    eval_ids: list[list[int]] = []
    eval_labels: list[list[int]] = []
    eval_report = None
    if eval is not None:
        eval_ids, eval_labels, eval_report = build_examples(eval, tokenization, "eval")
    dev = resolve_device(config.device)
    model = AdapterModel(base, config, resolve_dtype(config.dtype, dev), dev)
    model.prompt_format = prompt_format
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id
    if pad is None:
        raise ValueError(f"{base}: the tokenizer has neither a pad nor an eos token")
    micro = math.ceil(len(train_ids) / config.batch_size)
    total_steps = (
        config.max_steps
        if config.max_steps > 0
        else math.ceil(config.epochs * micro / config.gradient_accumulation_steps)
    )
    out = Path(output_dir)
    _prepare_output_dir(out, overwrite_output_dir, resume_from_checkpoint is not None)
    opts = _options(
        config,
        total_steps,
        int(pad),
        str(base),
        out,
        None if resume_from_checkpoint is None else str(resume_from_checkpoint),
    )

    bar = progress(total=total_steps, desc="train_lora", enabled=show_progress, unit="step")
    t_start = time.perf_counter()
    seen_tokens = [0]

    def on_step(step: _nn.StepInfo) -> bool:
        info = _step_dict(step)
        seen_tokens[0] += int(info["seq_tokens"])
        if bar.n == 0 and info["step"] > 1:  # resumed run
            bar.update(int(info["step"]) - 1)
        elapsed = max(time.perf_counter() - t_start, 1e-9)
        post = {"loss": f"{info['loss']:.4f}", "tok/s": f"{seen_tokens[0] / elapsed:.0f}"}
        if info.get("eval_loss") is not None:
            post["eval"] = f"{info['eval_loss']:.4f}"
        bar.set_postfix(post, refresh=False)
        bar.update(1)
        keep = True
        for cb in callbacks:
            if cb(info) is False:
                keep = False
        return keep

    try:
        raw: _nn.TrainOutcome = model._impl.train(
            train_ids, train_labels, eval_ids, eval_labels, opts, on_step
        )
    finally:
        bar.close()
    secs = float(raw.train_seconds)
    evals = [_eval_dict(e) for e in raw.evals]
    result = TrainResult(
        adapter_path=str(out),
        history=[_step_dict(s) for s in raw.history],
        eval_history=[(int(e["step"]), float(e["eval_loss"])) for e in evals],
        evals=evals,
        metric_for_best_model=config.best_metric()[0],
        best_step=int(raw.best_step),
        best_metric=float(raw.best_metric) if raw.best_step > 0 else None,
        best_restored=bool(raw.best_restored),
        steps=int(raw.steps_done),
        total_steps=int(raw.total_steps),
        stop_reason=str(raw.stop_reason),
        train_seconds=secs,
        tokens_per_second=float(raw.seq_tokens) / secs if secs > 0 else 0.0,
        label_tokens_per_second=float(raw.train_tokens) / secs if secs > 0 else 0.0,
        num_trainable=model.num_trainable,
        train_report=train_report,
        eval_report=eval_report,
        last_checkpoint=raw.last_checkpoint or None,
        message=str(raw.message),
        config=asdict(config) | {"mode": mode},
    )
    if result.stop_reason == "nan_loss":
        raise TrainingDivergedError(result.message, result)
    model.save_adapter(out)
    prompt_format.save(out)  # what evaluation must format rows with (checked there)
    if config.quantization:  # load_adapter holds the base as in training
        _write_quantization(out, config)
    (out / "training_log.json").write_text(
        json.dumps(
            {
                "history": result.history,
                "eval_history": result.eval_history,
                "evals": result.evals,
                "best": {
                    "metric": result.metric_for_best_model,
                    "step": result.best_step,
                    "value": result.best_metric,
                    "restored": result.best_restored,
                    "path": result.best_adapter_path,
                },
                "stop_reason": result.stop_reason,
                "train_report": asdict(train_report),
                "config": result.config,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    if result.best_step > 0:
        result.best_adapter_path = str(raw.best_adapter or out)
        if raw.best_adapter:
            prompt_format.save(Path(raw.best_adapter))
            if config.quantization:
                _write_quantization(Path(raw.best_adapter), config)
    if config.save_merged:
        result.merged_path = model.save_merged(out / "merged")
    return result
