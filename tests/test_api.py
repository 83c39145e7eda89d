"""The public Python API: docs/api.md runs as written; clean() is predict's arithmetic on arrays."""

import argparse
import dataclasses
import re
import subprocess
import sys

import numpy as np
import pytest
from osgeo import gdal

import crmss
from conftest import REPO, cloudy_product
from crmss import cli
from crmss.core import memo
from crmss.core.bands import BANDS_10M, BANDS_20M
from crmss.core.errors import InputError
from crmss.core.options import DemoOptions, describe
from crmss.nn.model import build_generator


@pytest.mark.slow
def test_import_crmss_is_light_and_names_the_api():
    code = "import sys, crmss; assert 'tensorflow' not in sys.modules; print(sorted(crmss.__all__))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    for name in (
        "load_generator",
        "clean",
        "open_product",
        "prepare",
        "train",
        "evaluate",
        "predict",
        "simulate",
        "report",
    ):
        assert name in run.stdout
    import crmss.dataset.prepare  # noqa: F401 - importing a stage's module hides no public name
    import crmss.protocol.reproduce  # noqa: F401

    assert callable(crmss.prepare) and crmss.prepare.__module__ == "crmss.dataset.prepare"
    assert callable(crmss.reproduce) and crmss.reproduce.__module__ == "crmss.protocol.reproduce"


def test_the_type_stub_names_the_public_api_as_it_loads():
    """crmss/__init__.pyi (what IDEs and mypy see) imports every public name from the module the
    lazy loader takes it from, under the same name."""
    stub = (REPO / "crmss" / "__init__.pyi").read_text()
    imported = {
        alias: (module, name)
        for module, name, alias in re.findall(
            r"^from \.([\w.]+) "
            r"import (\w+) as (\w+)$",
            stub,
            re.M,
        )
    }
    assert imported == dict(crmss._API)
    assert (
        re.search(
            r"^__all__ = "
            r"(\[.*?\])",
            stub,
            re.M | re.S,
        )
        and eval(re.search(r"^__all__ = (\[.*?\])", stub, re.M | re.S)[1]) == crmss.__all__
    )


@pytest.mark.slow
def test_options_are_light_frozen_and_typed(tmp_path):
    code = (
        "import sys, crmss; o = crmss.PredictOptions(('p',), '.', 'out', tile='1024'); assert "
        "'tensorflow' not in sys.modules; print(o.tile)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.strip() == "1024", run.stderr[-2000:]
    options = crmss.SimulateOptions(tmp_path, "out")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.subset = "train"
    with pytest.raises(
        InputError,
        match=r"thickness=\(2.0, 1.0\): the minimum exceeds the "
        r"maximum",
    ):
        crmss.CloudParameters(thickness=(2.0, 1.0))


def test_help_texts_and_defaults_of_the_command_line_come_from_the_options():
    """Every option of every command: its --help text is its field's, default filled in, and
    its parsed default the field's (train's options default to None: 'not said', for resume)."""
    classes = {
        "prepare": [crmss.PrepareOptions],
        "train": [crmss.TrainOptions],
        "test": [crmss.EvaluateOptions],
        "predict": [crmss.PredictOptions],
        "simulate": [crmss.SimulateOptions, crmss.CloudParameters],
        "report": [crmss.ReportOptions],
        "demo": [DemoOptions],
    }
    commands = next(
        a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices
    checked = 0
    for command, options in classes.items():
        fields = {f.name: (cls, f) for cls in options for f in dataclasses.fields(cls)}
        for action in commands[command]._actions:
            if action.dest not in fields:
                continue
            cls, field = fields[action.dest]
            assert action.help == describe(cls, action.dest), (command, action.dest)
            if field.default is not dataclasses.MISSING:
                assert action.default == (None if command == "train" else field.default), (
                    command,
                    action.dest,
                )
            checked += 1
        parsed = {f.name for cls in options for f in dataclasses.fields(cls)} - {"clouds"}
        # every field is an option
        assert parsed <= {a.dest for a in commands[command]._actions}, command
    assert checked > 50
    assert "(default 1024;" in describe(
        crmss.PredictOptions, "tile"
    ) and "default 0.1 1: thin" in describe(crmss.CloudParameters, "thickness")

    @dataclasses.dataclass(frozen=True)
    class Percent:
        share: float = dataclasses.field(default=0.5, metadata={"help": "50% of {default}"})

    assert describe(Percent, "share") == "50%% of 0.5"  # escaped for argparse


def test_the_walkthrough_in_docs_api_md_runs(trained, products, tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs/api.md").read_text(), re.S)
    assert len(blocks) >= 4
    namespace = {}
    exec(blocks[0], namespace)  # the paths a reader sets; here, the test's own
    namespace.update(
        RUN=str(trained / "run"),
        PRODUCT=str(cloudy_product(products(0, zipped=True))),
        DATA=str(trained / "data"),
        OUT=str(tmp_path),
    )
    for block in blocks[1:]:
        exec(block, namespace)
    assert namespace["y10"].shape == (512, 512, 4) and namespace["y20"].shape == (256, 256, 6)
    assert (tmp_path / "before_after.png").stat().st_size > 10_000
    assert [p.name for p in namespace["written"]] == [
        f"{namespace['product'].name}_CR_{res}.tif" for res in ("10m", "20m", "mask")
    ]


def test_clean_on_a_whole_product_equals_predict(trained, products, tmp_path):
    product = crmss.open_product(cloudy_product(products(0)))
    options = crmss.PredictOptions(
        (product.path,), trained / "run", tmp_path, tile=512, overlap=128, progress=False
    )
    written = crmss.predict(options)
    # the run's generator is not kept after it (crmss/core/memo.py)
    assert memo._state["results"] == {}
    generator = crmss.load_generator(trained / "run")
    x10, x20 = product.read(BANDS_10M), product.read(BANDS_20M)
    outputs = crmss.clean(generator, x10, x20, tile=512, overlap=128)
    for path, array in zip(written, outputs):
        assert np.array_equal(
            np.rint(array * 10000).astype(np.uint16),
            np.moveaxis(gdal.Open(str(path)).ReadAsArray(), 0, -1),
        )
    assert np.all(outputs[0][np.any(x10 == 0, axis=-1)] == 0)  # no data stays no data
    # the same pixels as DNs of a baseline 04.00 product: (DN + offset) / scale
    dn10, dn20 = (
        np.where(x == 0, 0, np.rint(x * 10000) + 1000).astype(np.uint16) for x in (x10, x20)
    )
    again = crmss.clean(generator, dn10, dn20, tile=512, overlap=128, scale=10000, offset=-1000)
    assert all(np.array_equal(a, b) for a, b in zip(outputs, again))


def test_read_gives_reflectance_of_a_window(products):
    product = crmss.open_product(cloudy_product(products(0, baseline="05.10")))
    whole = product.read(BANDS_20M)
    part = product.read(BANDS_20M, (100, 40, 64, 32))
    assert whole.dtype == np.float32 and whole.shape == (390, 390, 6) and part.shape == (16, 32, 6)
    assert np.array_equal(part, whole[20:36, 50:82])
    raw = gdal.Open(product.band_files["B05"]).ReadAsArray(50, 20, 32, 16).astype(np.float32)
    # the offset of baseline 05.10 applied
    assert np.allclose(part[..., 0], np.where(raw == 0, 0, (raw - 1000) / 10000))
    for bands, window, message in (
        (("B02", "B05"), None, "bands of one resolution"),
        (BANDS_20M, (1, 0, 64, 64), "divisible by 2"),
        (BANDS_10M, (700, 0, 200, 10), "not inside the product's 780 x 780 px grid"),
    ):
        with pytest.raises(InputError, match=message):
            product.read(bands, window)


def test_clean_refuses_what_it_cannot_clean_saying_what_was_given_and_what_is_needed():
    generator = build_generator(8)
    x10, x20 = np.full((64, 64, 4), 0.1, np.float32), np.full((32, 32, 6), 0.1, np.float32)
    dn10, dn20 = (x10 * 10000).astype(np.uint16), (x20 * 10000).astype(np.uint16)
    inf10 = x10.copy()
    inf10[3, 4, 1] = np.inf
    refused = [
        (
            (x10,),
            {},
            r"the generator needs x20, the 20m stack \(B05, B06, B07, B8A, B11, B12\); "
            r"it was not given",
        ),
        (
            (x10, x20[:, :30]),
            {},
            r"x20 has shape \(32, 30, 6\); give \(32, 32, 6\): half of x10's "
            r"\(64, 64\)",
        ),
        (
            (x10[..., :3], x20),
            {},
            r"x10 has shape \(64, 64, 3\); give \(H, W, 4\) with H and W "
            r"even",
        ),
        ((x10[:63], x20), {}, r"x10 has shape \(63, 64, 4\); give \(H, W, 4\) with H and W even"),
        (
            (x10.astype(bool), x20),
            {},
            "x10 is an array of bool; give floating-point reflectance, or DNs with scale=",
        ),
        ((x10.astype(np.complex64), x20), {}, "x10 is an array of complex64"),
        (
            (dn10, dn20),
            {},
            r"x10 holds uint16 values, DNs: give scale= \(10000 for Sentinel-2 "
            r"L1C\)",
        ),
        (
            (dn10, dn20),
            {"scale": 0},
            r"scale=0.0: out of range; give a finite number in \(0, "
            r"inf\)",
        ),
        ((dn10, dn20), {"scale": float("nan")}, "scale=nan: not allowed; give a finite number"),
        ((dn10, dn20), {"scale": -10000}, "scale=-10000.0: out of range"),
        (
            (dn10, dn20),
            {"scale": 10000, "offset": float("inf")},
            "offset=inf: not allowed; give a finite number",
        ),
        (
            (inf10, x20),
            {},
            r"x10 holds infinite values; give finite reflectance \(0 or NaN mark "
            r"no data\)",
        ),
        (
            (x10 * 10000, x20),
            {},
            r"x10 holds values up to 1000 as reflectance, above L1C's "
            r"largest reflectance \(6.5535\)",
        ),
        ((dn10, dn20), {"scale": 1}, r"x10 holds values up to 1000 as \(DN \+ 0\) / 1"),
        (
            (x10, x20),
            {"tile": 100},
            "tile=100: out of range; give a whole number from 64 to 16384, a multiple of 32",
        ),
        (
            (x10, x20),
            {"tile": 256, "overlap": 130},
            r"overlap=130: at most half the tile \(128 "
            r"for tile=256\)",
        ),
        ((x10, x20), {"overlap": 3}, "overlap=3: out of range"),
        ((x10, x20), {"batch_size": 0}, "batch_size=0: out of range"),
        (
            (x10, x20),
            {"precision": "float8"},
            "precision='float8': unknown; choose one of auto, float32, bfloat16, float16",
        ),
        ((x10, x20), {"devices": "TPU:0"}, "devices='TPU:0': give 'all' or device names"),
    ]
    for args, kwargs, message in refused:
        with pytest.raises(InputError, match=message):
            crmss.clean(generator, *args, **kwargs)
    nan10 = x10.copy()
    nan10[0, 0, 2] = np.nan  # NaN marks no data, as 0 does
    y10, y20 = crmss.clean(generator, nan10, x20, tile=64, overlap=0)
    assert y10[0, 0].tolist() == [0, 0, 0, 0] and (y10[1:] > 0).all() and (y20 > 0).all()
    from_dn = crmss.clean(generator, dn10, dn20, scale=10000, tile=64, overlap=0)
    assert np.array_equal(from_dn[1], crmss.clean(generator, x10, x20, tile=64, overlap=0)[1])
    # a Vis/NIR model needs no 20 m stack
    (y10,) = crmss.clean(build_generator(8, bands="visnir"), x10)
    assert y10.shape == (64, 64, 4)
