"""crmss predict on a real Dask cluster: a scheduler and two worker processes started by the test
on 127.0.0.1 (and a LocalCluster), against the plain run's outputs, byte for byte."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

DASK = Path(sys.executable).parent / "dask"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The address of a Dask scheduler with two single-threaded workers, all on 127.0.0.1."""
    yield from _cluster(tmp_path_factory.mktemp("cluster"))


def _cluster(folder: Path, started: list | None = None):
    """Start a scheduler and two workers (each under its nanny) on 127.0.0.1; yield the address;
    stop them. ``started`` receives the processes, the scheduler first."""
    folder.mkdir(parents=True, exist_ok=True)
    address_file = folder / "scheduler.json"
    started = started if started is not None else []
    started.append(
        subprocess.Popen(
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                ":0",
                "--scheduler-file",
                address_file,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        for name in ("w1", "w2"):
            worker = [
                DASK,
                "worker",
                address,
                "--nthreads",
                "1",
                "--name",
                name,
                "--no-dashboard",
                "--local-directory",
                folder / name,
            ]
            started.append(
                subprocess.Popen(worker, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(started):
            process.terminate()
        for process in started:
            process.wait(timeout=30)


def _products(products) -> list[Path]:
    """Three products of two pairs in three packagings: a .SAFE folder, a zip and a bucket tile
    folder."""
    cloudy = next(p for p in products(0).iterdir() if "20160413" in p.name)
    clear = next(p for p in products(0, zipped=True).iterdir() if "20160403" in p.name)
    tile = next(p.parent for p in products(28, bucket=True).rglob("tileInfo.json"))
    return [cloudy, clear, tile]


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.tif"))}


def _args(products, trained) -> list:
    """predict's arguments for the three products of :func:`_products`, without ``--out``."""
    return [*_products(products), "--model", trained / "run", "--tile", "512", "--no-progress"]


@pytest.fixture(scope="module")
def plain(tmp_path_factory, products, trained) -> dict[str, bytes]:
    """What a plain run (no Dask) writes for :func:`_args`: output name -> bytes (nine COGs: 10 m,
    20 m and the cloud weights of three products)."""
    out = tmp_path_factory.mktemp("plain")
    run = run_cli("predict", *_args(products, trained), "--out", out)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(_outputs(out)) == 9
    return _outputs(out)


def test_predict_on_a_cluster_writes_what_a_plain_run_writes(
    cluster, products, trained, plain, tmp_path
):
    args = _args(products, trained)
    run = run_cli("predict", *args, "--out", tmp_path / "cluster", "--scheduler", cluster)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _outputs(tmp_path / "cluster") == plain
    written = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cluster").glob("*.tif")}
    # a rerun skips what is done
    again = run_cli("predict", *args, "--out", tmp_path / "cluster", "--scheduler", cluster)
    assert again.returncode == 0 and again.stdout.count("finished earlier") == 3, again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cluster").glob("*.tif")} == written


def test_prepare_on_a_cluster_writes_the_tree_of_a_plain_run(cluster, products, pairs, tmp_path):
    from crmss.dataset.splits import write_split

    folder = tmp_path / "products"
    for index in (0, 28):
        for product in products(index).iterdir():
            shutil.copytree(product, folder / product.name)
    write_split(tmp_path / "split.csv", [pairs[0], pairs[28]])
    args = ["--products", folder, "--split", tmp_path / "split.csv", "--no-progress"]
    plain = run_cli("prepare", *args, "--out", tmp_path / "plain")
    run = run_cli("prepare", *args, "--out", tmp_path / "cluster", "--scheduler", cluster)
    assert plain.returncode == run.returncode == 0, run.stderr[-3000:]
    manifests = [
        json.loads((tmp_path / tree / "manifest.json").read_text())["pairs"]
        for tree in ("plain", "cluster")
    ]
    assert {k: v["windows"] for k, v in manifests[0].items()} == {
        k: v["windows"] for k, v in manifests[1].items()
    } and len(manifests[0]) == 2
    patches = sorted(p.relative_to(tmp_path / "plain") for p in (tmp_path / "plain").rglob("*.tif"))
    assert patches and patches == sorted(
        p.relative_to(tmp_path / "cluster") for p in (tmp_path / "cluster").rglob("*.tif")
    )
    assert all(
        (tmp_path / "plain" / p).read_bytes() == (tmp_path / "cluster" / p).read_bytes()
        for p in patches
    )
    assert not (tmp_path / "cluster" / ".partial").exists()


def _bad_product(kind: str, products, folder: Path) -> Path:
    """A product a worker must refuse as a plain run does: not a zip, a .SAFE whose metadata
    states another satellite, an Earth Search item of Level-2A data."""
    folder.mkdir()
    cloudy = next(p for p in products(0).iterdir() if "20160413" in p.name)
    if kind == "not a zip":
        (folder / f"{cloudy.stem}.zip").write_bytes(b"not a zip")
        return folder / f"{cloudy.stem}.zip"
    if kind == "edited metadata":
        copy = shutil.copytree(cloudy, folder / cloudy.name)
        metadata = copy / "MTD_MSIL1C.xml"
        metadata.write_text(
            metadata.read_text().replace(
                "<SPACECRAFT_NAME>Sentinel-2A<", "<SPACECRAFT_NAME>Sentinel-2B<"
            )
        )
        return copy
    from genuine import earth_search_item

    tile = next(
        p.parent
        for p in products(0, bucket=True).rglob("tileInfo.json")
        if "/2016/4/13/" in p.as_posix()
    )
    item = earth_search_item(tile, folder / "item.json")
    document = json.loads(item.read_text())
    document["properties"]["processing:level"] = "L2A"
    item.write_text(json.dumps(document))
    return item


@pytest.mark.parametrize("kind", ["not a zip", "edited metadata", "a Level-2A item"])
def test_a_bad_product_on_a_cluster_is_refused_as_a_plain_run_refuses_it(
    cluster, products, trained, tmp_path, kind
):
    bad, good = _bad_product(kind, products, tmp_path / "bad"), _products(products)[2]
    args = [bad, good, "--model", trained / "run", "--tile", "512", "--no-progress"]
    plain = run_cli("predict", *args, "--out", tmp_path / "plain")
    run = run_cli("predict", *args, "--out", tmp_path / "out", "--scheduler", cluster)
    assert (
        plain.returncode == run.returncode == 2 and "the other products are done" in run.stderr
    ), run.stderr[-2000:]
    refusal = next(
        line for line in plain.stderr.splitlines() if str(bad) in line or bad.name in line
    )
    assert refusal in run.stderr, f"{refusal!r} not in {run.stderr[-2000:]}"
    assert len(list((tmp_path / "out").glob("*.tif"))) == 3 and _outputs(
        tmp_path / "out"
    ) == _outputs(tmp_path / "plain")


def test_an_unreachable_scheduler_is_named(tmp_path, trained, products):
    run = run_cli(
        "predict",
        _products(products)[0],
        "--model",
        trained / "run",
        "--out",
        tmp_path / "out",
        "--scheduler",
        "tcp://127.0.0.1:9",
    )
    assert (
        run.returncode == 2
        and "--scheduler tcp://127.0.0.1:9: no Dask scheduler answers there" in run.stderr
    ), run.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_a_plain_run_does_not_import_dask():
    script = (
        "import sys, crmss, crmss.cli, crmss.inference.predict, crmss.dataset.prepare, "
        "crmss.core.cluster\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')], 'Dask "
        "was imported'"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]


def test_a_worker_killed_mid_product_leaves_the_outputs_of_a_plain_run(
    tmp_path, products, trained, plain
):
    from distributed import Client

    args = _args(products, trained)
    own = _cluster(tmp_path / "own")
    address = next(own)
    try:
        with Client(address, timeout="30s") as client:
            # the worker processes (their nannies start new ones)
            pids = list(client.run(os.getpid).values())
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crmss",
                "predict",
                *map(str, args),
                "--out",
                str(tmp_path / "out"),
                "--scheduler",
                address,
            ]
        )
        deadline = time.monotonic() + 300
        while (
            not list((tmp_path / "out").glob(".*.partial-*"))
            and time.monotonic() < deadline
            and run.poll() is None
        ):
            time.sleep(0.05)
        assert run.poll() is None and list((tmp_path / "out").glob(".*.partial-*")), (
            "the products finished before the kill"
        )
        # one of the two busy workers, in the middle of its product
        os.kill(pids[0], signal.SIGKILL)
        assert run.wait(timeout=600) == 0
    finally:
        next(own, None)
    assert _outputs(tmp_path / "out") == plain
    assert not list((tmp_path / "out").glob(".*.partial-*")) and not list(
        (tmp_path / "out").glob(".*.publishing")
    )


def test_a_local_cluster_from_python_writes_what_a_plain_run_writes(
    products, trained, plain, tmp_path
):
    import crmss

    local = crmss.predict(
        crmss.PredictOptions(
            (_products(products)[2],),
            trained / "run",
            tmp_path / "local",
            tile=512,
            progress=False,
            scheduler="local",
        )
    )
    assert local and all(path.read_bytes() == plain[path.name] for path in local)


def test_a_scheduler_lost_mid_run_is_one_message_and_its_workers_stop(
    tmp_path, products, trained, plain
):
    """The scheduler killed while its workers clean products: one message naming it and the
    rerun, exit status 2; what the workers leave is complete or absent; a rerun on a new cluster
    writes what a plain run writes."""
    args = _args(products, trained)
    processes: list[subprocess.Popen] = []
    own = _cluster(tmp_path / "own", processes)
    address = next(own)
    try:
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crmss",
                "predict",
                *map(str, args),
                "--out",
                str(tmp_path / "out"),
                "--scheduler",
                address,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 300
        while (
            not list((tmp_path / "out").glob(".*.partial-*"))
            and time.monotonic() < deadline
            and run.poll() is None
        ):
            time.sleep(0.05)
        assert run.poll() is None, "the products finished before the scheduler was killed"
        processes[0].kill()
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 2, stderr[-3000:]
        assert (
            f"the Dask scheduler {address} was lost"
        ) in stderr and "rerun the same command" in stderr, stderr[-3000:]
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) <= 3, stderr[-3000:]
        # the orphaned workers finish or stop the products under way, and remove what they began
        deadline = time.monotonic() + 120
        while list((tmp_path / "out").glob(".*.partial-*")) and time.monotonic() < deadline:
            time.sleep(0.2)
        finished = _outputs(tmp_path / "out")
        assert not list((tmp_path / "out").glob(".*.partial-*"))
        assert all(finished[name] == data for name, data in plain.items() if name in finished)
    finally:
        next(own, None)
    again = _cluster(tmp_path / "again")
    try:
        rerun = run_cli("predict", *args, "--out", tmp_path / "out", "--scheduler", next(again))
    finally:
        next(again, None)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _outputs(tmp_path / "out") == plain


#: (run on a worker by ``exec``: the workers cannot import this test module) the loop of a
#: product's strips: note the start, check on each strip whether the worker still has its
#: scheduler, note what stopped it
WORK_UNTIL_ABANDONED = """
import time
from pathlib import Path
from crmss.core.cluster import stop_if_abandoned
from crmss.core.errors import ClusterLost
Path(FOLDER, "started").touch()
try:
    for _ in range(1200):
        stop_if_abandoned("a long product")
        time.sleep(0.1)
except ClusterLost as exc:
    Path(FOLDER, "stopped").write_text(str(exc))
"""


def test_a_worker_that_lost_its_scheduler_stops_its_product(tmp_path):
    """An orphaned worker does not go on writing for nobody: its task stops at the next strip."""
    from distributed import Client

    processes: list[subprocess.Popen] = []
    own = _cluster(tmp_path / "own", processes)
    try:
        with Client(next(own), timeout="30s") as client:
            future = client.submit(
                exec, WORK_UNTIL_ABANDONED, {"FOLDER": str(tmp_path)}, pure=False
            )
            deadline = time.monotonic() + 60
            while (
                not (tmp_path / "started").exists()
                and time.monotonic() < deadline
                and not future.done()
            ):
                time.sleep(0.05)
            assert (tmp_path / "started").exists(), (
                future.exception() if future.done() else "the task did not start"
            )
            processes[0].kill()
            deadline = time.monotonic() + 60
            while not (tmp_path / "stopped").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            del future
        assert (tmp_path / "stopped").exists(), "the orphaned worker went on with its product"
        stopped = (tmp_path / "stopped").read_text()
        assert re.fullmatch(
            r"a long product: stopped, its Dask worker tcp://127\.0\.0\.1:\d+ "
            r"lost the scheduler \(\w+\)",
            stopped,
        )
    finally:
        next(own, None)
