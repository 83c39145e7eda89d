"""Small file-system guarantees shared by the commands: per-output locks and atomic text files."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


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


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a temporary name beside it, then a rename); a failed
    write (a full disk) leaves the previous file as it was and no temporary file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
