"""airtune.clean.fix_text against ftfy on a case set, plus hand-computed cases of our own steps."""

from __future__ import annotations

import pytest
from airtune import clean

ftfy = pytest.importorskip("ftfy")

# Real-world mojibake and damage (several from ftfy's own documentation and test cases).
ORIGINALS = [
    "café",
    "naïve résumé",
    "“Smart quotes” and ‘single’ ones",
    "It’s a dash — and an ellipsis…",
    "Zürich, Köln, São Paulo, Ålesund",
    "El Niño – über façade",
    "Ceci est une phrase en français, évidemment.",
    "Москва — столица России",
    "Ελληνικά γράμματα",
    "שלום עולם",
    "price: 5 €, £3, ¥100",
    "emoji 😀 and ✓ check",
    "日本語のテキスト",
    "Straße und Maß",
    "bullet • point ™ ©",
    "mixed ascii only text stays the same",
    "ñandú, pingüino, acción",
    "Ærøskøbing — ØRESUND",
]


def mojibake(s: str, enc: str = "cp1252") -> str:
    """UTF-8 bytes decoded as cp1252 the way browsers do (its 5 unassigned bytes become C1 controls)."""
    if enc == "latin-1":
        return s.encode("utf-8").decode("latin-1")
    return "".join(
        chr(b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252")
        for b in s.encode("utf-8")
    )


def ftfy_same_config(text: str) -> str:
    cfg = ftfy.TextFixerConfig(uncurl_quotes=False, fix_character_width=False, unescape_html="auto")
    return ftfy.fix_text(text, config=cfg)


def ours(texts: list[str]) -> list[str]:
    # ftfy does not normalise whitespace; compare the steps it has.
    return clean.fix_text(texts, normalize_whitespace=False, remove_zero_width=False)


@pytest.mark.parametrize("enc", ["cp1252", "latin-1"])
def test_mojibake_repair_matches_ftfy(enc: str) -> None:
    broken = []
    for s in ORIGINALS:
        try:
            broken.append(mojibake(s, enc))
        except UnicodeDecodeError:
            continue
    expected = [ftfy_same_config(b) for b in broken]
    got = ours(broken)
    agree = sum(g == e for g, e in zip(got, expected))
    # Every case ftfy repairs to the original, we repair to the original too.
    for b, g, e, orig in zip(broken, got, expected, ORIGINALS):
        if e == orig:
            assert g == orig, (b, g, e)
    assert agree >= len(broken) - 1, list(zip(broken, got, expected))


def test_double_mojibake() -> None:
    s = "It’s “quoted” café"
    twice = mojibake(mojibake(s))
    assert ours([twice]) == [s]
    assert ftfy_same_config(twice) == s


def test_clean_text_is_unchanged_like_ftfy() -> None:
    texts = ORIGINALS + [
        "CAFÉ…",
        "ÉTÉ—HIVER",
        "Ça va? Très bien!",
        "a × b ÷ c ± d",
        "¿Qué? ¡Sí!",
        "Ångström ∞",
    ]
    assert ours(texts) == [ftfy_same_config(t) for t in texts] == texts


def test_other_fixes_match_ftfy() -> None:
    cases = [
        "line one\r\nline two\rline three\u2028four",  # line breaks
        "control\x00chars\x07here\x1b",  # C0 controls (not tab/newline)
        "ﬁnancial ﬂow ﬀ",  # Latin ligatures
        "caf&eacute; &amp; bar &#8217;",  # entities when there is no '<'
        "<b>caf&eacute;</b>",  # ... but not when the text has '<'
        "C1 \x93quoted\x94 text",  # C1 controls read as cp1252
    ]
    assert ours(cases) == [ftfy_same_config(c) for c in cases]


def test_uncurl_quotes_like_ftfy_default() -> None:
    s = "“Hi,” she said, ‘it’s fine’."
    assert clean.fix_text([s], uncurl_quotes=True) == [ftfy.fix_text(s)]


def test_our_whitespace_and_zero_width_steps() -> None:
    s = "  a\u00a0b\u2003c  \n\n\n\nd\u200b e\ufeff  \t\n"
    assert clean.fix_text([s]) == ["a b c\n\nd e"]
    assert clean.fix_text([s], normalize_whitespace=False, remove_zero_width=False)[0].count("\u200b") == 1


def test_nfc_and_bytes_and_errors() -> None:
    decomposed = "e\u0301"
    assert clean.fix_text([decomposed]) == ["é"]
    assert clean.fix_text([decomposed], normalization=None) == [decomposed]
    assert clean.fix_text([b"caf\xc3\xa9 \xff"]) == ["café \ufffd"]
    assert clean.fix_text([None]) == [""]
    with pytest.raises(ValueError):
        clean.fix_text(["x"], normalization="NFX")
    with pytest.raises(ValueError):
        clean.fix_text(["x"], unescape_html="maybe")
