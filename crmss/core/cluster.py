"""Many products on a Dask cluster: ``--scheduler`` of ``crmss predict``.

Dask is imported here only, and only when a scheduler is asked for. Each product is one task;
a worker keeps the generator of the run loaded between its tasks (one per process) and runs a
product with its own devices and precision, writing into ``--out``, which every worker must
reach (a probe file each writes and the client reads, checked first). The per-product locks and
the skip-finished rule make a rerun continue where a crashed cluster stopped; a worker that dies
mid-product has its task run again on another (Dask's own rescheduling), and what the dead one
left is cleaned up by the product's lock. Bad input is not retried: its InputError comes back
and is reported with the others at the end. A scheduler lost mid-run ends the run with one
message (:class:`ClusterLost`); its workers, left without it, stop the product or pair under way
(:func:`stop_if_abandoned`) instead of finishing it for nobody.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .console import progress_bar
from .errors import ClusterLost, DiskFullError, InputError, optional_module
from .validation import argument

logger = logging.getLogger(__name__)


def connect(scheduler: str, local_workers: int = 1) -> Any:
    """A ``distributed.Client`` of ``scheduler``.

    Args:
        scheduler: ``local`` (a LocalCluster of ``local_workers`` worker processes, each with one
            task at a time), ``env`` (the address in DASK_SCHEDULER_ADDRESS) or an address.
        local_workers: the worker processes of a ``local`` cluster (the caller's devices).

    Returns:
        The connected client.

    Raises:
        InputError: no scheduler answers, or ``env`` without DASK_SCHEDULER_ADDRESS.
    """
    distributed = optional_module("distributed", "cluster", argument("scheduler", scheduler))
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    if scheduler == "local":
        return Client(
            LocalCluster(
                n_workers=max(1, local_workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            )
        )
    address = os.environ.get("DASK_SCHEDULER_ADDRESS", "") if scheduler == "env" else scheduler
    if not address:
        raise InputError(
            f"{argument('scheduler', 'env')}: DASK_SCHEDULER_ADDRESS is not set; set "
            "it to the scheduler's address, or give the address"
        )
    try:
        return Client(address, timeout="15s")
    except (OSError, TimeoutError) as exc:
        raise InputError(
            f"{argument('scheduler', address)}: no Dask scheduler answers there ({exc}); start "
            "one (dask scheduler) or correct the address"
        ) from exc


def check_shared(client: Any, out: Path) -> None:
    """InputError unless every worker can write into ``out`` and the client read what it wrote."""
    token = uuid.uuid4().hex
    written = client.run(_write_probe, str(out), token)
    try:
        unseen = [
            worker
            for worker, probe in written.items()
            if not probe or not Path(probe).is_file() or Path(probe).read_text() != token
        ]
    finally:
        for probe in written.values():
            if probe:
                Path(probe).unlink(missing_ok=True)
    if unseen:
        raise InputError(
            f"{out}: the Dask workers {', '.join(sorted(unseen))} cannot write there, or write "
            "where this machine does not see it; "
            f"give {argument('out')} a folder on storage every worker shares"
        )


def _write_probe(out: str, token: str) -> str | None:
    """(On a worker) write ``token`` into a probe file in ``out``; its path, None where it
    cannot."""
    probe = Path(out) / f".crmss-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_text(token)
    except OSError:
        return None
    return str(probe)


def run_tasks(
    client: Any, work: list[tuple[str, tuple]], task: Callable[..., Any], progress: bool, unit: str
) -> Iterator[tuple[str, Any, InputError | None]]:
    """Run ``task(*args)`` for every ``(name, args)`` of ``work`` on the cluster, one task each;
    yield ``(name, result, None)``, or ``(name, None, error)`` for a task that raised InputError,
    as they finish. A full disk cancels the rest and is raised."""
    from distributed import as_completed

    # dashboard_link names one even where none runs
    if "dashboard" in (client.scheduler_info().get("services") or {}):
        logger.info(f"Dask dashboard: {client.dashboard_link}")
    address, finished = client.scheduler.address, 0
    futures = {
        client.submit(task, *args, key=f"crmss-{unit}-{uuid.uuid4().hex[:12]}", pure=False): name
        for name, args in work
    }
    with progress_bar(progress, total=len(futures), desc=f"{unit}s", unit=unit) as bar:
        for future in as_completed(futures):
            try:
                yield futures[future], future.result(), None
            except DiskFullError:
                client.cancel(list(futures))
                raise
            except InputError as exc:
                yield futures[future], None, exc
            # CommClosedError is an OSError
            except (concurrent.futures.CancelledError, OSError) as exc:
                if isinstance(exc, OSError) and client.status == "running":
                    raise  # the task's own error, not the connection's
                raise ClusterLost(
                    f"the Dask scheduler {address} was lost after {finished} of {len(futures)} "
                    f"{unit}s: the {unit}s finished are "
                    "complete and its workers stop the others; start the scheduler and its "
                    "workers again, then rerun the same "
                    f"command (what is finished is skipped)"
                ) from exc
            finished += 1
            bar.update()


class _ConnectionLoss(logging.Filter):
    """Drops distributed's own reports of a lost scheduler (the tracebacks of its attempts to
    reconnect, up to the client's close): :func:`run_tasks` reports the loss in one message."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while error is not None:
            if isinstance(
                error, (OSError, asyncio.CancelledError, concurrent.futures.CancelledError)
            ):
                return False
            error = error.__cause__ or error.__context__
        return True


@contextlib.contextmanager
def _quiet_connection_loss() -> Iterator[None]:
    """Within the block, distributed's client does not log the loss of its scheduler."""
    quiet, loggers = (
        _ConnectionLoss(),
        [logging.getLogger(name) for name in ("distributed.client", "distributed.core")],
    )
    for each in loggers:
        each.addFilter(quiet)
    try:
        yield
    finally:
        for each in loggers:
            each.removeFilter(quiet)


def stop_if_abandoned(what: str) -> None:
    """Raise :class:`ClusterLost` where this runs in a Dask task whose worker has lost its
    scheduler (and so closes): the product or pair ``what`` under way stops, leaving nothing
    behind, instead of being finished for nobody. Anywhere else (a plain run, a thread that is
    not a task's) it does nothing."""
    distributed = sys.modules.get("distributed")
    if distributed is None:  # no cluster in this process: Dask was never imported
        return
    try:
        worker = distributed.get_worker()
    except ValueError:  # not in a task
        return
    if worker.status.name not in ("running", "paused", "closing_gracefully"):
        raise ClusterLost(
            f"{what}: stopped, its Dask worker {worker.address} lost the scheduler "
            f"({worker.status.name})"
        )


@contextlib.contextmanager
def on_cluster(
    scheduler: str | None, client: Any, out: Path, local_workers: int = 1
) -> Iterator[Any]:
    """The client to run on (``client``, or one of ``scheduler`` as :func:`connect` makes it,
    closed at the end), once every worker was seen to write into ``out``."""
    own = client is None
    client = client if client is not None else connect(str(scheduler), local_workers)
    with _quiet_connection_loss():  # up to the close, which reports a lost scheduler again
        try:
            check_shared(client, out)
            yield client
        finally:
            if own:
                client.close()
