"""The package itself: build information, threads, the torch-free import, the libtorch module."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import airtune
import pytest


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_import_does_not_import_torch():
    out = run_python("import sys, airtune, airtune.io; print('torch' in sys.modules)")
    assert out.strip() == "False"


def test_build_info_reports_the_linked_libraries():
    info = airtune.build_info()
    assert info["version"] == airtune.__version__
    assert info["faiss"] == "1.7.3"
    assert info["simdjson"].startswith("3.")
    assert info["onetbb"].startswith("20")
    # FAISS must run on an optimised BLAS, not the reference one.
    assert info["blas"]["name"] == "openblas", info["blas"]
    assert info["faiss_gpu"] in (True, False)


def test_num_threads_reaches_openblas_and_openmp():
    before = airtune.get_num_threads()
    airtune.set_num_threads(1)
    info = airtune.build_info()
    assert info["num_threads"] == 1 and info["blas"]["threads"] == 1 and info["openmp_max_threads"] == 1
    airtune.set_num_threads(before)
    with pytest.raises(ValueError):
        airtune.set_num_threads(0)


def test_env_var_sets_the_pool():
    import os

    env = dict(os.environ, AIRTUNE_NUM_THREADS="3")
    out = subprocess.run(
        [sys.executable, "-c", "import airtune; print(airtune.get_num_threads())"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert out.strip() == "3"


def test_libtorch_module_round_trip():
    if importlib.util.find_spec("torch") is None:
        pytest.fail("torch is a test dependency and must be installed")
    import torch
    from airtune import _nn

    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert torch.equal(_nn.roundtrip(x), x * 2)
    assert _nn.cuda_available() == torch.cuda.is_available()
    info = airtune.build_info()
    assert info["nn_built"] and info["torch"] == torch.__version__.split("+")[0]


def test_faiss_and_torch_share_one_process():
    # Debian's libgomp (FAISS, OpenBLAS) and the OpenMP bundled in torch meet here.
    code = (
        "import json, airtune, torch\n"
        "from airtune import _nn\n"
        "airtune.set_num_threads(2)\n"
        "info = airtune.build_info()\n"  # runs a FAISS search through BLAS
        "a = torch.randn(256, 256); b = a @ a.T\n"
        "y = _nn.roundtrip(torch.ones(4))\n"
        "print(json.dumps({'blas': info['blas']['name'], 'sum': float(y.sum()), 'sym': bool(torch.allclose(b, b.T, atol=1e-3))}))\n"
    )
    out = json.loads(run_python(code))
    assert out == {"blas": "openblas", "sum": 8.0, "sym": True}


def test_cli_demo_writes_the_summary(tmp_path, capsys):
    from airtune import cli

    assert cli.main(["demo", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "summary.json").read_text())
    report = payload["report"]
    assert (
        report["balanced"] and report["lines_read"] == report["kept"] + report["rejected"] + report["blank"]
    )
    assert (tmp_path / "sample.quarantine.jsonl").read_bytes().count(b"\n") == report["rejected"]
    assert "24 clean records written" in capsys.readouterr().out
