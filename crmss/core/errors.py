"""The exception types the command line turns into one clear message and an exit status.

All derive from :class:`CrmssError`. :class:`InputError`: bad input (a file, a folder, an
option, a full disk, a lost Dask scheduler); one message naming the offending file and the fix, exit
status 2.
:class:`TrainingDiverged`: a loss became NaN or infinite (the input may be fine: the learning
rate or the precision is not); exit status 3, the last complete epoch kept.
:class:`InternalError`: a check of crmss's own output failed (a bug, never the user's input);
exit status 1, nothing is left at a final name. :class:`Failures` collects the failures of a
batch (products, pairs) so that each is reported and the rest still finishes.
"""

from __future__ import annotations

import errno
import importlib
import logging
import shutil
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class CrmssError(Exception):
    """An error the command line reports as one message, exiting with ``exit_status``."""

    exit_status = 2


class InputError(CrmssError):
    """Bad input (a file, a folder, an option): the message names it and the fix."""


class DiskFullError(InputError):
    """A write failed for want of space: the message names the folder and the space needed."""


class ClusterLost(InputError):
    """The Dask scheduler of a run went away mid-run: the message says what is finished and how
    to go on."""


class TrainingDiverged(CrmssError):
    """A training loss became NaN or infinite: the message says where and what to change."""

    exit_status = 3


class InternalError(CrmssError):
    """An output failed crmss's own consistency check: a bug to report, not bad input."""

    exit_status = 1


class Failures:
    """The failures of a batch of items (products, pairs): each is added as it happens, the
    other items go on, and :meth:`raise_any` raises them together as one InputError."""

    def __init__(self, total: int, items: str, fix: str):
        self.total, self.items, self.fix = total, items, fix
        self.messages: list[str] = []

    def add(self, name: str, error: InputError) -> None:
        """Keep ``error``'s message for the end; log that ``name`` failed."""
        self.messages.append(str(error))
        logger.info(f"{name}: failed (reported at the end)")

    def raise_any(self) -> None:
        """Raise the failures together, saying whether the other items are done and the fix."""
        if self.messages:
            others = f"the other {self.items} are done; " if len(self.messages) < self.total else ""
            raise InputError("\n".join(self.messages) + f"\n{others}{self.fix}")


#: what GDAL's GeoTIFF writer says when a write fails (its messages carry no errno)
_GDAL_WRITE_FAILURES = (
    "No space left",
    "Write error",
    "WriteEncoded",
    "IO error writing",
    "write failed",
    "Disk full",
    "quota",
)
#: below this, a folder counts as full whatever the failed write said
_NEARLY_FULL = 64 * 2**20


def is_disk_full(exc: BaseException, folder: str | Path, while_writing: bool = False) -> bool:
    """Whether ``exc`` (an OSError, or GDAL's RuntimeError) means that ``folder``'s disk is full:
    errno ENOSPC or EDQUOT, or GDAL's text of a failed write while the disk has almost no space
    left (``while_writing``: any failure of a write to ``folder`` while it has almost no space left;
    GDAL's GeoTIFF and COG writers then give messages that name no cause)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, (OSError, RuntimeError)):
        text = str(exc)
        if "No space left" in text:
            return True
        try:
            nearly_full = shutil.disk_usage(folder).free < _NEARLY_FULL
        except OSError:
            return False
        return nearly_full and (
            while_writing or any(s.lower() in text.lower() for s in _GDAL_WRITE_FAILURES)
        )
    return False


def disk_full_error(
    folder: str | Path, needed_bytes: int | None, what: str, rerun: str
) -> DiskFullError:
    """The one message for a full disk: the folder, its free space, what the work needs, how to
    go on."""
    try:
        free = f"{_size(shutil.disk_usage(folder).free)} free"
    except OSError:
        free = "free space unknown"
    need = f"; {what} needs about {_size(needed_bytes)}" if needed_bytes else ""
    return DiskFullError(
        f"{folder}: the disk is full ({free}{need}); free some space or choose "
        f"another folder, then {rerun}"
    )


def write_error(
    exc: OSError | RuntimeError,
    folder: str | Path,
    what: str,
    rerun: str = "run the same command again",
    needed: int | None = None,
) -> InputError:
    """The one error for a failed write into ``folder``: :class:`DiskFullError` where its disk is
    full (what ``what`` needs, how to go on: ``rerun``), else InputError naming the file and the
    system's (or GDAL's) reason. ``exc`` is what the write raised: an OSError, or GDAL's
    RuntimeError (any failure of a write into an almost full folder counts as a full disk)."""
    if is_disk_full(exc, folder, while_writing=True):
        return disk_full_error(folder, needed, what, rerun)
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return InputError(
        f"{getattr(exc, 'filename', None) or folder}: cannot write ({reason}); "
        "check the output folder and run again"
    )


def _size(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{max(count / 1e6, 0.1):.1f} MB"


def optional_module(name: str, extra: str, what: str) -> Any:
    """Import the module ``name`` of an optional feature.

    Args:
        name: the module (``pystac``, ``distributed``).
        extra: crmss's extra that installs it (``stac``, ``cluster``).
        what: the feature, for the message (``reading STAC items``).

    Returns:
        The module.

    Raises:
        InputError: it is not installed, or cannot be imported (a dependency of it missing);
            the message names the install command.
    """
    try:
        return importlib.import_module(name)
    # OSError: a compiled dependency whose system library is missing (LightGBM without libgomp)
    except (ImportError, OSError) as exc:
        missing = isinstance(exc, ImportError) and exc.name == name
        state = "is not installed" if missing else f"cannot be imported ({exc})"
        raise InputError(
            f"{what} needs {name}, which {state}: pip install 'crmss[{extra}]' (conda: "
            f"conda install -c conda-forge {name})"
        ) from exc
