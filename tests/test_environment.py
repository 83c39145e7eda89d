"""The installation itself: GDAL's bindings, pyproject.toml vs environment.yml, the CLI's help."""

import logging
import os
import re
import signal
import subprocess
import sys
import warnings

import pytest
import tomllib

from conftest import REPO, run_cli
from crmss import cli


def test_gdal_bindings_have_numpy_support_and_the_jp2_driver():
    from osgeo import gdal, gdal_array  # gdal_array fails when pip built the bindings without numpy

    assert gdal_array.NumericTypeCodeToGDALTypeCode is not None
    assert (
        gdal.GetDriverByName("JP2OpenJPEG") is not None and gdal.GetDriverByName("COG") is not None
    )


def _requirement(text: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", text.strip()).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_environment_yml_and_pyproject_list_the_same_packages():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip = dict(
        _requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]
    )
    conda = {}
    section = None
    for line in (REPO / "environment.yml").read_text().splitlines():
        if not line.startswith(" "):
            section = line.split(":")[0]
        elif (
            section == "dependencies"
            and re.match(
                r"^  - "
                r"[A-Za-z]",
                line,
            )
            and not line.strip().endswith(":")
        ):
            name, spec = _requirement(line.strip()[2:])
            conda[name] = spec.replace("=", "==") if re.match(r"^=\d", spec) else spec
    # what conda alone provides: the interpreter, GDAL with its bindings (pip builds those
    # against the system library, see scripts/bootstrap.sh), the JPEG2000 plug-in that
    # conda-forge's GDAL >= 3.9 needs to read any band, and pip itself
    assert "libgdal-jp2openjpeg" in conda, (
        "environment.yml must list libgdal-jp2openjpeg: without it no band can be read"
    )
    assert (
        conda.pop("python") == "==3.11" and conda.pop("gdal") == ">=3.6" and conda.pop("pip") == ""
    )
    assert conda.pop("libgdal-jp2openjpeg") == ""
    assert conda == pip


@pytest.mark.slow
def test_every_option_of_every_command_is_explained_in_help():
    from crmss.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.choices and isinstance(a.choices, dict)]
    assert {"prepare", "demo"} <= set(commands.choices)
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, f"crmss {name} {action.option_strings} has no help text"
        run = run_cli(name, "--help")
        assert run.returncode == 0 and "usage: crmss " + name in run.stdout


@pytest.mark.slow
def test_usage_errors_exit_2_without_traceback():
    run = run_cli("prepare", "--products")
    assert run.returncode == 2 and "Traceback" not in run.stderr and "usage:" in run.stderr
    assert run_cli("prepare", "--products", "x", "--out", "y", "--workers", "0").returncode == 2


@pytest.mark.slow
def test_a_gdal_without_the_jpeg2000_driver_is_named_with_the_package_to_install(tmp_path):
    """GDAL_SKIP leaves the driver out, as a conda GDAL without libgdal-jp2openjpeg would."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "GDAL_SKIP": "JP2OpenJPEG"}
    for args in (
        ["prepare", "--products", str(tmp_path), "--out", str(tmp_path / "d")],
        [
            "predict",
            str(tmp_path / "p.zip"),
            "--model",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
        ],
    ):
        run = subprocess.run(
            [sys.executable, "-m", "crmss", *args], capture_output=True, text=True, env=env
        )
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert (
            "has no JP2OpenJPEG driver, so no Sentinel-2 band can be read" in run.stderr
            and "conda install -c conda-forge libgdal-jp2openjpeg" in run.stderr
        )
        assert not (tmp_path / "d").exists() and not (tmp_path / "o").exists()


def test_citation_cff_cites_the_paper_as_readme_does():
    import yaml

    import crmss

    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    paper = cff["preferred-citation"]
    assert (
        cff["cff-version"] == "1.2.0"
        and cff["version"] == crmss.__version__
        and paper["type"] == "article"
    )
    assert [a["family-names"] for a in paper["authors"]] == [
        "Li",
        "Wu",
        "Hu",
        "Li",
        "Wang",
        "Molinier",
    ]
    assert (
        paper["journal"],
        paper["volume"],
        paper["issue"],
        paper["start"],
        paper["year"],
        paper["doi"],
    ) == (
        "Remote Sensing",
        13,
        1,
        157,
        2021,
        "10.3390/rs13010157",
    )
    readme = " ".join((REPO / "README.md").read_text().split())
    assert paper["title"] in readme and paper["doi"] in readme


def test_importing_crmss_changes_nothing_global_and_its_gdal_calls_restore_the_callers_mode(
    tmp_path,
):
    script = f"""
import logging, pkgutil, importlib, matplotlib
matplotlib.use("svg")  # a caller's choice, which importing crmss must keep
from osgeo import gdal, osr
import crmss
def state():
    handlers = list(logging.getLogger("crmss").handlers)
    modes = gdal.GetUseExceptions(), osr.GetUseExceptions()
    return matplotlib.get_backend(), modes, handlers, gdal.GetCacheMax()
before = state()
modules = [m.name for m in pkgutil.walk_packages(crmss.__path__, "crmss.")]
modules = [name for name in modules if name != "crmss.__main__"]
assert len(modules) > 50, modules  # every module of every stage
for module in modules:
    importlib.import_module(module)
import keras
after = state()
assert before == after, (before, after)
assert keras.mixed_precision.dtype_policy().name == "float32"
from crmss.core.errors import InputError
from crmss.io.raster import raster_info
try:
    raster_info({str(tmp_path / "missing.tif")!r})
except InputError:
    pass
else:
    raise AssertionError("a missing raster must raise InputError")
assert (gdal.GetUseExceptions(), osr.GetUseExceptions()) == (0, 0)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]


def test_progress_bars_are_drawn_only_on_a_terminal(monkeypatch):
    import io

    from crmss.core.console import keras_verbosity, progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, drawn, epochs in ((io.StringIO(), False, 2), (Terminal(), True, 1)):
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.setattr(sys, "stdout", stream)
        with progress_bar(True, total=3, desc="work") as bar:
            bar.update(3)
        assert ("work" in stream.getvalue()) == drawn
        assert keras_verbosity(None) == epochs and keras_verbosity(0) == 0
        with progress_bar(False, total=3) as bar:
            assert bar.disable


def test_a_command_leaves_the_process_as_it_found_it(tmp_path, monkeypatch, capsys):
    """cli.main from a notebook or a test: environment variables, warning filters, the SIGTERM
    handler and crmss's logger are as they were, whatever the command set while it ran."""
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # what a quiet TensorFlow start sets

    def state():
        logger = logging.getLogger("crmss")
        handler = signal.getsignal(signal.SIGTERM)
        return (
            dict(os.environ),
            list(warnings.filters),
            handler,
            list(logger.handlers),
            logger.level,
        )

    before = state()
    argv = ["test", "--data", str(tmp_path), "--model", str(tmp_path), "--out", str(tmp_path / "r")]
    assert cli.main(argv) == 2  # TensorFlow loaded, then the model refused
    assert "no trained generator here" in capsys.readouterr().err
    assert state() == before
