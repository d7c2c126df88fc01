"""airtune.nn: the neural runtime (libtorch in C++): safetensors, Llama-family decoders with
generation, BERT sentence encoders. Importing this module does not import torch; the first call does.

- ``load_model(path, dtype="auto", device="auto")`` -> :class:`DecoderModel` with ``logits`` and
  ``generate``.
- ``Encoder(path).encode(texts, batch_size=32)`` -> float32 numpy embeddings (sentence-transformers
  pooling and normalisation).
- ``load_file`` / ``save_file`` / ``metadata``: safetensors in C++ (read into memory, or mapped
  with ``mmap=True``).
- ``render_chat_template``: chat templates as transformers renders them, bounded by
  :class:`TemplateLimits` (time, output and value sizes; :class:`TemplateLimitError` past them).
"""

from __future__ import annotations

from .chat import TemplateLimitError, TemplateLimits, render_chat_template
from .decoder import DecoderModel, GenerationResult, load_model
from .encoder import Encoder
from .safetensors import load_file, metadata, save_file
from .tokenizer import Tokenizer

__all__ = [
    "DecoderModel",
    "Encoder",
    "GenerationResult",
    "TemplateLimitError",
    "TemplateLimits",
    "Tokenizer",
    "load_file",
    "load_model",
    "metadata",
    "render_chat_template",
    "save_file",
]
