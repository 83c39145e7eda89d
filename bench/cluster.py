"""Benchmark many products: ``crmss predict`` one product after another against the same run on
a Dask cluster on this machine (a LocalCluster of 1 and of 2 single-threaded worker processes).

Writes --products synthetic L1C products of --size px at 10 m and an untrained width --width
generator into WORK, then runs ``crmss predict`` as a user runs it (a new process each, the
cluster already up, its start timed apart): plainly, and with ``--scheduler`` on each cluster.
Prints per run the wall time, products per hour and the time per product; for the one-worker
cluster its overhead over the plain loop per product (what scheduling costs: target under 1% of
a product's time); for two workers the speed-up over one. The plain loop is the ceiling a
one-worker cluster can reach on the same cores. Last, the scheduling cost alone: --tasks no-op
tasks through crmss.core.cluster.run_tasks (what predict and prepare submit through) on a one-worker
LocalCluster, per task, against a product's time (--only-scheduling: that row alone).

    python bench/cluster.py --work bench-data            # 4 products of 2052 px
    python bench/cluster.py --work bench-data --products 6 --size 3078
    python bench/cluster.py --only-scheduling --tasks 500
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from measure import run_child  # noqa: E402

from crmss.dataset.splits import read_split  # noqa: E402
from crmss.dataset.synthetic import write_pair  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-data"))
    parser.add_argument(
        "--products", type=int, default=4, help="products to clean (2 per synthetic pair)"
    )
    parser.add_argument(
        "--size", type=int, default=2052, help="10 m side of each product, a multiple of 6"
    )
    parser.add_argument("--width", type=int, default=64, help="generator width (64: CR-MSS's)")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument(
        "--tasks", type=int, default=200, help="no-op tasks timing the scheduling cost"
    )
    parser.add_argument(
        "--only-scheduling", action="store_true", help="time the scheduling cost alone"
    )
    args = parser.parse_args()
    if args.only_scheduling:
        print(_scheduling_line(scheduling_cost(args.tasks), args.tasks, None))
        return
    folder = args.work / f"cluster-{args.products}x{args.size}"
    products, model = _inputs(folder, args.products, args.size, args.width)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {len(products)} "
        f"products of {args.size} px, width {args.width}"
    )
    command = [
        sys.executable,
        "-m",
        "crmss",
        "predict",
        "--model",
        str(model),
        "--tile",
        str(args.tile),
        "--no-progress",
    ]
    half = products[: len(products) // 2]
    plain = {
        n: _run([*command, *map(str, chosen)], folder / "out-plain")
        for n, chosen in ((len(half), half), (len(products), products))
    }
    print(_line("plain loop (ceiling)", plain[len(products)], len(products)))
    for workers in (1, 2):
        from distributed import LocalCluster

        start = time.perf_counter()
        with LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster:
            started = time.perf_counter() - start
            runs = (half, products) if workers == 1 else (products,)
            timed = {
                len(c): _run(
                    [*command, *map(str, c), "--scheduler", cluster.scheduler_address],
                    folder / f"out-{workers}",
                )
                for c in runs
            }
        seconds = timed[len(products)]
        print(
            _line(
                f"LocalCluster, {workers} worker{'s' if workers > 1 else ''}",
                seconds,
                len(products),
            )
            + f"  (cluster start {started:.1f} s)"
        )
        # the slopes give the cost per product, the intercepts the fixed cost of a run
        if workers == 1:
            step = len(products) - len(half)
            per_product = (
                (timed[len(products)] - timed[len(half)])
                - (plain[len(products)] - plain[len(half)])
            ) / step
            fixed = (timed[len(products)] - plain[len(products)]) - per_product * len(products)
            share = 100 * per_product / ((plain[len(products)] - plain[len(half)]) / step)
            print(
                f"  overhead per product {per_product:+.2f} s ({share:+.1f}% of a product's "
                f"time); once per run {fixed:+.1f} s (worker start)"
            )
            one = seconds
        else:
            print(f"  speed-up of 2 workers over 1: {one / seconds:.2f}x")
    print(
        _scheduling_line(
            scheduling_cost(args.tasks), args.tasks, plain[len(products)] / len(products)
        )
    )


def scheduling_cost(tasks: int) -> float:
    """Seconds per task of ``tasks`` no-op tasks through crmss.core.cluster.run_tasks on a
    one-worker LocalCluster (started beforehand)."""
    from distributed import Client, LocalCluster

    from crmss.core.cluster import run_tasks

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        list(run_tasks(client, [("warm-up", (0,))], _nothing, False, "task"))
        start = time.perf_counter()
        finished = list(
            run_tasks(client, [(str(i), (i,)) for i in range(tasks)], _nothing, False, "task")
        )
        seconds = time.perf_counter() - start
    assert sorted(int(result) for _, result, _ in finished) == list(range(tasks))
    return seconds / tasks


def _nothing(index: int) -> int:
    return index


def _scheduling_line(cost: float, tasks: int, product_s: float | None) -> str:
    shares = [
        f"{100 * cost / s:.3f}% of a {what}"
        for what, s in (("product here", product_s), ("10980 px product on a GPU (12 s)", 12.0))
        if s
    ]
    return (
        f"scheduling alone ({tasks} no-op tasks): {1000 * cost:.1f} ms per product = "
        f"{', '.join(shares)}"
    )


def _inputs(folder: Path, count: int, size: int, width: int) -> tuple[list[Path], Path]:
    """Synthetic products (both of each pair) and an untrained generator, written once."""
    products = folder / "products"
    if not products.exists():
        for pair in read_split()[: (count + 1) // 2]:
            write_pair(products, pair.clear, pair.cloudy, size=size, seed=3)
    model = folder / f"generator-{width}.keras"
    if not model.exists():
        from crmss.nn.model import build_generator

        build_generator(width).save(model)
    return sorted(products.iterdir())[:count], model


def _run(command: list[str], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    seconds, _ = run_child([*command, "--out", str(out)])
    return seconds


def _line(name: str, seconds: float, products: int) -> str:
    return (
        f"{name:<26} {seconds:8.1f} s  {3600 * products / seconds:7.1f} products/h  "
        f"{seconds / products:6.1f} s/product"
    )


if __name__ == "__main__":
    main()
