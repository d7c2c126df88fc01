"""airtune.clean.strip_garbage: each kind of garbage, what must stay, the per-row report."""

from __future__ import annotations

import base64

import numpy as np
from airtune import clean


def one(text: str, **kw) -> tuple[str, dict[str, int]]:
    r = clean.strip_garbage([text], **kw)
    return r.texts[0], {k: int(v[0]) for k, v in r.counts.items()}


def test_leaked_tags_and_entities() -> None:
    text, c = one('<div class="msg"><p>Hello&nbsp;<b>world</b> &amp; friends&#33;</p></div>')
    assert text == "Hello world & friends!"
    assert c["tags"] == 6 and c["entities"] == 3


def test_script_style_comment_blocks() -> None:
    text, c = one(
        "Before<script>var a = 1;\nfunction x(){}</script> after <style>.a{color:red}</style><!-- x -->end"
    )
    assert text == "Before\nafter\nend"
    assert c["script_blocks"] == 3


def test_js_lines_and_javascript_urls() -> None:
    src = (
        "Thanks for your order.\n"
        "window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}\n"
        "var x = document.getElementById('cart'); x.addEventListener('click', f);\n"
        "Click javascript:void(0) to continue."
    )
    text, c = one(src)
    assert text == "Thanks for your order.\nClick to continue."
    assert c["js_lines"] == 3
    # vbscript: too, and entity-disguised schemes (references are decoded before the URL check).
    text, c = one("Open VBScript:msgbox(1) or JavaScript&colon;alert(1) or &#x6A;avascript:x now.")
    assert text == "Open or or now."
    assert c["js_lines"] == 3


def test_base64_and_data_uris() -> None:
    blob = base64.b64encode(bytes(range(256)) * 2).decode()
    text, c = one(f"See image data:image/png;base64,{blob} and raw {blob} done.")
    assert text == "See image and raw done."
    assert c["base64"] == 2


def test_tracking_parameters() -> None:
    text, c = one(
        "Read https://ex.com/a?utm_source=nl&utm_medium=email&id=7#top and https://ex.com/b?fbclid=XYZ."
    )
    assert text == "Read https://ex.com/a?id=7#top and https://ex.com/b."
    assert c["tracking_params"] == 3


def test_things_that_must_stay() -> None:
    keep = [
        "if a < b and b > c then",
        "List<T> and Map<K, V> are generic types.",
        "AT&T and R&D & more",
        "The function f(x) = x + 1 is linear.",
        "Visit https://example.com/page?id=3&lang=en today.",
        "SGVsbG8gd29ybGQ=",
        "Email me at a@b.com; thanks!",
        "Use the <kbd-like> notation.",
    ]
    r = clean.strip_garbage(keep)
    assert r.texts == keep
    assert not r.changed.any()


def test_report_object() -> None:
    r = clean.strip_garbage(["<b>x</b>", "clean", "", None, "a &amp; b"])
    assert len(r) == 5
    assert r.changed.tolist() == [True, False, False, False, True]
    assert r.totals()["tags"] == 2 and r.totals()["entities"] == 1
    assert r.to_pandas().shape == (5, 8)
    assert "2 of 5 rows changed" in r.summary_line()
    assert isinstance(r.counts["tags"], np.ndarray)


def test_options_turn_steps_off() -> None:
    text, c = one("<b>a</b> &amp;", tags=False, entities=False)
    assert text == "<b>a</b> &amp;"
    assert c["tags"] == 0


def test_any_bytes() -> None:
    rng = np.random.default_rng(5)
    blobs = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in (1, 100, 10_000)]
    blobs.append(b"<" * 50_000 + b"div" + b"'" * 10_000)
    r = clean.strip_garbage(blobs)
    for t in r.texts:
        t.encode("utf-8")


def test_progress_chunking_gives_the_same_results(monkeypatch) -> None:
    import airtune.clean as mod

    texts = [f"<b>row {i}</b> &amp; https://x.y/?utm_source=a&k={i}" for i in range(50)] + [
        "The cat sat. " * 40
    ] * 10
    pages = [f"<p>page {i}</p>" for i in range(60)]
    expect = (
        mod.strip_garbage(texts, show_progress=False),
        mod.fix_text(texts, show_progress=False),
        mod.quality_filter(texts, "c4", show_progress=False),
        mod.html_to_text(pages, show_progress=False),
    )
    monkeypatch.setattr(mod, "_PROGRESS_MIN_ROWS", 10)
    monkeypatch.setattr(mod, "_CHUNK", 7)
    got = (
        mod.strip_garbage(texts),
        mod.fix_text(texts),
        mod.quality_filter(texts, "c4"),
        mod.html_to_text(pages),
    )
    assert got[0].texts == expect[0].texts
    assert all((got[0].counts[k] == expect[0].counts[k]).all() for k in expect[0].counts)
    assert got[1] == expect[1]
    assert got[2].keep.tolist() == expect[2].keep.tolist() and got[2].reasons == expect[2].reasons
    assert got[3] == expect[3]
