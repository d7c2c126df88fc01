"""airtune.demo: the README's first command, and the data and model recipe behind it.

- :func:`run_demo` runs the loop end to end on generated traffic: curation (airtune.Pipeline),
  holdout split, the pretrained tiny Llama, a LoRA fine-tune, airtune.evaluate of the untuned
  base, the fine-tuned model and the API baseline (intervals, the three-way verdict) and the cost
  table; a second run reuses every step (:mod:`airtune.demo.run`).

- :func:`generate` writes deterministic production traffic of an e-commerce shop (product
  descriptions -> Google Product Taxonomy paths answered by an API model), a later production
  window with drift, and an unlabelled pretraining corpus (:mod:`airtune.demo.data`).
- :func:`build_base` builds a small Llama in place (tokenizer trained on the corpus, random
  weights, pretrained on the corpus), cached by a hash of its recipe (:mod:`airtune.demo.model`).
- :func:`finetune` and :func:`score_holdout` fine-tune a LoRA adapter on a training split and
  score the untuned base, the fine-tuned model and the API baseline on a holdout; :func:`quick_splits`
  is a minimal stand-in for the curation pipeline, for the recipe's own tests
  (:mod:`airtune.demo.recipe`). See docs/demo.md.

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
from .run import DemoResult, DemoSettings, DemoStep, run_demo
from .taxonomy import Category, Taxonomy, load_taxonomy

__all__ = [
    "BaseModel",
    "BaseRecipe",
    "Category",
    "DemoData",
    "DemoResult",
    "DemoSettings",
    "DemoStep",
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
    "run_demo",
    "score_holdout",
]
