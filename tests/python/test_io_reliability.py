"""airtune.io on hostile inputs: pipes, files that change while read, crafted lines, odd file
names, killed writers, inputs built to exhaust memory. Python's json is the independent truth."""

from __future__ import annotations

import gzip
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import airtune
import pytest
from airtune import io
from conftest import reference_messages

PYTHON = sys.executable
PYTHONPATH = str(Path(airtune.__file__).resolve().parents[1])


def pairs(records) -> list:
    return [[(m.role, m.content) for m in r.messages] for r in records]


def feed_fifo(path: Path, data: bytes) -> threading.Timer:
    """Writes `data` into the FIFO from a thread. The returned watchdog (cancel it when done)
    opens the FIFO once more after 60 s, so that a reader that reopens it fails, not hangs."""

    def run() -> None:
        with open(path, "wb") as f:
            for i in range(0, len(data), 1000):  # small writes: the reader sees partial reads
                f.write(data[i : i + 1000])

    threading.Thread(target=run, daemon=True).start()
    watchdog = threading.Timer(60, lambda: open(path, "wb").close())
    watchdog.daemon = True
    watchdog.start()
    return watchdog


# -- non-seekable inputs -----------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_fifo_reads_every_line_including_the_first(mixed_file, tmp_path, compressed):
    path, rows = mixed_file
    data = path.read_bytes()
    fifo = tmp_path / "in.fifo"
    for reader in ("iter", "read"):
        os.mkfifo(fifo)
        writer = feed_fifo(fifo, gzip.compress(data) if compressed else data)
        if reader == "iter":
            stream = io.iter_jsonl(fifo, batch_bytes=4096)
            got = [r for batch in stream for r in batch]
            report = stream.report
        else:
            got = io.read_jsonl(fifo, progress=False)
            report = got.report
        writer.cancel()
        os.unlink(fifo)
        assert report.rejected == 0 and report.balanced and report.lines_read == len(rows)
        assert report.bytes == len(data)
        assert pairs(got) == [reference_messages(r) for r in rows]


def test_pipes_and_process_substitution(mixed_file, tmp_path):
    path, rows = mixed_file
    gz = tmp_path / "m.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    # An anonymous pipe, named as the shell names it for <(cmd).
    r, w = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(w, gz.read_bytes()), os.close(w)), daemon=True)
    writer.start()
    got = io.read_jsonl(f"/dev/fd/{r}", progress=False)
    writer.join()
    os.close(r)
    assert len(got) == len(rows) and got.report.rejected == 0
    # A real process substitution and stdin, in a child process.
    code = "import sys, airtune.io as io; s = io.iter_jsonl(sys.argv[1]); print(sum(len(b) for b in s), s.report.rejected)"
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    out = subprocess.run(
        ["bash", "-c", f'"{PYTHON}" -c "$0" <(cat "{gz}")', code], env=env, capture_output=True, text=True
    )
    assert out.stdout.split() == [str(len(rows)), "0"], out.stderr
    with open(gz, "rb") as stdin:
        out = subprocess.run(
            [PYTHON, "-c", code, "/dev/stdin"], stdin=stdin, env=env, capture_output=True, text=True
        )
    assert out.stdout.split() == [str(len(rows)), "0"], out.stderr


def test_dev_null_is_empty():
    records = io.read_jsonl("/dev/null", progress=False)
    assert len(records) == 0 and records.report.lines_read == 0 and records.report.balanced


# -- a file truncated while it is read ---------------------------------------------------------


def test_truncation_while_iterating_raises_naming_the_last_good_line(tmp_path):
    path = tmp_path / "shrinking.jsonl"
    path.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(200_000)))
    stream = io.iter_jsonl(path, batch_bytes=1 << 16)
    seen = 0
    with pytest.raises(OSError) as info:
        for batch in stream:
            if seen == 0:
                os.truncate(path, path.stat().st_size // 2)
            seen += len(batch)
    message = str(info.value)
    assert "shrinking.jsonl" in message and "shrank while being read" in message
    assert f"the last complete line read is line {seen}" in message
    assert 0 < seen < 200_000
    assert stream.report.kept == seen and stream.report.balanced  # the report counts up to the failure


def test_a_file_that_grows_while_read_is_fine(tmp_path):
    path = tmp_path / "growing.jsonl"
    path.write_text('{"text": "a"}\n' * 1000)
    stream = io.iter_jsonl(path, batch_bytes=4096)
    first = True
    total = 0
    for batch in stream:
        if first:
            with open(path, "a") as f:
                f.write('{"text": "b"}\n' * 10)
            first = False
        total += len(batch)
    assert total >= 1000 and stream.report.rejected == 0


# -- duplicate keys: the last wins, as in Python's json ----------------------------------------

DUPLICATES = [
    '{"text": "first", "id": "a", "text": "second", "id": "b"}',
    '{"messages": [{"role": "user", "content": "lost"}], "messages": [{"role": "user", "content": "kept"}]}',
    '{"messages": [{"role": "robot", "content": 1, "role": "user", "content": "q", "w": 1, "w": 2}]}',
    '{"prompt": "p", "completion": "c", "k": 1, "m": {"x": 1, "x": 2}, "k": {"y": [{"z": 0, "z": 3}]}}',
    '{"instruction": "i", "output": "o1", "input": "x", "output": "o2", "input": ""}',
    '{"conversations": [{"from": "human", "value": "v1", "value": "v2"}, {"from": "gpt", "value": "a"}]}',
]


def test_duplicate_keys_resolve_like_python_json(tmp_path):
    path = tmp_path / "dups.jsonl"
    path.write_text("\n".join(DUPLICATES) + "\n")
    records = io.read_jsonl(path, progress=False)
    assert records.report.rejected == 0
    rows = [json.loads(line) for line in DUPLICATES]
    assert pairs(records) == [reference_messages(r) for r in rows]
    assert records[0].id == "b"
    assert records[2].messages[0].extra == {"w": 2}
    assert records[3].metadata == {"k": {"y": [{"z": 3}]}, "m": {"x": 2}}
    assert list(records[3].metadata) == ["k", "m"]  # first position, last value: as dict order


# -- Alpaca written back -----------------------------------------------------------------------

ALPACA = [
    {"instruction": "Translate", "input": "bonjour", "output": "hello"},
    {"instruction": "Say hi", "input": "", "output": "hi"},
    {"instruction": "No input\n\nhere", "output": "ok", "system": "Be brief."},
    {"instruction": "Sum", "input": "1\n\n2", "output": "3", "history": [["a", "b"], ["c", "d"]]},
    {"instruction": "Tagged", "input": "x", "output": "y", "source": "web", "label": "t"},
]


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_alpaca_round_trip_gives_back_the_original_fields(tmp_path, name):
    src = tmp_path / "alpaca.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ALPACA))
    out = tmp_path / name
    io.read_jsonl(src, progress=False).write_jsonl(out)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(out, "rt") as f:
        written = [json.loads(line) for line in f]
    assert [{k: v for k, v in w.items() if k != "id"} for w in written] == ALPACA
    assert io.read_jsonl(out, progress=False).to_dicts() == written


# -- clear errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "needle", "field", "why"),
    [
        ('{"text": "t", "score": 1e400}', "1e400", "score", "beyond a 64-bit float"),
        ('{"text": "t", "n": 18446744073709551616}', "18446744073709551616", "n", "above 2^64 - 1"),
        ('{"text": "t", "n": -9223372036854775809}', "-9223372036854775809", "n", "below -2^63"),
        (
            '{"messages": [{"role": "user", "content": "a\\ud800"}]}',
            "\\ud800",
            "messages[0].content",
            "lone surrogate",
        ),
        ('{"text": "\\udfff x"}', "\\udfff", "text", "lone surrogate"),
    ],
)
def test_values_out_of_range_name_the_field_and_the_column(tmp_path, line, needle, field, why):
    json.loads(line)  # Python's json reads them (as inf, a big int, a lone surrogate)...
    path = tmp_path / "range.jsonl"
    path.write_text('{"text": "ok"}\n' + line + "\n")
    with pytest.raises(airtune.ParseError) as info:  # ...airtune cannot hold them: it says where
        io.read_jsonl(path, progress=False)
    err = info.value
    assert (err.line, err.column) == (2, line.index(needle) + 1)
    assert err.reason.startswith(f"invalid JSON: {field}: ") and why in err.reason
    skipped = io.read_jsonl(path, errors="skip", progress=False)
    assert skipped.report.errors[0].field == field and len(skipped) == 1


def _non_utf8_dir(tmp_path: Path) -> bytes:
    d = os.fsencode(tmp_path) + b"/caf\xe9-\xff"
    os.mkdir(d)
    return d


def test_file_names_that_are_not_utf8(tmp_path, mixed_file):
    src, rows = mixed_file
    d = _non_utf8_dir(tmp_path)
    target = d + b"/donn\xe9es.jsonl"
    io.read_jsonl(src, progress=False).write_jsonl(target)  # bytes
    for path in (target, os.fsdecode(target), Path(os.fsdecode(target))):  # bytes, str, PathLike
        records = io.read_jsonl(path, progress=False)
        assert len(records) == len(rows)
        assert len([r for b in io.iter_jsonl(path) for r in b]) == len(rows)
    io.write_jsonl(records, Path(os.fsdecode(d + b"/again.jsonl.gz")))
    assert len(io.read_jsonl(d + b"/again.jsonl.gz", progress=False)) == len(rows)
    # Quarantine beside a non-UTF-8 input, by default name and by a bytes path.
    bad = d + b"/m\xe9lange.jsonl"
    with open(bad, "wb") as f:
        f.write(b'{"text": "ok"}\nnot json\n')
    kept = io.read_jsonl(bad, errors="quarantine", progress=False)
    assert kept.report.rejected == 1 and os.path.exists(d + b"/m\xe9lange.quarantine.jsonl")
    io.read_jsonl(bad, errors="quarantine", quarantine_path=d + b"/q.jsonl", progress=False)
    assert open(d + b"/q.jsonl", "rb").read() == b"not json\n"
    # Errors name the path, printable.
    with pytest.raises(FileNotFoundError) as missing:
        io.read_jsonl(d + b"/nope.jsonl")
    assert missing.value.filename == os.fsdecode(d + b"/nope.jsonl")
    with pytest.raises(OSError, match=r"caf\\xe9-\\xff: is a directory"):
        io.read_jsonl(d)
    with pytest.raises(OSError, match=r"caf\\xe9-\\xff/missing/x.jsonl: cannot create"):
        io.write_jsonl(records, d + b"/missing/x.jsonl")
    with pytest.raises(TypeError, match="expected str, bytes or os.PathLike"):
        io.read_jsonl(3.5)


def test_parse_error_source_may_be_a_non_utf8_name(tmp_path):
    d = _non_utf8_dir(tmp_path)
    path = d + b"/\xfe.jsonl"
    with open(path, "wb") as f:
        f.write(b"{broken\n")
    with pytest.raises(airtune.ParseError) as info:
        io.read_jsonl(path, progress=False)
    assert "\\xfe.jsonl:1:2" in str(info.value) and info.value.source.endswith("\\xfe.jsonl")


# -- atomic outputs ----------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, airtune.io as io
    records = io.read_jsonl(sys.argv[1], progress=False)
    big = io.Records.concat([records] * 400)
    print("ready", flush=True)
    while True:
        io.write_jsonl(big, sys.argv[2])
    """
)


def test_a_killed_writer_leaves_nothing_behind_after_the_next_write(mixed_file, tmp_path):
    src, rows = mixed_file
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    for _attempt in range(20):
        child = subprocess.Popen([PYTHON, "-c", WRITER, str(src), str(out)], env=env, stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("out.jsonl.tmp.*")) and time.monotonic() < deadline:
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
        child.wait()
        stale = list(tmp_path.glob("out.jsonl.tmp.*"))
        if stale:
            break
    assert stale, "could not catch the writer mid-write"
    assert stale[0].name.startswith(f"out.jsonl.tmp.{child.pid}.")
    out.write_text("previous\n")
    out.chmod(0o600)
    io.read_jsonl(src, progress=False).write_jsonl(out)
    assert not list(tmp_path.glob("out.jsonl.tmp.*"))  # the dead writer's file is gone
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # the target keeps its permissions
    assert len(io.read_jsonl(out, progress=False)) == len(rows)


# -- bounded memory ----------------------------------------------------------------------------


def _peak_mb(code: str) -> tuple[float, str]:
    """Peak RSS (VmHWM) of a fresh process running `code` (after importing airtune.io)."""
    script = (
        "import airtune.io as io\n"
        "base = int([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])\n"
        + code
        + "\nhwm = int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
        "print((hwm - base) / 1024)\n"
    )
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    out = subprocess.run([PYTHON, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    return float(lines[-2]), "\n".join(lines[:-2])


def test_blank_lines_do_not_cost_memory_per_line(tmp_path):
    path = tmp_path / "newlines.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        for _ in range(8):
            f.write(b"\n" * (32 << 20))  # 256 MB of newlines, ~0.25 MB on disk
    peak, out = _peak_mb(f"s = io.iter_jsonl({str(path)!r})\nfor b in s: pass\nprint(s.report.blank)")
    assert out.strip() == str(256 << 20)
    assert peak < 200, f"{peak:.0f} MB for 16 MB batches"  # was ~1.9 GB (per-line entries)


def test_rejections_are_counted_past_max_errors_and_all_quarantined(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"x\n" * 20_000 + b'{"text": "fine"}\n')
    q = tmp_path / "q.jsonl"
    records = io.read_jsonl(path, errors="quarantine", quarantine_path=q, max_errors=50, progress=False)
    r = records.report
    assert (r.rejected, len(r.errors), r.errors_not_kept, r.kept) == (20_000, 50, 19_950, 1)
    assert r.balanced and "the first 50 rejections listed" in r.summary_line()
    assert len(Path(str(q) + ".reasons.jsonl").read_text().splitlines()) == 20_000
    assert q.read_bytes() == b"x\n" * 20_000
    assert len(io.read_jsonl(path, errors="skip", progress=False).report.errors) == 1000  # the default


def test_caps_on_lines_and_bytes_and_an_endless_input(tmp_path, mixed_file):
    path, rows = mixed_file
    lines = path.read_bytes().splitlines(keepends=True)
    capped = io.read_jsonl(path, max_lines=7, progress=False)
    assert len(capped) == 7 and capped.report.limit_reached == "max_lines"
    assert "stopped at max_lines" in capped.report.summary_line()
    cap = sum(len(x) for x in lines[:10]) + 5  # inside line 11
    by_bytes = io.read_jsonl(path, max_bytes=cap, progress=False)
    assert len(by_bytes) == 10 and by_bytes.report.bytes == cap - 5
    assert by_bytes.report.limit_reached == "max_bytes"
    whole = io.read_jsonl(path, max_bytes=path.stat().st_size, max_lines=len(rows), progress=False)
    assert len(whole) == len(rows) and whole.report.limit_reached is None
    zero = io.read_jsonl(
        "/dev/zero", errors="skip", max_bytes=8 << 20, max_line_bytes=1 << 20, progress=False
    )
    assert zero.report.limit_reached == "max_bytes" and zero.report.rejected == 1
    assert zero.report.bytes <= 8 << 20
    with pytest.raises(ValueError, match="max_bytes must be"):
        io.read_jsonl(path, max_bytes=-1)


def test_read_jsonl_memory_follows_max_bytes(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps({"text": "lorem ipsum dolor sit amet " * 3}) + "\n"
    path.write_text(line * ((64 << 20) // len(line)))
    full, _ = _peak_mb(f"r = io.read_jsonl({str(path)!r}, progress=False)")
    capped, out = _peak_mb(
        f"r = io.read_jsonl({str(path)!r}, progress=False, max_bytes=8 << 20)\nprint(r.report.limit_reached)"
    )
    assert out.strip() == "max_bytes"
    assert capped < full / 3, (capped, full)


def test_empty_batches_are_not_yielded(tmp_path):
    path = tmp_path / "sparse.jsonl"
    path.write_bytes(b"\n" * 100_000 + b"x\n" * 10 + b'{"text": "a"}\n')
    stream = io.iter_jsonl(path, errors="skip", batch_bytes=4096)
    batches = list(stream)
    assert [len(b) for b in batches] == [1] and stream.report.blank == 100_000
