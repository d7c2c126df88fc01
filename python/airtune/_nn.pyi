"""
airtune's libtorch module. Use airtune.nn / airtune.train rather than this module.
"""
from __future__ import annotations
import collections.abc
import torch
import typing
__all__: list[str] = ['Decoder', 'DecoderConfig', 'Encoder', 'EvalOutcome', 'LoraModel', 'ModelMemory', 'QuantizedTensor', 'StepInfo', 'TrainOptions', 'TrainOutcome', 'best_metric_names', 'build_info', 'causal_attention', 'causal_attention_applies', 'cuda_available', 'dequantize_weight', 'dynamic_map', 'load_safetensors', 'lr_lambda', 'nf4_levels', 'quantize_weight', 'quantized_matmul', 'resolve_device', 'roundtrip', 'safetensors_metadata', 'save_safetensors', 'set_causal_attention_enabled']
class TrainOptions:
    """
    Options of LoraModel.train (nn::TrainOptions); defaults are the C++ ones. Built from a LoraConfig by airtune.train._options, which validates it.
    """
    base_model_name_or_path: str
    checkpoint_dir: str
    gradient_checkpointing: bool
    greater_is_better: bool
    group_by_length: bool
    load_best_at_end: bool
    def __init__(self) -> None:
        ...
    @property
    def batch_size(self) -> int:
        """
        sequences per micro-batch
        """
    @batch_size.setter
    def batch_size(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def best_dir(self) -> str:
        """
        where a best adapter that is not restored is written
        """
    @best_dir.setter
    def best_dir(self, arg0: str) -> None:
        ...
    @property
    def best_metric(self) -> str:
        """
        one of best_metric_names()
        """
    @best_metric.setter
    def best_metric(self, arg0: str) -> None:
        ...
    @property
    def beta1(self) -> float:
        ...
    @beta1.setter
    def beta1(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def beta2(self) -> float:
        ...
    @beta2.setter
    def beta2(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def early_stopping_patience(self) -> int:
        """
        0: off
        """
    @early_stopping_patience.setter
    def early_stopping_patience(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def early_stopping_threshold(self) -> float:
        ...
    @early_stopping_threshold.setter
    def early_stopping_threshold(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def epochs(self) -> int:
        ...
    @epochs.setter
    def epochs(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def eps(self) -> float:
        ...
    @eps.setter
    def eps(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def eval_batch_size(self) -> int:
        ...
    @eval_batch_size.setter
    def eval_batch_size(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def eval_every(self) -> int:
        """
        0: evaluate only at the end
        """
    @eval_every.setter
    def eval_every(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def grad_accum(self) -> int:
        """
        micro-batches per optimizer step
        """
    @grad_accum.setter
    def grad_accum(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def learning_rate(self) -> float:
        ...
    @learning_rate.setter
    def learning_rate(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_grad_norm(self) -> float:
        """
        <= 0: no clipping
        """
    @max_grad_norm.setter
    def max_grad_norm(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_steps(self) -> int:
        """
        > 0 overrides epochs
        """
    @max_steps.setter
    def max_steps(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def pack_length(self) -> int:
        """
        > 0: pack each micro-batch into rows of this many tokens
        """
    @pack_length.setter
    def pack_length(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def pad_token_id(self) -> int:
        ...
    @pad_token_id.setter
    def pad_token_id(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def resume_from(self) -> str:
        """
        a checkpoint folder of an earlier run
        """
    @resume_from.setter
    def resume_from(self, arg0: str) -> None:
        ...
    @property
    def save_every(self) -> int:
        """
        checkpoint every N steps; 0: off
        """
    @save_every.setter
    def save_every(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def save_total_limit(self) -> int:
        """
        > 0: keep the newest N checkpoints
        """
    @save_total_limit.setter
    def save_total_limit(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def schedule(self) -> str:
        """
        linear | cosine | constant
        """
    @schedule.setter
    def schedule(self, arg0: str) -> None:
        ...
    @property
    def seed(self) -> int:
        ...
    @seed.setter
    def seed(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def warmup_steps(self) -> int:
        ...
    @warmup_steps.setter
    def warmup_steps(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def weight_decay(self) -> float:
        ...
    @weight_decay.setter
    def weight_decay(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class StepInfo:
    """
    One optimizer step (io::TrainStep); eval_loss < 0: no evaluation after it.
    """
    @property
    def epoch(self) -> int:
        ...
    @property
    def eval_accuracy(self) -> float:
        ...
    @property
    def eval_loss(self) -> float:
        ...
    @property
    def grad_norm(self) -> float:
        ...
    @property
    def loss(self) -> float:
        ...
    @property
    def lr(self) -> float:
        ...
    @property
    def seconds(self) -> float:
        ...
    @property
    def seq_tokens(self) -> int:
        """
        all (unpadded) tokens
        """
    @property
    def step(self) -> int:
        ...
    @property
    def tokens(self) -> int:
        """
        labelled tokens
        """
    @property
    def total_steps(self) -> int:
        ...
class EvalOutcome:
    @property
    def loss(self) -> float:
        ...
    @property
    def metric(self) -> float:
        """
        the best-model metric's value
        """
    @property
    def step(self) -> int:
        ...
    @property
    def token_accuracy(self) -> float:
        ...
class TrainOutcome:
    """
    What LoraModel.train returns (nn::TrainOutcome).
    """
    @property
    def best_adapter(self) -> str:
        ...
    @property
    def best_metric(self) -> float:
        """
        meaningful when best_step > 0
        """
    @property
    def best_restored(self) -> bool:
        ...
    @property
    def best_step(self) -> int:
        """
        0: no evaluation
        """
    @property
    def evals(self) -> list[EvalOutcome]:
        ...
    @property
    def history(self) -> list[StepInfo]:
        ...
    @property
    def last_checkpoint(self) -> str:
        ...
    @property
    def message(self) -> str:
        ...
    @property
    def seq_tokens(self) -> int:
        ...
    @property
    def steps_done(self) -> int:
        ...
    @property
    def stop_reason(self) -> str:
        """
        completed | early_stopping | callback | nan_loss
        """
    @property
    def total_steps(self) -> int:
        ...
    @property
    def train_seconds(self) -> float:
        ...
    @property
    def train_tokens(self) -> int:
        ...
class DecoderConfig:
    """
    A decoder's config.json as read (nn/model_config.h).
    """
    @property
    def activation(self) -> str:
        ...
    @property
    def attention_bias(self) -> bool:
        ...
    @property
    def bos_token_id(self) -> int:
        """
        -1: none
        """
    @property
    def eos_token_ids(self) -> list[int]:
        ...
    @property
    def head_dim(self) -> int:
        ...
    @property
    def hidden_size(self) -> int:
        ...
    @property
    def intermediate_size(self) -> int:
        ...
    @property
    def layer_window(self) -> list[int]:
        ...
    @property
    def max_position_embeddings(self) -> int:
        ...
    @property
    def model_type(self) -> str:
        ...
    @property
    def num_attention_heads(self) -> int:
        ...
    @property
    def num_hidden_layers(self) -> int:
        ...
    @property
    def num_key_value_heads(self) -> int:
        ...
    @property
    def pad_token_id(self) -> int:
        """
        -1: none
        """
    @property
    def quantization_method(self) -> str:
        ...
    @property
    def rms_norm_eps(self) -> float:
        ...
    @property
    def rope_theta(self) -> float:
        ...
    @property
    def rope_type(self) -> str:
        ...
    @property
    def rotary_dim(self) -> int:
        ...
    @property
    def tie_word_embeddings(self) -> bool:
        ...
    @property
    def vocab_size(self) -> int:
        ...
class QuantizedTensor:
    """
    A quantized 2-D weight (nn/quantized.h): codes and scales.
    """
    @property
    def absmax(self) -> torch.Tensor | None:
        """
        float32 [blocks]; None when nested
        """
    @property
    def block_size(self) -> int:
        ...
    @property
    def codes(self) -> torch.Tensor:
        """
        NF4: uint8 [ceil(n / 2)]; int8: int8 [n]
        """
    @property
    def cols(self) -> int:
        ...
    @property
    def kind(self) -> str:
        ...
    @property
    def nested_absmax(self) -> torch.Tensor | None:
        """
        float32 [ceil(blocks / 256)]
        """
    @property
    def nested_codes(self) -> torch.Tensor | None:
        """
        uint8 [blocks] (double quantization)
        """
    @property
    def nested_offset(self) -> float:
        ...
    @property
    def rows(self) -> int:
        ...
    @property
    def scales(self) -> torch.Tensor:
        """
        the per-block absmax, float32 [blocks] (decoded when nested)
        """
class ModelMemory:
    """
    Bytes a LoraModel holds.
    """
    @property
    def dense_weight_bytes(self) -> int:
        ...
    @property
    def quantized_weight_bytes(self) -> int:
        ...
    @property
    def trainable_params(self) -> int:
        ...
class Decoder:
    def __init__(self, path: str, dtype: str = 'float32', device: str = 'cpu', mmap: bool = False, quantization: str = '', quant_block_size: typing.SupportsInt | typing.SupportsIndex = 64, double_quant: bool = False) -> None:
        ...
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: typing.SupportsInt | typing.SupportsIndex, do_sample: bool, temperature: typing.SupportsFloat | typing.SupportsIndex, top_k: typing.SupportsInt | typing.SupportsIndex, top_p: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, eos_token_ids: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], pad_token_id: typing.SupportsInt | typing.SupportsIndex, on_step: typing.Any = None) -> tuple:
        ...
    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        ...
    @property
    def config(self) -> DecoderConfig:
        ...
    @property
    def device(self) -> str:
        ...
    @property
    def dtype(self) -> str:
        ...
    @property
    def quantization(self) -> str:
        ...
class Encoder:
    def __init__(self, path: str, dtype: str = 'float32', device: str = 'cpu') -> None:
        ...
    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pooling: str = 'mean', normalize: bool = True) -> torch.Tensor:
        ...
    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        ...
    @property
    def hidden_size(self) -> int:
        ...
    @property
    def max_position_embeddings(self) -> int:
        ...
class LoraModel:
    def __init__(self, path: str, r: typing.SupportsInt | typing.SupportsIndex, alpha: typing.SupportsFloat | typing.SupportsIndex, dropout: typing.SupportsFloat | typing.SupportsIndex, use_rslora: bool, target_modules: collections.abc.Sequence[str], target_regex: str, all_linear: bool, seed: typing.SupportsInt | typing.SupportsIndex, dtype: str = 'float32', device: str = 'cpu', rank_pattern: typing.Any = None, alpha_pattern: typing.Any = None, use_dora: bool = False, modules_to_save: collections.abc.Sequence[str] = [], quantization: str = '', quant_block_size: typing.SupportsInt | typing.SupportsIndex = 64, double_quant: bool = False) -> None:
        ...
    def load_adapter(self, path: str) -> None:
        ...
    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        ...
    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
        ...
    def memory(self) -> ModelMemory:
        ...
    def merged_decoder(self) -> Decoder:
        """
        A Decoder with the adapters merged in memory (the weights save_merged writes); shares the base's other tensors.
        """
    def save_adapter(self, dir: str, base_model_name_or_path: str) -> None:
        ...
    def save_merged(self, dir: str) -> None:
        ...
    def state_dict(self) -> dict[str, torch.Tensor]:
        ...
    def train(self, train_ids: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]], train_labels: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]], eval_ids: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]], eval_labels: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]], options: TrainOptions, on_step: typing.Any = None) -> TrainOutcome:
        ...
    @property
    def config(self) -> DecoderConfig:
        ...
    @property
    def modules(self) -> list[str]:
        ...
    @property
    def num_trainable(self) -> int:
        ...
    @property
    def quantization(self) -> str:
        ...
def best_metric_names() -> list[str]:
    ...
def build_info() -> dict[str, str | bool | int]:
    ...
def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: typing.SupportsFloat | typing.SupportsIndex) -> torch.Tensor:
    """
    softmax(scale q k^T, causal) v through the brgemm kernel the decoder uses on the CPU (nn/causal_attention.h); differentiable in q, k and v.
    """
def causal_attention_applies(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    """
    Whether the decoder's CPU attention kernel runs on these inputs (else scaled_dot_product_attention).
    """
def cuda_available() -> bool:
    """
    True when libtorch sees a CUDA device.
    """
def dequantize_weight(quantized: QuantizedTensor, dtype: str = 'float32', reference: bool = False) -> torch.Tensor:
    """
    The dequantized weight of quantize_weight's result (reference=True: the ATen-ops path of non-CPU devices).
    """
def dynamic_map() -> list[float]:
    """
    The 256 levels of bitsandbytes' signed dynamic map (double quantization).
    """
def load_safetensors(path: str, mmap: bool = False) -> dict[str, torch.Tensor]:
    """
    Reads (or maps, mmap=True) a .safetensors file; returns {name: CPU tensor} (zero-copy from that buffer where aligned).
    """
def lr_lambda(schedule: str, step: typing.SupportsInt | typing.SupportsIndex, warmup: typing.SupportsInt | typing.SupportsIndex, total: typing.SupportsInt | typing.SupportsIndex) -> float:
    ...
def nf4_levels() -> list[float]:
    """
    The 16 NF4 levels (bitsandbytes' float32 table).
    """
def quantize_weight(weight: torch.Tensor, kind: str, block_size: typing.SupportsInt | typing.SupportsIndex = 64, double_quant: bool = False) -> QuantizedTensor:
    """
    Quantizes a 2-D weight (nn/quantized.h); returns its codes and scales.
    """
def quantized_matmul(x: torch.Tensor, quantized: QuantizedTensor) -> torch.Tensor:
    """
    x W^T with W dequantized panel by panel (differentiable in x).
    """
def resolve_device(name: str) -> str:
    """
    'auto' -> 'cuda:0' when available else 'cpu'; validates 'cpu', 'cuda', 'cuda:N'.
    """
def roundtrip(x: torch.Tensor) -> torch.Tensor:
    """
    Returns 2 * x computed by libtorch in C++.
    """
def safetensors_metadata(path: str) -> dict[str, str]:
    ...
def save_safetensors(path: str, tensors: dict[str, torch.Tensor], metadata: collections.abc.Mapping[str, str] = {}) -> None:
    ...
def set_causal_attention_enabled(on: bool) -> bool:
    """
    Switches the decoder's CPU attention kernel off or on (paired benchmarks, tests); returns the previous setting.
    """
