"""The run's backup (crmss/nn/callbacks.py: RunBackup) through Keras's public API alone, in the
files of Keras's own BackupAndRestore: a backup either writes is restored by the other."""

import json

import keras
import numpy as np

from crmss.nn.callbacks import RunBackup

X, Y = np.arange(8, dtype=np.float32).reshape(4, 2) / 8, np.ones((4, 1), np.float32)


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def _weights(model):
    return [np.array(v) for v in model.weights] + [np.array(v) for v in model.optimizer.variables]


def test_the_backup_is_written_after_every_epoch_in_keras_files_and_restored(tmp_path):
    trained = _model()
    trained.fit(
        X,
        Y,
        epochs=2,
        batch_size=2,
        verbose=0,
        callbacks=[RunBackup(tmp_path / "backup", chief=True)],
    )
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text()) == {
        "epoch": 2,
        "batch": 0,
    }
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == [
        "latest.weights.h5",
        "training_metadata.json",
    ]
    restored = _model()
    restored.fit(
        X,
        Y,
        initial_epoch=2,
        epochs=2,
        verbose=0,
        callbacks=[RunBackup(tmp_path / "backup", chief=True)],
    )
    # weights and Adam's moments
    assert all(np.array_equal(a, b) for a, b in zip(_weights(trained), _weights(restored)))


def test_a_worker_restores_but_writes_nothing(tmp_path):
    _model().fit(X, Y, epochs=1, verbose=0, callbacks=[RunBackup(tmp_path / "backup", chief=False)])
    assert not (tmp_path / "backup").exists()


def test_a_backup_that_keras_wrote_is_restored_and_one_crmss_wrote_restores_in_keras(tmp_path):
    by_keras = _model()
    by_keras.fit(
        X,
        Y,
        epochs=1,
        verbose=0,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(tmp_path / "keras"), delete_checkpoint=False)
        ],
    )
    restored = _model()
    RunBackup(tmp_path / "keras", chief=True).set_model(restored)
    restored.fit(
        X,
        Y,
        initial_epoch=1,
        epochs=1,
        verbose=0,
        callbacks=[RunBackup(tmp_path / "keras", chief=True)],
    )
    assert all(np.array_equal(a, b) for a, b in zip(_weights(by_keras), _weights(restored)))
    by_crmss = _model()
    by_crmss.fit(X, Y, epochs=1, verbose=0, callbacks=[RunBackup(tmp_path / "crmss", chief=True)])
    in_keras = _model()
    in_keras.fit(
        X,
        Y,
        epochs=1,
        verbose=0,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(tmp_path / "crmss"), delete_checkpoint=False)
        ],
    )
    # epoch 1 of 1 done: nothing trained
    assert all(np.array_equal(a, b) for a, b in zip(_weights(by_crmss), _weights(in_keras)))
