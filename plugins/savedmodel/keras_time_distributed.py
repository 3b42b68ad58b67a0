"""Keras 3's ``TimeDistributed`` traced over an unknown time axis, as Keras itself computes it.

Since Keras 3.14 (keras-team/keras#22039), ``TimeDistributed.call`` takes the step count of its graph
path (``vectorized_map`` over ``arange(steps)``, the path a trace with an unknown time axis takes)
from the batch axis: ``ops.shape(inputs)`` is read *before* the batch/time transpose. Eagerly the
time axis is always known and Keras loops over it, so ``model(x)`` is right while every
``tf.function`` trace returns ``[batch, batch, ...]`` for a ``[batch, time, ...]`` input (or fails
when batch > time). The tracer would freeze that wrong graph and TF.js would compute it faithfully.

While the tracer runs, the affected class computes the same graph path over the time axis instead:
the wrapped layer's ``call`` on each time step (with its mask slice and ``training``), as Keras's
eager loop does. A probe decides whether the installed Keras has the fault and that the
replacement removes it; if the replacement does not, the model is refused naming the layers.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any

from tfjsconv.errors import InputError

from .keras3_classes import keras3_class

#: the probe's input: ``[batch, time, 1]`` with batch != time
PROBE_SHAPE = (1, 3, 1)


def _keras3_time_distributed_class() -> Any | None:
    """Keras 3's ``TimeDistributed`` when Keras 3 is already imported (a tf_keras model never imports it)."""
    return keras3_class("keras.src.layers.rnn.time_distributed:TimeDistributed")


def time_distributed_layers(model: Any) -> list[Any]:
    """The Keras 3 ``TimeDistributed`` layers in ``model`` (nested models included) whose time axis is unknown."""
    cls = _keras3_time_distributed_class()
    flatten = getattr(model, "_flatten_layers", None)
    if cls is None or flatten is None:
        return []
    found = []
    for layer in flatten(include_self=True, recursive=True):
        if isinstance(layer, cls):
            shape = _input_shape(layer)
            if shape is None or len(shape) < 2 or shape[1] is None:
                found.append(layer)
    return found


def _input_shape(layer: Any) -> tuple | None:
    """The layer's first input shape as Keras built it, ``None`` when Keras does not say."""
    try:
        shape = layer.input.shape if not isinstance(layer.input, (list, tuple)) else layer.input[0].shape
        return tuple(shape)
    except (AttributeError, ValueError, TypeError, IndexError):
        return None


def _time_distributed_call(self: Any, inputs: Any, training: Any = None, mask: Any = None) -> Any:
    """Keras's graph path of ``TimeDistributed.call``, stepping over the time axis (Keras < 3.14 did)."""
    from keras import ops
    from keras.src import backend

    if inputs.shape[1] is not None:  # Keras's own loop over a known time axis is right
        original = next(_ORIGINAL_CALLS[cls] for cls in type(self).__mro__ if cls in _ORIGINAL_CALLS)
        return original(self, inputs, training=training, mask=mask)

    def time_first(data: Any) -> Any:
        return ops.transpose(data, axes=[1, 0, *range(2, len(data.shape))])

    steps = time_first(inputs)
    step_masks = None if mask is None else time_first(mask)

    def step_function(i: Any) -> Any:
        kwargs = {}
        if self.layer._call_has_mask_arg and step_masks is not None:
            kwargs["mask"] = step_masks[i]
        if self.layer._call_has_training_arg:
            kwargs["training"] = training
        return self.layer.call(steps[i], **kwargs)

    return time_first(backend.vectorized_map(step_function, ops.arange(ops.shape(steps)[0])))


_ORIGINAL_CALLS: dict[type, Any] = {}


#: one replacement at a time: traces in other threads wait rather than restore the class under each other
_REPLACING = threading.RLock()


@contextlib.contextmanager
def _replaced_call(cls: Any) -> Iterator[None]:
    """``cls.call`` is :func:`_time_distributed_call` inside the block (restored after, even on error)."""
    with _REPLACING:
        original = cls.__dict__["call"]
        if original is _time_distributed_call:  # already inside a replacement (this thread)
            yield
            return
        _ORIGINAL_CALLS[cls] = original
        cls.call = _time_distributed_call
        try:
            yield
        finally:
            cls.call = original


def _probe_steps(cls: Any) -> int:
    """The time steps a trace of ``TimeDistributed(Identity)`` returns for a :data:`PROBE_SHAPE` input."""
    import keras
    import tensorflow as tf

    layer = cls(keras.layers.Identity())
    fn = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec([None, None, 1], tf.float32)],
                     autograph=False)
    return int(fn.get_concrete_function()(tf.zeros(PROBE_SHAPE)).shape[1])


@functools.cache
def _fault_and_fix(cls: Any) -> tuple[bool, bool]:
    """``(Keras's trace steps over the wrong axis, the replacement steps over the right one)``, probed once.
    A probe that fails counts as a fault the replacement does not fix (the model is then refused)."""
    try:
        faulty = _probe_steps(cls) != PROBE_SHAPE[1]
        if not faulty:
            return False, True
        with _replaced_call(cls):
            return True, _probe_steps(cls) == PROBE_SHAPE[1]
    except Exception:  # noqa: BLE001 - whatever Keras raises, the trace cannot be shown right
        return True, False


@contextlib.contextmanager
def time_distributed_traced_right(model: Any) -> Iterator[None]:
    """Inside the block a trace of ``model`` computes its Keras 3 ``TimeDistributed`` layers as Keras does."""
    layers = time_distributed_layers(model)
    if not layers:
        yield
        return
    cls = _keras3_time_distributed_class()
    faulty, fixed = _fault_and_fix(cls)
    if not faulty:
        yield
        return
    if not fixed:
        import keras

        names = ", ".join(repr(layer.name) for layer in layers)
        raise InputError(f"Keras {keras.__version__} traces TimeDistributed over an unknown time axis wrongly "
                         f"(it steps over the batch axis), and the tracer's correction does not apply: "
                         f"layer(s) {names}",
                         hint="convert without --loader=tensorflow (the h5py lowering computes "
                              "TimeDistributed as Keras does), or give the model's inputs a fixed time axis")
    with _replaced_call(cls):
        yield
