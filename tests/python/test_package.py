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


def test_cli_ingest_of_the_bundled_sample_writes_the_summary(tmp_path, capsys):
    from importlib import resources

    from airtune import cli

    sample = str(resources.files("airtune") / "data" / "sample_chat.jsonl")
    quarantine, summary = tmp_path / "sample.quarantine.jsonl", tmp_path / "summary.json"
    argv = ["ingest", sample, "--quarantine", str(quarantine), "--summary-out", str(summary)]
    assert cli.main([*argv, "--out", str(tmp_path / "clean.jsonl")]) == 0
    payload = json.loads(summary.read_text())
    report = payload["report"]
    assert (
        report["balanced"] and report["lines_read"] == report["kept"] + report["rejected"] + report["blank"]
    )
    assert quarantine.read_bytes().count(b"\n") == report["rejected"]
    assert "24 clean records written" in capsys.readouterr().out


def test_version_is_defined_once_in_pyproject():
    from pathlib import Path

    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    version = tomllib.loads(pyproject.read_text())["project"]["version"]
    # CMake reads the same field (SKBUILD_PROJECT_VERSION) into _core; the wheel stage of
    # scripts/test.sh also checks the installed wheel's metadata against both.
    assert airtune.__version__ == version == airtune.build_info()["version"]


def _fake_torch(tmp_path, version: str) -> dict:
    import os

    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(f"__version__ = {version!r}\n")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))


def test_nn_refuses_another_torch_release(tmp_path):
    built = airtune._core.NN_TORCH_VERSION
    assert built, "this build has _nn: _core must record its torch release"
    env = _fake_torch(tmp_path, "2.5.1+cu121")
    code = (
        "import sys, airtune\n"
        "try:\n"
        "    import airtune._nn\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc.name, 'airtune._nn' in sys.modules, airtune.build_info()['nn_error'] == str(exc))\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr  # an ImportError, never a crash or an undefined symbol
    first, message = result.stdout.split("\n", 1)
    assert first == "TorchVersionError airtune._nn False True"
    assert f"built against torch {built}" in message and "torch 2.5.1+cu121" in message
    assert f"pip install 'torch=={built}'" in message and "--no-build-isolation" in message
    # The public entry points say the same.
    result = subprocess.run(
        [sys.executable, "-c", "from airtune.nn._lib import native; native()"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1 and "TorchVersionError" in result.stderr and "2.5.1+cu121" in result.stderr


def test_nn_accepts_the_same_release_with_another_local_label():
    from airtune import _torch_guard

    assert _torch_guard.release("2.13.0+cu130") == _torch_guard.release("2.13.0+cpu") == "2.13.0"
    assert _torch_guard.release("2.13.0") != _torch_guard.release("2.13.1")


def test_absurd_thread_counts_warn_and_do_not_change_the_pool():
    import os

    env = dict(
        os.environ, OMP_NUM_THREADS="100000", OPENBLAS_NUM_THREADS="100000", AIRTUNE_NUM_THREADS="lots"
    )
    code = "import airtune; i = airtune.build_info(); print(airtune.get_num_threads(), i['blas']['threads'], i['openmp_max_threads'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    pool, blas, omp = map(int, result.stdout.split())
    assert pool == blas == omp == os.cpu_count()  # the default pool (std::thread::hardware_concurrency)
    for var in (
        "OMP_NUM_THREADS='100000' asks for more threads",
        "OPENBLAS_NUM_THREADS='100000'",
        "AIRTUNE_NUM_THREADS='lots' is not",
    ):
        assert var in result.stderr, result.stderr
