"""A concrete function with variables into a self-contained graph: variables become constants.

Uses TF's ``convert_variables_to_constants_v2``: by default While/If are lowered to the v1 ops
(Switch/Merge/Enter/Exit/NextIteration) TF.js runs; with ``control_flow_v2`` they are kept and
their bodies stay in the function library. Resources other than variables (hash tables) stay as
resource Placeholders, each paired here with the live handle it was captured from.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from tfjsconv.errors import InputError

from . import grappler


@dataclasses.dataclass
class FrozenFunction:
    """A frozen graph plus the signature facts the IR needs."""

    graph: Any  # tf.Graph (a FuncGraph)
    #: signature key -> placeholder tensor name, in signature order
    inputs: dict[str, str]
    #: signature key -> output tensor name, in signature order
    outputs: dict[str, str]
    #: the keys of a dict-structured output (``--use_structured_outputs_names``), else None
    structured_output_keys: list[str] | None
    #: resource placeholder op name -> the eager handle it stands for (hash tables)
    resources: dict[str, Any]
    #: FunctionDefLibrary proto of the frozen graph (bodies of kept While/If)
    library: Any
    #: VarHandleOp name -> its value read lazily from the checkpoint (the direct path, :mod:`.direct`)
    variables: dict[str, Any] = dataclasses.field(default_factory=dict)


def input_keys(fn: Any, input_names: Sequence[str] | None) -> list[str]:
    """Signature keys of the function's arguments, in the order of ``fn.inputs``."""
    import tensorflow as tf

    placeholders = fn.inputs[:len(fn.inputs) - len(fn.captured_inputs)]
    if input_names is not None:
        if len(input_names) != len(placeholders):
            raise InputError(f"{len(input_names)} input names given for {len(placeholders)} function inputs")
        return list(input_names)
    args, kwargs = fn.structured_input_signature
    specs = tf.nest.flatten(fn.structured_input_signature)
    if not args and kwargs and len(specs) == len(placeholders) and all(
            isinstance(v, tf.TensorSpec) for v in kwargs.values()):
        return sorted(kwargs)  # nest.flatten orders dict entries by key
    return [t.op.name for t in placeholders]


def output_keys(fn: Any, output_names: Sequence[str] | None) -> tuple[list[str], list[str] | None]:
    """Keys of the flattened outputs, and the dict keys when the outputs are a flat dict."""
    structured = fn.structured_outputs
    paths = _leaf_paths(structured)
    if output_names is not None:
        if len(output_names) != len(paths):
            raise InputError(f"{len(output_names)} output names given for {len(paths)} function outputs")
        return list(output_names), None
    if isinstance(structured, dict) and all("/" not in p for p in paths):
        return paths, paths
    if len(paths) == 1 and not isinstance(structured, dict):
        return ["output_0"], None
    return [f"output_{p.replace('/', '_')}" if p.isdigit() or "/" in p else p for p in paths], None


def _leaf_paths(structure: Any, prefix: str = "") -> list[str]:
    """``a/b``-style paths of the leaves, in ``tf.nest.flatten`` order (dict keys sorted)."""
    if isinstance(structure, dict):
        return [p for key in sorted(structure) for p in _leaf_paths(structure[key], f"{prefix}{key}/")]
    if isinstance(structure, (list, tuple)):
        return [p for i, item in enumerate(structure) for p in _leaf_paths(item, f"{prefix}{i}/")]
    if structure is None:
        return []
    return [prefix.rstrip("/")]


def import_graph_def(graph_def: Any) -> Any:
    """A tf.Graph holding ``graph_def`` under its own names (shapes and dtypes inferred)."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    return graph


def freeze(fn: Any, *, control_flow_v2: bool = False, input_names: Sequence[str] | None = None,
           output_names: Sequence[str] | None = None) -> FrozenFunction:
    """Freeze ``fn`` (a ``ConcreteFunction``) and record its signature."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    in_keys = input_keys(fn, input_names)
    out_keys, structured_keys = output_keys(fn, output_names)
    n_args = len(fn.inputs) - len(fn.captured_inputs)
    arg_names = [t.name for t in fn.inputs[:n_args]]
    captured_by_name = {t.op.name: fn.captured_inputs[i - n_args]
                        for i, t in enumerate(fn.inputs) if i >= n_args}
    try:
        frozen = convert_variables_to_constants_v2(fn, lower_control_flow=not control_flow_v2,
                                                   aggressive_inlining=True)
    except Exception as err:  # TF raises ValueError/InvalidArgumentError with its own wording
        raise InputError(f"TensorFlow cannot freeze this function: {err}") from None
    outputs = [t.name for t in frozen.outputs]
    graph_def = grappler.optimize(frozen.graph.as_graph_def(), outputs + [t.name for t in frozen.inputs])
    if len(outputs) != len(out_keys):
        raise InputError(f"the frozen function has {len(outputs)} outputs, its signature {len(out_keys)}")
    resources = {}
    for tensor in frozen.inputs:
        if tensor.name not in arg_names and tensor.dtype.name == "resource":
            handle = captured_by_name.get(tensor.op.name)
            if handle is not None:
                resources[tensor.op.name] = handle
    return FrozenFunction(
        graph=import_graph_def(graph_def),
        inputs=dict(zip(in_keys, arg_names)),
        outputs=dict(zip(out_keys, outputs)),
        structured_output_keys=structured_keys,
        resources=resources,
        library=graph_def.library,
    )
