"""TensorFlow frontends: SavedModel, frozen GraphDef and TF Hub module folders (needs TensorFlow).

This module only declares hooks; TensorFlow is imported when one of these formats is loaded, so
``tfjsconv --help`` and the ONNX/Keras paths stay light. The Python API for live TF objects
(concrete functions, Keras models) is :mod:`tfjsconv.plugins.savedmodel.api`.
"""
from __future__ import annotations

from typing import Callable

from tfjsconv.hookspecs import hookimpl
from tfjsconv.lazy import LazyFrontend, LazyPass

from .detect import is_frozen_graph, is_hub_address, is_hub_module, is_saved_model, is_tfjs_graph_model


@hookimpl
def register_frontends(register: Callable) -> None:
    # Declared lazily (docs/plugins.md): .frontends loads only when one of these formats is converted.
    register(LazyFrontend("tf_saved_model", f"{__name__}.frontends:SavedModelFrontend", detect=is_saved_model,
                          description="TensorFlow SavedModel folder (saved_model.pb + variables/)"))
    register(LazyFrontend("tf_frozen_model", f"{__name__}.frontends:FrozenModelFrontend", detect=is_frozen_graph,
                          description="frozen TensorFlow GraphDef (.pb), with --output_node_names"))
    register(LazyFrontend("tf_hub", f"{__name__}.frontends:TfHubFrontend", detect=is_hub_module,
                          claims_remote=is_hub_address,
                          description="TensorFlow Hub module, downloaded to a local folder (TF2 SavedModel or "
                                      "TF1 hub format)"))
    register(LazyFrontend("tfjs_graph_model", f"{__name__}.tfjs_graph_model:TfjsGraphModelFrontend",
                          detect=is_tfjs_graph_model, output_formats=("tfjs_graph_model",),
                          description="TF.js graph model (model.json + shards): re-shard / re-quantize / optimize again"))


#: The frontend passes the TensorFlow frontends run on each graph and body they build, before control
#: flow is lowered (docs/passes.md, "Frontend passes"): (module, class, name, required, after).
FRONTEND_PASSES = (
    ("frontend_passes", "DropControlEdges", "drop_control_edges", True, ()),
    ("op_rewrites", "RewriteTfOps", "tf_op_rewrites", True, ("drop_control_edges",)),
    ("frontend_passes", "RemoveNoOps", "remove_no_ops", False, ("tf_op_rewrites",)),
    ("frontend_passes", "BypassConstantEnters", "bypass_constant_enters", True, ("remove_no_ops",)),
    ("frontend_passes", "UnwrapOutputIdentityN", "unwrap_output_identity_n", False,
     ("bypass_constant_enters",)),
)


@hookimpl
def register_passes(register: Callable) -> None:
    for module, cls, name, required, after in FRONTEND_PASSES:
        register(LazyPass(name, f"{__name__}.{module}:{cls}", level=0, after=after, stage="frontend",
                          required=required))


@hookimpl
def register_options(register: Callable) -> None:
    # One flag for both plugins (the keras plugin reads it too).
    register("--loader", choices=["auto", "tensorflow"], default="auto",
             help="auto (default): read SavedModels and frozen graphs without TensorFlow when the TF-free "
                  "reader covers them, and lower Keras files to TF.js ops with h5py when every layer has a "
                  "lowering; otherwise (and always with 'tensorflow') load and trace with TensorFlow")
