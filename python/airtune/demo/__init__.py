"""airtune.demo: the data and model recipe behind the README's first command.

- :func:`generate` writes deterministic production traffic of an e-commerce shop (product
  descriptions -> Google Product Taxonomy paths answered by an API model), a later production
  window with drift, and an unlabelled pretraining corpus (:mod:`airtune.demo.data`).
- :func:`build_base` builds a small Llama in place (tokenizer trained on the corpus, random
  weights, pretrained on the corpus), cached by a hash of its recipe (:mod:`airtune.demo.model`).
- :func:`finetune` and :func:`score_holdout` fine-tune a LoRA adapter on a training split and
  score the untuned base, the fine-tuned model and the API baseline on a holdout; :func:`quick_splits`
  is a minimal stand-in for the curation pipeline (:mod:`airtune.demo.recipe`). See docs/demo.md.

Importing this package does not import torch.
"""

from __future__ import annotations

from .data import DemoData, DemoSizes, generate
from .model import BaseModel, BaseRecipe, build_base
from .recipe import (
    FinetuneRecipe,
    FinetuneResult,
    HoldoutScores,
    ModelScore,
    finetune,
    predict,
    quick_splits,
    score_holdout,
)
from .taxonomy import Category, Taxonomy, load_taxonomy

__all__ = [
    "BaseModel",
    "BaseRecipe",
    "Category",
    "DemoData",
    "DemoSizes",
    "FinetuneRecipe",
    "FinetuneResult",
    "HoldoutScores",
    "ModelScore",
    "Taxonomy",
    "build_base",
    "finetune",
    "generate",
    "load_taxonomy",
    "predict",
    "quick_splits",
    "score_holdout",
]
