"""
Exact batch metrics and resampling statistics (C++).
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['ClassReport', 'JsonValidityColumns', 'TaxonomyColumns', 'aggregate', 'approximate_randomization', 'bleu_score', 'bleu_sentence_scores', 'bleu_statistics', 'bootstrap', 'chrf_scores', 'chrf_statistics', 'classification_report', 'cohen_kappa', 'confusion_matrix', 'exact_match', 'json_lenient_span', 'json_validity', 'length_stats', 'paired_bootstrap', 'porter_stem', 'resample_indices', 'rouge_scores', 'rouge_tokenize', 'squad_normalize', 'squad_scores', 'taxonomy_items', 'tokenize_bleu']
class ClassReport:
    """
    classification_report's result (metrics/classification.h).
    """
    @property
    def accuracy(self) -> float:
        ...
    @property
    def f1(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        per class
        """
    @property
    def invalid(self) -> int:
        """
        predictions outside the classes
        """
    @property
    def macro_f1(self) -> float:
        ...
    @property
    def macro_precision(self) -> float:
        ...
    @property
    def macro_recall(self) -> float:
        ...
    @property
    def micro_f1(self) -> float:
        ...
    @property
    def micro_precision(self) -> float:
        ...
    @property
    def micro_recall(self) -> float:
        ...
    @property
    def precision(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        per class
        """
    @property
    def recall(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        per class
        """
    @property
    def support(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        per class (true count)
        """
    @property
    def total(self) -> int:
        ...
    @property
    def weighted_f1(self) -> float:
        ...
    @property
    def weighted_precision(self) -> float:
        ...
    @property
    def weighted_recall(self) -> float:
        ...
class TaxonomyColumns:
    """
    taxonomy_items' result: one entry per item.
    """
    @property
    def common(self) -> numpy.typing.NDArray[numpy.int32]:
        """
        matched levels from the top
        """
    @property
    def gold_depth(self) -> numpy.typing.NDArray[numpy.int32]:
        ...
    @property
    def pred_depth(self) -> numpy.typing.NDArray[numpy.int32]:
        ...
    @property
    def valid(self) -> numpy.typing.NDArray[numpy.uint8]:
        """
        1: the prediction is a valid path
        """
class JsonValidityColumns:
    """
    json_validity's result: one entry per text.
    """
    @property
    def bad_key(self) -> numpy.typing.NDArray[numpy.int32]:
        """
        first failing required key, -1 if none
        """
    @property
    def reason(self) -> numpy.typing.NDArray[numpy.int8]:
        """
        0 ok, 1 missing, 2 wrong type, 3 not an object, 4 invalid document
        """
    @property
    def status(self) -> numpy.typing.NDArray[numpy.int8]:
        """
        0 strict, 1 lenient, 2 invalid
        """
    @property
    def top_type(self) -> numpy.typing.NDArray[numpy.int8]:
        """
        JsonType of the document, None (0) when invalid
        """
def aggregate(stats: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], aggregate: str, options: dict[str, bool | int | float | str]) -> float:
    """
    The corpus score of all rows of the statistics (what the metric reports), no resampling.
    """
def approximate_randomization(a: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], b: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], aggregate: str, options: dict[str, bool | int | float | str], n_trials: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, swaps: typing.Any = None) -> numpy.typing.NDArray[numpy.float64]:
    ...
def bleu_score(sums: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], max_order: typing.SupportsInt | typing.SupportsIndex = 4, smooth: str = 'exp', smooth_value: typing.SupportsFloat | typing.SupportsIndex = -1.0, effective_order: bool = False) -> tuple[float, float, list[float]]:
    """
    BLEU (score, bp, precisions) from summed statistics.
    """
def bleu_sentence_scores(stats: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], max_order: typing.SupportsInt | typing.SupportsIndex = 4, smooth: str = 'exp', smooth_value: typing.SupportsFloat | typing.SupportsIndex = -1.0, effective_order: bool = True) -> numpy.typing.NDArray[numpy.float64]:
    ...
def bleu_statistics(hyps: collections.abc.Sequence, refs: collections.abc.Sequence, tokenize: str = '13a', max_order: typing.SupportsInt | typing.SupportsIndex = 4) -> numpy.typing.NDArray[numpy.int64]:
    """
    Per-item BLEU statistics [hyp_len, ref_len, correct_1..N, total_1..N] (n x (2 + 2N) int64).
    """
def bootstrap(stats: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], aggregate: str, options: dict[str, bool | int | float | str], n_samples: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, indices: typing.Any = None) -> numpy.typing.NDArray[numpy.float64]:
    ...
def chrf_scores(stats: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], char_order: typing.SupportsInt | typing.SupportsIndex = 6, word_order: typing.SupportsInt | typing.SupportsIndex = 0, beta: typing.SupportsFloat | typing.SupportsIndex = 2.0, eps_smoothing: bool = False) -> numpy.typing.NDArray[numpy.float64]:
    """
    chrF of each row of (summed) statistics.
    """
def chrf_statistics(hyps: collections.abc.Sequence, refs: collections.abc.Sequence, char_order: typing.SupportsInt | typing.SupportsIndex = 6, word_order: typing.SupportsInt | typing.SupportsIndex = 0, beta: typing.SupportsFloat | typing.SupportsIndex = 2.0, whitespace: bool = False, eps_smoothing: bool = False) -> numpy.typing.NDArray[numpy.int64]:
    ...
def classification_report(confusion: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], n_classes: typing.SupportsInt | typing.SupportsIndex) -> ClassReport:
    ...
def cohen_kappa(confusion: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], weights: str = 'none') -> float:
    ...
def confusion_matrix(y_true: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], y_pred: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], n_classes: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.int64]:
    """
    K x (K + 1) counts (rows true, columns predicted, last column invalid predictions).
    """
def exact_match(predictions: collections.abc.Sequence, refs: collections.abc.Sequence, ignore_punctuation: bool = False, ignore_numbers: bool = False, strip: bool = False) -> numpy.typing.NDArray[numpy.float64]:
    ...
def json_lenient_span(arg0: str) -> str:
    ...
def json_validity(texts: collections.abc.Sequence, keys: collections.abc.Sequence[tuple[str, str]] = []) -> JsonValidityColumns:
    ...
def length_stats(texts: collections.abc.Sequence) -> numpy.typing.NDArray[numpy.int64]:
    """
    Per item [bytes, code points, words] (n x 3 int64).
    """
def paired_bootstrap(a: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], b: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], aggregate: str, options: dict[str, bool | int | float | str], n_samples: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, indices: typing.Any = None) -> numpy.typing.NDArray[numpy.float64]:
    ...
def porter_stem(word: str) -> str:
    ...
def resample_indices(n: typing.SupportsInt | typing.SupportsIndex, first: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.int64]:
    """
    count x n item indices of resamples first..first+count-1: the draws of bootstrap(seed).
    """
def rouge_scores(predictions: collections.abc.Sequence, refs: collections.abc.Sequence, types: collections.abc.Sequence[str], use_stemmer: bool = False) -> numpy.typing.NDArray[numpy.float64]:
    """
    Per-item (P, R, F) for each rouge type, n x 3T.
    """
def rouge_tokenize(text: str, use_stemmer: bool = False) -> list[str]:
    ...
def squad_normalize(text: str) -> str:
    ...
def squad_scores(predictions: collections.abc.Sequence, refs: collections.abc.Sequence, v2: bool = False) -> numpy.typing.NDArray[numpy.float64]:
    """
    Per-item SQuAD (EM, F1), n x 2.
    """
def taxonomy_items(gold: collections.abc.Sequence, pred: collections.abc.Sequence, valid_paths: collections.abc.Sequence, sep: str = ' > ') -> TaxonomyColumns:
    ...
def tokenize_bleu(line: str, tokenize: str = '13a') -> str:
    """
    The line as sacreBLEU's tokenizer returns it.
    """
