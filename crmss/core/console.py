"""What crmss shows while it works: progress bars drawn only on a terminal, Keras's verbosity to
match, the process's peak memory.

Messages go through :mod:`logging` (each module's ``logging.getLogger(__name__)``, children of
``crmss``; the command line prints them to stdout, a notebook configures its own handler).
Progress bars are tqdm's, on stderr, and only where stderr is a terminal: in a log file or
under ``nohup`` every redraw of a bar would be a line of its own.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm


def progress_bar(enabled: bool, **options: Any) -> tqdm:
    """A tqdm bar (``options`` as tqdm takes them) on stderr, drawn when ``enabled`` and stderr
    is a terminal."""
    return tqdm(file=sys.stderr, disable=None if enabled else True, **options)


def peak_memory_gb() -> float:
    """The most memory this process has held so far (peak resident set), in GB; 0 where the
    system does not say (Windows). From ``resource``, not psutil: psutil gives the resident set
    now, and its peak only on Windows."""
    try:
        import resource
    except ImportError:
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024) / 1e9  # bytes on macOS, KiB on Linux


def keras_verbosity(verbose: int | None) -> int:
    """``verbose`` as given, else Keras's progress bar (1) on a terminal and one line per epoch
    (2) elsewhere."""
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


@contextlib.contextmanager
def messages_held_back() -> Iterator[None]:
    """crmss's messages below WARNING dropped for the ``with`` block (work done on the side,
    such as timing a plan), whoever shows them."""
    logger = logging.getLogger("crmss")
    level = logger.level
    logger.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        logger.setLevel(level)
