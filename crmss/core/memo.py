"""Results kept for one run: what a command computes once and uses for each of its products
(the generator loaded for tiles, a STAC document fetched over HTTP, a model file's SHA-256).

A function decorated with :func:`per_run` remembers its results, by its arguments, while a
:func:`run_scope` block is open, and computes afresh outside one: a notebook that runs
``crmss.predict`` twice gets the second run's STAC items as the server has them then, and no
generator stays loaded after a run. A cluster worker keeps a run's results between its tasks
(``keep``) and forgets them when a task of another run comes.

Why not ``functools.lru_cache``: its results live as long as the process, which is the fault
this module removes. This module imports neither TensorFlow nor GDAL.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

Result = TypeVar("Result")

_lock = threading.RLock()
#: the run whose results are kept, its results by (function, arguments), and the open blocks
_state: dict[str, Any] = {"run": None, "results": {}, "depth": 0}


@contextlib.contextmanager
def run_scope(run: str | None = None, keep: bool = False) -> Iterator[str]:
    """Keep the results of :func:`per_run` functions within the block.

    Blocks nest: an inner block belongs to the outermost one's run, whatever it names.

    Args:
        run: the run's identifier (default: a new one); results kept for another run are
            forgotten when the outermost block opens.
        keep: keep the results after the outermost block ends, until a block of another run
            opens (a cluster worker between the tasks of one run).

    Yields:
        The run's identifier, for the tasks of the run that run elsewhere.
    """
    with _lock:
        outermost = _state["depth"] == 0
        if outermost:
            run = run or uuid.uuid4().hex
            if _state["run"] != run:
                _state.update(run=run, results={})
        _state["depth"] += 1
        current = _state["run"]
    try:
        yield current
    finally:
        with _lock:
            _state["depth"] -= 1
            if outermost and not keep:
                _state.update(run=None, results={})


def per_run(function: Callable[..., Result]) -> Callable[..., Result]:
    """Decorate ``function`` (of hashable arguments) to compute once per run: within a
    :func:`run_scope` block its results are kept by arguments; outside one it runs every time.
    An exception is not kept."""

    @functools.wraps(function)
    def kept(*args: Any) -> Result:
        key = (function, args)
        with _lock:
            results = _state["results"] if _state["depth"] else None
            if results is not None and key in results:
                return results[key]
        value = function(*args)
        with _lock:
            if results is not None and results is _state["results"]:
                results[key] = value
        return value

    return kept
