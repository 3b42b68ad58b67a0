"""A frozen GraphDef (``.pb``): its Placeholders are the inputs, ``--output_node_names`` the outputs."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tfjsconv.errors import InputError, UsageError
from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.frontend import run_frontend_passes

from . import freeze
from .functions import attach_control_flow_bodies, attach_function_bodies
from .tfimport import import_tf
from .translate import graph_from_tf_graph

log = logging.getLogger(__name__)


def read_graph_def(path: Path) -> Any:
    """The GraphDef in ``path``, parsed with our own schema (no TensorFlow import)."""
    from .schema import GraphDef

    if not path.is_file():
        raise InputError(f"{path} is not a file: a frozen model is one GraphDef .pb file")
    graph_def = GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception as err:
        raise InputError(f"{path} is not a readable GraphDef (truncated or corrupt: {err})") from None
    if not graph_def.node:
        raise InputError(f"{path} holds no graph nodes (empty, or not a frozen GraphDef)")
    return graph_def


def unconsumed_nodes(graph_def: Any) -> list[str]:
    """Nodes whose outputs no other node reads (the likely outputs), in file order."""
    used = {ref.lstrip("^").split(":")[0] for node in graph_def.node for ref in node.input}
    return [n.name for n in graph_def.node if n.name not in used and n.op not in ("NoOp", "Placeholder", "Const")]


def tensor_name(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def import_graph_def(graph_def: Any, path: Path) -> Any:
    import_tf()
    from tensorflow.core.framework import graph_pb2

    if not isinstance(graph_def, graph_pb2.GraphDef):  # read with our schema: TF's class, losslessly
        graph_def = graph_pb2.GraphDef.FromString(graph_def.SerializeToString())
    try:
        return freeze.import_graph_def(graph_def)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"TensorFlow cannot import the GraphDef in {path}: {first}") from None


def graph_from_frozen_model(path: Path, options: ConvertOptions) -> Graph:
    names = [n.strip() for n in (options.output_node_names or []) if n.strip()]
    if not names:
        sinks = ",".join(unconsumed_nodes(read_graph_def(path))[:8])
        raise UsageError("--input_format=tf_frozen_model needs --output_node_names",
                         hint=f"nodes nothing consumes in {path.name}: --output_node_names={sinks}" if sinks
                         else "e.g. --output_node_names=logits,probabilities")
    graph_def = read_graph_def(path)
    from tfjsconv.limits import limits_of

    from .bounds import check_graph_def

    check_graph_def(graph_def, limits_of(options), str(path))
    known = {n.name for n in graph_def.node}
    missing = [n for n in names if n.split(":")[0] not in known]
    if missing:
        raise InputError(f"--output_node_names names node(s) not in {path.name}: {', '.join(missing)}")
    if options.extra.get("loader") != "tensorflow":
        from .graphdef_ir import NotTfFree
        from .tf_free import graph_from_graph_def

        try:
            return graph_from_graph_def(graph_def, names, name=path.stem, options=options)
        except NotTfFree as why:  # TensorFlow only when asked for: the refusal names the flag
            raise why.refusal(path) from None
    tf = import_tf()
    tf_graph = import_graph_def(graph_def, path)
    outputs = {n: tensor_name(n) for n in names}
    graph = graph_from_tf_graph(tf_graph, {}, outputs, name=path.stem)
    graph.remove_dead_nodes()
    for node in graph.topological_order():
        if node.op == "Placeholder":
            graph.inputs[node.name] = node.output(0)
    graph.generated_by = tf.__version__
    graph.versions = {"producer": int(graph_def.versions.producer)} if graph_def.versions.producer else {}
    from .grappler_monotonic import match_grappler_monotonic

    match_grappler_monotonic(graph, fetches_kept=True)  # as a session's run does (Grappler's arithmetic optimizer)
    run_frontend_passes(graph)
    from tensorflow.core.framework import function_pb2

    # read with our schema: TensorFlow's message class, which function_body needs
    library = function_pb2.FunctionDefLibrary.FromString(graph_def.library.SerializeToString())
    attach_function_bodies(graph, library)
    attach_control_flow_bodies(graph, library)  # functional While/If/Case: lowered by the core pass
    return graph


def run_frozen_model(path: Path, inputs: dict[str, Any], output_names: list[str]) -> dict[str, Any]:
    """Reference outputs: the GraphDef run in a TF1 session on ``inputs`` (keys: Placeholder names)."""
    tf = import_tf()
    tf_graph = import_graph_def(read_graph_def(path), path)
    feeds = {}
    for key, value in inputs.items():
        tensor = tf_graph.get_tensor_by_name(tensor_name(key))
        feeds[tensor] = value.astype(tensor.dtype.as_numpy_dtype) if tensor.dtype != tf.string else value
    with tf.compat.v1.Session(graph=tf_graph) as session:
        results = session.run([tensor_name(n) for n in output_names], feed_dict=feeds)
    return dict(zip(output_names, results))
