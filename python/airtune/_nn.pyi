"""
airtune's libtorch module. Use airtune.nn / airtune.train rather than this module.
"""
from __future__ import annotations
import collections.abc
import torch
import typing
__all__: list[str] = ['Decoder', 'Encoder', 'LoraModel', 'best_metric_names', 'build_info', 'cuda_available', 'dequantize_weight', 'dynamic_map', 'load_safetensors', 'lr_lambda', 'nf4_levels', 'quantize_weight', 'quantized_matmul', 'resolve_device', 'roundtrip', 'safetensors_metadata', 'save_safetensors']
class Decoder:
    def __init__(self, path: str, dtype: str = 'float32', device: str = 'cpu', mmap: bool = False, quantization: str = '', quant_block_size: typing.SupportsInt | typing.SupportsIndex = 64, double_quant: bool = False) -> None:
        ...
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: typing.SupportsInt | typing.SupportsIndex, do_sample: bool, temperature: typing.SupportsFloat | typing.SupportsIndex, top_k: typing.SupportsInt | typing.SupportsIndex, top_p: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, eos_token_ids: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], pad_token_id: typing.SupportsInt | typing.SupportsIndex, on_step: typing.Any = None) -> tuple:
        ...
    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        ...
    @property
    def config(self) -> dict:
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
    def memory(self) -> dict:
        ...
    def merged_decoder(self) -> Decoder:
        """
        A Decoder with the adapters merged in memory (the weights save_merged writes); shares the base's other tensors.
        """
    def save_adapter(self, dir: str, base_model_name_or_path: str) -> None:
        ...
    def save_merged(self, dir: str) -> None:
        ...
    def state_dict(self) -> dict:
        ...
    def train(self, train_ids: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]], train_labels: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]], eval_ids: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]], eval_labels: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]], options: dict, on_step: typing.Any = None) -> dict:
        ...
    @property
    def config(self) -> dict:
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
def build_info() -> dict:
    ...
def cuda_available() -> bool:
    """
    True when libtorch sees a CUDA device.
    """
def dequantize_weight(quantized: dict, dtype: str = 'float32', reference: bool = False) -> torch.Tensor:
    """
    The dequantized weight of quantize_weight's result (reference=True: the ATen-ops path of non-CPU devices).
    """
def dynamic_map() -> list[float]:
    """
    The 256 levels of bitsandbytes' signed dynamic map (double quantization).
    """
def load_safetensors(path: str, mmap: bool = False) -> dict:
    """
    Reads (or maps, mmap=True) a .safetensors file; returns {name: CPU tensor} (zero-copy from that buffer where aligned).
    """
def lr_lambda(schedule: str, step: typing.SupportsInt | typing.SupportsIndex, warmup: typing.SupportsInt | typing.SupportsIndex, total: typing.SupportsInt | typing.SupportsIndex) -> float:
    ...
def nf4_levels() -> list[float]:
    """
    The 16 NF4 levels (bitsandbytes' float32 table).
    """
def quantize_weight(weight: torch.Tensor, kind: str, block_size: typing.SupportsInt | typing.SupportsIndex = 64, double_quant: bool = False) -> dict:
    """
    Quantizes a 2-D weight (nn/quantized.h); returns its codes and scales.
    """
def quantized_matmul(x: torch.Tensor, quantized: dict) -> torch.Tensor:
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
def save_safetensors(path: str, tensors: dict, metadata: collections.abc.Mapping[str, str] = {}) -> None:
    ...
