"""The memory plan of a LoRA run before its first step: :func:`plan` -> :class:`TrainPlan`.

Reads a model folder's ``config.json`` only (never the weights, so a 70B plan is instant) and counts
the bytes our trainer holds at its peak (``cpp/nn/trainer_loop.cpp``, ``lora_model.cpp``,
``decoder.cpp``): frozen weights in the model dtype (or NF4 / int8 codes and scales), float32
adapters, their float32 gradients and AdamW's two float32 moments, the activations autograd saves per
layer and token (with and without gradient checkpointing), the fused chunked loss (the hidden
states' gradient and one chunk's logits; Gemma 2's softcap: the whole logits), and the transients of
one layer's backward. The formula is written out in
``docs/train.md`` ("Memory plan"), term by term. Step time comes from the GPU's published dense BF16
tensor FLOP rate at a stated utilisation (MFU). Importing this module does not import torch.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["DEVICES", "Device", "ModelConfig", "PlanError", "TrainPlan", "plan"]

GiB = 1024**3


class PlanError(ValueError):
    """The run does not fit any device asked about (or the input is unusable)."""


@dataclass(frozen=True)
class Device:
    """A GPU (or the CPU): memory in bytes and the dense BF16 tensor FLOP rate (None: unknown)."""

    name: str
    memory_bytes: int
    bf16_flops: float | None
    cost_option: str | None = None  # the row of airtune.cost's price table for one such machine
    source: str = ""

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / GiB


# Memory as the vendor states it (GB = 1e9 bytes; usable memory is a little less, see `reserve_gib`).
# FLOP rates: dense BF16 tensor throughput (the datasheets' figures "with sparsity" are twice these).
#   L4:   NVIDIA L4 datasheet: BF16 242 TFLOPS with sparsity -> 121 dense; 24 GB GDDR6.
#   A10G: AWS's A10 variant (g5); NVIDIA A10 datasheet: BF16 125 TFLOPS dense (250 with sparsity),
#         24 GB; AWS publishes no separate A10G figure.
#   A100: NVIDIA A100 datasheet: BF16 312 TFLOPS dense (624 with sparsity); 40 GB or 80 GB.
#   H100: NVIDIA H100 SXM datasheet: BF16 1,979 TFLOPS with sparsity -> 989 dense; 80 GB HBM3.
#   H200: NVIDIA H200 SXM datasheet: BF16 1,979 TFLOPS with sparsity -> 989 dense; 141 GB HBM3e.
DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        Device("L4", 24 * 10**9, 121e12, "l4-7b", "NVIDIA L4 datasheet"),
        Device("A10G", 24 * 10**9, 125e12, "a10g-7b", "NVIDIA A10 datasheet (AWS A10G)"),
        Device("A100-40GB", 40 * 10**9, 312e12, "a100-7b", "NVIDIA A100 datasheet"),
        Device("A100-80GB", 80 * 10**9, 312e12, None, "NVIDIA A100 datasheet"),
        Device("H100", 80 * 10**9, 989e12, "h100-7b", "NVIDIA H100 SXM datasheet"),
        Device("H200", 141 * 10**9, 989e12, None, "NVIDIA H200 SXM datasheet"),
    )
}
_ALIASES = {"A100": "A100-40GB", "A100-40": "A100-40GB", "A100-80": "A100-80GB", "A10": "A10G"}


def _device(device: str | float | Device) -> Device:
    if isinstance(device, Device):
        return device
    if isinstance(device, (int, float)) and not isinstance(device, bool):
        if not device > 0:
            raise PlanError(f"device memory must be a positive number of GB, got {device!r}")
        return Device(f"{device:g}GB", int(device * 10**9), None)
    s = str(device).strip()
    key = s.upper()
    key = _ALIASES.get(key, key)
    if key in DEVICES:
        return DEVICES[key]
    if key == "CPU":
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return Device("cpu", int(mem), None)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*GB", key)
    if m:
        return _device(float(m.group(1)))
    raise PlanError(
        f"unknown device {s!r}: use one of {', '.join(DEVICES)} (A100 = A100-40GB), 'cpu', "
        "or a memory size in GB (a number or '48GB')"
    )


@dataclass(frozen=True)
class ModelConfig:
    """The shapes of a decoder, as our trainer reads them from config.json (model_config.cpp)."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    tie_word_embeddings: bool = False
    attention_bias: bool = False  # q/k/v biases
    o_proj_bias: bool = False
    mlp_bias: bool = False
    fused_projections: bool = False  # Phi-3: qkv_proj and gate_up_proj
    sandwich_norms: bool = False  # Gemma 2/3
    qk_norm: bool = False  # Gemma 3
    eager_attention: bool = False  # Gemma 2 attention softcapping: scores materialised
    final_softcap: bool = False
    gelu_activation: bool = False  # Gemma's gelu(tanh) MLP (autograd's); silu runs the lean SwiGLU
    bnb_nf4: bool = False  # a bitsandbytes NF4 checkpoint (read as it is)
    bnb_double_quant: bool = False
    bnb_block_size: int = 64
    name: str = ""

    @classmethod
    def from_dict(cls, cfg: dict[str, Any], source: str = "config.json") -> ModelConfig:
        t = cfg.get("model_type") or ""
        archs = cfg.get("architectures") or []
        if not t and archs:
            for prefix, mt in (
                ("Llama", "llama"),
                ("Mistral", "mistral"),
                ("Qwen2", "qwen2"),
                ("Gemma3", "gemma3_text"),
                ("Gemma2", "gemma2"),
                ("Gemma", "gemma"),
                ("Phi3", "phi3"),
            ):
                if str(archs[0]).startswith(prefix):
                    t = mt
                    break
        from . import SUPPORTED_MODEL_TYPES

        if t not in SUPPORTED_MODEL_TYPES:
            raise PlanError(
                f"{source}: model_type {t!r} is not supported for LoRA training "
                f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})"
            )

        def dim(key: str) -> int:
            v = cfg.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise PlanError(f"{source}: key {key!r} must be a positive integer, got {v!r}")
            return v

        h, nh = dim("hidden_size"), dim("num_attention_heads")
        nkv = cfg.get("num_key_value_heads") or nh
        head_dim = cfg.get("head_dim") or h // nh
        gemma = t in ("gemma", "gemma2", "gemma3_text")
        g2 = t == "gemma2"
        q = cfg.get("quantization_config") or {}
        bnb = (
            isinstance(q, dict)
            and q.get("quant_method") == "bitsandbytes"
            and bool(q.get("load_in_4bit"))
            and q.get("bnb_4bit_quant_type") == "nf4"
        )
        if t == "qwen2":
            ab, ob, mb = True, False, False
        elif t == "llama" or gemma:
            ab = bool(cfg.get("attention_bias", False))
            ob, mb = ab, t == "llama" and bool(cfg.get("mlp_bias", False))
        else:
            ab = ob = mb = False
        softcap = cfg.get("attn_logit_softcapping", 50.0 if g2 else None) if g2 else None
        final = cfg.get("final_logit_softcapping", 30.0 if g2 else None) if g2 else None
        act = (
            cfg.get("hidden_activation")
            or cfg.get("hidden_act")
            or ("gelu_pytorch_tanh" if gemma else "silu")
        )
        return cls(
            model_type=t,
            vocab_size=dim("vocab_size"),
            hidden_size=h,
            intermediate_size=dim("intermediate_size"),
            num_hidden_layers=dim("num_hidden_layers"),
            num_attention_heads=nh,
            num_key_value_heads=int(nkv),
            head_dim=int(head_dim),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", gemma)),
            attention_bias=ab,
            o_proj_bias=ob,
            mlp_bias=mb,
            fused_projections=t == "phi3",
            sandwich_norms=t in ("gemma2", "gemma3_text"),
            qk_norm=t == "gemma3_text",
            eager_attention=bool(softcap),
            final_softcap=bool(final),
            gelu_activation=act not in ("silu", "swish"),
            bnb_nf4=bnb,
            bnb_double_quant=bnb and bool(q.get("bnb_4bit_use_double_quant")),
            name=source,
        )

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> ModelConfig:
        path = Path(folder)
        cfg_path = path / "config.json" if path.is_dir() else path
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{cfg_path}: no config.json (a Hugging Face model folder is expected)")
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise PlanError(f"{cfg_path}: not JSON ({exc})") from None
        if not isinstance(cfg, dict):
            raise PlanError(f"{cfg_path}: a JSON object is expected")
        return replace(cls.from_dict(cfg, str(cfg_path)), name=str(cfg_path.parent))

    # -- the modules, named as the trainer names them (lora_model.cpp: projection_slots) --
    def slots(self) -> list[tuple[str, str, int, int]]:
        """(name, fused matrix, rows, cols) of each projection of one layer."""
        h, i = self.hidden_size, self.intermediate_size
        qd, kvd = self.num_attention_heads * self.head_dim, self.num_key_value_heads * self.head_dim
        if self.fused_projections:
            return [
                ("self_attn.qkv_proj", "qkv", qd + 2 * kvd, h),
                ("self_attn.o_proj", "o", h, qd),
                ("mlp.gate_up_proj", "gate_up", 2 * i, h),
                ("mlp.down_proj", "down", h, i),
            ]
        return [
            ("self_attn.q_proj", "qkv", qd, h),
            ("self_attn.k_proj", "qkv", kvd, h),
            ("self_attn.v_proj", "qkv", kvd, h),
            ("self_attn.o_proj", "o", h, qd),
            ("mlp.gate_proj", "gate_up", i, h),
            ("mlp.up_proj", "gate_up", i, h),
            ("mlp.down_proj", "down", h, i),
        ]

    @property
    def num_parameters(self) -> int:
        """Parameters of the checkpoint (embeddings counted once when tied)."""
        h, v = self.hidden_size, self.vocab_size
        per_layer = (
            sum(r * c for _, _, r, c in self.slots()) + self._norms_per_layer() + self._biases_per_layer()
        )
        return v * h * (1 if self.tie_word_embeddings else 2) + h + self.num_hidden_layers * per_layer

    def _norms_per_layer(self) -> int:
        h = self.hidden_size
        return h * (4 if self.sandwich_norms else 2) + (2 * self.head_dim if self.qk_norm else 0)

    def _biases_per_layer(self) -> int:
        qd, kvd = self.num_attention_heads * self.head_dim, self.num_key_value_heads * self.head_dim
        b = (qd + 2 * kvd) if self.attention_bias else 0
        b += self.hidden_size if self.o_proj_bias else 0
        b += (2 * self.intermediate_size + self.hidden_size) if self.mlp_bias else 0
        return b


def _matches_target(names: list[str], regex: str, all_linear: bool, module: str) -> bool:
    if all_linear:
        return True
    if regex:
        return re.fullmatch(regex, module) is not None
    return any(module == t or module.endswith("." + t) for t in names)


def _pattern_value(patterns: dict[str, Any], module: str) -> Any:
    for p, v in patterns.items():
        if re.fullmatch(rf"(.*\.)?({p})", module):
            return v
    return None


_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class TrainPlan:
    """Predicted peak memory of one training step (bytes per term), what fits, and how fast.

    ``print(plan)`` shows the table. Terms: ``weights`` (frozen base: model dtype, or codes + scales
    when quantized), ``packs`` (on the CPU, a float32 base's two oneDNN packs of each dense frozen
    matrix and lm_head, held while training), ``adapters`` (float32 LoRA A/B, DoRA magnitudes, modules_to_save copies),
    ``gradients`` (float32, one per trainable weight), ``optimizer`` (AdamW: two float32 moments),
    ``activations`` (saved for the backward pass, all layers), ``logits`` (the loss: the hidden
    states' gradient and one chunk of logits, or the whole logits with Gemma 2's softcap), ``workspace`` (one layer's backward transients, the
    batch tensors, RoPE tables and attention masks).
    """

    model: str
    num_parameters: int
    num_trainable: int
    device: Device
    dtype: str
    quantization: str | None
    gradient_checkpointing: bool
    batch_size: int
    seq_len: int
    terms: dict[str, int]
    reserve_bytes: int
    largest_batch: int  # 0: not even batch 1 fits
    step_flops: float
    mfu: float
    step_seconds: float | None
    tokens_per_second: float | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total_bytes(self) -> int:
        return sum(self.terms.values())

    @property
    def fits(self) -> bool:
        return self.total_bytes + self.reserve_bytes <= self.device.memory_bytes

    def hours(self, tokens: float, epochs: float = 1.0) -> float:
        """Training hours for ``epochs`` passes over ``tokens`` tokens at the predicted tokens/s."""
        if self.tokens_per_second is None:
            raise PlanError(
                f"no FLOP rate for device {self.device.name}: plan for a named GPU ({', '.join(DEVICES)}) "
                "or give tflops="
            )
        return epochs * tokens / self.tokens_per_second / 3600.0

    def to_one_time_costs(
        self,
        tokens: float,
        epochs: float = 1.0,
        *,
        prices: Any = None,
        option: str | None = None,
        **estimate: Any,
    ) -> Any:
        """:class:`airtune.cost.OneTimeCosts` with the training hours of this plan priced at the
        cost table's row for the device (``option`` overrides; L4, A10G, A100-40GB and H100 have
        rows). Other keywords go to ``OneTimeCosts.estimate`` (curation_hours, eval_items, ...)."""
        from ..cost import OneTimeCosts

        opt = option or self.device.cost_option
        if opt is None:
            raise PlanError(
                f"the price table has no row for {self.device.name}: pass option= (a gpu row of the table)"
            )
        return OneTimeCosts.estimate(
            prices, training_hours=self.hours(tokens, epochs), training_option=opt, **estimate
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "num_parameters": self.num_parameters,
            "num_trainable": self.num_trainable,
            "device": self.device.name,
            "device_memory_bytes": self.device.memory_bytes,
            "dtype": self.dtype,
            "quantization": self.quantization,
            "gradient_checkpointing": self.gradient_checkpointing,
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "terms": dict(self.terms),
            "total_bytes": self.total_bytes,
            "reserve_bytes": self.reserve_bytes,
            "fits": self.fits,
            "largest_batch": self.largest_batch,
            "step_flops": self.step_flops,
            "mfu": self.mfu,
            "step_seconds": self.step_seconds,
            "tokens_per_second": self.tokens_per_second,
        }

    def __str__(self) -> str:
        q = f", {self.quantization} base" if self.quantization else ""
        ck = ", gradient checkpointing" if self.gradient_checkpointing else ""
        lines = [
            f"TrainPlan: {self.model} ({self.num_parameters / 1e6:,.1f}M params, "
            f"{self.num_trainable / 1e6:,.2f}M trainable), {self.dtype}{q}{ck}",
            f"  batch {self.batch_size} x seq {self.seq_len} on {self.device.name} "
            f"({self.device.memory_bytes / 1e9:g} GB = {self.device.memory_gib:.1f} GiB)",
        ]
        for k, v in self.terms.items():
            lines.append(f"  {k:<12}{v / GiB:>10.3f} GiB")
        lines.append(
            f"  {'total':<12}{self.total_bytes / GiB:>10.3f} GiB (+ {self.reserve_bytes / GiB:.2f} reserve)"
        )
        lines.append(f"  fits: {'yes' if self.fits else 'no'}; largest batch that fits: {self.largest_batch}")
        if self.step_seconds is not None and self.tokens_per_second is not None:
            lines.append(
                f"  step {self.step_seconds:.3f} s, {self.tokens_per_second:,.0f} tokens/s at "
                f"{self.mfu:.0%} of {self.device.bf16_flops / 1e12 if self.device.bf16_flops else 0:g} TFLOP/s"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    __repr__ = __str__


def _config_of(config: Any) -> Any:
    from . import LoraConfig

    if config is None:
        return LoraConfig()
    if isinstance(config, dict):
        return LoraConfig(**config)
    if not isinstance(config, LoraConfig):
        raise TypeError(f"config must be a LoraConfig (or a dict of its fields), got {type(config).__name__}")
    return config


def _count(
    m: ModelConfig,
    c: Any,
    batch: int,
    seq: int,
    e: int,
    quant: str | None,
    block: int,
    double: bool,
    ckpt: bool,
    label_fraction: float,
    masked: bool,
    cpu: bool = False,
) -> tuple[dict[str, int], int, float]:
    """The terms (bytes) of one micro-batch of `batch` rows of `seq` tokens, the trainable count and
    the FLOPs of one step. See docs/train.md, "Memory plan"."""
    names, regex, all_linear = c._targets()
    h, i_, v = m.hidden_size, m.intermediate_size, m.vocab_size
    nh, nkv, d = m.num_attention_heads, m.num_key_value_heads, m.head_dim
    qd, kvd = nh * d, nkv * d
    n_layers = m.num_hidden_layers
    T = batch * seq  # tokens of a micro-batch
    L = max(1, int(round(batch * (seq - 1) * label_fraction)))  # labelled tokens (lm_head rows)
    saves = set(c.modules_to_save or ())

    def saved(module: str) -> bool:
        return any(
            module.endswith(s) or any(module[:k].endswith(s) for k in range(len(module)) if module[k] == ".")
            for s in saves
        )

    slots = m.slots()
    # weights
    if m.bnb_nf4:
        quant, block, double = "nf4", m.bnb_block_size, m.bnb_double_quant

    def matrix_bytes(rows: int, cols: int) -> int:
        n = rows * cols
        if quant is None:
            return n * e
        blocks = math.ceil(n / block)
        scales = blocks + 4 * math.ceil(blocks / 256) if double else 4 * blocks
        return (math.ceil(n / 2) if quant == "nf4" else n) + scales

    # fused matrices: quantized per module part (decoder.cpp: one QuantizedTensor per checkpoint module)
    per_layer_w = sum(matrix_bytes(r, cc) for _, _, r, cc in slots)
    per_layer_w += (m._norms_per_layer() + m._biases_per_layer()) * e
    weights = n_layers * per_layer_w + (v * h * (1 if m.tie_word_embeddings else 2) + h) * e

    # trainable tensors (float32): LoRA A [r, in], B [out, r], DoRA magnitude [out], full copies
    trainable = 0
    adapted: list[list[tuple[str, int, int, int]]] = []  # per layer: (matrix, r, rows, cols)
    copied: list[list[tuple[str, int, int]]] = []
    first_grad = n_layers  # the first layer whose input needs a gradient path
    for li in range(n_layers):
        ad, cp = [], []
        for path, mat, rows, cols in slots:
            name = f"model.layers.{li}.{path}"
            if _matches_target(names, regex, all_linear, name):
                r = _pattern_value(c.rank_pattern, name) or c.r
                ad.append((mat, int(r), rows, cols))
                trainable += r * (rows + cols) + (rows if c.use_dora else 0)
            elif saves and saved(name):
                cp.append((mat, rows, cols))
                trainable += rows * cols
        for norm in ("input_layernorm", "post_attention_layernorm"):
            if saves and saved(f"model.layers.{li}.{norm}"):
                trainable += h
        if (ad or cp) and first_grad == n_layers:
            first_grad = li
        adapted.append(ad)
        copied.append(cp)
    embed_copy = bool(saves) and saved("model.embed_tokens")
    head_copy = bool(saves) and saved("lm_head")
    if embed_copy:
        trainable += v * h
        first_grad = 0
    if head_copy:
        trainable += v * h
    if saves and saved("model.norm"):
        trainable += h

    # activations saved for the backward pass, per layer (elements x bytes); see docs/train.md
    f32 = 4
    n_norm_in = 4 if m.sandwich_norms else 2
    gqa_copies = masked or m.eager_attention  # repeat_interleave of k and v before the kernel

    n_slots = {k: sum(1 for _, mat, _, _ in slots if mat == k) for k in ("qkv", "o", "gate_up", "down")}

    def layer_saved(li: int, first_norm: bool) -> int:
        ad = adapted[li]
        by = {k: [a for a in ad if a[0] == k] for k in ("qkv", "o", "gate_up", "down")}
        cps = {k: [a for a in copied[li] if a[0] == k] for k in ("qkv", "o", "gate_up", "down")}
        b = 0
        # RMSNorm (lean backward, lean_autograd.cpp): its input as it is and rstd [T, 1] in float32
        b += (n_norm_in - (0 if first_norm else 1)) * T * (h * e + f32)
        # inputs of the adapted projections: LoRA's x.to(float32), the input itself in fp32; in bf16 one
        # copy per fused matrix when all its modules have plain adapters (side by side), else one per slot
        for k, width in (("qkv", h), ("o", qd), ("gate_up", h), ("down", i_)):
            n = len(by[k])
            if n:
                side_by_side = n == n_slots[k] and not cps[k] and not c.use_dora
                if k == "o" and e == f32:
                    pass  # the attention output, saved by the kernel anyway
                else:
                    b += (1 if e == f32 or side_by_side else n) * T * width * f32
            if cps[k]:
                b += T * width * e  # a trained copy's linear saves its input
            # x A^T, saved by the B matmul; over a bf16 base on the CPU (cpp/nn/lora_bf16.h) a matrix
            # of plain adapters of ranks up to 64 keeps it with each rank rounded up to 16, 32 or 64
            fused = cpu and e != f32 and n == n_slots[k] and not cps[k] and not c.use_dora
            fused = fused and not c.lora_dropout > 0 and all(r <= 64 for _, r, _, _ in by[k])
            b += sum(
                T * (next(w for w in (16, 32, 64) if r <= w) if fused else r) * f32 for _, r, _, _ in by[k]
            )
            if c.lora_dropout > 0:
                b += sum(T * cols * (f32 + 1) for _, _, _, cols in by[k])  # dropped input and its mask
            if c.use_dora:
                b += sum(T * rows * (f32 + e) for _, _, rows, _ in by[k])  # lora(x) and base(x) times g
        # attention: q after RoPE, k after RoPE, v (a view of the fused qkv output, which stays), output
        if gqa_copies and nkv != nh:
            b += T * (qd + qd + qd + qd) * e  # q, repeated k and v, output
        else:
            b += T * ((qd + 2 * kvd) + qd + kvd + qd) * e
        b += batch * nh * seq * f32  # log-sum-exp of the fused kernel
        if m.qk_norm:
            b += T * (nh + nkv) * f32  # rstd per head (the inputs are views of the qkv output)
        if m.eager_attention:
            b += batch * nh * seq * seq * (e + f32 + (e if e != f32 else 0))  # tanh, softmax (fp32), cast
        # MLP: the gate|up output (kept by the gate and up views; the lean SwiGLU keeps no silu(gate)),
        # Gemma's gelu(gate) * up (autograd) also keeps gelu(gate); down's input is counted above
        b += T * 2 * i_ * e + (T * i_ * e if m.gelu_activation else 0)
        return b

    per_layer = [
        layer_saved(li, li > first_grad or embed_copy) if li >= first_grad else 0 for li in range(n_layers)
    ]
    final_norm_in = T * (h * e + f32)
    if ckpt:
        activations = sum(T * h * e for li in range(n_layers) if li >= first_grad) + final_norm_in
        recompute = max(per_layer) if per_layer else 0  # one layer re-run in the backward pass
    else:
        activations = sum(per_layer) + final_norm_in
        recompute = 0
    rows = batch * (seq - 1)  # positions before the last (the loss's rows when every token is labelled)
    if m.final_softcap:
        # Gemma 2's softcapped logits take the unfused path: [L, V] logits in the model dtype, their
        # softcap, a float32 copy and log_softmax (saved); at the start of the backward the saved
        # output, nll's gradient and log_softmax's gradient (float32)
        logits_kept = 0
        loss_peak = 3 * L * v * f32 + (L * v * e if e != f32 else 0) + L * v * e
    else:
        # fused lm_head + cross-entropy (linear_cross_entropy.cpp): the gradient w.r.t. the hidden
        # states [L, h] is computed in the forward and kept to the backward; at the loss, the hidden
        # states' copies (the [B, S-1] rows when B > 1, the labelled ones when some are not) and one
        # chunk's float32 logits (log-softmax and its gradient computed in place; in bf16 the chunk's
        # logits or gradient in the model dtype beside them, and on the CPU only a block of ~512K
        # of them in float32 at a time: cross_entropy_block_rows)
        chunk = min(L, max(16, (1 << 23) // v))
        f32_rows = min(chunk, max(1, (1 << 19) // v)) if cpu and e != f32 else chunk
        logits_kept = L * h * e
        loss_peak = (
            (rows * h * e if batch > 1 else 0)
            + (L * h * e if L < rows else 0)
            + f32_rows * v * f32
            + (chunk * v * e if e != f32 else 0)
        )
    if head_copy:
        # a trained lm_head: its float32 gradient accumulator (fused) and its cast to the model dtype
        logits_kept += (v * h * f32 if not m.final_softcap else L * h * e) + (v * h * e if e != f32 else 0)
    # one layer's backward: the gradients of its widest intermediates; the lean SwiGLU's backward
    # holds its incoming gradient and the [gate | up] gradient it writes in place (3 [T, I] at once)
    layer_bwd = T * ((4 * i_ if m.gelu_activation else 3 * i_) + 2 * h) * e
    tables = 2 * batch * seq * (d * e) * (2 if m.model_type == "gemma3_text" else 1)
    masks = batch * seq * seq * e * (2 if m.sandwich_norms else 1) if masked else 0
    batch_tensors = 3 * T * 8 * int(c.gradient_accumulation_steps)
    # the peak is at the loss or in one layer's backward, whichever is larger
    logits = logits_kept + loss_peak
    workspace = max(0, recompute + layer_bwd - loss_peak)
    # on the CPU a float32 base is packed for oneDNN while training (Decoder::pack_frozen): two packed
    # copies (forward and input gradient) of every dense layer matrix and of a frozen lm_head (kept
    # dense under quantization)
    packs = 0
    if cpu and e == f32:
        layer_mats = sum(r * cc for _, _, r, cc in slots) if quant is None else 0
        packs = 2 * f32 * (n_layers * layer_mats + (0 if head_copy else v * h))
    terms = {
        "weights": int(weights),
        "packs": int(packs),
        "adapters": int(trainable * f32),
        "gradients": int(trainable * f32),
        "optimizer": int(2 * trainable * f32),
        "activations": int(activations),
        "logits": int(logits),
        "workspace": int(workspace + tables + masks + batch_tensors),
    }
    # FLOPs of one optimizer step: frozen linear layers forward + input gradient (2 x 2 per weight
    # and token), attention (QK^T and PV, causal half) forward + backward (3x), LoRA's own matmuls
    # (6 per adapter weight and token), checkpointing re-runs the layers' forward once more.
    layer_w = sum(r * cc for _, _, r, cc in slots)
    attn = 2 * 2 * seq * qd / 2
    fwd_layers = n_layers * T * (2 * layer_w + attn)
    lm = 2 * v * h * L
    lora = 6 * T * sum(r * (rows + cols) for layer in adapted for _, r, rows, cols in layer)
    flops = (2 + (1 if ckpt else 0)) * fwd_layers + n_layers * T * attn + 2 * lm + lora
    flops *= int(c.gradient_accumulation_steps)
    return terms, trainable, float(flops)


def plan(
    base: str | os.PathLike | ModelConfig,
    config: Any = None,
    device: str | float | Device = "L4",
    *,
    seq_len: int | None = None,
    batch_size: int | None = None,
    dtype: str | None = None,
    mfu: float = 0.4,
    tflops: float | None = None,
    reserve_gib: float = 1.0,
    label_fraction: float = 1.0,
    masked: bool | None = None,
) -> TrainPlan:
    """Predicts the peak memory and step time of ``airtune.train.train_lora`` before its first step.

    ``base``: a model folder (only config.json is read) or a :class:`ModelConfig`. ``config``: the
    :class:`~airtune.train.LoraConfig` the run uses (its r, targets, patterns, DoRA,
    modules_to_save, quantization, gradient_checkpointing, max_length, batch_size). ``device``: a
    name of :data:`DEVICES` (L4, A10G, A100-40GB, A100-80GB, H100, H200; A100 = A100-40GB), "cpu",
    or a memory size in GB. ``seq_len`` / ``batch_size`` default to the config's max_length and
    batch_size (the padded width: the plan is for rows of that length). ``dtype``: the base's dtype
    (default as the trainer: float32 on the CPU, bfloat16 on a GPU). ``mfu``: the share of the
    device's dense BF16 FLOP rate the step reaches. ``reserve_gib``: memory kept back for the CUDA
    context and allocator fragmentation. ``label_fraction``: the share of tokens with a label (the
    lm_head runs on those only). ``masked``: whether an attention mask is materialised (default:
    with packing; the trainer pads batches on the right, which needs none).

    Raises :class:`PlanError` when batch 1 does not fit the device, naming the model size and the
    largest named device; unknown device names list the known ones.
    """
    c = _config_of(config)
    c.validate()
    dev = _device(device)
    m = base if isinstance(base, ModelConfig) else ModelConfig.from_folder(base)
    seq = int(seq_len or c.max_length)
    batch = int(batch_size or c.batch_size)
    if seq < 2 or batch < 1:
        raise PlanError(f"seq_len must be >= 2 and batch_size >= 1, got {seq} and {batch}")
    if not 0 < mfu <= 1:
        raise PlanError(f"mfu must be in (0, 1], got {mfu}")
    if not 0 < label_fraction <= 1:
        raise PlanError(f"label_fraction must be in (0, 1], got {label_fraction}")
    dt = dtype or c.dtype
    if dt in (None, "auto"):
        dt = "float32" if dev.name == "cpu" else "bfloat16"
    dt = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(str(dt), str(dt))
    if dt not in _BYTES:
        raise PlanError(f"dtype {dtype!r} is not supported: use float32, bfloat16 or float16")
    e = _BYTES[dt]
    quant = c.quantization
    ckpt = bool(c.gradient_checkpointing)

    def count(b: int) -> tuple[dict[str, int], int, float]:
        mk = bool(c.packing) if masked is None else masked
        return _count(
            m,
            c,
            b,
            seq,
            e,
            quant,
            int(c.quant_block_size),
            bool(c.double_quant),
            ckpt,
            label_fraction,
            mk,
            cpu=dev.name == "cpu",
        )

    reserve = int(reserve_gib * GiB) if dev.name != "cpu" else 0
    room = dev.memory_bytes - reserve

    def fits(b: int) -> bool:
        return sum(count(b)[0].values()) <= room

    terms, trainable, flops = count(batch)
    # largest batch: doubling, then bisection (the total grows with the batch)
    largest = 0
    if fits(1):
        lo, hi = 1, 2
        while fits(hi) and hi < 1 << 20:
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        largest = lo
    else:
        one = sum(count(1)[0].values())
        biggest = max(DEVICES.values(), key=lambda d: d.memory_bytes)
        what = f"{m.num_parameters / 1e9:.1f}B-parameter model {m.name or m.model_type}"
        if one + reserve > biggest.memory_bytes or dev.memory_bytes >= biggest.memory_bytes:
            raise PlanError(
                f"a {what} needs {one / GiB:.1f} GiB at batch 1 x seq {seq} ({dt}"
                f"{', ' + quant if quant else ''}{', checkpointing' if ckpt else ''}): more than every named "
                f"GPU holds (the largest, {biggest.name}, has {biggest.memory_bytes / 1e9:g} GB); quantize the "
                "base (quantization='nf4'), turn on gradient_checkpointing or shorten max_length"
            )
        raise PlanError(
            f"a {what} needs {one / GiB:.1f} GiB at batch 1 x seq {seq} ({dt}{', ' + quant if quant else ''}"
            f"{', checkpointing' if ckpt else ''}); {dev.name} has {dev.memory_bytes / 1e9:g} GB "
            f"({room / GiB:.1f} GiB usable): it does not fit before the first step. Fits: "
            + (", ".join(d.name for d in DEVICES.values() if one + reserve <= d.memory_bytes) or "none")
        )
    rate = tflops * 1e12 if tflops else dev.bf16_flops
    step_s = flops / (rate * mfu) if rate else None
    tps = batch * seq * int(c.gradient_accumulation_steps) / step_s if step_s else None
    notes: list[str] = []
    if dev.name == "cpu":
        notes.append("on the CPU the runtime adds ~20 MB (libtorch's code and first-step buffers)")
    if rate is None:
        notes.append("no FLOP rate for this device: step time not predicted (give tflops=)")
    return TrainPlan(
        model=m.name or m.model_type,
        num_parameters=m.num_parameters,
        num_trainable=trainable,
        device=dev,
        dtype=dt,
        quantization=quant or ("nf4" if m.bnb_nf4 else None),
        gradient_checkpointing=ckpt,
        batch_size=batch,
        seq_len=seq,
        terms=terms,
        reserve_bytes=reserve,
        largest_batch=largest,
        step_flops=flops,
        mfu=mfu,
        step_seconds=step_s,
        tokens_per_second=tps,
        notes=tuple(notes),
    )
