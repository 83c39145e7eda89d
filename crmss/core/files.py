"""File-system guarantees shared by the commands: the output-folder helper every command writes
through (created, checked writable, locked, a full disk reported as such), per-output locks,
atomic files and folders."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from .validation import argument

logger = logging.getLogger(__name__)

#: how temporary files written beside their final name begin
TEMPORARY_PREFIX = ".tmp-"


def utc_timestamp() -> str:
    """Now, as the records crmss writes date themselves: ISO 8601 in UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path`` (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def exclusive_lock(path: Path, waiting: str) -> Iterator[None]:
    """Hold ``path`` (an exclusive flock on it, created if needed) for the ``with`` block.

    A second process (or thread) asking for the same lock logs ``waiting`` once and waits. The
    lock file is removed on release; one that opened it before the removal notices (another
    inode at ``path``, or none) and takes a fresh one, so two holders never overlap.

    Why not the filelock package: it leaves its lock file behind (removing it on release races
    with a waiter that opened it), and an output folder must hold outputs alone once done.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info(waiting)
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
def replaced_atomically(path: Path) -> Iterator[Path]:
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


#: the lock file a command holds in its output folder while it writes there
LOCK = ".crmss.lock"


def _is_empty(folder: Path) -> bool:
    return not any(folder.iterdir())


@contextlib.contextmanager
def output_folder(
    folder: Path,
    command: str,
    what: str,
    rerun: str = "run the same command again",
    lock: str | None = LOCK,
    unused: Callable[[Path], bool] | None = _is_empty,
) -> Iterator[Path]:
    """Hold the output ``folder`` of ``crmss command`` for the ``with`` block: every command's
    output goes through here.

    The folder is created (with its parents) where missing and checked writable (a file is made
    and removed in it), else InputError. With ``lock`` (a file name in it), a second run into it
    waits until this one ends, saying so. An OSError from the block becomes InputError, or
    DiskFullError where the disk is full (``what`` the block writes, ``rerun`` how to go on). A
    folder this run created and left ``unused`` (by default: empty) is removed at the end, so
    bad input leaves no folder behind; a folder that was empty before and is left ``unused``
    is emptied again (the user's folder stays, what this run wrote in it goes)."""
    from .errors import InputError, write_error

    created = not folder.exists()
    was_empty = not created and folder.is_dir() and _is_empty(folder)
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise InputError(
                f"{folder}: the output folder cannot be written ({exc.strerror}); choose a folder "
                f"you can write to for {argument('out')}"
            ) from exc
        waiting = f"{folder}: another crmss {command} is writing here; waiting for it"
        with exclusive_lock(folder / lock, waiting) if lock else contextlib.nullcontext():
            yield folder
    except OSError as exc:
        raise write_error(exc, folder, what, rerun) from exc
    finally:
        if (created or was_empty) and unused and folder.is_dir() and unused(folder):
            _remove(folder, keep=was_empty)


def _remove(folder: Path, keep: bool) -> None:
    """Remove ``folder``, or only what it holds where ``keep``."""
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@contextlib.contextmanager
def new_folder(
    out: Path, command: str, what: str, marker: str | None = None, overwrite: bool = False
) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``out`` for the ``with`` block to fill; rename it
    to ``out`` when the block ends, so ``out`` appears whole or not at all.

    Under a lock on ``out`` in its parent (:func:`output_folder`; a second run of ``command``
    waits, then finds ``out`` written): an ``out`` that exists and is not an empty folder is
    refused (nothing is overwritten), and what a killed run left (``.<out>.partial-*``) is
    removed. On any failure the temporary folder is removed; a full disk is reported as such
    (``what`` names the output).

    Args:
        out: the folder to write.
        command: the command writing it, for the lock's messages.
        what: what ``out`` holds, for messages.
        marker: the file that marks an earlier output of ``command`` (``metrics.csv``), which
            ``overwrite`` may replace; None where the command replaces nothing.
        overwrite: replace an earlier output (a folder holding ``marker``) once the new one is
            whole; a folder without ``marker`` is still refused, so a mistyped ``out`` is never
            deleted.
    """
    from .errors import InputError

    with output_folder(out.parent, command, what, lock=f".{out.name}.lock", unused=None):
        earlier = out.is_dir() and any(out.iterdir())
        if out.exists() and not out.is_dir():
            raise InputError(
                f"{out}: is a file; nothing is overwritten: choose a new {argument('out')}"
            )
        if earlier and not (overwrite and marker and (out / marker).is_file()):
            raise InputError(_refusal(out, command, what, marker, overwrite))
        # what a killed run left (.partial-, .replaced-): no other run writes here now
        for stale in out.parent.glob(f".{out.name}.*-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
        try:
            tmp.mkdir()
            yield tmp
            _put_in_place(tmp, out, earlier)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _refusal(out: Path, command: str, what: str, marker: str | None, overwrite: bool) -> str:
    """Why ``out``, a folder that is not empty, is not written (:func:`new_folder`)."""
    if marker is None:
        return (
            f"{out}: exists and is not an empty folder; nothing is overwritten: choose a new "
            f"{argument('out')}"
        )
    if overwrite:
        return (
            f"{out}: holds no {marker}, so it is not {what} of an earlier 'crmss {command}' "
            f"and is not replaced: choose a new {argument('out')}"
        )
    return (
        f"{out}: exists and is not an empty folder; nothing is overwritten: choose a new "
        f"{argument('out')}, or "
        f"{argument('overwrite', True)} to replace {what} of an earlier run"
    )


def _put_in_place(tmp: Path, out: Path, earlier: bool) -> None:
    """Rename the finished ``tmp`` to ``out``; an earlier ``out`` (``earlier``) is moved aside
    first and removed after, so that ``out`` is at every moment the old folder, the new one, or
    (between two renames) absent, never a mixture."""
    if not earlier:
        if out.exists():
            out.rmdir()  # empty, as checked
        os.replace(tmp, out)
        return
    aside = out.parent / f".{out.name}.replaced-{uuid.uuid4().hex[:8]}"
    os.replace(out, aside)
    os.replace(tmp, out)
    shutil.rmtree(aside, ignore_errors=True)
