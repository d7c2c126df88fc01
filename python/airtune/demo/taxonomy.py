"""The demo's slice of the Google Product Taxonomy (``taxonomy.json``): real ids and paths.

``taxonomy.json`` holds, per category, the id and path copied verbatim from Google's
``taxonomy-with-ids.en-US.txt`` (version 2021-09-21) plus the generator's own vocabulary (product
nouns and feature phrases, invented). ``api_confusions`` are the systematic mistakes of the
simulated API model; their targets are real taxonomy nodes too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

SEP = " > "
_FILE = Path(__file__).with_name("taxonomy.json")


@dataclass(frozen=True)
class Category:
    id: int
    path: str
    group: str
    products: tuple[str, ...]
    features: tuple[str, ...]
    drift: bool = False

    @property
    def levels(self) -> list[str]:
        return self.path.split(SEP)

    @property
    def parent(self) -> str:
        """The path one level up (itself a taxonomy node), or the path itself at the top level."""
        lv = self.levels
        return SEP.join(lv[:-1]) if len(lv) > 1 else self.path


@dataclass(frozen=True)
class Taxonomy:
    version: str
    source: str
    categories: tuple[Category, ...]
    # product noun -> (wrong path the API model tends to give, how often)
    api_confusions: dict[str, tuple[str, float]] = field(default_factory=dict)
    extra_nodes: dict[str, int] = field(default_factory=dict)  # real nodes outside the categories

    @property
    def train_categories(self) -> list[Category]:
        """Categories of the training period (the drift-only ones excluded)."""
        return [c for c in self.categories if not c.drift]

    @property
    def drift_categories(self) -> list[Category]:
        return [c for c in self.categories if c.drift]

    def by_path(self, path: str) -> Category:
        for c in self.categories:
            if c.path == path:
                return c
        raise KeyError(path)

    @property
    def valid_paths(self) -> list[str]:
        """Every taxonomy node the demo can produce: each category, its ancestors, the extra nodes."""
        out = set(self.extra_nodes)
        for c in self.categories:
            lv = c.levels
            out.update(SEP.join(lv[:k]) for k in range(1, len(lv) + 1))
        return sorted(out)

    def lines(self) -> list[str]:
        """The categories and extra nodes as lines of Google's file (``id - path``), in id order."""
        rows = {c.path: c.id for c in self.categories} | dict(self.extra_nodes)
        return [f"{i} - {p}" for p, i in sorted(rows.items(), key=lambda kv: kv[1])]


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """The bundled taxonomy slice (validated: unique ids and paths, non-empty vocabularies)."""
    raw = json.loads(_FILE.read_text(encoding="utf-8"))
    cats = []
    for i, c in enumerate(raw["categories"]):
        if not c.get("products") or not c.get("features"):
            raise ValueError(f"{_FILE}: categories[{i}] ({c.get('path')!r}) needs products and features")
        cats.append(
            Category(
                id=int(c["id"]),
                path=str(c["path"]),
                group=str(c["group"]),
                products=tuple(c["products"]),
                features=tuple(c["features"]),
                drift=bool(c.get("drift", False)),
            )
        )
    if len({c.id for c in cats}) != len(cats) or len({c.path for c in cats}) != len(cats):
        raise ValueError(f"{_FILE}: category ids and paths must be unique")
    extra = {str(n["path"]): int(n["id"]) for n in raw.get("extra_nodes", [])}
    conf = {str(k): (str(v["path"]), float(v["rate"])) for k, v in raw.get("api_confusions", {}).items()}
    valid = set(extra) | {c.path for c in cats}
    for c in cats:
        lv = c.levels
        valid.update(SEP.join(lv[:k]) for k in range(1, len(lv)))
    products = {p for c in cats for p in c.products}
    for noun, (path, _) in conf.items():
        if noun not in products or path not in valid:
            raise ValueError(f"{_FILE}: api_confusions[{noun!r}] must name a product and a known node")
    return Taxonomy(str(raw["version"]), str(raw["source"]), tuple(cats), conf, extra)
