"""A Keras model (tf_keras or Keras 3) as a ConcreteFunction with an input signature."""
from __future__ import annotations

from typing import Any

from tfjsconv.errors import InputError

from .keras_center_crop import refuse_center_crop_of_unknown_sizes
from .keras_data_layers import data_layers_called_as_eager
from .keras_integer_resize import refuse_integer_resize_of_unknown_sizes
from .keras_time_distributed import time_distributed_traced_right
from .tfimport import import_tf


def _concrete_function(serve: Any) -> Any:
    """``serve``'s concrete function; an error Keras's own call raises while TensorFlow traces it over an unknown
    batch (``OperatorNotAllowedInGraphError`` of a layer that branches on a tensor, a shape Keras needs known) is
    an InputError naming it: the model cannot be traced, which is no bug of the converter."""
    from tfjsconv.errors import TfjsconvError

    try:
        return serve.get_concrete_function()
    except TfjsconvError:
        raise
    except Exception as error:  # raised inside Keras or TensorFlow, on this model
        text = " ".join(str(error).split())
        raise InputError(f"Keras's call of the model fails when TensorFlow traces it with an unknown batch size: "
                         f"{type(error).__name__}: {text[:300]}",
                         hint="a saved .keras/.h5 file converts without tracing through the default graph-model "
                              "lowering (without --loader=tensorflow)") from error


def _dtype_name(dtype: Any) -> str:
    return getattr(dtype, "name", None) or str(dtype)


def trace_keras_model(model: Any) -> tuple[Any, list[str], list[str] | None]:
    """``(concrete function, input names, output names)``; the batch dimension is left unknown."""
    tf = import_tf()
    inputs = list(getattr(model, "inputs", None) or [])
    if not inputs:
        raise InputError(f"the Keras model {getattr(model, 'name', model)!r} has no defined inputs",
                         hint="build it first (call it on data, or give its first layer an input shape)")
    names = [str(getattr(t, "name", f"input_{i}")).split(":")[0] for i, t in enumerate(inputs)]
    specs = [tf.TensorSpec([None, *list(t.shape)[1:]], tf.as_dtype(_dtype_name(t.dtype)), name=name)
             for t, name in zip(inputs, names)]

    @tf.function(input_signature=specs, autograph=False)
    def serve(*args):
        return model(list(args) if len(args) > 1 else args[0], training=False)

    refuse_center_crop_of_unknown_sizes(model)  # Keras 3 traces it as a plain crop
    refuse_integer_resize_of_unknown_sizes(model)  # TF.js rounds its ties otherwise (rounded_bilinear: static only)
    # Keras 3.14+ traces TimeDistributed over the batch axis; preprocessing layers cast to float32 in a graph
    with time_distributed_traced_right(model), data_layers_called_as_eager():
        fn = _concrete_function(serve)
    flat = tf.nest.flatten(fn.structured_outputs)
    output_names = list(getattr(model, "output_names", None) or [])
    if isinstance(fn.structured_outputs, dict):
        output_names = sorted(fn.structured_outputs)
    if len(output_names) != len(flat) or len(set(output_names)) != len(output_names):
        output_names = None
    return fn, names, output_names
