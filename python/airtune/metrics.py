"""Exact batch metrics (C++), with per-item sufficient statistics for resampling statistics.

Text metrics reproduce their reference implementations exactly (tests compare on thousands of
pairs): ``bleu`` and ``chrf`` = sacreBLEU 2.6 (tokenizers 13a/intl/char/none, smoothing, effective
order, several references, signature string), ``rouge`` = Google's rouge-score (its tokenizer and
NLTK Porter stemmer, rougeLsum on newlines), ``token_f1`` = the SQuAD script, ``exact_match`` = HF
``evaluate``'s exact_match, ``classification`` = scikit-learn's definitions. Each function returns a
:class:`MetricResult` with the corpus score, per-item scores and the statistics from which
:func:`bootstrap_ci`, :func:`paired_bootstrap` and :func:`approximate_randomization` resample.

References: a list of str (one reference per item) or a list of per-item lists of references
(variable length allowed). ``streams=True`` takes sacreBLEU's layout ``refs[k][i]`` instead.
Scales follow each reference tool: BLEU and chrF 0-100, ROUGE 0-1, SQuAD EM/F1 0-100, exact match
and classification 0-1.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._core import metrics as _m
from ._inputs import as_str_list, check_same_length
from ._results import ResultMixin

__all__ = [
    "MetricResult",
    "SignificanceResult",
    "NonInferiorityResult",
    "approximate_randomization",
    "bleu",
    "bootstrap_ci",
    "chrf",
    "classification",
    "cohen_kappa",
    "exact_match",
    "json_validity",
    "judge_agreement",
    "krippendorff_alpha",
    "length_stats",
    "likert_summary",
    "non_inferiority",
    "paired_bootstrap",
    "parse_judge_scores",
    "rouge",
    "taxonomy_accuracy",
    "token_f1",
    "wilcoxon",
]

#: The sacreBLEU release whose behaviour (and signature strings) bleu() and chrf() reproduce.
SACREBLEU_COMPAT = "2.6.0"
DEFAULT_SEED = 12345


@dataclass
class MetricResult(ResultMixin):
    """A corpus score with per-item scores and the statistics to resample it.

    ``stats`` (n x k) sums to the corpus statistics; ``aggregate`` ("bleu", "chrf" or "mean") with
    ``options`` says how summed rows become the score; for "mean" the score is the mean of column
    ``options["column"]``. ``details`` holds metric-specific extras (counts, sub-scores).
    """

    name: str
    score: float
    per_item: np.ndarray
    stats: np.ndarray
    aggregate: str
    options: dict = field(default_factory=dict)
    signature: str = ""
    details: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)

    def summary_line(self) -> str:
        sig = f" ({self.signature})" if self.signature else ""
        return f"{self.name} = {self.score:.4f} over {len(self.per_item)} items{sig}"

    def to_pandas(self) -> Any:
        """Per-item table: one column per score this metric produces."""
        import pandas as pd

        data = {self.name: self.per_item}
        for key, col in self.columns.items():
            data[key] = col
        return pd.DataFrame(data)

    def select(self, column: str) -> MetricResult:
        """A mean-aggregated sub-metric (e.g. ``rouge(...).select("rougeL")``) for statistics."""
        values = np.asarray(self.columns[column], dtype=np.float64)
        return MetricResult(
            name=column,
            score=float(values.mean()) if len(values) else 0.0,
            per_item=values,
            stats=values.reshape(-1, 1),
            aggregate="mean",
            options={"column": 0},
        )

    def __float__(self) -> float:
        return float(self.score)


# --- inputs -------------------------------------------------------------------------------------


def _texts(obj: Any, name: str) -> list:
    texts = as_str_list(obj, name)
    if set(map(type, texts)) <= {str}:  # the common case, checked at C speed
        return texts
    for i, t in enumerate(texts):
        if t is None:
            raise ValueError(f"{name}: row {i} is None")
        if isinstance(t, float) and math.isnan(t):
            raise ValueError(f"{name}: row {i} is NaN")
        if not isinstance(t, (str, bytes)):
            raise TypeError(f"{name}: row {i} is {type(t).__name__}, expected str")
    return texts


def _ref_streams(refs: Any, n: int, streams: bool) -> list[list]:
    """sacreBLEU-layout reference streams (refs[k][i], None = missing) from either layout."""
    if isinstance(refs, (str, bytes)):
        raise TypeError("references: expected a sequence, got a single string")
    if not streams:
        items = refs if isinstance(refs, list) else as_str_list(refs, "references")
        if set(map(type, items)) <= {str, bytes, type(None)}:
            if len(items) != n:
                raise ValueError(f"inputs differ in length: hypotheses={n}, references={len(items)}")
            for i, r in enumerate(items):
                if r is None:
                    raise ValueError(f"references: row {i} is None")
            return [list(items)]
        if len(items) != n:
            raise ValueError(f"inputs differ in length: hypotheses={n}, references={len(items)}")
        per_item = []
        for i, r in enumerate(items):
            if isinstance(r, (str, bytes)):
                r = [r]
            r = [x for x in (list(r) if r is not None else []) if x is not None]
            if not r:
                raise ValueError(f"references: row {i} has no reference")
            per_item.append(r)
        width = max(len(r) for r in per_item) if per_item else 1
        return [[r[k] if k < len(r) else None for r in per_item] for k in range(width)]
    out = [list(s) for s in refs]
    for k, s in enumerate(out):
        if len(s) != n:
            raise ValueError(f"reference stream {k} has {len(s)} items, hypotheses have {n}")
    return out


@contextlib.contextmanager
def _named_rows(**columns: list) -> Iterator[None]:
    """Turns a UnicodeEncodeError from the C++ call (a str with lone surrogates) into a ValueError
    naming the column and row; the scan runs only on that failure path."""
    try:
        yield
    except UnicodeEncodeError:
        for name, col in columns.items():
            streams = col if col and isinstance(col[0], list) else [col]
            for stream in streams:
                for i, t in enumerate(stream):
                    if isinstance(t, str):
                        try:
                            t.encode("utf-8")
                        except UnicodeEncodeError as exc:
                            raise ValueError(f"{name}: row {i} is not valid Unicode ({exc.reason})") from None
        raise


def _lower(texts: list) -> list:
    return [t.lower() if isinstance(t, str) else t for t in texts]


def _lower_streams(streams: list[list]) -> list[list]:
    return [[t.lower() if isinstance(t, str) else t for t in s] for s in streams]


def _nrefs(streams: list[list]) -> str:
    if not any(None in s for s in streams):
        return str(len(streams))
    counts = {sum(s[i] is not None for s in streams) for i in range(len(streams[0]))} if streams[0] else {1}
    return str(counts.pop()) if len(counts) == 1 else "var"


# --- BLEU / chrF ---------------------------------------------------------------------------------


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


# --- ROUGE ---------------------------------------------------------------------------------------


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


# --- answers -------------------------------------------------------------------------------------


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


# --- classification ------------------------------------------------------------------------------


def _codes(
    y_true: Sequence, y_pred: Sequence, labels: Sequence | None
) -> tuple[list, np.ndarray, np.ndarray]:
    check_same_length(y_true=y_true, y_pred=y_pred)
    for i, t in enumerate(y_true):
        if t is None or (isinstance(t, float) and math.isnan(t)):
            raise ValueError(f"y_true: row {i} is missing")
    if labels is None:
        pool = set(y_true) | {
            p for p in y_pred if p is not None and not (isinstance(p, float) and math.isnan(p))
        }
        labels = sorted(pool, key=lambda v: (str(type(v)), v))
    labels = list(labels)
    index = {lab: k for k, lab in enumerate(labels)}
    t_codes = np.empty(len(y_true), dtype=np.int32)
    for i, t in enumerate(y_true):
        if t not in index:
            raise ValueError(f"y_true: row {i} has label {t!r}, which is not in labels")
        t_codes[i] = index[t]
    p_codes = np.array([index.get(p, -1) if p is not None else -1 for p in y_pred], dtype=np.int32)
    return labels, t_codes, p_codes


def classification(y_true: Any, y_pred: Any, *, labels: Sequence | None = None) -> MetricResult:
    """Accuracy, per-class and macro/micro/weighted precision/recall/F1, confusion matrix, Cohen's kappa.

    Definitions are scikit-learn's (``zero_division=0``). Labels default to the sorted union of
    y_true and y_pred. A prediction that is None or not among ``labels`` is an invalid output: it
    counts as wrong, lands in the confusion matrix's extra "invalid" column and in
    ``details["invalid"]``. Score: accuracy; ``per_item`` 1.0 where correct.
    """
    yt = y_true if isinstance(y_true, list) else list(as_str_list(y_true, "y_true"))
    yp = y_pred if isinstance(y_pred, list) else list(as_str_list(y_pred, "y_pred"))
    labs, t, p = _codes(yt, yp, labels)
    k = len(labs)
    conf = _m.confusion_matrix(t, p, k)
    rep = _m.classification_report(conf, k)
    correct = (t == p).astype(np.float64)
    details = dict(rep)
    details["labels"] = labs
    details["confusion"] = conf
    square = np.zeros((k + 1, k + 1))
    square[:k, :] = conf
    kappa_conf = square if rep["invalid"] else square[:k, :k]
    for w in ("none", "linear", "quadratic"):
        details[f"kappa_{w}"] = _m.cohen_kappa(kappa_conf, w) if len(t) else float("nan")
    details["kappa"] = details["kappa_none"]
    return MetricResult(
        "accuracy", rep["accuracy"], correct, correct.reshape(-1, 1), "mean", {"column": 0}, details=details
    )


def cohen_kappa(
    a: Sequence, b: Sequence, *, weights: str | None = None, labels: Sequence | None = None
) -> float:
    """Cohen's kappa between two raters as ``sklearn.metrics.cohen_kappa_score`` (weights: None/linear/quadratic).

    For ordinal scores (Likert) the label order is the sorted order, so linear/quadratic weights
    measure distance on the scale.
    """
    labs, t, p = _codes(list(a), list(b), labels)
    if (p < 0).any():
        raise ValueError(f"b: row {int(np.argmax(p < 0))} has a label outside labels")
    conf = _m.confusion_matrix(t, p, len(labs))[:, : len(labs)].astype(np.float64)
    return float(_m.cohen_kappa(conf, weights or "none"))


# --- taxonomy ------------------------------------------------------------------------------------


def taxonomy_accuracy(
    gold: Any,
    predictions: Any,
    *,
    sep: str = " > ",
    valid_paths: Sequence[str] | None = None,
    case_sensitive: bool = True,
) -> MetricResult:
    """Level-wise accuracy and hierarchical P/R/F for category paths such as ``"A > B > C"``.

    acc_k = share of items with gold depth >= k whose predicted path agrees on the first k levels
    (``details["levels"]`` lists k, accuracy, denominator). Hierarchical precision/recall/F follow
    Kiritchenko et al. (node plus ancestors, root excluded). A prediction that is empty or, when
    ``valid_paths`` is given, not one of them is invalid: wrong at every level, counted in
    ``details["invalid"]``. Score: exact (leaf) accuracy.
    """
    g = _texts(gold, "gold")
    p = [("" if x is None else x) for x in as_str_list(predictions, "predictions")]
    check_same_length(gold=g, predictions=p)
    v = list(valid_paths or [])
    if not case_sensitive:
        g, p, v = _lower(g), _lower(p), _lower(v)
    with _named_rows(gold=g, predictions=p, valid_paths=v):
        r = _m.taxonomy_items(g, p, v, sep)
    gd, pd_, common, valid = r["gold_depth"], r["pred_depth"], r["common"], r["valid"].astype(bool)
    exact = ((common == gd) & (pd_ == gd) & valid).astype(np.float64)
    levels = []
    for k in range(1, int(gd.max(initial=0)) + 1):
        mask = gd >= k
        levels.append({"level": k, "accuracy": float((common[mask] >= k).mean()), "n": int(mask.sum())})
    hp = float(common.sum() / pd_.sum()) if pd_.sum() else 0.0
    hr = float(common.sum() / gd.sum()) if gd.sum() else 0.0
    hf = 2 * hp * hr / (hp + hr) if hp + hr else 0.0
    details = {
        "levels": levels,
        "hierarchical_precision": hp,
        "hierarchical_recall": hr,
        "hierarchical_f1": hf,
        "invalid": int((~valid).sum()),
        "invalid_rate": float((~valid).mean()) if len(g) else 0.0,
    }
    res = MetricResult(
        "taxonomy_exact",
        float(exact.mean()) if len(g) else 0.0,
        exact,
        exact.reshape(-1, 1),
        "mean",
        {"column": 0},
        details=details,
    )
    res.columns = {"matched_levels": common, "gold_depth": gd, "valid": valid}
    return res


# --- JSON ----------------------------------------------------------------------------------------

_JSON_TYPES = {
    0: None,
    1: "object",
    2: "array",
    3: "string",
    4: "integer",
    5: "number",
    6: "boolean",
    7: "null",
}
_REASONS = {0: "ok", 1: "missing key", 2: "wrong type", 3: "not an object", 4: "invalid JSON"}


def json_validity(outputs: Any, *, required: dict[str, str] | Sequence[str] | None = None) -> MetricResult:
    """Strict and lenient JSON validity (simdjson) and required top-level keys with types.

    Strict: the whole output is one RFC 8259 document (NaN/Infinity rejected). Lenient: after
    removing a ``` fence or taking the first balanced {...}/[...]. ``required``: a list of keys or a
    dict key -> type ("string", "number", "integer", "boolean", "object", "array", "null", "any").
    Score: share of outputs that parse (leniently) and satisfy ``required``.
    """
    texts = [("" if x is None else x) for x in as_str_list(outputs, "outputs")]
    if required is None:
        keys: list[tuple[str, str]] = []
    elif isinstance(required, dict):
        keys = [(k, v) for k, v in required.items()]
    else:
        keys = [(k, "any") for k in required]
    with _named_rows(outputs=texts):
        r = _m.json_validity(texts, keys)
    status, reason, bad = r["status"], r["reason"], r["bad_key"]
    ok = ((status < 2) & (reason == 0)).astype(np.float64)
    problems = [
        ""
        if reason[i] == 0
        else _REASONS[int(reason[i])] + (f": {keys[bad[i]][0]!r}" if reason[i] in (1, 2) else "")
        for i in range(len(texts))
    ]
    details = {
        "strict_rate": float((status == 0).mean()) if texts else 0.0,
        "lenient_rate": float((status < 2).mean()) if texts else 0.0,
        "schema_rate": float(ok.mean()) if texts else 0.0,
    }
    res = MetricResult(
        "json_valid", details["schema_rate"], ok, ok.reshape(-1, 1), "mean", {"column": 0}, details=details
    )
    res.columns = {
        "status": np.array(["strict", "lenient", "invalid"])[status],
        "problem": problems,
        "top_type": [_JSON_TYPES[int(x)] for x in r["top_type"]],
    }
    return res


def length_stats(texts: Any) -> MetricResult:
    """Per-item bytes, characters (code points) and words; score = mean words; details: summaries."""
    t = [("" if x is None else x) for x in as_str_list(texts, "texts")]
    with _named_rows(texts=t):
        s = _m.length_stats(t)
    words = s[:, 2].astype(np.float64)
    details = {}
    for j, name in enumerate(("bytes", "chars", "words")):
        col = s[:, j]
        details[name] = {
            "mean": float(col.mean()) if len(t) else 0.0,
            "median": float(np.median(col)) if len(t) else 0.0,
            "p95": float(np.percentile(col, 95)) if len(t) else 0.0,
            "max": int(col.max(initial=0)),
        }
    res = MetricResult(
        "words",
        float(words.mean()) if len(t) else 0.0,
        words,
        words.reshape(-1, 1),
        "mean",
        {"column": 0},
        details=details,
    )
    res.columns = {"bytes": s[:, 0], "chars": s[:, 1]}
    return res


# --- statistics ----------------------------------------------------------------------------------


@dataclass
class SignificanceResult(ResultMixin):
    """Two systems compared on the same items: observed difference (b - a), p-value, CI of the difference."""

    test: str
    metric: str
    score_a: float
    score_b: float
    difference: float
    p_value: float
    ci: tuple[float, float]
    n_samples: int
    seed: int

    def summary_line(self) -> str:
        return (
            f"{self.test} on {self.metric}: {self.score_a:.4f} -> {self.score_b:.4f} "
            f"(diff {self.difference:+.4f}, p = {self.p_value:.4g})"
        )

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    k: getattr(self, k)
                    for k in (
                        "test",
                        "metric",
                        "score_a",
                        "score_b",
                        "difference",
                        "p_value",
                        "n_samples",
                        "seed",
                    )
                }
                | {"ci_low": self.ci[0], "ci_high": self.ci[1]}
            ]
        )


def _check_result(r: MetricResult, name: str) -> MetricResult:
    if not isinstance(r, MetricResult):
        raise TypeError(f"{name}: expected a MetricResult (e.g. from airtune.metrics.bleu)")
    return r


def bootstrap_ci(
    result: MetricResult, *, n_samples: int = 1000, seed: int = DEFAULT_SEED, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of a corpus score, resampling items (per-item statistics, seeded)."""
    _check_result(result, "result")
    scores = _m.bootstrap(result.stats, result.aggregate, result.options, n_samples, seed)
    lo, hi = np.quantile(scores, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def _pair(a: MetricResult, b: MetricResult) -> None:
    _check_result(a, "a")
    _check_result(b, "b")
    if a.stats.shape != b.stats.shape:
        raise ValueError(f"the two results cover different items: {a.stats.shape} vs {b.stats.shape}")
    if a.aggregate != b.aggregate or a.options != b.options:
        raise ValueError("the two results were computed with different metric options")


def paired_bootstrap(
    a: MetricResult, b: MetricResult, *, n_samples: int = 1000, seed: int = DEFAULT_SEED, level: float = 0.95
) -> SignificanceResult:
    """Paired bootstrap (sacreBLEU / Koehn 2004): both systems on the same resamples.

    p-value as sacreBLEU: (c + 1) / (N + 1) with c = #resamples whose centred |difference| reaches
    the observed one (>=, so a system compared with itself gets p = 1; sacreBLEU counts only >). The CI is the percentile interval of the resampled difference b - a.
    """
    _pair(a, b)
    sc = _m.paired_bootstrap(a.stats, b.stats, a.aggregate, a.options, n_samples, seed)
    diffs = sc[1] - sc[0]
    real = b.score - a.score
    abs_d = np.abs(diffs)
    c = int(np.sum((abs_d - abs_d.mean()) >= abs(real)))
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    return SignificanceResult(
        "paired_bootstrap",
        a.name,
        a.score,
        b.score,
        real,
        (c + 1) / (n_samples + 1),
        (float(lo), float(hi)),
        n_samples,
        seed,
    )


def approximate_randomization(
    a: MetricResult, b: MetricResult, *, n_trials: int = 10000, seed: int = DEFAULT_SEED
) -> SignificanceResult:
    """Paired two-sided approximate randomisation test (sacreBLEU's ``--paired-ar``).

    Each trial swaps each item's outputs between the systems with probability 1/2; p = (c + 1) /
    (N + 1) with c = #trials whose |score difference| reaches the observed one (>=, as MultEval
    intends; sacreBLEU's > gives identical systems p = 1/(N+1)).
    """
    _pair(a, b)
    sc = _m.approximate_randomization(a.stats, b.stats, a.aggregate, a.options, n_trials, seed)
    real = b.score - a.score
    c = int(np.sum(np.abs(sc[0] - sc[1]) >= abs(real)))
    return SignificanceResult(
        "approximate_randomization",
        a.name,
        a.score,
        b.score,
        real,
        (c + 1) / (n_trials + 1),
        (float("nan"), float("nan")),
        n_trials,
        seed,
    )


@dataclass
class NonInferiorityResult(ResultMixin):
    """Can the candidate replace the baseline? True when the lower confidence bound of
    (candidate - baseline) is at least -margin (one-sided test at ``alpha``; identical systems pass
    with margin 0)."""

    metric: str
    baseline: float
    candidate: float
    difference: float
    lower_bound: float
    margin: float
    alpha: float
    non_inferior: bool
    superior: bool
    n_items: int

    def summary_line(self) -> str:
        verdict = "can replace" if self.non_inferior else "cannot be shown to replace"
        return (
            f"candidate {verdict} the baseline on {self.metric}: diff {self.difference:+.4f}, "
            f"{100 * (1 - self.alpha):.0f}% lower bound {self.lower_bound:+.4f} vs margin -{self.margin}"
        )

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame([self.__dict__])


def non_inferiority(
    candidate: MetricResult,
    baseline: MetricResult,
    *,
    margin: float,
    alpha: float = 0.05,
    n_samples: int = 2000,
    seed: int = DEFAULT_SEED,
) -> NonInferiorityResult:
    """Non-inferiority by paired bootstrap: the one-sided (1 - alpha) lower bound of candidate -
    baseline must be at least -margin. ``superior`` when that bound is above 0."""
    if margin < 0 or not math.isfinite(margin):
        raise ValueError("margin must be a finite number >= 0")
    _pair(baseline, candidate)
    sc = _m.paired_bootstrap(
        baseline.stats, candidate.stats, baseline.aggregate, baseline.options, n_samples, seed
    )
    diffs = sc[1] - sc[0]
    lower = float(np.quantile(diffs, alpha))
    diff = candidate.score - baseline.score
    return NonInferiorityResult(
        candidate.name,
        baseline.score,
        candidate.score,
        diff,
        lower,
        margin,
        alpha,
        lower >= -margin,
        lower > 0,
        len(candidate.per_item),
    )


def wilcoxon(
    x: Sequence[float],
    y: Sequence[float] | None = None,
    *,
    zero_method: str = "wilcox",
    correction: bool = False,
    alternative: str = "two-sided",
    method: str = "auto",
) -> dict:
    """Wilcoxon signed-rank test on paired scores (e.g. Likert), as ``scipy.stats.wilcoxon``.

    method "exact" (no ties / zeros), "asymptotic" (normal approximation with tie correction), or
    "auto": exact when n <= 50 and no ties or zeros, else asymptotic. zero_method: wilcox (drop
    zero differences), pratt (rank them, then drop), zsplit (split their ranks). Returns statistic
    (W = the smaller rank sum for two-sided, else r+), p_value, n (pairs used), zeros.
    """
    d = np.asarray(x, dtype=np.float64)
    if y is not None:
        yy = np.asarray(y, dtype=np.float64)
        if yy.shape != d.shape:
            raise ValueError(f"x and y differ in length: {d.shape[0]} vs {yy.shape[0]}")
        d = d - yy
    if np.isnan(d).any():
        raise ValueError(f"row {int(np.argmax(np.isnan(d)))} has a NaN score")
    if zero_method not in ("wilcox", "pratt", "zsplit"):
        raise ValueError("zero_method must be wilcox, pratt or zsplit")
    zeros = int((d == 0).sum())
    if zero_method == "wilcox":
        d = d[d != 0]
    n_all = len(d)
    if n_all == 0:
        raise ValueError("wilcoxon: every difference is zero")
    ranks = _rankdata(np.abs(d))
    r_plus = float(ranks[d > 0].sum())
    r_minus = float(ranks[d < 0].sum())
    if zero_method == "zsplit":
        r_zero = float(ranks[d == 0].sum())
        r_plus += r_zero / 2
        r_minus += r_zero / 2
    stat = min(r_plus, r_minus) if alternative == "two-sided" else r_plus
    has_ties = len(np.unique(np.abs(d[d != 0]))) < int((d != 0).sum())
    if method == "auto":
        method = "exact" if (n_all <= 50 and zeros == 0 and not has_ties) else "asymptotic"
    if method == "exact":
        if zeros and zero_method != "wilcox" or has_ties:
            raise ValueError("the exact method needs no ties and no zero differences")
        p = _wilcoxon_exact(r_plus, n_all, alternative)
    else:
        n = n_all
        mn = n * (n + 1) * 0.25
        se = n * (n + 1) * (2 * n + 1)
        if zero_method == "pratt":
            nz = int((d == 0).sum())
            mn -= nz * (nz + 1) * 0.25
            se -= nz * (nz + 1) * (2 * nz + 1)
        tie_ranks = ranks[d != 0] if zero_method == "pratt" else ranks  # zeros excluded, as scipy
        _, counts = np.unique(tie_ranks, return_counts=True)
        se -= 0.5 * float((counts * (counts * counts - 1)).sum())
        se = math.sqrt(se / 24)
        z = (r_plus - mn) / se if se > 0 else 0.0
        if correction:
            if alternative == "two-sided":
                z -= 0.5 * np.sign(z)
            elif alternative == "less":
                z += 0.5
            else:
                z -= 0.5
        if alternative == "two-sided":
            p = math.erfc(abs(z) / math.sqrt(2))
        elif alternative == "greater":
            p = 0.5 * math.erfc(z / math.sqrt(2))
        else:
            p = 0.5 * math.erfc(-z / math.sqrt(2))
    return {
        "statistic": stat,
        "p_value": min(1.0, p),
        "n": n_all,
        "zeros": zeros,
        "method": method,
        "r_plus": r_plus,
        "r_minus": r_minus,
    }


def _rankdata(a: np.ndarray) -> np.ndarray:
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=np.float64)
    sa = a[order]
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and sa[j + 1] == sa[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _wilcoxon_exact(r_plus: float, n: int, alternative: str) -> float:
    # Distribution of the signed-rank sum under H0: counts of subsets of {1..n} by sum.
    total = n * (n + 1) // 2
    counts = np.zeros(total + 1, dtype=np.float64)
    counts[0] = 1
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[: total + 1 - k].copy()
    pmf = counts / 2.0**n
    r = int(round(r_plus))
    if alternative == "greater":
        return float(pmf[r:].sum())
    if alternative == "less":
        return float(pmf[: r + 1].sum())
    r = max(r, total - r)
    return float(min(1.0, 2 * pmf[r:].sum()))


# --- Likert judges -------------------------------------------------------------------------------

_JUDGE_PATTERNS = (
    re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]"),
    re.compile(r"(?i)\b(?:score|rating)\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)"),
    re.compile(r"\[(\d+(?:\.\d+)?)\]"),
    re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*\d+)?\s*$"),
)


def parse_judge_scores(outputs: Any, *, low: int = 1, high: int = 5) -> np.ndarray:
    """Scores from judge outputs: ``[[4]]`` (MT-Bench), ``Score: 4``, ``[4]`` or a bare ``4``/``4/5``.

    Outputs that match none of these, or whose value is outside [low, high], become NaN: they are
    counted as "unparsed" by :func:`likert_summary`, never silently dropped.
    """
    out = np.full(len(outputs), np.nan)
    for i, text in enumerate(as_str_list(outputs, "outputs")):
        if text is None:
            continue
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            v = float(text)
            out[i] = v if low <= v <= high else np.nan
            continue
        for pat in _JUDGE_PATTERNS:
            m = pat.search(str(text))
            if m:
                v = float(m.group(1))
                if low <= v <= high:
                    out[i] = v
                break
    return out


def likert_summary(
    scores: Any, *, low: int = 1, high: int = 5, n_samples: int = 1000, seed: int = DEFAULT_SEED
) -> dict:
    """Histogram (1..5 plus "unparsed"), mean with a seeded 95% bootstrap CI, median, unparsed rate."""
    s = np.asarray(scores, dtype=np.float64)
    valid = s[~np.isnan(s)]
    hist = {k: int((np.round(valid) == k).sum()) for k in range(low, high + 1)}
    hist["unparsed"] = int(np.isnan(s).sum())
    out = {"n": len(s), "histogram": hist, "unparsed_rate": hist["unparsed"] / len(s) if len(s) else 0.0}
    if len(valid):
        boot = _m.bootstrap(valid.reshape(-1, 1), "mean", {"column": 0}, n_samples, seed)
        out.update(
            mean=float(valid.mean()),
            median=float(np.median(valid)),
            ci=(float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))),
        )
    else:
        out.update(mean=float("nan"), median=float("nan"), ci=(float("nan"), float("nan")))
    return out


def krippendorff_alpha(data: Any, *, level: str = "interval") -> float:
    """Krippendorff's alpha for a raters x units matrix (NaN = missing rating).

    level: "nominal", "ordinal", "interval" or "ratio" (Krippendorff 2011, coincidence matrix).
    """
    m = np.asarray(data, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError("data: expected a raters x units matrix")
    values = np.unique(m[~np.isnan(m)])
    if len(values) < 2:
        return float("nan")
    idx = {v: k for k, v in enumerate(values)}
    v = len(values)
    o = np.zeros((v, v))
    for u in range(m.shape[1]):
        col = m[:, u]
        col = col[~np.isnan(col)]
        mu = len(col)
        if mu < 2:
            continue
        cnt = np.zeros(v)
        for x in col:
            cnt[idx[x]] += 1
        o += (np.outer(cnt, cnt) - np.diag(cnt)) / (mu - 1)
    n_c = o.sum(axis=0)
    n = n_c.sum()
    if level == "nominal":
        d = 1.0 - np.eye(v)
    elif level == "ordinal":
        d = np.zeros((v, v))
        for c in range(v):
            for k in range(v):
                if c != k:
                    lo, hi = min(c, k), max(c, k)
                    d[c, k] = (n_c[lo : hi + 1].sum() - (n_c[c] + n_c[k]) / 2) ** 2
    elif level == "interval":
        d = (values[:, None] - values[None, :]) ** 2
    elif level == "ratio":
        s = values[:, None] + values[None, :]
        d = np.where(s == 0, 0.0, ((values[:, None] - values[None, :]) / np.where(s == 0, 1, s)) ** 2)
    else:
        raise ValueError("level must be nominal, ordinal, interval or ratio")
    d_o = (o * d).sum()
    d_e = (np.outer(n_c, n_c) * d).sum() / (n - 1)
    return float(1 - d_o / d_e) if d_e > 0 else float("nan")


def judge_agreement(a: Any, b: Any) -> dict:
    """Agreement of two judges (or a judge and humans) on the same items' Likert scores.

    Items where either score is missing (NaN, e.g. unparsed) are left out and counted. Returns
    n, missing, exact (share of equal scores), within_1 (|a - b| <= 1), quadratic- and
    linear-weighted Cohen's kappa, and Krippendorff's alpha (ordinal and interval; alpha uses
    every item, missing ratings included).
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"the two judges scored different numbers of items: {len(x)} vs {len(y)}")
    both = ~np.isnan(x) & ~np.isnan(y)
    xs, ys = x[both], y[both]
    out = {"n": int(both.sum()), "missing": int((~both).sum())}
    if not both.any():
        raise ValueError("no item was scored by both judges")
    out["exact"] = float((xs == ys).mean())
    out["within_1"] = float((np.abs(xs - ys) <= 1).mean())
    labels = sorted(set(xs.tolist()) | set(ys.tolist()))
    out["kappa_quadratic"] = cohen_kappa(xs.tolist(), ys.tolist(), weights="quadratic", labels=labels)
    out["kappa_linear"] = cohen_kappa(xs.tolist(), ys.tolist(), weights="linear", labels=labels)
    out["alpha_ordinal"] = krippendorff_alpha(np.vstack([x, y]), level="ordinal")
    out["alpha_interval"] = krippendorff_alpha(np.vstack([x, y]), level="interval")
    return out


MetricFn = Callable[..., MetricResult]
#: Metric functions by name, for airtune.evaluate.
REGISTRY: dict[str, MetricFn] = {
    "bleu": bleu,
    "chrf": chrf,
    "chrf++": lambda h, r, **kw: chrf(h, r, word_order=2, **kw),
    "rouge1": lambda h, r, **kw: rouge(h, r, rouge_types=("rouge1",), **kw),
    "rouge2": lambda h, r, **kw: rouge(h, r, rouge_types=("rouge2",), **kw),
    "rougeL": lambda h, r, **kw: rouge(h, r, rouge_types=("rougeL",), **kw),
    "rougeLsum": lambda h, r, **kw: rouge(h, r, rouge_types=("rougeLsum",), **kw),
    "exact_match": exact_match,
    "token_f1": token_f1,
    "accuracy": lambda h, r, **kw: classification(list(r), list(h), **kw),
    "taxonomy": lambda h, r, **kw: taxonomy_accuracy(r, h, **kw),
}
