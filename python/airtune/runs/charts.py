"""Inline SVG charts of the run report (no script, no external file): lines over x, and scores with
their intervals. Bars come from the curation report (:func:`airtune.pipeline.report._bars`)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

_COLORS = ("#3e63dd", "#e5484d", "#30a46c", "#f76b15", "#8e4ec6", "#12a594", "#ab4aba", "#978365")


def _e(x: object) -> str:
    return html.escape(str(x))


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out, t = [], first
    while t <= hi + 1e-9 * step:
        out.append(round(t, 10))
        t += step
    return out


def _fmt(v: float) -> str:
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:,.4g}"


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str = "",
    ylabel: str = "",
    width: int = 640,
    height: int = 260,
    markers: bool = False,
    vlines: Sequence[tuple[float, str]] = (),
    hlines: Sequence[tuple[float, str]] = (),
) -> str:
    """Lines (label, xs, ys) on shared axes, with a legend; non-finite points are skipped."""
    pts = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    if not pts:
        return f'<p class="muted">{_e(title)}: nothing to plot</p>'
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    for v, _ in hlines:
        if math.isfinite(v):
            y0, y1 = min(y0, v), max(y1, v)
    y0 = min(y0, 0.0) if y0 >= 0 and y0 < 0.25 * y1 else y0
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    left, right, top, bottom = 64, 16, 28, 40
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + pw * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        return top + ph * (1 - (y - y0) / (y1 - y0))

    out = [
        f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<text x="{left}" y="16" font-weight="600">{_e(title)}</text>',
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#98a2b3"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#98a2b3"/>',
    ]
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{left}" y1="{sy(t):.1f}" x2="{left + pw}" y2="{sy(t):.1f}" stroke="#eef0f3"/>')
        out.append(f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_e(_fmt(t))}</text>')
    for t in _ticks(x0, x1):
        out.append(f'<text x="{sx(t):.1f}" y="{top + ph + 16}" text-anchor="middle">{_e(_fmt(t))}</text>')
    if xlabel:
        out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" text-anchor="middle">{_e(xlabel)}</text>')
    if ylabel:
        out.append(
            f'<text x="12" y="{top + ph / 2:.1f}" text-anchor="middle" transform="rotate(-90 12 {top + ph / 2:.1f})">{_e(ylabel)}</text>'
        )
    for v, label in hlines:
        if math.isfinite(v):
            out.append(
                f'<line x1="{left}" y1="{sy(v):.1f}" x2="{left + pw}" y2="{sy(v):.1f}" stroke="#667085" stroke-dasharray="4 3"/>'
                f'<text x="{left + pw - 4}" y="{sy(v) - 4:.1f}" text-anchor="end" fill="#667085">{_e(label)}</text>'
            )
    for v, label in vlines:
        if math.isfinite(v) and x0 <= v <= x1:
            out.append(
                f'<line x1="{sx(v):.1f}" y1="{top}" x2="{sx(v):.1f}" y2="{top + ph}" stroke="#667085" stroke-dasharray="4 3"/>'
                f'<text x="{sx(v) + 4:.1f}" y="{top + ph - 6}" fill="#667085">{_e(label)}</text>'
            )
    lx = left + 8
    for k, (label, xs, ys) in enumerate(series):
        color = _COLORS[k % len(_COLORS)]
        good = [(sx(x), sy(y)) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
        if len(good) > 1:
            d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(good))
            out.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.8"/>')
        if markers or len(good) == 1:
            out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in good]
        out.append(
            f'<rect x="{lx}" y="{top + 4}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{top + 13}">{_e(label)}</text>'
        )
        lx += 24 + 7 * len(str(label))
    out.append("</svg>")
    return "".join(out)


def interval_chart(
    rows: Sequence[tuple[str, float, float, float]],
    *,
    title: str,
    width: int = 640,
    highlight: str | None = None,
) -> str:
    """One horizontal bar per (label, score, ci_low, ci_high) with its interval as a whisker."""
    good = [r for r in rows if all(isinstance(v, (int, float)) and math.isfinite(v) for v in r[1:])]
    if not good:
        return f'<p class="muted">{_e(title)}: nothing to plot</p>'
    hi = max(max(r[1], r[3]) for r in good)
    lo = min(0.0, min(r[2] for r in good))
    top_v = hi if hi > 0 else 1.0
    row, label_w, top = 26, 170, 24
    pw = width - label_w - 160  # room for "0.000 [0.000, 0.000]" right of the whisker
    h = top + row * len(good) + 22

    def sx(v: float) -> float:
        return label_w + pw * (v - lo) / (top_v - lo)

    out = [
        f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{h}" viewBox="0 0 {width} {h}">',
        f'<text x="0" y="16" font-weight="600">{_e(title)}</text>',
    ]
    for i, (label, score, a, b) in enumerate(good):
        y = top + i * row
        color = "#30a46c" if label == highlight else "#3e63dd"
        out.append(f'<text x="0" y="{y + 15}">{_e(str(label)[:24])}</text>')
        out.append(
            f'<rect x="{sx(lo):.1f}" y="{y + 3}" width="{max(0.0, sx(score) - sx(lo)):.1f}" height="{row - 10}" fill="{color}" opacity="0.75" rx="2"/>'
        )
        out.append(
            f'<line x1="{sx(a):.1f}" y1="{y + row / 2 - 1:.1f}" x2="{sx(b):.1f}" y2="{y + row / 2 - 1:.1f}" stroke="#1d2330" stroke-width="1.5"/>'
            f'<line x1="{sx(a):.1f}" y1="{y + 6}" x2="{sx(a):.1f}" y2="{y + row - 8}" stroke="#1d2330"/>'
            f'<line x1="{sx(b):.1f}" y1="{y + 6}" x2="{sx(b):.1f}" y2="{y + row - 8}" stroke="#1d2330"/>'
        )
        out.append(
            f'<text x="{max(sx(b), sx(score)) + 6:.1f}" y="{y + 15}">{score:.3f} [{a:.3f}, {b:.3f}]</text>'
        )
    for t in _ticks(lo, top_v, 4):
        out.append(
            f'<text x="{sx(t):.1f}" y="{h - 4}" text-anchor="middle" fill="#667085">{_e(_fmt(t))}</text>'
        )
    out.append("</svg>")
    return "".join(out)
