"""Diversify a dataset's system prompts with variations, using every variant evenly; every row accounted for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._results import ResultMixin, require
from ._common import _first_of_role, _to_records
from .variations import variations


@dataclass
class DiversifyResult(ResultMixin):
    """Records with varied system prompts, and the accounting: every row is in exactly one bucket.

    ``variant_of_row[i]``: -1 no system prompt (unchanged), 0 original prompt kept, k >= 1 the k-th
    variant of its prompt. ``usage`` maps each distinct original prompt to the rows per pool entry.
    """

    records: Any
    variant_of_row: np.ndarray
    n_rows: int
    n_varied: int
    n_original: int
    n_no_system: int
    usage: dict[str, list[int]]
    variants: dict[str, list[str]]

    @property
    def balanced(self) -> bool:
        return self.n_varied + self.n_original + self.n_no_system == self.n_rows

    def summary_line(self) -> str:
        return (
            f"diversify: {self.n_rows} rows = {self.n_varied} varied + {self.n_original} original + "
            f"{self.n_no_system} without system prompt; {len(self.variants)} distinct prompts"
        )

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        rows = []
        for p, counts in self.usage.items():
            for k, c in enumerate(counts):
                rows.append({"prompt": p[:60], "pool_index": k, "rows": c})
        return pd.DataFrame(rows)


def diversify(
    records: Any,
    n_variants: int = 5,
    seed: int = 0,
    *,
    include_original: bool = True,
    output: str = "auto",
    **variation_kwargs: Any,
) -> DiversifyResult:
    """Replace each row's system prompt with one of ``n_variants`` variants of it, used evenly.

    For every distinct system prompt, :func:`variations` makes ``n_variants`` variants; the pool is
    the variants (plus the original when ``include_original``). Rows with that prompt are dealt
    the pool in a seeded shuffled order, round-robin, so pool entries differ in use by at most
    one row. Rows without a system prompt are kept unchanged. ``output``: ``"records"``
    (:class:`airtune.io.Records`), ``"dicts"`` (chat dicts), or ``"auto"`` (dicts for list-of-dict
    input, else Records). ``variation_kwargs`` go to :func:`variations` (``min_distance``,
    ``transforms``, ``protect``, ``optional``, ``slots``, ``lexicon``).
    """
    if output not in ("auto", "records", "dicts"):
        raise ValueError("output must be 'auto', 'records' or 'dicts'")
    was_dicts = isinstance(records, list) and (not records or isinstance(records[0], dict))
    recs = _to_records(records)
    system = _first_of_role(recs, "system")
    new_system: dict[int, str] = {}
    distinct: dict[str, list[int]] = {}
    for i, s in enumerate(system):
        if s is not None and s.strip():
            distinct.setdefault(s, []).append(i)
    rng = np.random.default_rng(seed)
    variant_of_row = np.full(len(recs), -1, dtype=np.int64)
    usage: dict[str, list[int]] = {}
    pools: dict[str, list[str]] = {}
    for k, (prompt, rows) in enumerate(distinct.items()):
        vs = variations(prompt, n=n_variants, seed=(int(seed) * 1_000_003 + k), **variation_kwargs)
        pool = ([prompt] if include_original else []) + vs.variants
        if not pool:
            pool = [prompt]
        pools[prompt] = vs.variants
        order = rng.permutation(len(pool))
        counts = [0] * len(pool)
        offset = int(rng.integers(len(pool)))
        for j, row in enumerate(rows):
            slot = int(order[(j + offset) % len(pool)])
            counts[slot] += 1
            idx = slot + (0 if include_original else 1)
            if not include_original and not vs.variants:
                idx = 0
            variant_of_row[row] = idx
            if idx > 0:
                new_system[row] = pool[slot]
        usage[prompt] = counts
    n_no = int((variant_of_row == -1).sum())
    n_orig = int((variant_of_row == 0).sum())
    n_var = int((variant_of_row > 0).sum())
    # Write the new system prompts back in C++: ids, labels, metadata, formats, lines and every
    # other field of the records are kept as they were.
    from .. import _core
    from ..io import Records

    R = _core.records
    sys_idx = R.messages_with_roles(recs._batch, ["system"])
    first_sys: dict[int, int] = {}
    for j, row in zip(sys_idx.tolist(), R.message_record(recs._batch, sys_idx).tolist()):
        first_sys.setdefault(row, j)
    rows_changed = sorted(new_system)
    msg_rows = np.array([first_sys[r] for r in rows_changed], dtype=np.int64)
    varied = Records(R.with_contents(recs._batch, msg_rows, [new_system[r] for r in rows_changed]))
    varied.report = recs.report
    want_dicts = output == "dicts" or (output == "auto" and was_dicts)
    out: Any = varied.to_dicts(format="chat") if want_dicts else varied
    return DiversifyResult(
        records=out,
        variant_of_row=variant_of_row,
        n_rows=len(recs),
        n_varied=n_var,
        n_original=n_orig,
        n_no_system=n_no,
        usage=usage,
        variants=pools,
    )
