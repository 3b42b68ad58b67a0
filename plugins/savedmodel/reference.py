"""Run a SavedModel signature in TensorFlow, so ``tfjsconv verify SAVED_MODEL_DIR MODEL_DIR`` has a reference."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.errors import InputError, MissingInputsError
from tfjsconv.options import ConvertOptions


def _feed(tf: Any, spec: Any, value: Any) -> Any:
    if spec.dtype == tf.string:
        array = np.asarray(value, dtype=object)
        return tf.constant(array.astype(bytes) if array.size else array, dtype=tf.string)
    return tf.constant(np.asarray(value).astype(spec.dtype.as_numpy_dtype))


def run_signature(path: Path, inputs: Mapping[str, np.ndarray], options: ConvertOptions, *,
                  hub: bool = False) -> dict[str, np.ndarray]:
    """Outputs of the signature, keyed like the converted model's signature outputs."""
    from .freeze import output_keys
    from .loading import load_signature
    from .tfimport import import_tf

    tf = import_tf()
    with load_signature(path, options, hub=hub) as fn:
        _, specs = fn.structured_input_signature
        missing = sorted(set(specs) - set(inputs))
        if missing:
            raise MissingInputsError(f"no value given for signature input(s) {', '.join(missing)}", missing)
        try:
            result = fn(**{key: _feed(tf, spec, inputs[key]) for key, spec in specs.items()})
        except Exception as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InputError(f"TensorFlow cannot run the signature on these inputs: {first}") from None
        keys, _ = output_keys(fn, None)
        flat = tf.nest.flatten(result)
    return {key: _numpy(t) for key, t in zip(keys, flat)}


def _numpy(tensor: Any) -> np.ndarray:
    array = tensor.numpy()
    return np.asarray(array)


def run_graph_tensors(tf_graph: Any, feeds_by_name: Mapping[str, Any], sources: list[str],
                      variables: Mapping[str, Any] | None = None) -> dict[str, list[np.ndarray]]:
    """Output 0 of each named node of ``tf_graph`` (a frozen graph) in a TF1 session, for ``verify --trace``.

    ``feeds_by_name``: tensor name -> value. ``variables`` (the direct path's VarHandleOp name -> lazy
    checkpoint value): the ReadVariableOps reading them are fed their values. Unknown names are left out.
    """
    from .tfimport import import_tf

    tf = import_tf()
    feeds = {}
    for name, value in feeds_by_name.items():
        tensor = tf_graph.get_tensor_by_name(name if ":" in name else f"{name}:0")
        feeds[tensor] = (np.asarray(value).astype(tensor.dtype.as_numpy_dtype) if tensor.dtype != tf.string
                         else np.asarray(value, dtype=object))
    if variables:
        for op in tf_graph.get_operations():
            if op.type != "ReadVariableOp":
                continue
            handle = op.inputs[0].op
            while handle.type == "Identity" and handle.inputs:
                handle = handle.inputs[0].op
            if handle.name not in variables:
                raise InputError(f"variable {handle.name} has no checkpoint value to trace with")
            feeds[op.outputs[0]] = np.asarray(variables[handle.name].load())
    known = {op.name: op for op in tf_graph.get_operations()}
    looped = _inside_loops(tf_graph)  # a Session cannot fetch a tensor inside a while frame
    fetch = [name for name in dict.fromkeys(sources)
             if name in known and known[name].outputs and name not in looped]
    if not fetch:
        return {}
    with tf.compat.v1.Session(graph=tf_graph) as session:
        values = session.run([known[name].outputs[0] for name in fetch], feed_dict=feeds)
    return {name: [np.asarray(value)] for name, value in zip(fetch, values)}


def _inside_loops(tf_graph: Any) -> set[str]:
    """Names of the ops in a v1 while frame: reachable from an ``Enter`` without passing its ``Exit``."""
    inside: set[str] = set()
    stack = [op for op in tf_graph.get_operations() if op.type in ("Enter", "RefEnter")]
    while stack:
        op = stack.pop()
        if op.name in inside or op.type in ("Exit", "RefExit"):
            continue
        inside.add(op.name)
        stack.extend(consumer for out in op.outputs for consumer in out.consumers())
        stack.extend(op._control_outputs)
    return inside


def trace_signature(path: Path, inputs: Mapping[str, np.ndarray], sources: list[str], options: ConvertOptions, *,
                    hub: bool = False) -> dict[str, list[np.ndarray]]:
    """The named nodes of the frozen signature the conversion translated (same freezing, same names)."""
    from .direct import NotDirect
    from .freeze import import_graph_def
    from .pipeline import freeze_saved_model_dir

    frozen, _, _ = freeze_saved_model_dir(path, options, hub=hub)
    missing = sorted(set(frozen.inputs) - set(inputs))
    if missing:
        raise MissingInputsError(f"no value given for signature input(s) {', '.join(missing)}", missing)
    feeds = {frozen.inputs[key]: inputs[key] for key in frozen.inputs}
    try:
        return run_graph_tensors(import_graph_def(frozen.graph.as_graph_def()), feeds, sources, frozen.variables)
    except (InputError, NotDirect):
        frozen, _, _ = freeze_saved_model_dir(path, options, hub=hub, direct=False)
        return run_graph_tensors(import_graph_def(frozen.graph.as_graph_def()), feeds, sources)
