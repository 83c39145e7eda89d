"""``crmss reproduce``: the whole protocol at a tiny size, continued after kills, its record and
tables exactly what its stages produced."""

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import run_cli
from crmss.core.errors import InputError
from crmss.core.options import ReproduceOptions
from crmss.evaluation.results import read_metrics_csv
from crmss.protocol.reproduce import RECORD, reproduce
from crmss.protocol.stages import headline

#: the tiny protocol: 2 + 1 synthetic pairs of 768 px, width 8, 2 epochs
TINY = {"synthetic": 2, "test_pairs": 1, "size": 768, "epochs": 2, "width": 8}
STAGES = [
    "synthetic",
    "prepare",
    "train crmss",
    "train crmss_visnir",
    "simulate",
    "evaluate real",
    "evaluate simulated",
    "report",
]


def _options(out, **changed) -> ReproduceOptions:
    return ReproduceOptions(out=out, progress=False, **{**TINY, **changed})


def _args(out, *more, **changed) -> list[str]:
    """The command line of the tiny protocol into ``out``, ``changed`` options changed."""
    options = [(f"--{k.replace('_', '-')}", str(v)) for k, v in {**TINY, **changed}.items()]
    return [
        "reproduce",
        "--out",
        str(out),
        *(part for pair in options for part in pair),
        "--no-progress",
        *more,
    ]


#: the environment of every protocol run of these tests: a fresh process each (``python -m
#: crmss``), TensorFlow's deterministic kernels on. A killed and resumed protocol is compared
#: with an uninterrupted one bit for bit, so neither may depend on state an earlier test left
#: in the pytest worker nor on a kernel that sums in a different order from run to run.
DETERMINISTIC = {**os.environ, "TF_DETERMINISTIC_OPS": "1"}


def _protocol(out, *more, output: int = subprocess.PIPE) -> subprocess.Popen:
    """Start the tiny protocol into ``out`` in a new process, its stdout and stderr to
    ``output``."""
    return subprocess.Popen(
        [sys.executable, "-m", "crmss", *_args(out), *more],
        env=DETERMINISTIC,
        stdout=output,
        stderr=output,
        text=True,
    )


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """An uninterrupted tiny protocol; TensorFlow said nothing of retracing (its functions of
    four generators and the training steps' of two runs), which ``--verbose`` would show."""
    out = tmp_path_factory.mktemp("protocol") / "out"
    process = _protocol(out, "--verbose")
    stderr = process.communicate(timeout=900)[1]
    assert process.returncode == 0, stderr[-2000:]
    assert "retracing" not in stderr, stderr[-4000:]
    return out


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_stage_writes_its_place_and_the_record_holds_what_they_produced(reproduced):
    record = json.loads((reproduced / RECORD).read_text())
    assert list(record["stages"]) == STAGES and all(
        s["state"] == "done" for s in record["stages"].values()
    )
    assert set(record["plan"]) == set(STAGES) and all(
        seconds > 0 for seconds in record["plan"].values()
    )
    assert record["options"]["synthetic"] == 2 and record["versions"]["keras"]
    for folder in (
        "products",
        "data",
        "runs/crmss",
        "runs/crmss_visnir",
        "simulated",
        "results/real",
        "results/simulated",
        "tables",
    ):
        assert (reproduced / folder).is_dir(), folder
    assert record["stages"]["train crmss_visnir"]["options"]["bands"] == "visnir"
    for name, entry in record["stages"].items():  # the record's hashes are the files' own
        output = {
            "train crmss": "runs/crmss",
            "train crmss_visnir": "runs/crmss_visnir",
            "report": "tables",
        }.get(name, "")
        for file, digest in entry.get("records", {}).items():
            folder = (
                output
                or {"prepare": "data", "simulate": "simulated"}.get(name)
                or f"results/{name.split()[-1]}"
            )
            assert (
                hashlib.sha256((reproduced / folder / file).read_bytes()).hexdigest() == digest
            ), (name, file)
    merged = _rows(reproduced / "tables/metrics.csv")
    for label in ("real", "simulated"):
        rows = _rows(reproduced / f"results/{label}/metrics.csv")
        # the tables are the evaluations' rows
        assert [{k: r[k] for k in rows[0]} for r in merged if r["evaluation"] == label] == rows
        summary = record["stages"][f"evaluate {label}"]["summary"]
        assert summary == headline(read_metrics_csv(reproduced / f"results/{label}/metrics.csv"))
        assert set(summary) == {
            "crmss",
            "crmss_visnir",
            "dark_channel_prior",
            "hot",
            "cloudy_input",
        }
    best = json.loads((reproduced / "runs/crmss/best.json").read_text())
    assert record["stages"]["train crmss"]["summary"] == best


def test_the_learning_curves_are_the_histories_and_the_validation_baselines(reproduced):
    curves = pd.read_csv(reproduced / "tables/learning_curves.csv")
    history = pd.read_csv(reproduced / "runs/crmss/history.csv")
    ours = curves[(curves["method"] == "crmss") & (curves["stack"] == "20m")]
    expected = history[[f"val_psnr_{b}" for b in ("B05", "B06", "B07", "B8A", "B11", "B12")]].mean(
        axis=1
    )
    assert ours["psnr"].tolist() == pytest.approx(expected.tolist()) and ours["epoch"].tolist() == [
        1,
        2,
    ]
    # the output's checkerboard per epoch, as validation logged it; none for the baselines
    assert ours["checkerboard"].tolist() == pytest.approx(history["val_checkerboard_20m"].tolist())
    assert curves[curves["method"] == "cloudy_input"]["checkerboard"].isna().all()
    assert not len(curves[(curves["method"] == "crmss_visnir") & (curves["stack"] == "20m")])
    cloudy = curves[(curves["method"] == "cloudy_input") & (curves["stack"] == "10m")]["psnr"].iloc[
        0
    ]
    logged = (
        history[[f"val_cloudy_psnr_{b}" for b in ("B02", "B03", "B04", "B08")]].mean(axis=1).iloc[0]
    )
    assert cloudy == pytest.approx(logged, abs=0.01)  # the same validation patches as training's
    assert {"dark_channel_prior", "hot"} <= set(curves["method"]) and (
        reproduced / "tables/learning_curves.png"
    ).stat().st_size > 10_000


def test_a_finished_protocol_is_skipped_and_changed_options_are_refused(reproduced):
    before = (reproduced / RECORD).read_bytes()
    run = run_cli(*_args(reproduced))
    assert run.returncode == 0, run.stderr[-2000:]
    assert (
        all(f"{stage}: done earlier" in run.stdout for stage in STAGES)
        and "real testing set" in run.stdout
    )
    refused = run_cli(*_args(reproduced, width=16))
    assert refused.returncode == 2 and "--width 16 (made with --width 8)" in refused.stderr
    with pytest.raises(InputError) as raised:
        reproduce(_options(reproduced, head="residual"))
    assert "head='residual' (made with head='sigmoid')" in str(raised.value)
    assert json.loads((reproduced / RECORD).read_bytes())["stages"] == json.loads(before)["stages"]
    planned = run_cli(*_args(reproduced, "--plan-only", epochs=5))  # a larger --epochs may change
    assert (
        planned.returncode == 0 and "train crmss" in planned.stdout and "report" in planned.stdout
    )
    assert json.loads((reproduced / RECORD).read_bytes())["stages"] == json.loads(before)["stages"]


def test_the_products_come_from_a_folder_or_a_synthetic_set_of_two_pairs_or_more(tmp_path):
    for given in (dict(), dict(products=tmp_path, synthetic=2)):
        with pytest.raises(InputError, match="give products .* or synthetic .*, one of them"):
            ReproduceOptions(out=tmp_path / "out", **given)
    with pytest.raises(InputError, match="synthetic=1: out of range"):
        ReproduceOptions(out=tmp_path / "out", synthetic=1)
    refused = run_cli("reproduce", "--out", tmp_path / "out")
    assert (
        refused.returncode == 2
        and "give --products (the folder of the WHUS2-CR products) or --synthetic" in refused.stderr
    )
    assert not (tmp_path / "out").exists()
    # a folder of the user's: its results/ would be replaced
    (tmp_path / "mine" / "results").mkdir(parents=True)
    with pytest.raises(InputError, match="is not the folder of a 'crmss reproduce'"):
        reproduce(_options(tmp_path / "mine"))
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["results"]


def _run_until(out, stage: str, ready) -> None:
    """Start the tiny protocol into ``out`` and kill it (SIGKILL) once ``stage`` runs and
    ``ready()``."""
    process = _protocol(out, output=subprocess.DEVNULL)  # not read until it is killed
    deadline = time.time() + 600
    try:
        while time.time() < deadline and process.poll() is None:
            try:
                state = json.loads((out / RECORD).read_text())["stages"].get(stage, {}).get("state")
            except (FileNotFoundError, json.JSONDecodeError):
                state = None
            if state == "running" and ready():
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.2)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"the protocol ended before {stage} ran"


@pytest.mark.slow
def test_killed_in_training_and_in_evaluation_it_finishes_as_an_uninterrupted_run(
    reproduced, tmp_path
):
    out = tmp_path / "out"
    _run_until(
        out, "train crmss", lambda: (out / "runs/crmss/history.csv").exists()
    )  # one epoch done, the second under way
    _run_until(out, "evaluate real", lambda: any((out / "results").glob(".real.partial-*")))
    process = _protocol(out)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-2000:]
    assert "train crmss: done earlier" in stdout and "evaluate real: into" in stdout, stderr[-2000:]
    for name in (
        "results/real/metrics.csv",
        "results/simulated/metrics.csv",
        "tables/metrics.csv",
        "tables/learning_curves.csv",
    ):
        assert (out / name).read_text() == (reproduced / name).read_text(), name
    # every validation number identical (the weights are); the training losses' running means
    # to float32 rounding (their sums of a resumed epoch may differ in the last bit)
    for model in ("crmss", "crmss_visnir"):
        ours, theirs = (
            pd.read_csv(folder / f"runs/{model}/history.csv") for folder in (out, reproduced)
        )
        validation = [c for c in theirs if c.startswith("val_")]
        assert ours[validation].equals(theirs[validation]) and list(ours) == list(theirs)
        assert ours.drop(columns=validation).to_numpy() == pytest.approx(
            theirs.drop(columns=validation).to_numpy(), rel=1e-6
        )
    assert not list(out.glob("results/.*partial*"))
