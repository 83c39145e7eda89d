"""The private parts of Keras that crmss relies on, where Keras has no public way (see
crmss/nn/training.py): if a Keras release renames or changes one, this test names it."""

import json

import keras
import numpy as np

from crmss.nn.callbacks import ChiefBackupAndRestore


def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_backup_and_restore_saves_through_its_private_method_and_paths(tmp_path):
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    assert backup._weights_path.startswith(str(tmp_path / "backup")) and backup._training_metadata_path.startswith(str(tmp_path / "backup"))
    assert backup._current_epoch == 0 and backup._last_batch_seen == 0

    saved = []

    class Recording(keras.callbacks.BackupAndRestore):
        def _save_model(self):  # what ChiefBackupAndRestore overrides: called at the end of each epoch
            saved.append((self._current_epoch, self._last_batch_seen))
            super()._save_model()

    x, y = np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32)
    _model().fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[Recording(str(tmp_path / "recorded"))])
    assert [epoch for epoch, _ in saved] == [1, 2]


def test_a_restored_backup_tells_fit_where_to_resume_by_the_private_initial_epoch(tmp_path):
    x, y = np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32)
    _model().fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[ChiefBackupAndRestore(str(tmp_path / "backup"), True)])
    metadata = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2  # written by crmss's own _save_model, atomically
    model = _model()
    restoring = ChiefBackupAndRestore(str(tmp_path / "backup"), True)
    restoring.set_model(model)
    restoring.on_train_begin()
    assert model._initial_epoch == 2  # what crmss's multi-worker loop starts from
