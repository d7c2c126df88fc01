"""Rubric judges: a criterion in plain words, a 1-5 Likert scale, one fixed prompt template (the user
may override it), repeated sampling with its spread, answers parsed with unparsed / off-scale /
error buckets."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..._results import ResultMixin, require
from ...metrics._result import DEFAULT_SEED
from ..cache import PredictionCache
from .calls import call_judge, judge_name
from .scores import krippendorff_alpha, likert_summary, parse_judge_outputs


@dataclass(frozen=True)
class Rubric:
    """One criterion: ``name`` (the metric is "judge:<name>"), ``description`` in plain words,
    ``anchors`` (score -> what it means, e.g. {1: "misses most of the history", 5: "complete"})."""

    name: str
    description: str
    anchors: Mapping[int, str] = field(default_factory=dict)
    low: int = 1
    high: int = 5

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise ValueError("rubric: a criterion needs a name")
        if not self.low < self.high:
            raise ValueError(f"rubric {self.name!r}: low ({self.low}) must be below high ({self.high})")
        for k in self.anchors:
            if not self.low <= k <= self.high:
                raise ValueError(f"rubric {self.name!r}: anchor {k} is outside {self.low}..{self.high}")


#: Ready rubrics (the seed's healthcare summarisation case and general ones).
RUBRICS: dict[str, Rubric] = {
    r.name: r
    for r in (
        Rubric(
            "history_completeness",
            "Does the answer keep every part of the patient history given in the input that matters "
            "(symptoms and their onset, medication, allergies, prior conditions, relevant family and "
            "social history), without inventing any?",
            {
                1: "most of the relevant history is missing or invented",
                3: "some relevant items are missing",
                5: "every relevant item is there and nothing is invented",
            },
        ),
        Rubric(
            "formatting",
            "Does the answer follow the requested format: structure and sections, length, lists or "
            "fields as asked, no stray markup or boilerplate?",
            {
                1: "ignores the requested format",
                3: "roughly the format, with visible deviations",
                5: "exactly the requested format",
            },
        ),
        Rubric(
            "relevance",
            "Does the answer address what the input asks and stay on topic, without irrelevant content?",
            {
                1: "off topic",
                3: "partly relevant, with filler or digressions",
                5: "fully relevant and focused",
            },
        ),
        Rubric(
            "correctness",
            "Is the answer factually correct and consistent with the reference answer when one is given?",
            {1: "wrong", 3: "partly correct", 5: "fully correct"},
        ),
    )
}

#: The prompt every rubric judge sends unless given another template. Placeholders: criterion,
#: description, low, high, anchors, input, output, reference, reference_section.
DEFAULT_TEMPLATE = """You are grading one answer of an AI assistant on a single criterion.

Criterion: {criterion}
{description}

Scale: an integer from {low} (worst) to {high} (best).
{anchors}

[Input]
{input}
{reference_section}
[Answer to grade]
{output}

Grade only this criterion. Reply with a one-sentence reason, then the grade on the last line exactly as "Score: N" with N from {low} to {high}."""

_FIELDS = frozenset(
    {
        "criterion",
        "description",
        "low",
        "high",
        "anchors",
        "input",
        "output",
        "reference",
        "reference_section",
    }
)


def check_template(
    template: str, fields: frozenset[str] = _FIELDS, required: tuple[str, ...] = ("output",)
) -> str:
    """A prompt template with known placeholders only (a typo is an error, not a silent literal)."""
    if not isinstance(template, str):
        raise TypeError("template: expected a str with {placeholders}")
    try:
        used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"template: {exc} (write literal braces as {{{{ and }}}})") from exc
    unknown = sorted(u for u in used if u not in fields)
    if unknown:
        raise ValueError(f"template: unknown placeholder(s) {unknown}; available: {sorted(fields)}")
    missing = [r for r in required if r not in used]
    if missing:
        raise ValueError(f"template: must contain {', '.join('{' + m + '}' for m in missing)}")
    return template


def _as_rubrics(criteria: Any) -> list[Rubric]:
    if isinstance(criteria, (str, Rubric)):
        criteria = [criteria]
    if isinstance(criteria, Mapping):
        return [Rubric(str(k), str(v)) for k, v in criteria.items()]
    out = []
    for c in criteria:
        if isinstance(c, Rubric):
            out.append(c)
        elif isinstance(c, str):
            if c not in RUBRICS:
                raise ValueError(
                    f"criterion {c!r} is not a ready rubric ({sorted(RUBRICS)}); pass Rubric(name, description) "
                    "or a dict name -> description"
                )
            out.append(RUBRICS[c])
        else:
            raise TypeError(f"criterion {c!r}: expected a name, a Rubric or a dict name -> description")
    if not out:
        raise ValueError("criteria: give at least one")
    names = [r.name for r in out]
    if len(set(names)) != len(names):
        raise ValueError(f"criteria: duplicate names in {names}")
    return out


@dataclass
class JudgeScores(ResultMixin):
    """A rubric judge's scores on n items: per criterion ``scores`` (n x samples, NaN unless
    parsed on the scale), ``status`` (n x samples: ok / off-scale / unparsed / error), ``raw``
    answers, and ``errors`` (criterion -> {row: message} for calls that failed)."""

    judge: str
    rubrics: list[Rubric]
    scores: dict[str, np.ndarray]
    status: dict[str, np.ndarray]
    raw: dict[str, list[list[str | None]]]
    errors: dict[str, dict[int, str]]
    seed: int = DEFAULT_SEED

    @property
    def criteria(self) -> list[str]:
        return [r.name for r in self.rubrics]

    def item_scores(self, criterion: str) -> np.ndarray:
        """Per item: the mean of the parsed samples (NaN when none parsed)."""
        s = self.scores[criterion]
        ok = ~np.isnan(s)
        counts = ok.sum(axis=1)
        sums = np.where(ok, s, 0.0).sum(axis=1)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def counts(self, criterion: str) -> dict[str, int]:
        """Answers per status (over all samples)."""
        st = self.status[criterion]
        return {k: int((st == k).sum()) for k in ("ok", "off-scale", "unparsed", "error")}

    def spread(self, criterion: str) -> dict[str, float]:
        """Repeated sampling: mean per-item standard deviation of the samples, share of items whose
        samples disagree, and Krippendorff's alpha (interval) with samples as raters (NaN with one
        sample)."""
        s = self.scores[criterion]
        if s.shape[1] < 2:
            return {"sd": float("nan"), "disagree": float("nan"), "alpha": float("nan")}
        both = (~np.isnan(s)).sum(axis=1) >= 2
        if not both.any():
            return {"sd": float("nan"), "disagree": float("nan"), "alpha": float("nan")}
        sub = s[both]
        sd = np.array([np.nanstd(r) for r in sub])
        disagree = np.array([len(set(r[~np.isnan(r)].tolist())) > 1 for r in sub])
        return {
            "sd": float(sd.mean()),
            "disagree": float(disagree.mean()),
            "alpha": krippendorff_alpha(s.T, level="interval"),
        }

    def summary_line(self) -> str:
        n = len(next(iter(self.scores.values()))) if self.scores else 0
        return f"judge {self.judge!r}: {len(self.rubrics)} criteria on {n} items"

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        rows = []
        for c in self.criteria:
            summary = likert_summary(self.item_scores(c), seed=self.seed)
            rows.append(
                {
                    "criterion": c,
                    "n": summary["n"],
                    "mean": summary["mean"],
                    "ci_low": summary["ci"][0],
                    "ci_high": summary["ci"][1],
                    **{k.replace("-", "_"): v for k, v in self.counts(c).items()},
                    **{f"spread_{k}": v for k, v in self.spread(c).items()},
                }
            )
        return pd.DataFrame(rows)


class RubricJudge:
    """An LLM judge of one or more rubric criteria on a 1-5 Likert scale.

    ``model``: any callable prompt -> text (an endpoint or local model adapter, a function around
    an API client); if it takes ``seed=`` each sample gets its own seed. ``criteria``: ready
    rubric names (:data:`RUBRICS`), :class:`Rubric` objects or a dict name -> description.
    ``template``: the prompt (default :data:`DEFAULT_TEMPLATE`; placeholders checked).
    ``samples``: answers per item and criterion (their spread is reported; the item's score is
    their mean). ``name`` identifies the judge in the cache and the report (default: the model's
    name). Failed calls (after ``retries``) and answers without a score on the scale are counted
    in buckets, never a crash.

    ``judge.score(inputs, outputs, references)`` scores many items concurrently through the cache;
    ``judge(input, output, reference)`` scores one (criterion -> mean score, NaN if unparsed).
    """

    def __init__(
        self,
        model: Any,
        criteria: Any = ("relevance",),
        *,
        template: str | None = None,
        samples: int = 1,
        name: str | None = None,
        seed: int = DEFAULT_SEED,
        max_workers: int = 4,
        retries: int = 2,
    ) -> None:
        if samples < 1:
            raise ValueError("samples must be at least 1")
        self.model = model
        self.rubrics = _as_rubrics(criteria)
        self.template = check_template(template if template is not None else DEFAULT_TEMPLATE)
        self.samples = int(samples)
        self.name = judge_name(model, name)
        self.seed = int(seed)
        self.max_workers = max_workers
        self.retries = retries

    def __repr__(self) -> str:
        return (
            f"RubricJudge({self.name!r}, criteria={[r.name for r in self.rubrics]}, samples={self.samples})"
        )

    def prompt(self, rubric: Rubric, input: Any, output: Any, reference: Any = None) -> str:
        """The prompt sent for one item and criterion."""
        anchors = "\n".join(f"{k} = {v}" for k, v in sorted(rubric.anchors.items()))
        ref = "" if reference is None else str(reference)
        return self.template.format(
            criterion=rubric.name.replace("_", " "),
            description=rubric.description,
            low=rubric.low,
            high=rubric.high,
            anchors=anchors,
            input="" if input is None else str(input),
            output="" if output is None else str(output),
            reference=ref,
            reference_section=f"\n[Reference answer]\n{ref}\n" if reference is not None else "",
        )

    def score(
        self,
        inputs: Sequence[Any],
        outputs: Sequence[Any],
        references: Sequence[Any] | None = None,
        *,
        cache: PredictionCache | str | None = None,
        progress: bool = True,
    ) -> JudgeScores:
        """Scores of every item on every criterion, ``samples`` answers each."""
        inputs, outputs = list(inputs), list(outputs)
        if len(inputs) != len(outputs):
            raise ValueError(f"inputs and outputs differ in length: {len(inputs)} vs {len(outputs)}")
        refs = list(references) if references is not None else [None] * len(inputs)
        if len(refs) != len(inputs):
            raise ValueError(f"references: {len(refs)} for {len(inputs)} items")
        store = PredictionCache(cache) if isinstance(cache, str) else cache
        scores, status, raw, errors = {}, {}, {}, {}
        try:
            for rubric in self.rubrics:
                prompts = [self.prompt(rubric, i, o, r) for i, o, r in zip(inputs, outputs, refs)]
                s = np.full((len(prompts), self.samples), np.nan)
                st = np.empty((len(prompts), self.samples), dtype=object)
                answers: list[list[str | None]] = [[] for _ in prompts]
                failed: dict[int, str] = {}
                for k in range(self.samples):
                    out, fails = call_judge(
                        self.name,
                        self.model,
                        prompts,
                        sample=k,
                        seed=self.seed,
                        cache=store,
                        max_workers=self.max_workers,
                        retries=self.retries,
                        progress=progress,
                    )
                    for i, msg in fails.items():
                        failed.setdefault(i, msg)
                    s[:, k], st[:, k] = parse_judge_outputs(out, low=rubric.low, high=rubric.high)
                    for i, a in enumerate(out):
                        answers[i].append(a)
                scores[rubric.name], status[rubric.name] = s, st
                raw[rubric.name], errors[rubric.name] = answers, failed
        finally:
            if isinstance(cache, str) and store is not None:
                store.close()
        return JudgeScores(self.name, self.rubrics, scores, status, raw, errors, self.seed)

    def __call__(self, input: Any, output: Any, reference: Any = None) -> dict[str, float]:
        res = self.score([input], [output], [reference], progress=False)
        return {c: float(res.item_scores(c)[0]) for c in res.criteria}
