"""The generator ready for tiles: one copy per device, each at the precision chosen.

:class:`TileRunner` turns batches of uint16 tiles into the model's blended-weighted outputs on
one or more devices (crmss/nn/precision.py chooses the precision and lists the devices); the
scaling to reflectance and the weighting run in the graph beside the model.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
from keras import ops

from ..core.options import PredictOptions
from ..nn.backends import compiled, gpu_count, on_device
from ..nn.model import generator_stacks
from ..nn.precision import at_precision, choose_precision, local_devices


def default_batch_size() -> int:
    """Tiles per model call: 4 on a GPU; 1 on a CPU, which is no faster with more and would
    hold several GB of activations (a 1024 px tile at width 64 needs about 2.5 GB)."""
    return 4 if gpu_count() else 1


class TileRunner:
    """The generator, ready for batches of (tile, tile/2) px tiles of its stacks: one copy per
    device, each computing at the precision chosen (crmss/nn/precision.py)."""

    def __init__(
        self,
        model: keras.Model,
        precision: str = PredictOptions.precision,
        devices: str = PredictOptions.devices,
        path: Path | None = None,
    ):
        self.path = path
        self.stacks = generator_stacks(model)  # ("10m", "20m"), or ("10m",) for a Vis/NIR model
        self.devices = local_devices(devices)
        self.precision = choose_precision(precision, self.devices)
        # else the backend's own placement is the device asked for
        placed = self.devices != local_devices()[:1]
        self._replicas = []
        for device in self.devices:
            copy = at_precision(model, self.precision.precision, device if placed else None)
            self._replicas.append((device, compiled(copy, _weighted_outputs)))

    def weighted(
        self, tiles: list[np.ndarray], weights: list[tuple], replica: int = 0
    ) -> list[np.ndarray]:
        """Tiles of reflectance x 10000 per stack (uint16 (batch, t, t, 4) at 10 m and
        (batch, t/2, t/2, 6) at 20 m) to the model's outputs as reflectance x 10000, float32, of
        the same shapes, times the tiles' blending weights, on device number ``replica``.
        Saturated input is clipped to 1. ``weights`` per stack: the (t,) row weights of the
        strip and the (batch, t) column weights of the tiles, at that stack's resolution."""
        device, blend = self._replicas[replica]
        with on_device(device):
            outputs = blend(
                [ops.convert_to_tensor(t) for t in tiles],
                [tuple(map(ops.convert_to_tensor, w)) for w in weights],
            )
        return [np.asarray(y) for y in outputs]

    def map_weighted(self, batches: Iterable[tuple[list, list]]) -> Iterator[list[np.ndarray]]:
        """:meth:`weighted` of each ``(tiles, weights)`` of ``batches``, in their order: the
        batches are dealt to the devices in turn, each device running its own one after the
        other, at most two per device ahead of the caller."""
        count = len(self._replicas)
        with contextlib.ExitStack() as stack:
            pools = [stack.enter_context(ThreadPoolExecutor(1)) for _ in range(count)]
            pending: collections.deque[Future] = collections.deque()
            for index, (tiles, weights) in enumerate(batches):
                pending.append(
                    pools[index % count].submit(self.weighted, tiles, weights, index % count)
                )
                if len(pending) > 2 * count:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


def _weighted_outputs(call, tiles, weights):
    """The model's outputs (``call``) for uint16 ``tiles``, as reflectance x 10000 times the
    blending ``weights``: scaling and weighting run compiled beside the model, in float32 (on a
    CPU numpy would add full passes over every tile; on a GPU they cost nothing)."""
    inputs = [ops.minimum(ops.cast(dn, "float32") / 10000.0, 1.0) for dn in tiles]
    return [
        ops.cast(y, "float32") * (10000.0 * rows[None, :, None, None] * cols[:, None, :, None])
        for y, (rows, cols) in zip(call(inputs), weights)
    ]
