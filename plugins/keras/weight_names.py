"""The names TF.js gives each layer's weights, in the order Keras 3 stores them.

TF.js matches weights by ``<layer name>/<weight name>`` (``LayerVariable.originalName``; for RNNs
it also accepts ``<layer>/<cell>/<weight>``). Wrappers add a level: ``bidi/forward_lstm/kernel``
for Bidirectional, but nothing for TimeDistributed (``td/kernel``). Keras 3 files do not carry those names: ``.keras``
archives number the variables (``layers/dense/vars/0``) and Keras 3 ``.h5`` files name them by
variable path (``sequential/dense/kernel``, ``depthwise_conv2d/kernel``). Both store a layer's
trainable variables first, then the non-trainable ones, each in creation order, which is the
order listed here.

An ``RNN`` over ``StackedRNNCells`` (``RNN([cell, cell])``) is named by TF.js per cell position:
``rnn/RNNCell_0/kernel``, ``rnn/RNNCell_1/kernel`` (``StackedRNNCells.build``'s name scope), where Keras files say
``rnn/stacked_rnn_cells/lstm_cell_1/kernel``; TF.js's loader only drops one level (the single cell's name).
"""
from __future__ import annotations

from typing import Any

from .configs import bidirectional_base_name, is_layer_entry
from .tfjs_support import CLASS_RENAMES, stacked_cell_list

_CONV = ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose", "Dense")
_RNN = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM2D", "LSTMCell", "GRUCell", "SimpleRNNCell", "ConvLSTM2DCell")
WRAPPERS = ("Bidirectional", "TimeDistributed")
#: Keras 3 variable names that TF.js knows under another name, per layer class.
KERAS3_ALIASES = {"DepthwiseConv2D": {"kernel": "depthwise_kernel"}}


def tfjs_weight_names(class_name: str, config: dict[str, Any]) -> list[str] | None:
    """The TF.js weight names (without the layer prefix) of one layer, or None for an unknown class."""
    bias = ["bias"] if config.get("use_bias", True) else []
    if class_name in _CONV:
        return ["kernel", *bias]
    if class_name == "DepthwiseConv2D":
        return ["depthwise_kernel", *bias]
    if class_name == "SeparableConv2D":
        return ["depthwise_kernel", "pointwise_kernel", *bias]
    if class_name in _RNN:
        return ["kernel", "recurrent_kernel", *bias]
    if class_name in ("BatchNormalization", "LayerNormalization"):
        names = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
        return names + (["moving_mean", "moving_variance"] if class_name == "BatchNormalization" else [])
    if class_name == "Embedding":
        return ["embeddings"]
    if class_name == "PReLU":
        return ["alpha"]
    return None


def keras3_basename(class_name: str, variable_name: str) -> str:
    """The TF.js name of a Keras 3 variable named ``variable_name`` (its last path component)."""
    base = variable_name.rsplit("/", 1)[-1]
    return KERAS3_ALIASES.get(class_name, {}).get(base, base)


def stacked_cells(entry: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The cell entries of an ``RNN(StackedRNNCells)`` layer (also a single cell given in a list), else None."""
    cells = stacked_cell_list(entry.get("config") or {}) if entry.get("class_name") == "RNN" else None
    return cells if cells is not None and all(is_layer_entry(c) for c in cells) else None


def stacked_cell_names(cells: list[dict[str, Any]]) -> list[str] | None:
    """TF.js's names of stacked cells' weights (``RNNCell_<i>/kernel``), cell by cell; None for an unknown cell."""
    per_cell = [tfjs_weight_names(str(c["class_name"]), c.get("config") or {}) for c in cells]
    if any(names is None for names in per_cell):
        return None
    return [f"RNNCell_{i}/{name}" for i, names in enumerate(per_cell) for name in names or []]


def holds_stacked_cells(entry: dict[str, Any]) -> bool:
    """An ``RNN(StackedRNNCells)``, or a wrapper of one, whose file names need :func:`rename_stacked_cells`."""
    inner = (entry.get("config") or {}).get("layer")
    if entry.get("class_name") in WRAPPERS and is_layer_entry(inner):
        return holds_stacked_cells(inner)
    return stacked_cells(entry) is not None


def rename_stacked_cells(names: list[str]) -> list[str]:
    """Keras's ``<prefix>/<stacked cells>/<cell>/<weight>`` as TF.js's ``<prefix>/RNNCell_<i>/<weight>``.

    The cells are numbered in the order their weights come (Keras lists them cell by cell), separately under each
    prefix (a Bidirectional's forward and backward layers). The file's cell names are not the config's (TF name
    scopes are uniquified on their own), so only their order is used; the caller checks the result against
    :func:`layer_weight_names`.
    """
    numbers: dict[str, dict[str, int]] = {}
    renamed = []
    for name in names:
        parts = name.split("/")
        if len(parts) < 3:
            renamed.append(name)
            continue
        prefix, cell = parts[:-3], parts[-2]
        cells = numbers.setdefault("/".join(prefix), {})
        index = cells.setdefault(cell, len(cells))
        renamed.append("/".join([*prefix, f"RNNCell_{index}", parts[-1]]))
    return renamed


def layer_weight_names(entry: dict[str, Any]) -> list[str] | None:
    """TF.js weight names relative to the layer (``kernel``, ``forward_lstm/kernel``), wrappers included."""
    cls, config = entry.get("class_name"), entry.get("config") or {}
    cells = stacked_cells(entry)
    if cells is not None:
        return stacked_cell_names(cells)
    inner = config.get("layer")
    if cls in WRAPPERS:
        names = layer_weight_names(inner) if is_layer_entry(inner) else None
        if names is None or cls == "TimeDistributed":
            return names
        base = bidirectional_base_name(config)
        return [f"forward_{base}/{n}" for n in names] + [f"backward_{base}/{n}" for n in names]
    return tfjs_weight_names(CLASS_RENAMES.get(str(cls), str(cls)), config)  # SyncBatchNormalization: BN's


def innermost_class(entry: dict[str, Any]) -> str:
    """The class of the layer a wrapper finally wraps (whose Keras 3 variable names apply)."""
    inner = (entry.get("config") or {}).get("layer")
    if entry.get("class_name") in WRAPPERS and is_layer_entry(inner):
        return innermost_class(inner)
    return str(entry.get("class_name"))
