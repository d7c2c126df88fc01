"""Text metrics identical to their reference tools: BLEU and chrF (sacreBLEU), ROUGE (rouge-score),
exact match (HF evaluate) and SQuAD token F1."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._core import metrics as _m
from ._result import (
    SACREBLEU_COMPAT,
    MetricResult,
    _lower,
    _lower_streams,
    _named_rows,
    _nrefs,
    _ref_streams,
    _texts,
)


def bleu(
    hyps: Any,
    refs: Any,
    *,
    tokenize: str = "13a",
    lowercase: bool = False,
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    max_ngram_order: int = 4,
    effective_order: bool = False,
    streams: bool = False,
) -> MetricResult:
    """Corpus BLEU identical to ``sacrebleu.corpus_bleu`` with the same options.

    ``per_item`` holds sentence BLEU as ``sacrebleu.sentence_bleu`` computes it (same smoothing,
    effective order on). ``details``: counts, totals, precisions, bp, sys_len, ref_len.
    ``signature`` is sacreBLEU's, e.g. ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0``.
    """
    h = _texts(hyps, "hyps")
    s = _ref_streams(refs, len(h), streams)
    if lowercase:
        h, s = _lower(h), _lower_streams(s)
    sv = -1.0 if smooth_value is None else float(smooth_value)
    with _named_rows(hyps=h, references=s):
        stats = _m.bleu_statistics(h, s, tokenize, max_ngram_order)
    sums = stats.sum(axis=0).astype(np.float64)
    score, bp, precisions = _m.bleu_score(sums, max_ngram_order, smooth_method, sv, effective_order)
    per_item = _m.bleu_sentence_scores(stats, max_ngram_order, smooth_method, sv, True)
    smooth = smooth_method
    default = {"floor": 0.1, "add-k": 1}.get(smooth_method)
    if default is not None:
        smooth += f"[{(default if smooth_value is None else smooth_value):.2f}]"
    sig = (
        f"nrefs:{_nrefs(s)}|case:{'lc' if lowercase else 'mixed'}|eff:{'yes' if effective_order else 'no'}"
        f"|tok:{tokenize}|smooth:{smooth}|version:{SACREBLEU_COMPAT}"
    )
    n = max_ngram_order
    details = {
        "counts": stats[:, 2 : 2 + n].sum(axis=0).tolist(),
        "totals": stats[:, 2 + n :].sum(axis=0).tolist(),
        "precisions": list(precisions),
        "bp": bp,
        "sys_len": int(sums[0]),
        "ref_len": int(sums[1]),
    }
    opts = {"max_order": n, "smooth": smooth_method, "smooth_value": sv, "effective_order": effective_order}
    return MetricResult("bleu", score, per_item, stats.astype(np.float64), "bleu", opts, sig, details)


def chrf(
    hyps: Any,
    refs: Any,
    *,
    char_order: int = 6,
    word_order: int = 0,
    beta: int = 2,
    lowercase: bool = False,
    whitespace: bool = False,
    eps_smoothing: bool = False,
    streams: bool = False,
) -> MetricResult:
    """Corpus chrF (``word_order=2``: chrF++) identical to ``sacrebleu.corpus_chrf``.

    ``per_item`` holds sentence chrF as ``sacrebleu.sentence_chrf``.
    """
    h = _texts(hyps, "hyps")
    s = _ref_streams(refs, len(h), streams)
    if lowercase:
        h, s = _lower(h), _lower_streams(s)
    with _named_rows(hyps=h, references=s):
        stats = _m.chrf_statistics(h, s, char_order, word_order, float(beta), whitespace, eps_smoothing)
    fstats = stats.astype(np.float64)
    score = float(
        _m.chrf_scores(fstats.sum(axis=0, keepdims=True), char_order, word_order, float(beta), eps_smoothing)[
            0
        ]
    )
    per_item = _m.chrf_scores(fstats, char_order, word_order, float(beta), eps_smoothing)
    sig = (
        f"nrefs:{_nrefs(s)}|case:{'lc' if lowercase else 'mixed'}|eff:{'no' if eps_smoothing else 'yes'}"
        f"|nc:{char_order}|nw:{word_order}|space:{'yes' if whitespace else 'no'}|version:{SACREBLEU_COMPAT}"
    )
    name = f"chrF{beta}" + "+" * word_order
    opts = {
        "char_order": char_order,
        "word_order": word_order,
        "beta": float(beta),
        "eps_smoothing": eps_smoothing,
    }
    return MetricResult(name, score, per_item, fstats, "chrf", opts, sig)


def rouge(
    predictions: Any,
    references: Any,
    *,
    rouge_types: Sequence[str] = ("rouge1", "rouge2", "rougeL", "rougeLsum"),
    use_stemmer: bool = False,
    streams: bool = False,
) -> MetricResult:
    """ROUGE identical to ``rouge_score.RougeScorer(types, use_stemmer).score(reference, prediction)``.

    Per item and type: precision, recall, F (columns ``rougeL_precision`` ..., and ``rougeL`` = F);
    with several references each type keeps the reference of best F (``score_multi``). The score is
    the mean F of the first type; ``details[type]`` holds mean P/R/F of every type. Use
    ``.select("rougeL")`` for statistics on another type.
    """
    p = _texts(predictions, "predictions")
    s = _ref_streams(references, len(p), streams)
    types = list(rouge_types)
    with _named_rows(predictions=p, references=s):
        out = _m.rouge_scores(p, s, types, use_stemmer)
    columns: dict[str, np.ndarray] = {}
    details: dict[str, dict] = {}
    for t, name in enumerate(types):
        pr, rc, f = out[:, 3 * t], out[:, 3 * t + 1], out[:, 3 * t + 2]
        columns[name] = f
        columns[f"{name}_precision"] = pr
        columns[f"{name}_recall"] = rc
        details[name] = {
            "precision": float(pr.mean()) if len(p) else 0.0,
            "recall": float(rc.mean()) if len(p) else 0.0,
            "fmeasure": float(f.mean()) if len(p) else 0.0,
        }
    first = types[0]
    f0 = columns[first]
    stats = np.stack([columns[t] for t in types], axis=1) if len(p) else np.zeros((0, len(types)))
    sig = f"rouge:{','.join(types)}|stem:{'yes' if use_stemmer else 'no'}|split:newline|impl:rouge-score"
    res = MetricResult(
        first, float(f0.mean()) if len(p) else 0.0, f0, stats, "mean", {"column": 0}, sig, details
    )
    res.columns = {k: v for k, v in columns.items() if k != first}
    res.columns[first] = f0
    return res


def exact_match(
    predictions: Any,
    references: Any,
    *,
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
    ignore_numbers: bool = False,
    regexes_to_ignore: Sequence[str] | None = None,
    strip: bool = False,
    streams: bool = False,
) -> MetricResult:
    """Exact match rate in [0, 1] as HF ``evaluate``'s exact_match (plus optional ``strip``).

    Several references: an item matches if any does. Order as HF: regexes, case, punctuation,
    numbers. HF does not strip whitespace; ``strip=True`` forgives a trailing newline from an LLM.
    """
    p = _texts(predictions, "predictions")
    s = _ref_streams(references, len(p), streams)

    def prep(t: Any) -> Any:
        if t is None:
            return None
        for rx in regexes_to_ignore or ():
            t = re.sub(rx, "", t)
        return t.lower() if ignore_case else t

    if regexes_to_ignore or ignore_case:
        p = [prep(t) for t in p]
        s = [[prep(t) for t in stream] for stream in s]
    with _named_rows(predictions=p, references=s):
        per = _m.exact_match(p, s, ignore_punctuation, ignore_numbers, strip)
    return MetricResult(
        "exact_match", float(per.mean()) if len(per) else 0.0, per, per.reshape(-1, 1), "mean", {"column": 0}
    )


def token_f1(
    predictions: Any, references: Any, *, squad_v2: bool = False, streams: bool = False
) -> MetricResult:
    """SQuAD token F1 (score) and normalised exact match (column ``exact_match``), 0-100, max over golds.

    Normalisation is the SQuAD script's (lowercase, drop ASCII punctuation, drop a/an/the, collapse
    spaces). ``squad_v2=True`` follows squad_v2 for empty answers (F1 = EM when either side is empty).
    """
    p = _lower(_texts(predictions, "predictions"))
    s = _lower_streams(_ref_streams(references, len(p), streams))
    with _named_rows(predictions=p, references=s):
        out = _m.squad_scores(p, s, squad_v2) * 100.0
    f1 = out[:, 1]
    res = MetricResult(
        "f1",
        float(f1.mean()) if len(p) else 0.0,
        f1,
        np.ascontiguousarray(out[:, [1]]),
        "mean",
        {"column": 0},
    )
    res.columns = {"exact_match": out[:, 0]}
    res.details = {"exact_match": float(out[:, 0].mean()) if len(p) else 0.0}
    return res
