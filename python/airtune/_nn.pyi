"""
airtune's libtorch module. Use airtune.nn / airtune.train rather than this module.
"""
from __future__ import annotations
import torch
__all__: list[str] = ['build_info', 'cuda_available', 'roundtrip']
def build_info() -> dict:
    ...
def cuda_available() -> bool:
    """
    True when libtorch sees a CUDA device.
    """
def roundtrip(x: torch.Tensor) -> torch.Tensor:
    """
    Returns 2 * x computed by libtorch in C++.
    """
