"""What differs between Keras's backends when crmss runs a model: the devices, placing work on
one, compiling a function of the generator, and telling an out-of-memory error.

crmss runs on TensorFlow (Keras's default backend, and crmss's) and on JAX (``KERAS_BACKEND=jax``,
for GPU machines without TensorFlow). Devices are named as TensorFlow names them, on both:
``CPU:0``, ``GPU:0``, ``GPU:1``. Nothing here imports TensorFlow or JAX at module level: each
function imports Keras and the backend in use, so that importing this module costs nothing
(``crmss.nn.runs`` does, and the command line refuses bad options before Keras loads).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..core.errors import InputError

if TYPE_CHECKING:
    import keras

#: the backends crmss runs on
BACKENDS = ("tensorflow", "jax")


def backend() -> str:
    """The Keras backend of this process (``KERAS_BACKEND``; Keras's default, TensorFlow).

    Raises:
        InputError: Keras or its backend is not installed, or the backend is one crmss does not
            run on; the message names the fix.
    """
    try:
        import keras
    except ImportError as exc:  # Keras imports its backend as it starts
        wanted = os.environ.get("KERAS_BACKEND", "tensorflow")
        raise InputError(
            f"Keras's {wanted} backend cannot be imported ({exc}); install it (pip install -e . "
            'for TensorFlow, pip install -e ".[jax]" or "jax[cuda12]" for JAX), or choose the '
            "installed one with KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax"
        ) from None
    except ValueError:  # a backend Keras does not know
        _refuse(os.environ.get("KERAS_BACKEND", ""))
    name = keras.backend.backend()
    if name not in BACKENDS:
        _refuse(name)
    return name


def _refuse(name: str) -> None:
    raise InputError(
        f"KERAS_BACKEND={name}: crmss runs on Keras's {' and '.join(BACKENDS)} backends; set "
        "KERAS_BACKEND=tensorflow (the default) or KERAS_BACKEND=jax"
    )


def on_tensorflow() -> bool:
    """Whether Keras runs on TensorFlow in this process."""
    return backend() == "tensorflow"


def gpu_count() -> int:
    """The number of local GPUs the backend sees."""
    return len(_gpus())


def device_names() -> list[str]:
    """The local devices, named ``CPU:0``, ``GPU:0``, ..."""
    if on_tensorflow():
        import tensorflow as tf

        return [d.name.removeprefix("/device:") for d in tf.config.list_logical_devices()]
    counts = {kind: len(_jax_devices(kind)) for kind in ("cpu", "gpu")}
    return [f"{kind.upper()}:{i}" for kind, count in counts.items() for i in range(count)]


def gpu_capability(name: str) -> tuple[int, int]:
    """The compute capability of GPU ``name`` (``GPU:1``), (0, 0) where it is not known."""
    gpus, index = _gpus(), int(name.split(":")[1])
    if index >= len(gpus):
        return (0, 0)
    if on_tensorflow():
        import tensorflow as tf

        details = tf.config.experimental.get_device_details(gpus[index])
        return tuple(details.get("compute_capability", (0, 0)))
    found = getattr(gpus[index], "compute_capability", "0.0")
    major, minor = str(found).split(".")[:2]
    return int(major), int(minor)


@contextlib.contextmanager
def on_device(name: str | None) -> Iterator[None]:
    """Variables made and computations run in the block go to device ``name`` (``GPU:1``);
    None: the backend's own choice."""
    if name is None:
        yield
    elif on_tensorflow():
        import tensorflow as tf

        with tf.device(name):
            yield
    else:
        import jax

        kind, index = name.split(":")
        with jax.default_device(_jax_devices(kind.lower())[int(index)]):
            yield


def compiled(model: keras.Model, body: Callable[..., Any]) -> Callable[..., Any]:
    """``body(call, *arrays)`` compiled for the backend, ``call(inputs)`` running ``model`` for
    inference (its list of output stacks): a ``tf.function`` on TensorFlow, ``jax.jit`` on JAX
    with the model's weights as of now passed in as arguments (not baked into the program).

    Each result is its own function: TensorFlow counts retracing per code object, and a
    ``functools.partial`` has none, so many models do not add up to a retracing warning."""
    if on_tensorflow():
        import tensorflow as tf

        return tf.function(functools.partial(_traced, model, body), reduce_retracing=True)
    import jax

    weights = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )
    run = jax.jit(functools.partial(_stateless, model, body))
    return lambda *arrays: run(weights, *arrays)


def jit(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (of backend tensors, written in ``keras.ops``) compiled for the backend, on
    its first call: ``tf.function(reduce_retracing=True)`` on TensorFlow, ``jax.jit`` on JAX."""
    chosen: list[Callable[..., Any]] = []

    @functools.wraps(function)
    def run(*args: Any) -> Any:
        if not chosen:
            if on_tensorflow():
                import tensorflow as tf

                chosen.append(tf.function(function, reduce_retracing=True))
            else:
                import jax

                chosen.append(jax.jit(function))
        return chosen[0](*args)

    return run


def _traced(model: keras.Model, body: Callable[..., Any], *arrays: Any) -> Any:
    return body(lambda inputs: _as_list(model(list(inputs), training=False)), *arrays)


def _stateless(model: keras.Model, body: Callable[..., Any], weights: tuple, *arrays: Any) -> Any:
    def call(inputs: Sequence[Any]) -> list:
        outputs, _ = model.stateless_call(*weights, list(inputs), training=False)
        return _as_list(outputs)

    return body(call, *arrays)


def _as_list(outputs: Any) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def has_float64() -> bool:
    """Whether the backend computes in float64 when asked (JAX only with ``jax_enable_x64``;
    otherwise it silently computes float32)."""
    if on_tensorflow():
        return True
    import jax

    return bool(jax.config.x64_enabled)  # type: ignore[attr-defined]


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the backend's report of a device out of memory."""
    if on_tensorflow():
        import tensorflow as tf

        return isinstance(exc, tf.errors.ResourceExhaustedError)
    return "RESOURCE_EXHAUSTED" in str(exc)


def share_gpu_memory() -> None:
    """Let the backend take GPU memory as it needs it rather than nearly all of it at its first
    op, so that nvImageCodec can decode on the same GPUs (crmss/io/gpu_decode.py). No effect
    once the backend has started on its GPUs (it already holds the memory it took)."""
    if on_tensorflow():
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # TensorFlow already runs on the GPUs
                return
    else:  # read by JAX's GPU client when it starts (the command line starts it later)
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def backend_versions() -> dict[str, str]:
    """The backend's name and the versions of its packages, as a run records them."""
    versions = {"backend": backend()}
    if on_tensorflow():
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    else:
        import jax

        versions["jax"] = jax.__version__
    return versions


def _gpus() -> list:
    if on_tensorflow():
        import tensorflow as tf

        return tf.config.list_physical_devices("GPU")
    return _jax_devices("gpu")


def _jax_devices(kind: str) -> list:
    """JAX's devices of ``kind`` (``cpu``, ``gpu``), none where the platform is absent."""
    import jax

    try:
        return jax.devices(kind)
    except RuntimeError:  # no such platform
        return []
