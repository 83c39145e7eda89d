"""Training: one step, augmentation, resume after SIGKILL, distribution, learning, bad input."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_cli, run_console
from crmss.core.bands import BANDS_10M, BANDS_20M
from crmss.core.errors import InputError, TrainingDiverged
from crmss.core.options import PrepareOptions, TrainOptions
from crmss.core.validation import speaking_command_line
from crmss.dataset.prepare import prepare
from crmss.dataset.splits import write_split
from crmss.dataset.synthetic import write_pair
from crmss.dataset.tree import load_patches, merge
from crmss.nn.callbacks import StopOnNonFinite
from crmss.nn.pipeline import make_dataset
from crmss.nn.training import build_gan, run_options, train

#: 10 m side of the training products: 4 x 4 windows of 256 px, about 11 kept per pair
TRAIN_SIZE = 1026


@pytest.fixture(scope="module")
def data(tmp_path_factory, pairs):
    """A prepared tree with three training pairs (the last validates by default)."""
    root = tmp_path_factory.mktemp("training")
    chosen = pairs[:3]
    for pair in chosen:
        write_pair(
            root / "products",
            pair.clear,
            pair.cloudy,
            size=TRAIN_SIZE,
            seed=11,
            cloud_cover=0.9,
            max_thickness=1.0,
        )
    write_split(root / "split.csv", chosen)
    prepare(
        PrepareOptions(root / "products", root / "data", split=root / "split.csv", progress=False)
    )
    return root / "data"


def _options(data, out, **kw):
    return TrainOptions(
        data=str(data), out=str(out), **{"width": 8, "epochs": 1, "samples": 1, **kw}
    )


def test_a_run_continued_under_other_conditions_is_told_so(caplog):
    from crmss.nn.runs import DATA_ORDER, note_changes

    caplog.set_level("WARNING", logger="crmss")
    note_changes(Path("RUN"), {"versions": {"backend": "tensorflow"}, "data_order": DATA_ORDER})
    assert not caplog.records
    note_changes(Path("RUN"), {"versions": {"tensorflow": "2.21.0"}})  # as crmss wrote it before
    assert "RUN: its epochs so far drew their patches as an older crmss did" in caplog.text
    caplog.clear()
    note_changes(Path("RUN"), {"versions": {"backend": "jax"}, "data_order": DATA_ORDER})
    assert "RUN: trained on Keras's jax backend so far, continued on tensorflow" in caplog.text


def test_a_resumed_training_ends_where_an_uninterrupted_one_does(data, tmp_path):
    from crmss.nn.training import train

    kw = dict(width=8, steps_per_epoch=2, samples=0)
    whole = train(_options(data, tmp_path / "whole", epochs=2, **kw), verbose=0)
    train(_options(data, tmp_path / "part", epochs=1, **kw), verbose=0)
    history = tmp_path / "part/history.csv"
    # as a crmss without per-band columns wrote it
    older = [",".join(line.split(",")[:7]) for line in history.read_text().splitlines()]
    history.write_text("\n".join(older) + "\n")
    resumed = train(_options(data, tmp_path / "part", epochs=2, **kw), verbose=0)
    for a, b in zip(
        whole.generator.weights + whole.discriminator.weights,
        resumed.generator.weights + resumed.discriminator.weights,
    ):
        assert np.array_equal(a.numpy(), b.numpy()), a.path
    header, first, second = (line.split(",") for line in history.read_text().splitlines())
    # every column, in Keras's order
    assert header == (tmp_path / "whole/history.csv").read_text().splitlines()[0].split(",")
    assert dict(zip(header, first)) == {
        **{name: "" for name in header},
        **dict(zip(older[0].split(","), older[1].split(","))),
    }
    assert "" not in second and second[0] == "1"


def test_one_train_step_changes_both_networks(data):
    gan = build_gan(_options(data, "unused"))
    batch = next(iter(make_dataset(merge(list(load_patches(data).values())), 1)))
    before = [
        [w.numpy().copy() for w in net.trainable_weights]
        for net in (gan.generator, gan.discriminator)
    ]
    logs = gan.train_step(batch)
    assert set(logs) >= {
        "d_loss",
        "g_loss",
        "g_adversarial",
        "g_reconstruction",
        "psnr",
        "cloudy_psnr",
    }
    for old, net in zip(before, (gan.generator, gan.discriminator)):
        changed = [not np.array_equal(a, w.numpy()) for a, w in zip(old, net.trainable_weights)]
        assert all(changed), net.name
    assert int(gan.g_optimizer.iterations) == 1 and int(gan.d_optimizer.iterations) == 1


KILL_AT_EPOCH = """
import os, signal, sys
import keras
from crmss.core.options import TrainOptions
from crmss.nn.training import train

class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == {epoch}:
            os.kill(os.getpid(), signal.SIGKILL)

data, out, epochs = sys.argv[1:4]
options = TrainOptions(data=data, out=out, epochs=int(epochs), width=8, steps_per_epoch=2,
                       samples=1)
train(options, callbacks=[Kill()], verbose=2)
"""


def test_sigkill_during_training_then_rerun_continues_from_the_last_checkpoint(data, tmp_path):
    run = tmp_path / "run"
    args = [
        "--data",
        str(data),
        "--out",
        str(run),
        "--epochs",
        "3",
        "--width",
        "8",
        "--steps-per-epoch",
        "2",
        "--samples",
        "1",
    ]
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AT_EPOCH.format(epoch=2), str(data), str(run), "3"],
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert "Epoch 2/3" in killed.stdout and "Epoch 3/3" not in killed.stdout
    assert json.loads((run / "backup/training_metadata.json").read_text())["epoch"] == 2
    assert (run / "generator.keras").exists() and not list(run.glob(".tmp*"))

    resumed = run_cli("train", *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (
        "Epoch 3/3" in resumed.stdout
        and "Epoch 1/3" not in resumed.stdout
        and "Epoch 2/3" not in resumed.stdout
    )
    assert [row.split(",")[0] for row in (run / "history.csv").read_text().splitlines()[1:]] == [
        "0",
        "1",
        "2",
    ]
    import h5py

    # both optimisers' states are in the backup
    with h5py.File(run / "backup/latest.weights.h5") as weights:
        assert int(weights["g_optimizer/vars/0"][()]) == int(weights["d_optimizer/vars/0"][()]) == 6

    further = run_cli("train", *args[:5], "5")  # a finished run given a larger total
    assert (
        further.returncode == 0
        and "Epoch 4/5" in further.stdout
        and "Epoch 3/5" not in further.stdout
    )
    done = run_cli("train", *args[:5], "5")
    assert done.returncode == 0 and "already trained to 5 epochs" in done.stdout


def test_options_contradicting_the_run_are_refused_by_every_door_and_leave_config_json_as_it_was(
    data, tmp_path
):
    run = tmp_path / "run"
    run.mkdir()
    config = run / "config.json"
    config.write_text(json.dumps({"options": {"width": 64, "lr": 2e-4, "epochs": 10}}))
    before = config.read_bytes()
    assert run_options(data=data, out=run, epochs=20).width == 64  # what is not said: the run's
    with pytest.raises(
        InputError,
        match=r"width=16 \(made with width=64\)\. Give the run's "
        r"options to continue it",
    ):
        train(TrainOptions(data=data, out=run, width=16))
    refused = run_cli("train", "--data", data, "--out", run, "--width", "16")
    said = (
        "--width 16 (made with --width 64). Leave these options out to continue the run, or "
        "train into a new --out folder"
    )
    assert refused.returncode == 2 and said in refused.stderr and "Traceback" not in refused.stderr
    refused = run_cli("train", "--data", data, "--out", run, "--lr", "0.001")
    assert refused.returncode == 2 and "--lr 0.001 (made with --lr 0.0002)" in refused.stderr
    assert config.read_bytes() == before and sorted(p.name for p in run.iterdir()) == [
        "config.json"
    ]
    config.write_text(json.dumps({"options": {"augment": True}}))
    with pytest.raises(InputError, match=r"augment=False \(made with augment=True\)"):
        train(run_options(data=data, out=run, augment=False))
    refused = run_cli("train", "--data", data, "--out", run, "--no-augment")
    assert refused.returncode == 2 and "--no-augment (made with --augment)" in refused.stderr


WORKER = """
import json, logging, os, sys
import numpy as np
import tensorflow as tf
# crmss's lines, as the command line shows them
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
{setup}
from crmss.core.options import TrainOptions
from crmss.nn.training import train
options = TrainOptions(data=sys.argv[1], out=sys.argv[2], width=8, epochs=1, steps_per_epoch=3,
                       batch_size={batch}, samples=0, strategy="{strategy}")
gan = train(options, verbose=0)
{check}
np.save(sys.argv[3], np.concatenate([w.numpy().ravel() for w in gan.generator.weights]))
"""


def test_mirrored_training_over_two_logical_cpus(data, tmp_path):
    setup = (
        'tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0], '
        "[tf.config.LogicalDeviceConfiguration()] * 2)"
    )
    check = textwrap.dedent("""
        kernel = gan.generator.get_layer("e1_conv").kernel
        distributed = hasattr(kernel.value, "values")
        replicas = [v.numpy() for v in kernel.value.values] if distributed else []
        assert len(replicas) == 2, replicas
        assert np.array_equal(replicas[0], replicas[1])
    """)
    script = WORKER.format(setup=setup, check=check, batch=2, strategy="mirrored")
    run = subprocess.run(
        [sys.executable, "-c", script, str(data), str(tmp_path / "run"), str(tmp_path / "w.npy")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "run/generator.keras").exists()


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_localhost_end_with_identical_weights(data, tmp_path):
    hosts = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    script = WORKER.format(setup="", check="", batch=2, strategy="multiworker")
    workers = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(
                {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
            ),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    script,
                    str(data),
                    str(tmp_path / "run"),
                    str(tmp_path / f"w{index}.npy"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    assert "Epoch 1/1" in outputs[0][0]
    a, b = np.load(tmp_path / "w0.npy"), np.load(tmp_path / "w1.npy")
    assert np.array_equal(a, b)
    assert (tmp_path / "run/generator.keras").exists() and (tmp_path / "run/config.json").exists()


def test_it_learns_to_beat_the_cloudy_input(data, tmp_path):
    """Budget: width 16, lr 1e-3, 4 epochs over the ~22 training patches (45 s on 2 cores;
    validation PSNR 19.7, 25.4, 26.5, 27.4 dB against the cloudy input's 25.5 dB)."""
    gan = train(_options(data, tmp_path / "run", width=16, lr=1e-3, epochs=4), verbose=0)
    history = [row.split(",") for row in (tmp_path / "run/history.csv").read_text().splitlines()]
    columns = history[0]
    last = dict(zip(columns, map(float, history[-1])))
    best = json.loads((tmp_path / "run/best.json").read_text())
    assert best["val_psnr"] > best["val_cloudy_psnr"], history
    assert last["val_psnr"] > last["val_cloudy_psnr"] - 1.0
    # per-band learning curves: PSNR of the pooled bands is at most the mean of the bands' (Jensen),
    # per stack
    band_means = [
        np.mean([last[f"val_{kind}_{b}"] for b in bands])
        for bands in (BANDS_10M, BANDS_20M)
        for kind in ("psnr",)
    ]
    cloudy_means = [
        np.mean([last[f"val_cloudy_psnr_{b}"] for b in bands]) for bands in (BANDS_10M, BANDS_20M)
    ]
    assert (
        last["val_psnr"] <= np.mean(band_means) + 1e-3
        and last["val_cloudy_psnr"] <= np.mean(cloudy_means) + 1e-3
    )
    assert all(0 < last[f"val_psnr_{b}"] < 100 for b in (*BANDS_10M, *BANDS_20M))
    assert (tmp_path / "run/generator_best.keras").exists()
    assert gan.generator.count_params() < 2_000_000


def test_non_finite_loss_stops_with_a_clear_message():
    with pytest.raises(
        TrainingDiverged,
        match=r"training diverged: g_loss is nan at step 3 "
        r".*Lower lr \(or without mixed_precision=True\)",
    ) as error:
        StopOnNonFinite().on_train_batch_end(2, {"d_loss": 0.5, "g_loss": float("nan")})
    # not bad input: its own exit status
    assert error.value.exit_status == 3 and not isinstance(error.value, InputError)


def test_bad_data_folders_are_refused(data, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = run_cli("train", "--data", empty, "--out", tmp_path / "run")
    assert (
        run.returncode == 2
        and "not a prepared data folder" in run.stderr
        and "Traceback" not in run.stderr
    )

    import shutil

    from osgeo import gdal

    broken = shutil.copytree(data, tmp_path / "broken")
    first = sorted((broken / "train/clear/20m").iterdir())[0]
    patch = sorted(first.iterdir(), key=lambda p: int(p.stem))[0]
    source = gdal.Open(str(patch))
    gdal.Translate(str(patch) + ".x.tif", source, bandList=[1, 2, 3])
    source = None
    os.replace(str(patch) + ".x.tif", patch)
    run = run_cli("train", "--data", broken, "--out", tmp_path / "run2")
    assert (
        run.returncode == 2
        and f"{patch}: 3 bands of 128 x 128 px, but 20m patches need 6 bands" in run.stderr
    )
    assert not (tmp_path / "run2").exists()


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_float32_weights_and_outputs(data, policy):
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        gan = build_gan(_options(data, "unused", mixed_precision=True))
        scaled = isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
        assert scaled == (policy == "mixed_float16") and scaled == isinstance(
            gan.d_optimizer, keras.optimizers.LossScaleOptimizer
        )
        assert gan.generator.get_layer("e2_conv").compute_dtype == policy.split("_")[1]
        assert (
            gan.generator.get_layer("y10").compute_dtype
            == gan.discriminator.get_layer("score").compute_dtype
            == "float32"
        )
        assert all(w.dtype == "float32" for w in gan.generator.weights + gan.discriminator.weights)
        if policy == "mixed_bfloat16":  # runs on this CPU; float16 convolutions need a GPU
            batch = next(iter(make_dataset(merge(list(load_patches(data).values())), 1)))
            logs = gan.train_step(batch)
            assert all(np.isfinite(float(v)) for v in logs.values())
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_visnir_ablation_trains_resumes_and_keeps_its_bands(data, tmp_path):
    import keras

    from crmss.nn.model import generator_stacks

    run = tmp_path / "visnir"
    args = [
        "--data",
        data,
        "--out",
        run,
        "--width",
        "8",
        "--steps-per-epoch",
        "2",
        "--samples",
        "1",
    ]
    first = run_cli("train", *args, "--bands", "visnir", "--epochs", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads((run / "config.json").read_text())["options"]["bands"] == "visnir"
    generator = keras.saving.load_model(run / "generator.keras")
    assert (
        generator_stacks(generator) == ("10m",)
        and generator.count_params()
        == build_gan(_options(data, run, bands="visnir")).generator.count_params()
    )
    resumed = run_cli("train", *args, "--epochs", "2")  # --bands left out: the run's
    assert (
        resumed.returncode == 0
        and "Epoch 2/2" in resumed.stdout
        and "Epoch 1/2" not in resumed.stdout
    )
    refused = run_cli("train", *args, "--bands", "all", "--epochs", "3")
    assert refused.returncode == 2 and "--bands all (made with --bands visnir)" in refused.stderr
    config = json.loads((run / "config.json").read_text())
    config["options"]["bands"] = "rgb"
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="config.json: field 'options/bands': 'rgb' is not one of"):
        run_options(data=data, out=run)


def test_one_visnir_train_step_reads_and_changes_the_10m_networks_only(data):
    gan = build_gan(_options(data, "unused", bands="visnir"))
    batch = next(iter(make_dataset(merge(list(load_patches(data).values())), 1, stacks=("10m",))))
    assert [tuple(t.shape) for t in batch[0]] == [(1, 256, 256, 4)] and len(batch[1]) == 1
    before = [w.numpy().copy() for w in gan.generator.weights + gan.discriminator.weights]
    logs = gan.train_step(batch)
    assert all(np.isfinite(float(v)) for v in logs.values())
    after = [w.numpy() for w in gan.generator.weights + gan.discriminator.weights]
    assert sum(not np.array_equal(a, b) for a, b in zip(before, after)) > len(before) // 2


def test_train_gives_back_the_callers_policy_and_random_state(data, tmp_path):
    import random

    import keras

    random.seed(3)
    np.random.seed(3)
    expected = (random.random(), float(np.random.random_sample()))
    random.seed(3)
    np.random.seed(3)
    tf.random.set_seed(None)  # no global seed, whatever earlier tests in this process set
    train(
        _options(data, tmp_path / "run", mixed_precision=True, steps_per_epoch=1, samples=0),
        verbose=0,
    )
    assert keras.mixed_precision.dtype_policy().name == "float32"
    assert (random.random(), float(np.random.random_sample())) == expected
    assert tf.compat.v1.get_seed(None)[0] is None


def test_the_callers_state_is_kept_with_op_determinism_and_no_seed():
    script = (
        "from crmss.nn.training import caller_state_kept\nwith caller_state_kept():\n    "
        "pass\nprint('kept')"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_DETERMINISTIC_OPS": "1"},
    )
    assert run.returncode == 0 and "kept" in run.stdout, run.stderr[-2000:]


def test_two_trainings_into_one_run_take_turns(trained, tmp_path):
    """A second `crmss train` on the same RUN waits for the first (the lock the other commands
    take), then finds it trained."""
    from concurrent.futures import ThreadPoolExecutor

    args = [
        "train",
        "--data",
        trained / "data",
        "--out",
        tmp_path / "runs" / "run",
        "--epochs",
        "1",
        "--width",
        "8",
        "--steps-per-epoch",
        "2",
    ]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: run_console(*args), range(2)))  # two processes
    assert [run.returncode for run in runs] == [0, 0], [run.stderr[-2000:] for run in runs]
    said = [run.stdout + run.stderr for run in runs]
    assert sum("is already trained to 1 epochs" in text for text in said) == 1 and any(
        "waiting for it" in text for text in said
    )
    history = (tmp_path / "runs" / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 2  # the header and one epoch, written once
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["run"]  # the lock is gone


def test_an_epoch_is_one_short_line_and_the_run_ends_with_a_summary(tmp_path):
    """The line holds the losses, validation PSNR at 10 m and 20 m (mean of the bands) beside the
    cloudy input's, the best marker and the time; the per-band values stay out of it."""
    from crmss.core.bands import BANDS_10M, BANDS_20M
    from crmss.nn.callbacks import epoch_line, training_summary

    logs = {"g_loss": 4.2134, "d_loss": 0.2412, "val_psnr": 30.0, "val_cloudy_psnr": 27.0}
    logs |= {f"val_psnr_{b}": 31.0 + i for i, b in enumerate(BANDS_10M)} | {
        f"val_cloudy_psnr_{b}": 28.0 for b in BANDS_10M
    }
    logs |= {f"val_psnr_{b}": 29.0 for b in BANDS_20M} | {
        f"val_cloudy_psnr_{b}": 27.5 for b in BANDS_20M
    }
    logs |= {f"psnr_{b}": 1.0 for b in (*BANDS_10M, *BANDS_20M)}
    line = epoch_line(3, 10, logs, True, 41.2)
    assert line == (
        "Epoch 3/10  g 4.21  d 0.241  val PSNR 10 m 32.5 dB (input 28.0)  20 m 29.0 dB "
        "(input 27.5)  best  41 s"
    )
    assert epoch_line(1, 1, {"g_loss": 1.0, "d_loss": 0.5}, False, 3) == (
        "Epoch 1/1  g 1  d 0.5  3 s"
    )  # no validation pairs

    run = tmp_path / "run"
    run.mkdir()
    assert "no validation pairs: no best epoch" in training_summary(run, "DATA")
    (run / "best.json").write_text(
        json.dumps({"epoch": 3, "val_psnr": 32.51, "val_cloudy_psnr": 28.02})
    )
    assert f"best epoch 3 (val PSNR 32.5 dB): {run / 'generator_best.keras'}" in training_summary(
        run, "DATA"
    )  # no history.csv
    columns = sorted(logs)
    rows = [
        ",".join(["epoch", *columns]),
        *(",".join([str(e), *(str(logs[c]) for c in columns)]) for e in range(3)),
    ]
    (run / "history.csv").write_text("\n".join(rows) + "\n")
    summary = training_summary(run, "DATA")
    # as the epoch's line says
    assert (
        "best epoch 3 (val PSNR 10 m 32.5 dB (input 28.0)  20 m 29.0 dB (input 27.5)): " in summary
    )
    assert (
        f"crmss.evaluate(crmss.EvaluateOptions(data='DATA', models=('{run}',), "
        "checkpoint='best', out='RESULTS'))"
    ) in summary
    with speaking_command_line():  # as the command line says it
        assert (
            f"crmss test --data DATA --model {run} --checkpoint best --out RESULTS"
        ) in training_summary(run, "DATA")
