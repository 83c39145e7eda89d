"""The exception types the command line turns into one clear message.

:class:`InputError`: bad input (a file, a folder, an option, a full disk); one message on stderr
naming the offending file and the fix, exit status 2. :class:`InternalError`: a check of
crmss's own output failed (a bug, never the user's input); exit status 1, nothing is left at
a final name.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


class InputError(Exception):
    """Bad input (a file, a folder, an option): the message names it and the fix."""


class DiskFullError(InputError):
    """A write failed for want of space: the message names the folder and the space needed."""


class InternalError(Exception):
    """An output failed crmss's own consistency check: a bug to report, not bad input."""


#: what GDAL's GeoTIFF writer says when a write fails (its messages carry no errno)
_GDAL_WRITE_FAILURES = ("No space left", "Write error", "WriteEncoded", "IO error writing", "write failed", "Disk full", "quota")
#: below this, a folder counts as full whatever the failed write said
_NEARLY_FULL = 64 * 2**20


def is_disk_full(exc: BaseException, folder: str | Path) -> bool:
    """Whether ``exc`` (an OSError, or GDAL's RuntimeError) means that ``folder``'s disk is full:
    errno ENOSPC or EDQUOT, or GDAL's text of a failed write while the disk has almost no space left."""
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
        return nearly_full and any(s.lower() in text.lower() for s in _GDAL_WRITE_FAILURES)
    return False


def disk_full_error(folder: str | Path, needed_bytes: int | None, what: str, rerun: str) -> DiskFullError:
    """The one message for a full disk: the folder, its free space, what the work needs, how to go on."""
    try:
        free = f"{_size(shutil.disk_usage(folder).free)} free"
    except OSError:
        free = "free space unknown"
    need = f"; {what} needs about {_size(needed_bytes)}" if needed_bytes else ""
    return DiskFullError(f"{folder}: the disk is full ({free}{need}); free some space or choose another folder, then {rerun}")


def _size(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{max(count / 1e6, 0.1):.1f} MB"
