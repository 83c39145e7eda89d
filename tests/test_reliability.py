"""Reliability across the commands: bad patches, bad options, full disks, kills, concurrent runs,
quiet errors.

Each failure must be one message on stderr naming the file (or option) and the fix, exit status
2, no traceback, no TensorFlow log lines, and nothing partial left at a final name.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from osgeo import gdal

from conftest import run_cli, run_console
from crmss.dataset.splits import read_split
from crmss.dataset.synthetic import write_pair
from crmss.nn.model import build_generator

TRAIN_PAIR, TEST_PAIR = "R075_T50TMK", "R064_T37UCQ"


def assert_one_message(run, *words):
    """Exit 2 with one 'crmss CMD: error: ...' message (it may span lines) and nothing else on
    stderr but progress bars."""
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    lines = [
        line
        for line in run.stderr.replace("\r", "\n").splitlines()
        if line.strip() and "%|" not in line
    ]
    assert lines and lines[0].startswith("crmss ") and ": error: " in lines[0], run.stderr[-3000:]
    for noise in ("Traceback", "I0000", "E0000", "W0000", "absl", "cuda", "oneDNN", "tensorflow"):
        assert noise not in run.stderr, run.stderr
    for word in words:
        assert word in run.stderr, run.stderr


def last_patch(data, subset, kind, res, pair):
    return sorted((data / subset / kind / res / pair).iterdir(), key=lambda p: int(p.stem))[-1]


def _three_bands(patch):
    gdal.Translate(f"{patch}.x.tif", str(patch), bandList=[1, 2, 3])
    os.replace(f"{patch}.x.tif", patch)
    return "3 bands of 128 x 128 px, but 20m patches of this tree have 6 bands"


def _wrong_size(patch):
    gdal.Translate(f"{patch}.x.tif", str(patch), srcWin=[0, 0, 64, 64])
    os.replace(f"{patch}.x.tif", patch)
    return "6 bands of 64 x 64 px, but 20m patches of this tree have 6 bands of 128 x 128 px"


def _empty(patch):
    patch.write_bytes(b"")
    return "cannot read this patch"


def _nan(patch):
    ds = gdal.Translate(f"{patch}.x.tif", str(patch), outputType=gdal.GDT_Float32)
    pixels = ds.GetRasterBand(2).ReadAsArray()
    pixels[5, 7] = np.nan
    ds.GetRasterBand(2).WriteArray(pixels)
    ds = None
    os.replace(f"{patch}.x.tif", patch)
    return "holds NaN or infinite values"


@pytest.mark.parametrize(
    "damage", [_three_bands, _wrong_size, _empty, _nan], ids=["3-bands", "size", "empty", "nan"]
)
def test_train_checks_every_patch_and_leaves_no_run_folder(trained, tmp_path, damage):
    data = shutil.copytree(trained / "data", tmp_path / "data")
    # not the first: that one is checked up front
    patch = last_patch(data, "train", "clear", "20m", TRAIN_PAIR)
    words = damage(patch)
    run = run_cli(
        "train",
        "--data",
        data,
        "--out",
        tmp_path / "run",
        "--width",
        "8",
        "--epochs",
        "1",
        "--samples",
        "0",
    )
    assert_one_message(run, f"{patch}: {words}", "prepare the data again")
    assert not (tmp_path / "run").exists()


def test_test_checks_every_patch_and_leaves_no_partial_results(trained, tmp_path):
    data = shutil.copytree(trained / "data", tmp_path / "data")
    patch = last_patch(data, "test", "cloudy", "10m", TEST_PAIR)
    _nan(patch)
    run = run_cli(
        "test",
        "--data",
        data,
        "--model",
        trained / "run",
        "--out",
        tmp_path / "results",
        "--figures",
        "0",
    )
    assert_one_message(run, f"{patch}: holds NaN or infinite values")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize(
    "command, option, value, words",
    [
        ("train", "--lr", "nan", "--lr nan: not allowed; give a finite number"),
        ("train", "--lr", "0", "--lr 0: out of range; give a finite number in (0, 1]"),
        ("train", "--lr", "-1e-4", "--lr -0.0001: out of range; give a finite number in (0, 1]"),
        ("train", "--l1-weight", "inf", "--l1-weight inf: not allowed; give a finite number"),
        ("train", "--beta1", "1", "--beta1 1: out of range; give a finite number in [0, 1)"),
        (
            "train",
            "--seed",
            "-1",
            "--seed -1: out of range; give a whole number from 0 to 4294967295",
        ),
        (
            "train",
            "--val-pairs",
            "-2",
            "--val-pairs -2: out of range; give a whole number from 0 to 10000",
        ),
        ("train", "--samples", "x", "--samples x: not a whole number"),
        (
            "train",
            "--epochs",
            "0",
            "--epochs 0: out of range; give a whole number from 1 to 100000",
        ),
        ("test", "--figures", "-1", "--figures -1: out of range; give a whole number from 0 to 64"),
        ("test", "--batch-size", "1.5", "--batch-size 1.5: not a whole number"),
        ("predict", "--overlap", "-2", "--overlap -2: out of range"),
        ("predict", "--tile", "abc", "--tile abc: not a whole number"),
        (
            "prepare",
            "--workers",
            "0",
            "--workers 0: out of range; give a whole number from 1 to 1024",
        ),
        ("demo", "--seed", "-5", "--seed -5: out of range"),
    ],
)
@pytest.mark.slow
def test_every_numeric_option_is_checked_before_anything_runs(
    tmp_path, command, option, value, words
):
    for folder in ("d", "m"):
        (tmp_path / folder).mkdir()
    required = {
        "train": ["--data", tmp_path / "d", "--out", tmp_path / "out"],
        "test": ["--data", tmp_path / "d", "--model", tmp_path / "m", "--out", tmp_path / "out"],
        "predict": [tmp_path / "p.zip", "--model", tmp_path / "m", "--out", tmp_path / "out"],
        "prepare": ["--products", tmp_path, "--out", tmp_path / "out"],
        "demo": ["--out", tmp_path / "out"],
    }[command]
    # as one word: argparse takes -1e-4 for an option
    run = run_cli(command, *required, f"{option}={value}")
    assert (
        run.returncode == 2
        and run.stderr == f"crmss {command}: error: {words}" + run.stderr.split(words, 1)[1]
    ), run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_run_trained_further_than_asked_is_left_untouched(trained, tmp_path):
    run = shutil.copytree(trained / "run", tmp_path / "run")
    config = run / "config.json"
    before = config.read_bytes(), config.stat().st_mtime_ns, sorted(p.name for p in run.rglob("*"))
    again = run_cli("train", "--data", trained / "data", "--out", run, "--epochs", "1")
    assert again.returncode == 0 and "already trained to 1 epochs" in again.stdout, again.stderr
    assert (
        config.read_bytes(),
        config.stat().st_mtime_ns,
        sorted(p.name for p in run.rglob("*")),
    ) == before


def test_results_folder_that_is_a_file_and_manifests_of_the_wrong_shape_are_refused(
    trained, tmp_path
):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    assert_one_message(
        run_cli("test", "--data", trained / "data", "--model", trained / "run", "--out", target),
        f"{target}: is a file",
    )
    assert target.read_text() == "keep me"
    for manifest in (
        [1, 2],
        {"pairs": [1]},
        {"pairs": {"X": {"subset": "train", "windows": ["a"]}}},
        {"pairs": {"X": 3}},
    ):
        data = tmp_path / "data"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        (data / "manifest.json").write_text(json.dumps(manifest))
        assert_one_message(
            run_cli("train", "--data", data, "--out", tmp_path / "run"),
            f"{data / 'manifest.json'}: ",
            "not a manifest written by 'crmss prepare'",
        )
        assert not (tmp_path / "run").exists()


KILL_IN_FIGURES = """
import os, signal, sys
import crmss.evaluation.evaluate
def die(*args):
    os.kill(os.getpid(), signal.SIGKILL)
crmss.evaluation.evaluate.write_figures = die
from crmss.cli import console
console(["test", *sys.argv[1:]])
"""


def test_a_killed_test_leaves_only_hidden_files_and_the_next_run_cleans_them(trained, tmp_path):
    args = [
        "--data",
        str(trained / "data"),
        "--model",
        str(trained / "run"),
        "--out",
        str(tmp_path / "results"),
        "--figures",
        "0",
    ]
    killed = subprocess.run(
        [sys.executable, "-c", KILL_IN_FIGURES, *args], capture_output=True, text=True
    )
    assert killed.returncode == -9
    left = sorted(p.name for p in tmp_path.iterdir())
    assert any(".partial-" in name for name in left) and all(
        name.startswith(".") for name in left
    ), left
    again = run_cli("test", *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


# --- full disks: a clear message, exit 2, nothing partial, the rerun gives the uninterrupted result
# ---


def test_train_on_a_full_disk_stops_before_training(trained, small_disk):
    # the generator fits, the epoch's backup of both networks and optimisers does not
    disk = small_disk(4)
    run = disk.path / "run"
    full = run_cli(
        "train",
        "--data",
        trained / "data",
        "--out",
        run,
        "--width",
        "8",
        "--epochs",
        "2",
        "--samples",
        "0",
    )
    assert_one_message(
        full,
        f"{run}: the disk is full",
        "one epoch's checkpoints needs about",
        "continues after the last complete epoch",
    )
    assert "Epoch 1/2" not in full.stdout and not run.exists()


TRAIN_WITHOUT_SPACE_CHECK = """
import shutil, sys
from crmss.cli import console, load_backend
load_backend(verbose=False)  # as main does, before crmss.nn.training imports TensorFlow
import crmss.nn.callbacks
crmss.nn.callbacks.EnoughSpace.check = lambda self: None
console(["train", *sys.argv[1:]])
"""


def test_train_when_the_disk_fills_up_mid_epoch_then_rerun_keeps_every_history_row(
    trained, small_disk
):
    # the space check is told there is plenty, as when another program fills the disk
    disk = small_disk(4)
    run = disk.path / "run"
    args = [
        "--data",
        trained / "data",
        "--out",
        run,
        "--width",
        "8",
        "--epochs",
        "2",
        "--steps-per-epoch",
        "2",
        "--samples",
        "0",
    ]
    full = subprocess.run(
        [sys.executable, "-c", TRAIN_WITHOUT_SPACE_CHECK, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert_one_message(full, f"{run}: the disk is full", "continues after the last complete epoch")
    assert not list(run.rglob(".*tmp*")), sorted(run.rglob("*"))
    disk.resize(256)
    again = run_cli("train", *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Epoch 1/2" in again.stdout  # the epoch whose backup failed is done again
    assert [row.split(",")[0] for row in (run / "history.csv").read_text().splitlines()[1:]] == [
        "0",
        "1",
    ]
    assert json.loads((run / "backup/training_metadata.json").read_text())["epoch"] == 2


def test_test_on_a_full_disk_leaves_nothing(trained, small_disk):
    disk = small_disk(0.5)
    run = run_cli(
        "test",
        "--data",
        trained / "data",
        "--model",
        trained / "run",
        "--out",
        disk.path / "results",
        "--figures",
        "0",
    )
    assert_one_message(run, f"{disk.path}: the disk is full", "run the same command again")
    assert list(disk.path.iterdir()) == []


@pytest.mark.parametrize("megabytes", [2, 8, 12], ids=["before-the-work", "overviews", "cog-copy"])
def test_predict_on_a_full_disk_then_rerun_gives_the_same_outputs(
    products, trained, small_disk, tmp_path, megabytes
):
    product = next(p for p in products(0).iterdir() if "20160413" in p.name)
    args = [product, "--model", trained / "run", "--tile", "512", "--no-progress"]
    reference = run_cli("predict", *args, "--out", tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-2000:]
    # 2 MB: the 10 m rows (4.9 MB) cannot be reserved; 8 MB: they can, the overviews cannot; 12 MB:
    # the rows and
    # overviews fit, the COG's copy does not (GDAL's message names no cause; its close raises in a
    # destructor)
    disk = small_disk(megabytes)
    out = disk.path / "out"
    full = run_cli("predict", *args, "--out", out)
    assert_one_message(full, f"{out}: the disk is full", f"cleaning {product.stem} needs about")
    assert not out.exists() or list(out.iterdir()) == []
    disk.resize(64)
    again = run_cli("predict", *args, "--out", out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in (tmp_path / "reference").iterdir()
    )
    for path in (tmp_path / "reference").iterdir():
        assert np.array_equal(
            gdal.Open(str(out / path.name)).ReadAsArray(), gdal.Open(str(path)).ReadAsArray()
        )


# --- concurrent runs --------------------------------------------------------------------------

#: 10 m side of the stress product; 256 px tiles give many strips, each a partial-block write
STRESS_SIZE, STRESS_TILE = 2046, ("--tile", "256", "--overlap", "64")


@pytest.fixture(scope="module")
def stress(tmp_path_factory):
    """A 2046 px cloudy product, a width-8 generator, and the reference outputs of one run alone."""
    root = tmp_path_factory.mktemp("stress")
    pair = read_split()[0]
    cloudy, _ = write_pair(
        root / "products", pair.clear, pair.cloudy, size=STRESS_SIZE, seed=3, zipped=True
    )
    (root / "run").mkdir()
    build_generator(8).save(root / "run/generator.keras")
    alone = run_cli(
        "predict",
        cloudy,
        "--model",
        root / "run",
        "--out",
        root / "reference",
        *STRESS_TILE,
        "--no-progress",
    )
    assert alone.returncode == 0, alone.stderr[-2000:]
    return cloudy, root


def _same_outputs(folder, reference):
    names = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == names
    for name in names:
        a, b = (gdal.Open(str(f / name)).ReadAsArray() for f in (folder, reference))
        assert np.array_equal(a, b), (
            f"{folder / name}: {int((a != b).sum())} pixels differ from the reference"
        )


#: (run by ``python -c`` in each of two processes at once) crmss predict into each folder given,
#: one after the other, with the options given as a JSON list, through ``cli.main`` as the console
#: script runs it; prints one JSON line: per folder the exit status and whether the run said it
#: skipped finished outputs
PREDICT_INTO_EACH = """
import contextlib, io, json, sys
from crmss import cli
product, model, options, *folders = sys.argv[1:]
done = []
for out in folders:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = cli.main(["predict", product, "--model", model, "--out", out,
                           *json.loads(options), "--no-progress"])
    done.append([status, "skipped" in printed.getvalue()])
print(json.dumps(done))
"""


def test_concurrent_predict_runs_write_bit_identical_outputs(stress, tmp_path):
    """Two processes at once, each predicting into its own folders (three rounds), then both into
    one folder (the lock): every output equals the reference bit for bit. Before outputs were
    written outside GDAL's block cache, this lost one band over one strip of a block in about
    half the rounds."""
    cloudy, root = stress
    rounds = [[tmp_path / f"{round_}{side}" for round_ in range(3)] for side in "ab"]

    def predict(folders):
        return subprocess.run(
            [
                sys.executable,
                "-c",
                PREDICT_INTO_EACH,
                cloudy,
                root / "run",
                json.dumps(STRESS_TILE),
                *folders,
                tmp_path / "same",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(predict, rounds))
    assert all(run.returncode == 0 for run in runs), [run.stderr[-2000:] for run in runs]
    done = [json.loads(run.stdout.splitlines()[-1]) for run in runs]
    assert all(status == 0 for each in done for status, _ in each), done
    for folder in (*rounds[0], *rounds[1], tmp_path / "same"):
        _same_outputs(folder, root / "reference")
    # the second into one folder waited for the first, then found its outputs
    assert sum(skipped for each in done for _, skipped in each) == 1, done


def test_an_inconsistent_output_is_an_internal_error_and_never_published(stress, tmp_path):
    cloudy, root = stress
    script = textwrap.dedent(f"""
        import sys
        import crmss.inference.blending
        real = crmss.inference.blending.Strip.finished
        def one_band_lost(self, rows):
            values = real(self, rows)
            values[: rows // 2, 100:200, 1] = 0
            return values
        crmss.inference.blending.Strip.finished = one_band_lost
        from crmss.cli import console
        console(["predict", {str(cloudy)!r}, "--model", {str(root / "run")!r},
                 "--out", {str(tmp_path)!r}, "--no-progress"])
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 1, run.stderr[-2000:]
    assert (
        "internal error" in run.stderr
        and "are 0 in some bands but not in all" in run.stderr
        and "Traceback" not in run.stderr
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_errors_are_one_line_by_default_and_verbose_shows_tensorflow(tmp_path):
    quiet = run_cli("test", "--data", tmp_path, "--model", tmp_path, "--out", tmp_path / "r")
    assert_one_message(quiet, "generator.keras: no trained generator")
    assert len(quiet.stderr.strip().splitlines()) == 1
    loud = run_console(  # TensorFlow's own lines go to the process's stderr
        "test", "--data", tmp_path, "--model", tmp_path, "--out", tmp_path / "r", "--verbose"
    )
    assert loud.returncode == 2 and "no trained generator" in loud.stderr
    env = {**os.environ, "CRMSS_VERBOSE": "1"}
    by_variable = subprocess.run(
        [
            sys.executable,
            "-m",
            "crmss",
            "test",
            "--data",
            str(tmp_path),
            "--model",
            str(tmp_path),
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert by_variable.returncode == 2
    # TensorFlow says something at start-up on every machine
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        assert len(loud.stderr.splitlines()) > 1 and len(by_variable.stderr.splitlines()) > 1, (
            loud.stderr
        )


def test_every_file_kind_of_the_wrong_shape_is_refused_naming_the_file_and_the_field(
    trained, tmp_path
):
    """manifest.json, config.json, best.json, the backup's epoch, evaluation.json and reference
    tables: valid JSON or CSV of the wrong shape gives exit status 2, nothing changed."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "manifest.json").write_text(
        json.dumps({"pairs": {}, "options": {"split": 5, "windows": None}, "missing": {}})
    )
    run = run_cli(
        "prepare",
        "--products",
        trained / "products",
        "--out",
        tree,
        "--split",
        trained / "split.csv",
        "--no-progress",
    )
    assert_one_message(run, f"{tree / 'manifest.json'}: field 'options/split': 5 is not valid")

    for name, damage, words in [
        (
            "config.json",
            lambda c: {**c, "options": {**c["options"], "width": "wide"}},
            "field 'options/width': 'wide' is not of type 'integer'",
        ),
        (
            "config.json",
            lambda c: {**c, "options": {**c["options"], "shuffle": True}},
            "field 'options': Additional properties are not allowed ('shuffle'",
        ),
        (
            "best.json",
            lambda c: {**c, "val_psnr": "high"},
            "field 'val_psnr': 'high' is not of type 'number'",
        ),
        (
            "backup/training_metadata.json",
            lambda c: {**c, "epoch": -1},
            "field 'epoch': -1 is less than the minimum of 0",
        ),
    ]:
        run_folder = shutil.copytree(trained / "run", tmp_path / "run", dirs_exist_ok=False)
        path = run_folder / name
        # no validation pair: no best.json
        record = json.loads(path.read_text()) if path.exists() else {"epoch": 1, "val_psnr": 30.0}
        path.write_text(json.dumps(damage(record)))
        before = {p: p.read_bytes() for p in run_folder.rglob("*") if p.is_file()}
        assert_one_message(
            run_cli("train", "--data", trained / "data", "--out", run_folder, "--epochs", "2"),
            f"{path}: {words}",
        )
        assert {p: p.read_bytes() for p in run_folder.rglob("*") if p.is_file()} == before
        shutil.rmtree(run_folder)

    run_folder = shutil.copytree(trained / "run", tmp_path / "run")
    (run_folder / "history.csv").write_text("epoch,g_loss\n0,1.5\nlast,2\n")
    refused = run_cli("train", "--data", trained / "data", "--out", run_folder, "--epochs", "2")
    assert_one_message(
        refused,
        f"{run_folder / 'history.csv'}, line 3: 'last,2' does not start with an epoch number",
    )

    fake = tmp_path / "results"
    fake.mkdir()
    (fake / "evaluation.json").write_text(
        json.dumps({"methods": {"crmss": {"kind": "neural"}}, "data": "d", "subset": "test"})
    )
    assert_one_message(
        run_cli("report", fake, "--out", tmp_path / "tables"), f"{fake / 'evaluation.json'}: "
    )
    assert not (tmp_path / "tables").exists()

    header = "method,scene,pixels,band,metric,value\n"
    for rows, words in [
        (
            "crmss,all,all,B02,PSNR,30\ncrmss,all,all,B02,PSNR,31\n",
            "line 3: the same crmss, all, all, B02, PSNR as line 2",
        ),
        ("crmss,all,all,B02,PSNR,nan\n", "line 2: PSNR nan is not a value the metric takes"),
        ("crmss,all,all,B02,SSIM,inf\n", "line 2: SSIM inf is not a value the metric takes"),
        ("crmss,R000_T00XXX,all,B02,PSNR,30\n", "line 2: unknown scene 'R000_T00XXX'"),
    ]:
        reference = tmp_path / "reference.csv"
        reference.write_text(header + rows)
        run = run_cli(
            "test",
            "--data",
            trained / "data",
            "--model",
            trained / "run",
            "--out",
            tmp_path / "r",
            "--reference",
            reference,
        )
        assert_one_message(run, f"{reference}, {words}")
        assert not (tmp_path / "r").exists()
