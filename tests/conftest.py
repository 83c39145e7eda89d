"""Shared fixtures: small synthetic L1C products made by crmss.dataset.synthetic (real JP2 +
.SAFE)."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from crmss import cli
from crmss.core.options import PrepareOptions, TrainOptions
from crmss.dataset.prepare import prepare
from crmss.dataset.splits import read_split, write_split
from crmss.dataset.synthetic import write_pair
from crmss.nn.training import train

#: 10 m side of the test products: a 3 x 3 window grid (780 // 256), 20 m 390 px, 60 m 130 px.
SIZE = 780
REPO = Path(__file__).resolve().parents[1]
#: fixtures that write products, prepare trees or train: a test using one is marked ``slow``
HEAVY_FIXTURES = {
    "products",
    "trained",
    "data",
    "prepared",
    "cleaned",
    "simulated",
    "visnir",
    "stress",
    "small_disk",
    "reproduced",
}


def pytest_collection_modifyitems(items):
    """Mark ``slow`` every test that uses a heavy fixture (the others are marked by hand): ``make
    test-fast`` runs the rest, the unit tests, in well under a minute."""
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def pairs():
    """The published WHUS2-CR split list (28 training, 8 testing pairs)."""
    return read_split()


def _session_root(tmp_path_factory) -> Path:
    """The temporary folder of the whole test session, shared by its pytest-xdist workers."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def jax_compilation_cache(tmp_path_factory):
    """JAX's persistent compilation cache for the JAX processes the tests start (they inherit
    this environment), shared by the whole session: a program compiled once (XLA on the CPU
    takes most of a small JAX run) is loaded by the next process that builds the same one.
    Measured on tests/test_jax.py alone, 2 cores: 139 s without, 106 s with."""
    cache = {
        "JAX_COMPILATION_CACHE_DIR": str(_session_root(tmp_path_factory) / "jax-cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
    }
    with pytest.MonkeyPatch.context() as patch:  # the environment given back at the end
        for name, value in cache.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Callable[[str, Callable[[Path], object]], Path]:
    """shared(name, make) -> the folder ``name`` that ``make(folder)`` filled, made once for the
    whole test session: by the first pytest-xdist worker that asks, the others waiting for it
    and then using it (a lock file and a mark of completion beside it, not in it). Treat it
    as read-only (copy before damaging)."""
    root = _session_root(tmp_path_factory)
    (root / "shared").mkdir(exist_ok=True)

    def made(name: str, make: Callable[[Path], object]) -> Path:
        folder = root / "shared" / name
        with open(folder.parent / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder.parent / f"{name}.made").exists():
                shutil.rmtree(folder, ignore_errors=True)  # a worker that failed midway
                folder.mkdir()
                make(folder)
                (folder.parent / f"{name}.made").touch()
        return folder

    return made


@pytest.fixture(scope="session")
def products(shared, pairs):
    """products(index, **layout) -> folder holding the synthetic pair ``pairs[index]``.

    Made once per session per (index, layout); treat as read-only (copy before damaging).
    """

    def make(index: int = 0, **layout) -> Path:
        name = "-".join(["products", str(index), *(f"{k}={v}" for k, v in sorted(layout.items()))])
        pair = pairs[index]
        return shared(
            name,
            lambda folder: write_pair(folder, pair.clear, pair.cloudy, size=SIZE, seed=7, **layout),
        )

    return make


@pytest.fixture(scope="session")
def trained(shared, products, pairs):
    """A prepared tree (one training and one testing pair) and a width-8 run trained 1 epoch."""

    def make(root: Path) -> None:
        for index in (0, 28):
            for product in products(index).iterdir():
                shutil.copytree(product, root / "products" / product.name)
        write_split(root / "split.csv", [pairs[0], pairs[28]])
        prepare(
            PrepareOptions(
                root / "products", root / "data", split=root / "split.csv", progress=False
            )
        )
        train(
            TrainOptions(
                data=str(root / "data"), out=str(root / "run"), width=8, epochs=1, samples=0
            ),
            verbose=0,
        )

    return shared("trained", make)


@pytest.fixture
def split_of(tmp_path, pairs):
    """split_of(*indices) -> a split-list CSV (published layout) holding those pairs."""

    def make(*indices: int) -> Path:
        path = tmp_path / "split.csv"
        write_split(path, [pairs[i] for i in indices])
        return path

    return make


def cloudy_product(folder: Path) -> Path:
    """The cloudy product (sensed 2016-04-13) of the first pair's folder that ``products(0,
    ...)`` wrote."""
    (path,) = [p for p in folder.iterdir() if "20160413" in p.name]
    return path


def copy_products(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def make_level_2a(safe: Path) -> Path:
    """Turn the L1C ``.SAFE`` folder ``safe`` into what an L2A product's metadata says; return
    it."""
    mtd = safe / "MTD_MSIL1C.xml"
    mtd.write_text(mtd.read_text().replace("S2MSI1C", "S2MSI2A").replace("Level-1C", "Level-2A"))
    mtd.rename(safe / "MTD_MSIL2A.xml")
    return safe


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``crmss ARGS`` in this process, through ``cli.main`` as the console script does:
    its exit status and what it printed, as a finished process would give them (an exception
    that escapes ``main`` is printed as Python prints it, status 1). Tests of what only a
    process shows (signals, the console script's own exit, imports kept out) use
    :func:`run_console`."""
    argv = [str(arg) for arg in args]
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(cwd or Path.cwd()),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            status = cli.main(argv)
        except SystemExit as exc:  # argparse: --help, --version, a usage error
            status = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        except Exception:
            traceback.print_exc()
            status = 1
    return subprocess.CompletedProcess(["crmss", *argv], status, out.getvalue(), err.getvalue())


def run_console(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m crmss ARGS`` in a new process, as a user would; returns the finished
    process."""
    return subprocess.run(
        [sys.executable, "-m", "crmss", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def run_on_jax(script: str, *args: object) -> tuple[object, str]:
    """Run the Python ``script`` with ``args`` in a new process on Keras's JAX backend (with the
    session's compilation cache); assert it succeeded; return what its last line of stdout says
    (JSON) and its stderr."""
    run = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.splitlines()[-1]), run.stderr


class SmallDisk:
    """A folder on a tmpfs of a given size: a real full disk for the tests (mounting needs root)."""

    def __init__(self, path: Path, megabytes: float):
        self.path = path
        path.mkdir(parents=True)
        mount = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={int(megabytes * 1024)}k", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if mount.returncode:
            pytest.skip(
                f"a small tmpfs cannot be mounted here ({mount.stderr.strip()}); the "
                "disk-full tests need root"
            )

    def resize(self, megabytes: float) -> None:
        """Free space: grow the tmpfs to ``megabytes``."""
        subprocess.run(
            ["mount", "-o", f"remount,size={int(megabytes * 1024)}k", str(self.path)], check=True
        )

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """small_disk(megabytes) -> a SmallDisk under tmp_path (unmounted after the test)."""
    disks = []

    def make(megabytes: float, name: str = "disk") -> SmallDisk:
        disks.append(SmallDisk(tmp_path / name, megabytes))
        return disks[-1]

    yield make
    for disk in disks:
        disk.unmount()
