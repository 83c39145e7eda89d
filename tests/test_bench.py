"""bench/gpu.sh where CI runs it, without a GPU: the CPU rows measured, the GPU rows skipped,
each with its reason."""

import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_the_gpu_script_runs_its_cpu_rows_and_says_why_the_gpu_rows_were_skipped(
    products, tmp_path
):
    (img_data,) = (
        products(0) / next(p.name for p in products(0).iterdir() if "20160413" in p.name)
    ).glob("GRANULE/*/IMG_DATA")
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    run = subprocess.run(
        ["bash", "bench/gpu.sh", "--quick", "--jp2", str(img_data)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = (tmp_path / "gpu.md").read_text()
    assert report == run.stdout
    assert "- GPU: none (nvidia-smi finds no GPU): the GPU rows are skipped" in report
    for row in (
        "GPU tests (pytest -m gpu)",
        "crmss predict --whole",
        "Training steps (bench/train.py)",
        "crmss reproduce --synthetic",
    ):
        assert f"## {row}\n\nskipped: --quick" in report
    generator = report.split("## The generator on the CPU, Keras on TensorFlow")[1].split("## ")[0]
    assert (
        " float32: matmul 2048^2" in generator
        and "bfloat16: matmul 2048^2" in generator
        and "exit status 0" in generator
    )
    decoding = report.split("## JPEG2000 decoding")[1]
    assert (
        "GPU: none (nvImageCodec not installed or no GPU)" in decoding
        and "all 13 files" in decoding
        and "exit status 0" in decoding
    )
