"""Keras 3's preprocessing layers traced as Keras computes them in ``model(x)``.

Keras 3's ``DataLayer`` (the base of ``Resizing``, ``Rescaling``, the ``Random*`` augmentations,
``Normalization``, ``Discretization``, ``CategoryEncoding``, ``MelSpectrogram``) takes any call inside a
TF graph for a ``tf.data`` pipeline: it casts its input to the layer's compute dtype (float32) first.
Eagerly, in ``model(x)``, it does not. So an int32 or uint8 image through ``Resizing`` comes back
rounded and in its own dtype from Keras, while the tracer froze float32, unrounded values (138.5
where Keras gives 138), and ``RandomCrop``/``RandomInvert`` on int32 images gave float32.

While the tracer runs with Keras's TensorFlow backend, such a layer goes through ``Layer.__call__``
as in ``model(x)``: its ops are TensorFlow's either way, only the cast goes. Under another Keras
backend the ``tf.data`` path is the only one that runs TF ops, so it is left alone.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from .keras3_classes import keras3_class, keras3_loaded

#: one replacement at a time: traces in other threads wait rather than restore the class under each other
_REPLACING = threading.RLock()


def _data_layer_class() -> Any | None:
    """Keras 3's ``DataLayer`` (``TFDataLayer`` before 3.11), when Keras 3 runs on TensorFlow."""
    if not keras3_loaded():
        return None
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    return keras3_class("keras.src.layers.preprocessing.data_layer:DataLayer",
                        "keras.src.layers.preprocessing.tf_data_layer:TFDataLayer")


def _layer_call(self: Any, inputs: Any, **kwargs: Any) -> Any:
    """``DataLayer.__call__`` without its ``tf.data`` branch: the plain Keras ``Layer.__call__``."""
    from keras.src.layers.layer import Layer

    return Layer.__call__(self, inputs, **kwargs)


@contextlib.contextmanager
def data_layers_called_as_eager() -> Iterator[None]:
    """Inside the block Keras 3's preprocessing layers keep their input dtype in a TF graph, as ``model(x)`` does."""
    cls = _data_layer_class()
    if cls is None or "__call__" not in cls.__dict__:
        yield
        return
    with _REPLACING:
        original = cls.__dict__["__call__"]
        if original is _layer_call:  # already inside a replacement (this thread)
            yield
            return
        cls.__call__ = _layer_call
        try:
            yield
        finally:
            cls.__call__ = original
