"""
HTML to text, garbage stripping, unicode repair, quality filters
"""
from __future__ import annotations
import airtune._core.io
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['ChatQualityParams', 'GarbageCounts', 'QualityParams', 'chat_quality', 'chat_quality_rules', 'fix_text', 'html_to_text', 'quality_filter', 'strip_garbage']
class GarbageCounts:
    """
    strip_garbage's counts: one entry per text.
    """
    @property
    def base64(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def bytes_removed(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        UTF-8 bytes removed
        """
    @property
    def entities(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def js_lines(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def script_blocks(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def tags(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def tracking_params(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
class QualityParams:
    """
    Switches and thresholds of the quality filters.
    """
    c4: bool
    c4_filter_curly_bracket: bool
    c4_filter_javascript: bool
    c4_filter_lorem_ipsum: bool
    c4_filter_no_terminal_punct: bool
    c4_filter_policy: bool
    c4_remove_citations: bool
    fineweb: bool
    gopher_quality: bool
    gopher_repetition: bool
    line_punct_exclude_zero: bool
    def __init__(self) -> None:
        ...
    @property
    def c4_max_word_length(self) -> int:
        ...
    @c4_max_word_length.setter
    def c4_max_word_length(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def c4_min_sentences(self) -> int:
        ...
    @c4_min_sentences.setter
    def c4_min_sentences(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def c4_min_words_per_line(self) -> int:
        ...
    @c4_min_words_per_line.setter
    def c4_min_words_per_line(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def char_duplicates_ratio(self) -> float:
        ...
    @char_duplicates_ratio.setter
    def char_duplicates_ratio(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def dup_10_gram_frac(self) -> float:
        ...
    @dup_10_gram_frac.setter
    def dup_10_gram_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def dup_5_gram_frac(self) -> float:
        ...
    @dup_5_gram_frac.setter
    def dup_5_gram_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def dup_6_gram_frac(self) -> float:
        ...
    @dup_6_gram_frac.setter
    def dup_6_gram_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def dup_7_gram_frac(self) -> float:
        ...
    @dup_7_gram_frac.setter
    def dup_7_gram_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def dup_8_gram_frac(self) -> float:
        ...
    @dup_8_gram_frac.setter
    def dup_8_gram_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def dup_9_gram_frac(self) -> float:
        ...
    @dup_9_gram_frac.setter
    def dup_9_gram_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def dup_line_char_frac(self) -> float:
        ...
    @dup_line_char_frac.setter
    def dup_line_char_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def dup_line_frac(self) -> float:
        ...
    @dup_line_frac.setter
    def dup_line_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def dup_para_char_frac(self) -> float:
        ...
    @dup_para_char_frac.setter
    def dup_para_char_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def dup_para_frac(self) -> float:
        ...
    @dup_para_frac.setter
    def dup_para_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def line_punct_thr(self) -> float:
        ...
    @line_punct_thr.setter
    def line_punct_thr(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_avg_word_length(self) -> float:
        ...
    @max_avg_word_length.setter
    def max_avg_word_length(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_bullet_lines_ratio(self) -> float:
        ...
    @max_bullet_lines_ratio.setter
    def max_bullet_lines_ratio(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_doc_words(self) -> int:
        ...
    @max_doc_words.setter
    def max_doc_words(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def max_ellipsis_lines_ratio(self) -> float:
        ...
    @max_ellipsis_lines_ratio.setter
    def max_ellipsis_lines_ratio(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_non_alpha_words_ratio(self) -> float:
        ...
    @max_non_alpha_words_ratio.setter
    def max_non_alpha_words_ratio(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_symbol_word_ratio(self) -> float:
        ...
    @max_symbol_word_ratio.setter
    def max_symbol_word_ratio(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def min_avg_word_length(self) -> float:
        ...
    @min_avg_word_length.setter
    def min_avg_word_length(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def min_doc_words(self) -> int:
        ...
    @min_doc_words.setter
    def min_doc_words(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def min_stop_words(self) -> int:
        ...
    @min_stop_words.setter
    def min_stop_words(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def new_line_ratio(self) -> float:
        ...
    @new_line_ratio.setter
    def new_line_ratio(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def short_line_length(self) -> int:
        ...
    @short_line_length.setter
    def short_line_length(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def short_line_thr(self) -> float:
        ...
    @short_line_thr.setter
    def short_line_thr(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def top_2_gram_frac(self) -> float:
        ...
    @top_2_gram_frac.setter
    def top_2_gram_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def top_3_gram_frac(self) -> float:
        ...
    @top_3_gram_frac.setter
    def top_3_gram_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def top_4_gram_frac(self) -> float:
        ...
    @top_4_gram_frac.setter
    def top_4_gram_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class ChatQualityParams:
    """
    Switches and thresholds of the chat quality checks.
    """
    empty_turn: bool
    language_mismatch: bool
    length_ratio: bool
    markup: bool
    no_assistant: bool
    refusal: bool
    repetition: bool
    truncated: bool
    turn_too_long: bool
    def __init__(self) -> None:
        ...
    @property
    def language_min_letters(self) -> int:
        ...
    @language_min_letters.setter
    def language_min_letters(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def max_dup_line_frac(self) -> float:
        ...
    @max_dup_line_frac.setter
    def max_dup_line_frac(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_length_ratio(self) -> float:
        ...
    @max_length_ratio.setter
    def max_length_ratio(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_turn_chars(self) -> int:
        ...
    @max_turn_chars.setter
    def max_turn_chars(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def min_length_ratio(self) -> float:
        ...
    @min_length_ratio.setter
    def min_length_ratio(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def truncated_min_words(self) -> int:
        ...
    @truncated_min_words.setter
    def truncated_min_words(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
def chat_quality(batch: airtune._core.io.RecordBatch, params: ChatQualityParams) -> tuple[numpy.typing.NDArray[numpy.uint8], list]:
    """
    Chat quality checks of every record: (keep uint8 array, reasons with None for kept rows).
    """
def chat_quality_rules() -> list[str]:
    ...
def fix_text(texts: collections.abc.Sequence, unescape_html: str = 'auto', fix_encoding: bool = True, fix_c1_controls: bool = True, remove_control_chars: bool = True, remove_zero_width: bool = True, fix_line_breaks: bool = True, fix_latin_ligatures: bool = True, uncurl_quotes: bool = False, normalize_whitespace: bool = True, normalization: str = 'NFC', as_column: bool = False) -> typing.Any:
    """
    Unicode repair of each text, then Unicode normalisation (utf8proc).
    """
def html_to_text(docs: collections.abc.Sequence, mode: str = 'main_content', links: bool = False, alt_texts: bool = False, headings: str = 'plain', list_bullets: bool = True, keep_hidden: bool = False, max_tree_items: typing.SupportsInt | typing.SupportsIndex = 4194304, as_column: bool = False) -> typing.Any:
    """
    Text of each HTML page (str or bytes); runs in parallel with the GIL released.
    """
def quality_filter(texts: collections.abc.Sequence, params: QualityParams) -> tuple[numpy.typing.NDArray[numpy.uint8], list[str | None], list]:
    """
    Run the enabled quality filters: (keep uint8 array, reasons, texts after line rules).
    """
def strip_garbage(texts: collections.abc.Sequence, script_blocks: bool = True, tags: bool = True, entities: bool = True, js_lines: bool = True, base64: bool = True, tracking_params: bool = True, as_column: bool = False) -> tuple[typing.Any, GarbageCounts]:
    """
    Remove leaked markup, JS, base64 and tracking parameters.
    """
