"""safetensors through airtune's C++ reader/writer, checked against the `safetensors` package."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("safetensors.torch")
pytest.importorskip("airtune._nn")

from airtune.nn import load_file, metadata, save_file  # noqa: E402


def _tensors() -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "f32": torch.randn(3, 5, generator=g),
        "f16": torch.randn(4, 2, generator=g).half(),
        "bf16": torch.randn(7, generator=g).bfloat16(),
        "f64": torch.randn(2, 2, generator=g).double(),
        "i64": torch.arange(-5, 6),
        "i32": torch.arange(9, dtype=torch.int32).view(3, 3),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.arange(250, 256, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.empty(0, 3),
        "model.layers.0.weight": torch.randn(8, 4, generator=g),
    }


def test_ours_load_in_safetensors_and_theirs_in_ours(tmp_path):
    tensors = _tensors()
    ours = tmp_path / "ours.safetensors"
    save_file(tensors, ours, metadata={"format": "pt", "note": 'ünïcode "quoted"'})
    back = st.load_file(str(ours))
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v), k
    from safetensors import safe_open

    with safe_open(str(ours), "pt") as f:
        assert f.metadata() == {"format": "pt", "note": 'ünïcode "quoted"'}

    theirs = tmp_path / "theirs.safetensors"
    st.save_file(tensors, str(theirs), metadata={"format": "pt"})
    loaded = load_file(theirs)
    assert metadata(theirs) == {"format": "pt"}
    for k, v in tensors.items():
        assert loaded[k].dtype == v.dtype and torch.equal(loaded[k], v), k


def test_byte_identical_layout_to_reference_writer(tmp_path):
    tensors = {k: v for k, v in _tensors().items() if k != "empty"}
    save_file(tensors, tmp_path / "a.safetensors", metadata={"format": "pt"})
    st.save_file(tensors, str(tmp_path / "b.safetensors"), metadata={"format": "pt"})
    a = (tmp_path / "a.safetensors").read_bytes()
    b = (tmp_path / "b.safetensors").read_bytes()
    ha = json.loads(a[8 : 8 + struct.unpack("<Q", a[:8])[0]])
    hb = json.loads(b[8 : 8 + struct.unpack("<Q", b[:8])[0]])
    assert ha == hb  # same dtypes, shapes and offsets: same alignment-then-name order
    assert len(a) == len(b)


def test_zero_copy_and_copy_on_write(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(1024)}, path)
    t = load_file(path)["w"]
    t.zero_()
    assert torch.equal(load_file(path)["w"], torch.ones(1024))


def _corrupt(path, header: dict, data: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


@pytest.mark.parametrize(
    ("header", "data", "needle"),
    [
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 12, "'w'"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, b"\0" * 12, "tensor 'w'"),
        ({"w": {"dtype": "X9", "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 4, "unknown dtype"),
        (
            {
                "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]},
            },
            b"\0" * 6,
            "tensor 'b'",
        ),
        ({"w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 5, "trailing"),
    ],
)
def test_malformed_files_name_file_and_tensor(tmp_path, header, data, needle):
    path = tmp_path / "bad.safetensors"
    _corrupt(path, header, data)
    with pytest.raises(ValueError, match=needle) as err:
        load_file(path)
    assert "bad.safetensors" in str(err.value)
    with pytest.raises(Exception):  # noqa: B017 - the reference rejects it too
        st.load_file(str(path))


def test_truncated_and_missing(tmp_path):
    path = tmp_path / "t.safetensors"
    st.save_file({"weight": torch.randn(64)}, str(path))
    raw = path.read_bytes()
    path.write_bytes(raw[:-7])
    with pytest.raises(ValueError, match="weight"):
        load_file(path)
    path.write_bytes(raw[:5])
    with pytest.raises(ValueError, match="too short"):
        load_file(path)
    with pytest.raises(OSError):
        load_file(tmp_path / "nope.safetensors")


def test_save_rejects_bad_values(tmp_path):
    with pytest.raises(ValueError, match="'x'"):
        save_file({"x": np.zeros(3)}, tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="complex|cannot be stored"):
        save_file({"c": torch.zeros(2, dtype=torch.complex128)}, tmp_path / "c.safetensors")


# ------------------------------------------------------------------- files that change, big headers

_TRUNCATE_AFTER_LOAD = """
import os, sys
from airtune.nn import load_file
path, mmap = sys.argv[1], sys.argv[2] == "1"
t = load_file(path, mmap=mmap)["w"]
os.truncate(path, 0)
print(float(t.sum()))
"""


def _run(script: str, *args: str):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_file_truncated_after_load_does_not_kill_the_process(tmp_path):
    import signal

    path = tmp_path / "w.safetensors"
    w = torch.arange(1 << 16, dtype=torch.float32)
    save_file({"w": w}, path)
    r = _run(_TRUNCATE_AFTER_LOAD, str(path), "0")
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == float(w.sum())
    # mmap=True is the documented exception: the file must not change, or the process dies.
    save_file({"w": w}, path)
    r = _run(_TRUNCATE_AFTER_LOAD, str(path), "1")
    assert r.returncode == -signal.SIGBUS, (r.returncode, r.stderr[-500:])


_MODEL_TRUNCATED = """
import os, sys, torch
import airtune.nn as ann
folder = sys.argv[1]
model = ann.load_model(folder, device="cpu")
before = model.logits(torch.tensor([[1, 5, 7, 9]]))
for name in os.listdir(folder):
    if name.endswith(".safetensors"):
        os.truncate(os.path.join(folder, name), 0)
after = model.logits(torch.tensor([[1, 5, 7, 9]]))
print(bool(torch.equal(before, after)))
"""


def test_model_files_changed_under_a_loaded_model(tmp_path):
    pytest.importorskip("transformers")
    from tiny_models import tiny_causal_lm

    tiny_causal_lm(tmp_path, "llama", seed=3)
    r = _run(_MODEL_TRUNCATED, str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "True"


def test_many_tensors_match_the_reference(tmp_path):
    # 80k tensors took 38 s when every lookup scanned the header; the name index makes it linear.
    n = 80_000
    tensors = {f"layer.{i}.w": torch.full((2,), float(i)) for i in range(n)}
    path = tmp_path / "many.safetensors"
    st.save_file(tensors, str(path))
    ours = load_file(path)
    assert len(ours) == n
    for i in range(0, n, 7919):
        assert torch.equal(ours[f"layer.{i}.w"], tensors[f"layer.{i}.w"])
    assert metadata(path) == {}


def test_zero_size_tensor_with_overflowing_dims_names_file_and_tensor(tmp_path):
    path = tmp_path / "z.safetensors"
    _corrupt(path, {"z": {"dtype": "F32", "shape": [0, 2**62, 4], "data_offsets": [0, 0]}}, b"")
    with pytest.raises(
        ValueError, match=r"z.safetensors: tensor 'z': shape \[0, 4611686018427387904, 4\] overflows"
    ):
        load_file(path)
    ok = tmp_path / "ok.safetensors"
    _corrupt(ok, {"z": {"dtype": "F32", "shape": [0, 2**40], "data_offsets": [0, 0]}}, b"")
    assert load_file(ok)["z"].shape == (0, 2**40)
    assert st.load_file(str(ok))["z"].shape == (0, 2**40)


def test_header_size_is_bounded_and_metadata_reads_only_the_header(tmp_path):
    import os

    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", 200_000_000) + b"{" + b" " * 64)
    with pytest.raises(ValueError, match="header length 200000000 exceeds the limit of 100000000 bytes"):
        load_file(path)
    with pytest.raises(ValueError, match="exceeds the limit"):
        metadata(path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):  # refused at once, no waiting for a writer
        load_file(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        metadata(fifo)
