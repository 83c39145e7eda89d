"""Stress ``crmss predict``: many rounds of two runs at once; every output must equal the reference
bit for bit.

The larger version of
tests/test_reliability.py::test_concurrent_predict_runs_write_bit_identical_outputs.
Each round starts two ``crmss predict`` processes on the same product into two folders (as a
user running two jobs would); the reference is one run alone. Prints the rounds, the outputs
compared, how many were bit-identical, and for each that was not, its differing pixels.

    python bench/stress_predict.py --work bench-data --rounds 20
    PYTHONPATH=/path/to/old/checkout python bench/stress_predict.py ...   # the same for other code

The generator is an untrained width-8 CR-MSS: the outputs' correctness does not depend on the
weights, and small models make many rounds affordable.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from osgeo import gdal  # noqa: E402

import crmss  # noqa: E402
from crmss.dataset.splits import read_split  # noqa: E402
from crmss.dataset.synthetic import write_pair  # noqa: E402
from crmss.nn.model import build_generator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work",
        type=Path,
        required=True,
        help="folder holding (or receiving) the product and the runs",
    )
    parser.add_argument(
        "--rounds", type=int, default=20, help="rounds of two concurrent runs (default 20)"
    )
    parser.add_argument(
        "--size",
        type=int,
        default=3072,
        help="10 m side of the synthetic product, a multiple of 6 (default 3072)",
    )
    parser.add_argument(
        "--tile",
        type=int,
        default=256,
        help="--tile of crmss predict (default 256: many strips, many partial-block writes)",
    )
    parser.add_argument(
        "--overlap", type=int, default=64, help="--overlap of crmss predict (default 64)"
    )
    args = parser.parse_args()

    root = args.work / f"stress-{args.size}"
    products = root / "products"
    pair = read_split()[0]
    if not products.exists():
        write_pair(root / ".staging", pair.clear, pair.cloudy, size=args.size, seed=1, zipped=True)
        (root / ".staging").rename(products)
    product = next(p for p in products.iterdir() if pair.cloudy[11:26] in p.name)
    run = root / "run"
    if not (run / "generator.keras").exists():
        run.mkdir(parents=True, exist_ok=True)
        build_generator(8).save(run / "generator.keras")

    def start(out: Path) -> subprocess.Popen:
        shutil.rmtree(out, ignore_errors=True)
        cmd = [
            sys.executable,
            "-m",
            "crmss",
            "predict",
            str(product),
            "--model",
            str(run),
            "--out",
            str(out),
            "--tile",
            str(args.tile),
            "--overlap",
            str(args.overlap),
            "--no-progress",
        ]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    reference = root / "reference"
    alone = start(reference)
    if alone.wait():
        sys.exit(f"the reference run failed: {alone.stderr.read()[-2000:]}")
    names = sorted(p.name for p in reference.iterdir())
    expected = {name: gdal.Open(str(reference / name)).ReadAsArray() for name in names}

    began, compared, identical, failed_runs, bad = time.perf_counter(), 0, 0, 0, []
    for round_ in range(1, args.rounds + 1):
        runs = {side: start(root / side) for side in "ab"}
        for side, child in runs.items():
            if child.wait():
                failed_runs += 1
                print(
                    f"round {round_} run {side}: exit {child.returncode}: "
                    f"{child.stderr.read().strip()[-300:]}"
                )
                continue
            for name in names:
                compared += 1
                got = gdal.Open(str(root / side / name)).ReadAsArray()
                if np.array_equal(got, expected[name]):
                    identical += 1
                else:
                    bad.append(
                        f"round {round_} run {side}: {name[-8:]} differs in "
                        f"{int((got != expected[name]).sum())} values"
                    )
                    print(bad[-1])
    seconds = time.perf_counter() - began
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; GDAL {gdal.__version__}; "
        f"crmss from {Path(crmss.__file__).parent}"
    )
    print(
        f"product: {args.size} px at 10 m (zipped), --tile {args.tile} --overlap "
        f"{args.overlap}, width-8 generator"
    )
    print(
        f"{args.rounds} rounds of 2 concurrent runs in {seconds:.0f} s: {compared} outputs "
        f"compared, {identical} bit-identical, "
        f"{len(bad)} different, {failed_runs} runs failed; rounds with a wrong output: "
        f"{len({b.split(' run')[0] for b in bad})} of {args.rounds}"
    )


if __name__ == "__main__":
    main()
