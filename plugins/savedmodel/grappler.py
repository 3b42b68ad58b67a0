"""Grappler clean-up of a frozen graph, without fusion: pruning, dependency and constant folding.

The lowered v1 loops of Keras RNNs come out of freezing full of forwarding Identities and control
edges; TF's dependency optimizer removes them in a way TF.js's executor then schedules correctly.
Grappler's remapper (op fusion) is deliberately not run: fusion is the core passes' job, with a
table of what each TF.js backend supports.
"""
from __future__ import annotations

from typing import Any

OPTIMIZERS = ("pruning", "dependency", "constfold", "dependency")


def optimize(graph_def: Any, fetch_names: list[str]) -> Any:
    """The graph_def after Grappler; ``fetch_names`` (tensor names) are kept."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer
    from tensorflow.python.training.saver import export_meta_graph

    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
        fetch = graph.get_collection_ref(tf.compat.v1.GraphKeys.TRAIN_OP)
        for name in fetch_names:
            fetch.append(graph.get_tensor_by_name(name))
        meta_graph = export_meta_graph(graph_def=graph.as_graph_def(), graph=graph)
    config = config_pb2.ConfigProto()
    rewriter = config.graph_options.rewrite_options
    rewriter.optimizers.extend(OPTIMIZERS)
    rewriter.meta_optimizer_iterations = 1  # ONE
    return tf_optimizer.OptimizeGraph(config, meta_graph)
