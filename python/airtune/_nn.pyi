"""
airtune's libtorch module. Use airtune.nn / airtune.train rather than this module.
"""
from __future__ import annotations
import collections.abc
import torch
import typing
__all__: list[str] = ['Decoder', 'Encoder', 'LoraModel', 'build_info', 'cuda_available', 'load_safetensors', 'lr_lambda', 'resolve_device', 'roundtrip', 'safetensors_metadata', 'save_safetensors']
class Decoder:
    def __init__(self, path: str, dtype: str = 'float32', device: str = 'cpu', mmap: bool = False) -> None:
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
    def __init__(self, path: str, r: typing.SupportsInt | typing.SupportsIndex, alpha: typing.SupportsFloat | typing.SupportsIndex, dropout: typing.SupportsFloat | typing.SupportsIndex, use_rslora: bool, target_modules: collections.abc.Sequence[str], target_regex: str, all_linear: bool, seed: typing.SupportsInt | typing.SupportsIndex, dtype: str = 'float32', device: str = 'cpu') -> None:
        ...
    def load_adapter(self, path: str) -> None:
        ...
    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        ...
    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
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
def build_info() -> dict:
    ...
def cuda_available() -> bool:
    """
    True when libtorch sees a CUDA device.
    """
def load_safetensors(path: str, mmap: bool = False) -> dict:
    """
    Reads (or maps, mmap=True) a .safetensors file; returns {name: CPU tensor} (zero-copy from that buffer where aligned).
    """
def lr_lambda(schedule: str, step: typing.SupportsInt | typing.SupportsIndex, warmup: typing.SupportsInt | typing.SupportsIndex, total: typing.SupportsInt | typing.SupportsIndex) -> float:
    ...
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
