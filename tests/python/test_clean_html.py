"""airtune.clean.html_to_text: layout, removal rules, options, robustness, inputs, determinism."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import airtune
import numpy as np
import pytest
from airtune import clean

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import clean_scorer  # noqa: E402


def full(html: str | bytes, **kw) -> str:
    return clean.html_to_text([html], mode="full", **kw)[0]


def test_blocks_paragraphs_lists_tables() -> None:
    html = (
        "<html><head><title>T</title></head><body><h1>Head</h1><p>One <b>bold</b> word.</p>"
        "<div>Two</div><ul><li>a</li><li>b</ul><ol><li>x<li>y</ol>"
        "<table><tr><td>1</td><td>2</td></tr><tr><td>3<td>4</table>line<br>break</body></html>"
    )
    assert full(html) == (
        "Head\n\nOne bold word.\n\nTwo\n\n• a\n• b\n\n1. x\n2. y\n\n1\t2\n3\t4\n\nline\nbreak"
    )
    assert full(html, list_bullets=False).count("•") == 0
    assert full(html, headings="markdown").startswith("# Head\n\n")


def test_always_removed() -> None:
    html = (
        "<p>keep</p><script>var x = 1;</script><style>p{color:red}</style><noscript>ns</noscript>"
        "<template><p>tpl</p></template><svg><text>svgtext</text></svg><iframe>frame</iframe>"
        '<script type="application/ld+json">{"@type":"NewsArticle"}</script>'
        '<a href="javascript:alert(1)" onclick="evil()">link</a><!-- comment --><![CDATA[cdata]]>'
        "<select><option>opt</option></select>"
    )
    assert full(html) == "keep\n\nlink"
    assert full(html, links=True) == "keep\n\nlink"  # a javascript: URL is never written


def test_links_alt_and_entities() -> None:
    html = '<p>See <a href="https://x.org/a">the docs</a> &amp; <img alt="a cat"> &eacute;&#233;&#x2014;&nbsp;&copy</p>'
    assert full(html) == "See the docs & é\u00e9\u2014 \u00a9".replace("\u2014 ", "\u2014 ")
    assert full(html, links=True).startswith("See [the docs](https://x.org/a) &")
    assert "a cat" in full(html, alt_texts=True)
    assert "a cat" not in full(html)


def test_whitespace_and_pre() -> None:
    assert full("<p>  a \n\t b  </p>") == "a b"
    out = full("<p>t</p><pre>  x = 1\n    y = 2</pre>")
    assert out == "t\n\n  x = 1\n    y = 2"


def test_hidden_elements() -> None:
    html = '<p>shown</p><div hidden>h1</div><div style="display: none">h2</div><span aria-hidden="true">h3</span>'
    assert full(html) == "shown"
    assert full(html, keep_hidden=True).split() == ["shown", "h1", "h2", "h3"]


def test_main_content_drops_boilerplate() -> None:
    para = "This is a sentence of the article, with commas, and enough words to count as prose. "
    html = (
        "<html><body><nav><ul><li><a href='/'>Home</a></li><li><a href='/n'>News</a></li></ul></nav>"
        "<header class='site-header'>Site name</header>"
        "<div class='cookie-banner'>We use cookies to improve your experience.</div>"
        "<div id='main'><article><h1>Title</h1>"
        + "".join(f"<p>{para * 3}</p>" for _ in range(5))
        + "<div class='share-buttons'><a href='#'>Share on X</a></div></article>"
        "<aside class='sidebar'><h3>Related</h3><ul><li><a href='/r1'>Other story one</a></li></ul></aside>"
        "<div id='comments'><p>First comment, great post, thanks, really.</p></div></div>"
        "<footer>Copyright 2024 Example Corp. All rights reserved.</footer></body></html>"
    )
    main = clean.html_to_text([html])[0]
    assert main.count("This is a sentence") == 15
    for junk in ("Home", "Site name", "cookies", "Share on", "Other story", "First comment", "Copyright"):
        assert junk not in main, junk
    everything = full(html)
    for junk in ("Home", "Site name", "Share on", "Other story", "Copyright"):
        assert junk in everything


def test_tolerates_broken_markup() -> None:
    # A stray </p> is a line break (browsers make it an empty paragraph).
    assert full("<p>a<p>b<div>c</span></div></p></p>d") == "a\n\nb\n\nc\nd"
    assert full("<b><i>x</b>y</i>z") == "xyz"
    assert full("a < b and c > d") == "a < b and c > d"
    assert full("<p>unterminated <a href='x") == "unterminated"
    assert full("<p>x<!-- never closed") == "x"
    assert full("<p>x<script>never closed") == "x"
    assert full("</p></div></body>text</html>") == "text"
    assert full("") == ""


def test_deep_nesting_and_unclosed_tags() -> None:
    depth = 100_000
    for mode in ("full", "main_content"):
        html = "<div>" * depth + "deep text" + "</div>" * depth
        assert clean.html_to_text([html], mode=mode)[0] == "deep text"
        # Nothing closed at all, with mixed inline/block nesting.
        html = "<div><span><b><a href=x>" * (depth // 4) + "leaf"
        assert clean.html_to_text([html], mode=mode)[0] == "leaf"


def test_any_bytes_give_valid_text() -> None:
    rng = np.random.default_rng(7)
    blobs = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in (0, 1, 17, 4096, 65536)]
    blobs.append(b"<p>\xff\xfe caf\xe9 \xc3(</p>")
    for mode in ("full", "main_content"):
        outs = clean.html_to_text(blobs, mode=mode)
        assert len(outs) == len(blobs)
        for o in outs:
            o.encode("utf-8")  # valid: no surrogates


def test_charset_handling() -> None:
    # Declared windows-1252.
    page = '<meta charset="windows-1252"><p>caf\xe9 \x93quoted\x94</p>'.encode("latin-1")
    assert full(page) == "café \u201cquoted\u201d"
    # Undeclared, invalid as UTF-8: windows-1252 fallback.
    assert full(b"<p>na\xefve</p>") == "naïve"
    # UTF-8 with and without a BOM; UTF-16 with a BOM.
    assert full("<p>żółw</p>".encode()) == "żółw"
    assert full(b"\xef\xbb\xbf" + "<p>żółw</p>".encode()) == "żółw"
    assert (
        full("\ufeff<p>żółw</p>".encode("utf-16-le")[0:0] + b"\xff\xfe" + "<p>żółw</p>".encode("utf-16-le"))
        == "żółw"
    )
    # A str is already decoded: its meta charset is ignored.
    assert full('<meta charset="iso-8859-1"><p>żółw</p>') == "żółw"
    # Lone surrogates in a str do not crash.
    assert full("<p>a\ud800b</p>") == "a?b"


def test_large_page_linear() -> None:
    para = "<p>" + "word " * 200 + "</p>\n"
    html = "<html><body>" + para * 5000 + "</body></html>"  # about 5 MB
    out = clean.html_to_text([html], mode="full")[0]
    assert out.count("word") == 200 * 5000


@pytest.mark.slow
def test_fifty_megabytes() -> None:
    html = ("<div><p>" + "x" * 100 + "</p><span>" * 3) * 120_000
    assert len(html) > 50_000_000 // 4
    html = html * 4
    out = clean.html_to_text([html], mode="main_content")[0]
    assert len(out) > 0


def test_inputs_and_errors() -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    docs = ["<p>a</p>", "<p>b</p>", None]
    expect = ["a", "b", ""]
    assert clean.html_to_text(docs, mode="full") == expect
    assert clean.html_to_text(pd.Series(docs), mode="full") == expect
    assert clean.html_to_text(pa.array(docs), mode="full") == expect
    assert clean.html_to_text(np.array(docs, dtype=object), mode="full") == expect
    assert clean.html_to_text(pd.DataFrame({"html": docs}), mode="full", column="html") == expect
    with pytest.raises(ValueError, match="mode"):
        clean.html_to_text(docs, mode="fast")
    with pytest.raises(TypeError, match="row 1"):
        clean.html_to_text(["<p>a</p>", 3])
    with pytest.raises(TypeError):
        clean.html_to_text("<p>a single string</p>")
    with pytest.raises(ValueError, match="headings"):
        clean.html_to_text(docs, headings="fancy")


def test_deterministic_across_thread_counts() -> None:
    data = clean_scorer.data_dir()
    if data is None:
        pytest.skip("benchmark pages not available")
    pages, _ = clean_scorer.load_pages(data)
    raw = list(pages.values())[:60]
    before = airtune.get_num_threads()
    try:
        airtune.set_num_threads(1)
        one = [clean.html_to_text(raw, mode=m) for m in ("full", "main_content")]
        airtune.set_num_threads(2)
        two = [clean.html_to_text(raw, mode=m) for m in ("full", "main_content")]
    finally:
        airtune.set_num_threads(before)
    assert one == two


def test_full_mode_agrees_with_resiliparse() -> None:
    # Parity: on real pages our full text and resiliparse's (main_content=False) hold the same words.
    html2text = pytest.importorskip("resiliparse.extract.html2text")
    data = clean_scorer.data_dir()
    if data is None:
        pytest.skip("benchmark pages not available")
    pages, _ = clean_scorer.load_pages(data)
    raw = list(pages.values())[:40]
    ours = clean.html_to_text(raw, mode="full")
    overlaps = []
    for page, text in zip(raw, ours):
        theirs = html2text.extract_plain_text(clean_scorer.decode_page(page), main_content=False)
        a = set(re.findall(r"\w+", text.lower()))
        b = set(re.findall(r"\w+", theirs.lower()))
        overlaps.append(len(a & b) / max(1, len(a | b)))
    assert np.median(overlaps) >= 0.85, sorted(overlaps)[:5]


def test_inside_datasets_map_batched() -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"html": ["<p>one</p>", "<p>two &amp; three</p>"]})
    out = ds.map(lambda b: {"text": clean.html_to_text(b["html"], mode="full")}, batched=True)
    assert out["text"] == ["one", "two & three"]
    assert clean.html_to_text(ds, mode="full", column="html") == ["one", "two & three"]


@pytest.mark.parametrize(
    ("label", "codec", "sample"),
    [
        ("windows-1251", "cp1251", "Москва — столица России, «кавычки»"),
        ("koi8-r", "koi8_r", "Съешь же ещё этих мягких французских булок"),
        ("iso-8859-2", "iso8859_2", "Zażółć gęślą jaźń"),
        ("windows-1250", "cp1250", "Příliš žluťoučký kůň úpěl ďábelské ódy"),
        ("iso-8859-7", "iso8859_7", "Ελληνικά γράμματα"),
        ("windows-1256", "cp1256", "مرحبا بالعالم"),
        ("iso-8859-15", "iso8859_15", "Prix: 5 € œuvre"),
        ("windows-1252", "cp1252", "“Smart” quotes – café"),
    ],
)
def test_single_byte_charsets_match_python_codecs(label: str, codec: str, sample: str) -> None:
    page = f'<html><head><meta charset="{label}"></head><body><p>{sample}</p></body></html>'
    assert full(page.encode(codec)) == sample
