"""The Keras backends crmss runs on (crmss/nn/backends.py): a backend it does not run on, or one
that is not installed, is refused at the command line's door with the fix, before anything is
written."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "backend, said",
    [
        ("numpy", "KERAS_BACKEND=numpy: crmss runs on Keras's tensorflow and jax backends"),
        ("bogus", "KERAS_BACKEND=bogus: crmss runs on Keras's tensorflow and jax backends"),
        ("torch", "Keras's torch backend cannot be imported (No module named 'torch')"),
    ],
)
def test_a_backend_crmss_does_not_run_on_is_refused_with_the_fix(backend, said, tmp_path):
    if backend == "torch" and not subprocess.run([sys.executable, "-c", "import torch"]).returncode:
        pytest.skip("PyTorch is installed here")
    (tmp_path / "data").mkdir()
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "crmss",
            "train",
            "--data",
            tmp_path / "data",
            "--out",
            tmp_path / "run",
        ],
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert f"crmss train: error: {said}" in refused.stderr and "KERAS_BACKEND=jax" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "run").exists()
