"""Round trips: one training and one testing pair in every packaging crmss reads (.SAFE
folders, zips named three ways, PDMC products, bucket tile folders, Earth Search items, Data
Space items, an ItemCollection, items served over HTTP), each prepared, trained one step,
tested, simulated, prepared again and predicted, each command reading what the one before it
wrote: through the Python API with prepare and predict on a real Dask cluster, and through the
command line. The patches prepared from one acquisition are the same whichever packaging held it."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from genuine import cdse_item, earth_search_item
from osgeo import gdal

from conftest import run_cli
from crmss.core.options import (
    EvaluateOptions,
    PredictOptions,
    PrepareOptions,
    SimulateOptions,
    TrainOptions,
)
from crmss.dataset import synthetic
from crmss.dataset.prepare import prepare
from crmss.dataset.simulate import simulate
from crmss.dataset.splits import read_split, write_split
from crmss.evaluation.evaluate import evaluate
from crmss.inference.predict import predict_products
from crmss.io import esa_files
from crmss.io.names import ProductName
from crmss.nn.training import train

pytestmark = pytest.mark.slow
gdal.UseExceptions()
#: 10 m side of the products (a multiple of 6): a 2 x 2 window grid, quick to write and to train on
SIZE = 516
#: the published list's first training pair and first testing pair
PAIRS = (read_split()[0], read_split()[28])
#: where the testing pair's cloudy product is in the products a packaging returns
TESTING_CLOUDY = 2
PACKAGINGS = (
    "safe",
    "zip",
    "safe-zip",
    "root-zip",
    "pdmc",
    "bucket",
    "earth-search",
    "data-space",
    "item-collection",
    "served",
)


class Served:
    """A folder served on 127.0.0.1 with HTTP range requests, as object stores serve files."""

    def __init__(self, folder: Path):
        self.root = folder
        handler = functools.partial(_RangeRequests, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


class _RangeRequests(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        asked, path = self.headers.get("Range", ""), Path(self.translate_path(self.path))
        if not asked.startswith("bytes=") or not path.is_file():
            return super().do_GET()
        data = path.read_bytes()
        start, _, end = asked.removeprefix("bytes=").partition("-")
        first, last = int(start), min(int(end or len(data) - 1), len(data) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        self.wfile.write(data[first : last + 1])

    def log_message(self, *args: object) -> None:
        pass


def _write_pairs(folder: Path, **layout: object) -> list[Path]:
    """Both pairs of PAIRS in ``folder`` with ``layout``; returns the four products (cloudy,
    clear, cloudy, clear)."""
    return [
        p
        for pair in PAIRS
        for p in synthetic.write_pair(folder, pair.clear, pair.cloudy, size=SIZE, seed=11, **layout)
    ]


def _files(path: Path) -> esa_files.ProductFiles:
    """The ESA file names of the product at ``path`` (a .SAFE folder or a bucket tile folder)."""
    name = (
        json.loads((path / "productInfo.json").read_text())["name"]
        if (path / "productInfo.json").exists()
        else path.stem
    )
    return esa_files.ProductFiles.of(ProductName.of(name).name, str(ProductName.of(name).baseline))


def _rezip(safe: Path, root_level: bool) -> Path:
    """``safe`` as ``<name>.SAFE.zip`` (the Data Space's naming) or as a zip of its content
    without the ``.SAFE`` folder."""
    target = safe.parent / (f"{safe.stem}.zip" if root_level else f"{safe.name}.zip")
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(safe.rglob("*")):
            archive.write(path, path.relative_to(safe if root_level else safe.parent).as_posix())
    shutil.rmtree(safe)
    return target


def _package(packaging: str, root: Path, served: Served) -> list[Path | str]:
    """Write both pairs packaged as ``packaging`` into ``root/products``; returns the four
    products as a user names them."""
    products = root / "products"
    if packaging in ("safe", "zip", "pdmc", "bucket"):
        layout = {
            "zip": {"zipped": True},
            "pdmc": {"naming": "long"},
            "bucket": {"bucket": True},
        }.get(packaging, {})
        return list(_write_pairs(products, **layout))
    if packaging in ("safe-zip", "root-zip"):
        return [_rezip(safe, packaging == "root-zip") for safe in _write_pairs(products)]
    if packaging in ("earth-search", "item-collection"):
        tiles = _write_pairs(root / "bucket", bucket=True)
        items = [
            earth_search_item(tile, products / f"item{i}.json") for i, tile in enumerate(tiles)
        ]
        if packaging == "earth-search":
            return list(items)
        features = [json.loads(item.read_text()) for item in items]
        for item in items:
            item.unlink()
        (products / "search.json").write_text(
            json.dumps({"type": "FeatureCollection", "features": features})
        )
        return [f"{products / 'search.json'}#{feature['id']}" for feature in features]
    if packaging == "data-space":
        return [
            cdse_item(safe, safe.stem, products / f"item{i}.json")
            for i, safe in enumerate(_write_pairs(root / "safes"))
        ]
    # "served": the .SAFE folders on the server, the items in products/ and by their URLs
    on_server = served.root / root.name
    for i, safe in enumerate(_write_pairs(on_server)):
        item = json.dumps(
            esa_files.cdse_item(
                _files(safe), f"{served.url}/{root.name}/{safe.name}", [117.0, 40.0, 118.3, 41.0]
            )
        )
        for folder in (products, on_server):
            (folder / f"item{i}.json").write_text(item)
    return [f"{served.url}/{root.name}/item{i}.json" for i in range(4)]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("served"))
    yield served
    served.server.shutdown()


@pytest.fixture(scope="module")
def packaged(tmp_path_factory, server) -> Callable[[str], tuple[Path, list]]:
    """packaged(packaging) -> (a folder holding ``products/`` and ``split.csv``, the four
    products)."""
    made: dict[str, tuple[Path, list]] = {}

    def make(packaging: str) -> tuple[Path, list]:
        if packaging not in made:
            root = tmp_path_factory.mktemp(packaging)
            (root / "products").mkdir()
            named = _package(packaging, root, server)
            write_split(root / "split.csv", list(PAIRS))
            made[packaging] = root, named
        return made[packaging]

    return make


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The address of a real Dask LocalCluster: one worker process of one thread."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def patches(tree: Path) -> dict[str, np.ndarray]:
    """The prepared tree's patches: path relative to the tree -> pixels."""
    return {
        p.relative_to(tree).as_posix(): gdal.Open(str(p)).ReadAsArray()
        for p in sorted(tree.rglob("*.tif"))
    }


def windows(tree: Path) -> dict[str, list]:
    return {
        key: pair["windows"]
        for key, pair in json.loads((tree / "manifest.json").read_text())["pairs"].items()
    }


def pixels(paths: list[Path]) -> list[np.ndarray]:
    return [gdal.Open(str(p)).ReadAsArray() for p in paths]


@pytest.fixture(scope="module")
def reference(packaged, cluster) -> dict:
    """The .SAFE folders' round trip, run plainly: what every other packaging must give."""
    root, named = packaged("safe")
    prepare(
        PrepareOptions(root / "products", root / "data", split=root / "split.csv", progress=False)
    )
    train(_train_options(root), verbose=0)
    written = predict_products(
        PredictOptions(
            [named[TESTING_CLOUDY]],
            model=root / "run",
            out=root / "predicted",
            tile=512,
            progress=False,
        )
    )
    simulate(SimulateOptions(root / "data", out=root / "simulated", progress=False))
    results = evaluate(_evaluate_options(root / "data", root, "reference"))
    simulated = evaluate(_evaluate_options(root / "simulated", root, "reference_simulated"))
    assert set(simulated["scene"]) == set(results["scene"]) and simulated["value"].notna().all()
    return {
        "patches": patches(root / "data"),
        "windows": windows(root / "data"),
        "results": _scores(results),
        "simulated": patches(root / "simulated"),
        "predicted": pixels(sorted(written)),
    }


def _evaluate_options(data: Path, root: Path, out: str) -> EvaluateOptions:
    """``crmss test`` of the run ``root/run`` on ``data``, into ``root/out``."""
    return EvaluateOptions(
        data, models=(str(root / "run"),), out=root / out, figures=0, progress=False
    )


def _scores(results) -> list:
    """The results table's rows as (scene, method, band, metric, pixels, value), sorted."""
    columns = ["scene", "method", "band", "metric", "pixels", "value"]
    return sorted(results[columns].itertuples(index=False, name=None), key=str)


def _train_options(root: Path) -> TrainOptions:
    return TrainOptions(
        data=str(root / "data"),
        out=str(root / "run"),
        width=8,
        epochs=1,
        steps_per_epoch=1,
        samples=0,
        val_pairs=0,
    )


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_every_command_reads_what_the_one_before_wrote(packaging, packaged, reference, cluster):
    """prepare (on the cluster) -> prepare again (plain; no patch rewritten) -> train one step ->
    test -> simulate -> predict (on the cluster) the testing pair's cloudy product. Each output
    equals the .SAFE folders' (the reference): the patches, the run's scores, the simulated
    patches (whose evaluation the reference runs; a tree whose pixels are the reference's
    scores as the reference does) and the prediction."""
    root, named = packaged(packaging)
    data = root / "data"
    if not data.exists():
        prepare(
            PrepareOptions(
                root / "products", data, split=root / "split.csv", progress=False, scheduler=cluster
            )
        )
    assert windows(data) == reference["windows"]
    assert patches(data).keys() == reference["patches"].keys()
    for name, array in patches(data).items():
        np.testing.assert_array_equal(
            array, reference["patches"][name], err_msg=f"{packaging}: {name}"
        )
    manifest = json.loads((data / "manifest.json").read_text())
    written = {p: p.stat().st_mtime_ns for p in data.rglob("*.tif")}
    again = prepare(
        PrepareOptions(root / "products", data, split=root / "split.csv", progress=False)
    )
    assert (
        again["pairs"] == manifest["pairs"]
        and {p: p.stat().st_mtime_ns for p in written} == written
    )

    if not (root / "run").exists():
        train(_train_options(root), verbose=0)
    assert json.loads((root / "run" / "config.json").read_text())["train_pairs"] == [PAIRS[0].key]
    results = evaluate(_evaluate_options(data, root, "results"))
    assert set(results["method"]) >= {"crmss", "cloudy_input"} and results["value"].notna().all()
    assert _scores(results) == reference["results"], f"{packaging}: the scores differ"
    if not (root / "simulated").exists():
        simulate(SimulateOptions(data, out=root / "simulated", progress=False))
    simulated = patches(root / "simulated")
    assert simulated.keys() == reference["simulated"].keys()
    for name, array in simulated.items():
        np.testing.assert_array_equal(
            array, reference["simulated"][name], err_msg=f"{packaging}: simulated {name}"
        )

    options = PredictOptions(
        [named[TESTING_CLOUDY]],
        model=root / "run",
        out=root / "on_cluster",
        tile=512,
        progress=False,
        scheduler=cluster,
    )
    cloudy = ProductName.of(PAIRS[1].cloudy)
    # a PDMC product gives each granule
    outputs = sorted(p for p in predict_products(options) if f"_T{cloudy.tile}_" in p.name)
    assert len(outputs) == len(reference["predicted"]) and all(
        cloudy.sensing in p.name for p in outputs
    )
    for ours, expected in zip(pixels(outputs), reference["predicted"]):
        np.testing.assert_array_equal(
            ours, expected, err_msg=f"{packaging}: the prediction differs from the .SAFE folder's"
        )


def test_the_command_line_reads_what_it_wrote_from_items_served_over_http(
    packaged, reference, tmp_path
):
    """The same round trip as a user types it, on the Data Space items whose .SAFE folders are
    served."""
    root, named = packaged("served")
    data, run, split = tmp_path / "data", tmp_path / "run", root / "split.csv"
    steps = [
        (
            "prepare",
            "--products",
            root / "products",
            "--out",
            data,
            "--split",
            split,
            "--no-progress",
        ),
        (
            "train",
            "--data",
            data,
            "--out",
            run,
            "--width",
            "8",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "1",
            "--samples",
            "0",
            "--val-pairs",
            "0",
        ),
        (
            "test",
            "--data",
            data,
            "--model",
            run,
            "--out",
            tmp_path / "results",
            "--figures",
            "0",
            "--no-progress",
        ),
        ("simulate", "--data", data, "--out", tmp_path / "simulated", "--no-progress"),
        (
            "test",
            "--data",
            tmp_path / "simulated",
            "--model",
            run,
            "--out",
            tmp_path / "sim_results",
            "--figures",
            "0",
            "--no-progress",
        ),
        (
            "prepare",
            "--products",
            root / "products",
            "--out",
            data,
            "--split",
            split,
            "--no-progress",
        ),
        (
            "predict",
            named[TESTING_CLOUDY],
            "--model",
            run,
            "--out",
            tmp_path / "predicted",
            "--tile",
            "512",
            "--no-progress",
        ),
    ]
    for step in steps:
        done = run_cli(*step)
        assert done.returncode == 0, f"crmss {step[0]}: {done.stderr[-3000:]}"
    assert patches(data).keys() == reference["patches"].keys()
    outputs = sorted((tmp_path / "predicted").glob("*.tif"))
    assert len(outputs) == len(reference["predicted"])
    for ours, expected in zip(pixels(outputs), reference["predicted"]):
        np.testing.assert_array_equal(ours, expected)
