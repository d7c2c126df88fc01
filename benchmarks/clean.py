"""Benchmark airtune.clean against the peers on the 181 ScrapingHub pages, decompressed in memory.

One process, same pages for every tool:
  - HTML to text: airtune (main_content / full), resiliparse extract_plain_text (main_content on / off),
    trafilatura extract, selectolax (lexbor) body text, BeautifulSoup get_text, html2text.
    Pages per second single-threaded (median of repeats), airtune's batch throughput with all
    threads, and each tool's precision / recall / F1 by benchmarks/clean_scorer.py.
  - fix_text vs ftfy on mojibaked article bodies (texts per second).
  - Peak memory of html_to_text on one synthetic page of --memory-mb MB (``<p>a`` repeated, the
    worst case: one element and one text run per 4 bytes), both modes, each in a fresh process:
    VmHWM minus VmRSS once the page is built, as a multiple of the page size.

Writes benchmarks/results/clean.json and benchmarks/results/clean.md. Default run: under 3 minutes on
2 cores. Usage: PYTHONPATH=python python benchmarks/clean.py [--repeats N] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import airtune  # noqa: E402
import clean_scorer  # noqa: E402
from airtune import clean  # noqa: E402


def version(pkg: str) -> str | None:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def timed(fn: Callable[[], list[str]], repeats: int) -> tuple[float, list[str]]:
    times, out = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def extractors(raw: list[bytes], decoded: list[str]) -> dict[str, tuple[Callable[[], list[str]], str]]:
    """name -> (function over all pages, single-threaded; what it is)."""
    tools: dict[str, tuple[Callable[[], list[str]], str]] = {
        "airtune main_content": (lambda: clean.html_to_text(raw, mode="main_content"), "airtune"),
        "airtune full": (lambda: clean.html_to_text(raw, mode="full"), "airtune"),
    }
    try:
        from resiliparse.extract.html2text import extract_plain_text

        tools["resiliparse main_content"] = (
            lambda: [extract_plain_text(d, main_content=True) for d in decoded],
            "resiliparse",
        )
        tools["resiliparse full"] = (
            lambda: [extract_plain_text(d, main_content=False) for d in decoded],
            "resiliparse",
        )
    except ImportError:
        pass
    try:
        import trafilatura

        tools["trafilatura"] = (lambda: [trafilatura.extract(d) or "" for d in decoded], "trafilatura")
    except ImportError:
        pass
    try:
        from selectolax.lexbor import LexborHTMLParser

        def selectolax_text() -> list[str]:
            out = []
            for d in decoded:
                tree = LexborHTMLParser(d)
                for node in tree.css("script, style, noscript"):
                    node.decompose()
                body = tree.body
                out.append(body.text(separator="\n", strip=True) if body is not None else "")
            return out

        tools["selectolax (lexbor)"] = (selectolax_text, "selectolax")
    except ImportError:
        pass
    try:
        from bs4 import BeautifulSoup

        def bs4_text() -> list[str]:
            out = []
            for d in decoded:
                soup = BeautifulSoup(d, "lxml")
                for tag in soup(["script", "style", "noscript"]):
                    tag.decompose()
                out.append(soup.get_text(" ", strip=True))
            return out

        tools["beautifulsoup get_text"] = (bs4_text, "beautifulsoup4")
    except ImportError:
        pass
    try:
        import html2text

        def h2t() -> list[str]:
            conv = html2text.HTML2Text()
            conv.ignore_links = True
            conv.ignore_images = True
            return [conv.handle(d) for d in decoded]

        tools["html2text"] = (h2t, "html2text")
    except ImportError:
        pass
    return tools


def mojibake(s: str) -> str:
    return "".join(
        chr(b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252")
        for b in s.encode("utf-8")
    )


_MEMORY_CODE = """
import sys
from airtune import clean
def rss(key):
    return int([l for l in open('/proc/self/status') if l.startswith(key)][0].split()[1]) * 1024
page = '<p>a' * ({mb} * 250_000)
page.encode()  # the UTF-8 view the binding reads (an ASCII str has it for free)
base = rss('VmRSS')
out = clean.html_to_text([page], mode={mode!r}, show_progress=False)[0]
# VmHWM is this process's own peak; ru_maxrss would include the parent's (fork).
print(rss('VmHWM') - base, len(page), len(out))
"""


def memory_rows(mb: int) -> list[dict]:
    """Peak memory of html_to_text on ``<p>a`` * (mb MB / 4), per mode, in fresh processes."""
    rows = []
    for mode in ("main_content", "full"):
        code = _MEMORY_CODE.format(mb=mb, mode=mode)
        env = {**os.environ, "AIRTUNE_NUM_THREADS": "1"}
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
        ).stdout.split()
        peak, size, out_len = (int(v) for v in out)
        rows.append(
            {
                "mode": mode,
                "input_mb": size / 1e6,
                "output_mb": out_len / 1e6,
                "peak_extra_mb": peak / 1e6,
                "peak_over_input": peak / size,
            }
        )
        print(f"memory {mode:13s} {size / 1e6:.0f} MB page: peak +{peak / 1e6:.0f} MB = {peak / size:.2f}x")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the fast tools (median)")
    ap.add_argument("--quick", action="store_true", help="one repeat of everything")
    ap.add_argument("--memory-mb", type=int, default=20, help="size of the memory test page (0: skip)")
    ap.add_argument(
        "--memory-only", action="store_true", help="only the memory measurement (no files written)"
    )
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats
    if args.memory_only:
        memory_rows(args.memory_mb)
        return

    pages, truth = clean_scorer.load_pages()
    keys = list(pages)
    raw = [pages[k] for k in keys]
    decoded = [clean_scorer.decode_page(b) for b in raw]
    mb = sum(len(b) for b in raw) / 1e6
    threads = os.cpu_count() or 1
    rows = []
    before = airtune.get_num_threads()
    airtune.set_num_threads(1)
    try:
        for name, (fn, pkg) in extractors(raw, decoded).items():
            slow = not name.startswith(("airtune", "resiliparse", "selectolax"))
            seconds, out = timed(fn, 1 if slow else repeats)
            s = clean_scorer.score(truth, dict(zip(keys, out)))
            rows.append(
                {
                    "tool": name,
                    "package": pkg,
                    "version": version(pkg) if pkg != "airtune" else airtune.__version__,
                    "seconds_1_thread": seconds,
                    "pages_per_s_1_thread": len(raw) / seconds,
                    "mb_per_s_1_thread": mb / seconds,
                    "precision": s.precision,
                    "recall": s.recall,
                    "f1": s.f1,
                }
            )
            print(
                f"{name:28s} {len(raw) / seconds:9.1f} pages/s  F1 {s.f1:.4f}  P {s.precision:.4f}  "
                f"R {s.recall:.4f}",
                flush=True,
            )
        airtune.set_num_threads(threads)
        for row in rows:
            if row["package"] == "airtune":
                mode = "main_content" if "main" in row["tool"] else "full"
                seconds, _ = timed(lambda m=mode: clean.html_to_text(raw, mode=m), repeats)
                row["pages_per_s_batch"] = len(raw) / seconds
                row["batch_threads"] = threads
        # fix_text vs ftfy on mojibaked article bodies.
        texts = [mojibake(truth[k]) for k in keys]
        fix_rows = []
        airtune.set_num_threads(1)
        t_ours, fixed = timed(
            lambda: clean.fix_text(texts, normalize_whitespace=False, remove_zero_width=False), repeats
        )
        exact_ours = sum(f == truth[k] for f, k in zip(fixed, keys))
        fix_rows.append(
            {
                "tool": "airtune fix_text",
                "texts_per_s": len(texts) / t_ours,
                "exact_repairs": exact_ours,
                "texts": len(texts),
            }
        )
        try:
            import ftfy

            cfg = ftfy.TextFixerConfig(uncurl_quotes=False, fix_character_width=False)
            t_ftfy, fixed_f = timed(lambda: [ftfy.fix_text(t, config=cfg) for t in texts], 1)
            exact_f = sum(f == truth[k] for f, k in zip(fixed_f, keys))
            fix_rows.append(
                {
                    "tool": "ftfy fix_text",
                    "version": version("ftfy"),
                    "texts_per_s": len(texts) / t_ftfy,
                    "exact_repairs": exact_f,
                    "texts": len(texts),
                }
            )
        except ImportError:
            pass
    finally:
        airtune.set_num_threads(before)

    memory = memory_rows(args.memory_mb) if args.memory_mb > 0 else []
    by = {r["tool"]: r for r in rows}
    ratios = {}
    for mode, peer in (("main_content", "resiliparse main_content"), ("full", "resiliparse full")):
        if peer in by:
            ratios[f"airtune {mode} / {peer} (1 thread)"] = (
                by[f"airtune {mode}"]["pages_per_s_1_thread"] / by[peer]["pages_per_s_1_thread"]
            )
    if "trafilatura" in by:
        ratios["airtune main_content / trafilatura (1 thread)"] = (
            by["airtune main_content"]["pages_per_s_1_thread"] / by["trafilatura"]["pages_per_s_1_thread"]
        )
        ratios["airtune main_content F1 - trafilatura F1"] = (
            by["airtune main_content"]["f1"] - by["trafilatura"]["f1"]
        )
    if len(fix_rows) == 2:
        ratios["airtune fix_text / ftfy (1 thread)"] = fix_rows[0]["texts_per_s"] / fix_rows[1]["texts_per_s"]

    result = {
        "benchmark": "clean",
        "pages": len(raw),
        "megabytes": mb,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": threads,
            "python": platform.python_version(),
            "load_average_1m": os.getloadavg()[0],
        },
        "repeats": repeats,
        "html_to_text": rows,
        "fix_text": fix_rows,
        "ratios": ratios,
        "memory": memory,
        "scorer": "benchmarks/clean_scorer.py (ScrapingHub shingle P/R/F1, macro over pages)",
    }
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "clean.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"HTML to text on the 181 ScrapingHub pages ({mb:.1f} MB, decompressed in memory), {platform.processor() or platform.machine()}, "
        f"{threads} CPUs, 1-minute load average {os.getloadavg()[0]:.1f} (a shared machine: batch figures are "
        f"unreliable); median of {repeats} (slow peers: 1 run).",
        "",
        "| tool | version | pages/s (1 thread) | pages/s (batch) | precision | recall | F1 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        batch = (
            f"{r['pages_per_s_batch']:.0f} ({r['batch_threads']} threads)"
            if "pages_per_s_batch" in r
            else "-"
        )
        lines.append(
            f"| {r['tool']} | {r['version']} | {r['pages_per_s_1_thread']:.1f} | {batch} | "
            f"{r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} |"
        )
    lines += [
        "",
        "| fix_text on mojibaked article bodies | texts/s (1 thread) | exact repairs |",
        "|---|---:|---:|",
    ]
    for r in fix_rows:
        lines.append(f"| {r['tool']} | {r['texts_per_s']:.0f} | {r['exact_repairs']}/{r['texts']} |")
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in ratios.items()]
    if memory:
        lines += [
            "",
            "| peak memory of html_to_text (1 page of `<p>a` repeated, fresh process) | input MB | "
            "peak MB above the input | / input size |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {m['mode']} | {m['input_mb']:.0f} | {m['peak_extra_mb']:.0f} | {m['peak_over_input']:.2f} |"
            for m in memory
        ]
    (out_dir / "clean.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
