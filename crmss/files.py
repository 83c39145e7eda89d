"""Small file-system guarantees shared by the commands: per-output locks and atomic writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from pathlib import Path

#: how temporary files written beside their final name begin
TEMPORARY_PREFIX = ".tmp-"


@contextlib.contextmanager
def exclusive_lock(path: Path, waiting: str, log=print):
    """Hold ``path`` (an exclusive flock on it, created if needed) for the ``with`` block.

    A second process (or thread) asking for the same lock logs ``waiting`` once and waits. The
    lock file is removed on release; one that opened it before the removal notices (another
    inode at ``path``, or none) and takes a fresh one, so two holders never overlap.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(waiting)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break  # the lock file still in place: ours
        except FileNotFoundError:
            pass  # released and removed by the holder we waited for
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


@contextlib.contextmanager
def replaced_atomically(path: Path):
    """Yield a temporary path beside ``path`` (``.tmp-<random>-<name>``: the same suffix, which
    some writers require) for the ``with`` block to write; then rename it to ``path``. On any
    failure (a full disk, a kill's KeyboardInterrupt) the temporary file is removed and ``path``
    stays as it was: it is either absent, the previous file, or complete."""
    tmp = path.with_name(f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (see :func:`replaced_atomically`)."""
    with replaced_atomically(path) as tmp:
        tmp.write_text(text)
