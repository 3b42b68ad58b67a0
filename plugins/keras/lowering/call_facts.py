"""What one layer call does to its inputs, read off the saved config: whether it returns its input tensor itself
(so the mask Keras set on it rides on), which dtype the config gives a tensor, which casts a nested model's Inputs
make, and which masks a call is given. Shared by the model walk (:mod:`.model_walk`) and its gap finder
(:mod:`.layer_gaps`), so both judge a call the same way.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.errors import InputError

from ..configs import LAYER_LISTS, dtype_name, is_model
from ..op_calls import CALLS_KEY, OP_ARGUMENTS_KEY, is_op_layer
from .context import STATE_KEYWORD
from .integer_dtypes import INTEGER_KEEPING_LAYERS, INTEGER_KEEPING_OPS, NARROW_WRAPPED_OPS, integer_relu, plain_relu
from .mask_origins import is_recorded_mask
from .masking import (RETURNS_ITS_INPUT_BY_ARGUMENTS, WEIGHED_GIVEN_READERS, explicit_masks,
                      returns_it_by_arguments)
from .model_plan import LayerCall, ModelPlan, Ref, call_inputs, model_plan

#: Op functions that TensorFlow may answer with their input tensor itself (``convert_to_tensor`` to its own dtype;
#: ``real``/``conj``, which always do, hand the mask on: masking.returns_its_input).
_IDENTITY_OPS = frozenset({"keras.ops.ConvertToTensor"})
_IDENTITY_TF_FUNCTIONS = frozenset({"convert_to_tensor", "convert_to_tensor_v2", "convert_to_tensor_v2_with_dispatch"})
#: Casts: the input itself when it already has the target dtype (``tf.cast``, Keras 3's TensorFlow backend).
TF_CASTS = frozenset({"cast", "dtypes.cast", "math.cast"})
#: tf_keras's ``saturate_cast``: its result has the dtype it names (:func:`saved_output_dtype`), but it is no
#: ``tf.cast`` (it may clip first), so it is not one of :data:`TF_CASTS`.
_SATURATE_CASTS = frozenset({"saturate_cast", "dtypes.saturate_cast"})


def may_return_its_input(plan: ModelPlan, call: LayerCall) -> bool:
    """An op call that may give back the very tensor it reads (a cast to the tensor's own dtype, unknown dtypes
    included): Keras's ``_keras_mask`` on that object then reaches later layers at run time although the op drops
    the mask in the symbolic graph Keras saved (Keras 3's ``Cast``, tf_keras's ``tf.cast``)."""
    cls, config = call.class_name, call.entry.get("config") or {}
    function = config.get("function") if cls == "TFOpLambda" else None
    if cls in _IDENTITY_OPS or function in _IDENTITY_TF_FUNCTIONS:
        return True
    if cls in RETURNS_ITS_INPUT_BY_ARGUMENTS:  # Keras 3's rot90/diff/moveaxis/swapaxes: not told, it may
        return returns_it_by_arguments(cls, config) is not False
    if function in _CENTRAL_CROPS | ROT90S | V1_RESIZES:  # some arguments: the image itself (session 17)
        return _image_may_return_its_input(call, function, plan)
    if function == "stack":
        return _stacks_one_tensor(call)
    if cls != "keras.ops.Cast" and function not in TF_CASTS:
        return False
    target, source = cast_dtypes(plan, call)
    return not isinstance(target, str) or not isinstance(source, str) or source.startswith("mixed") or \
        target == source


def cast_dtypes(plan: ModelPlan, call: LayerCall) -> tuple[str | None, str | None]:
    """The dtype a cast call names and the dtype of the tensor it reads, as the saved config tells them (tf_keras:
    through :func:`_held_dtype`; None: not told)."""
    cls, config = call.class_name, call.entry.get("config") or {}
    recorded = config.get(CALLS_KEY)
    node = recorded[call.key] if isinstance(recorded, list) and 0 <= call.key < len(recorded) else None
    refs = call_inputs(call.node)
    if cls == "keras.ops.Cast":
        target = (config.get(OP_ARGUMENTS_KEY) or {}).get("dtype")
        args = node.get("args") if isinstance(node, dict) else None
        first = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
        source = (first.get("config") or {}).get("dtype")
    else:  # tf_keras: the dtype the tensor has as Keras's rules give it (a relu Activation keeps int32 ids int32)
        target = _tf_cast_target(call)
        source = _held_dtype(plan, refs[0]) if refs else None
        if dtype_name(source) == "mixed_float16":  # its compute dtype (the walk checks the lowered one agrees)
            source = "float16"
    return dtype_name(target), dtype_name(source)


def _tf_cast_target(call: LayerCall) -> Any:
    """The ``dtype`` a tf_keras ``tf.cast`` call was given, as its saved node records it (None: not told)."""
    return tf_call_kwargs(call).get("dtype")


def _stacks_one_tensor(call: LayerCall) -> bool:
    """A tf_keras ``tf.stack(x)`` given one tensor, not a list, along axis 0: TF's ``stack`` returns
    ``convert_to_tensor(x)``, ``x`` itself (any other axis raises), so its mask rides on. Its saved node records that
    tensor itself as the first argument (a list is recorded as a list)."""
    config = call.entry.get("config") or {}
    recorded = config.get(CALLS_KEY)
    node = recorded[call.key] if isinstance(recorded, list) and 0 <= call.key < len(recorded) else None
    one = isinstance(node, list) and bool(node) and isinstance(node[0], str) and len(call_inputs(call.node)) == 1
    return one and tf_call_kwargs(call).get("axis", 0) == 0


def tf_call_kwargs(call: LayerCall) -> dict[str, Any]:
    """The arguments a tf_keras TFOpLambda call of one tensor was given beside it, by name, as its saved node records
    them (tf_keras names positional ones too: ``tf.cast(x, tf.float32)`` saves ``{"dtype": "float32"}``)."""
    config = call.entry.get("config") or {}
    recorded = config.get(CALLS_KEY)
    node = recorded[call.key] if isinstance(recorded, list) and 0 <= call.key < len(recorded) else None
    items = [node] if isinstance(node, list) and node and isinstance(node[0], str) else []
    return items[0][3] if items and len(items[0]) > 3 and isinstance(items[0][3], dict) else {}


#: ``tf.image`` functions that TensorFlow answers with the image itself for some arguments: ``central_crop`` with
#: ``central_fraction=1.0`` (eagerly and traced alike: its mask handed on, :func:`returns_input_itself`), ``rot90`` with
#: ``k`` a multiple of 4 (eagerly only: Keras's ``model(x)`` keeps the mask, a traced graph's ``case`` makes a new
#: tensor, so ``predict`` and the TensorFlow path drop it) and v1 ``resize`` to the image's own static size: a masked
#: input to the latter two is a gap.
_CENTRAL_CROPS = frozenset({"image.central_crop", "compat.v1.image.central_crop"})
ROT90S = frozenset({"image.rot90", "compat.v1.image.rot90"})
V1_RESIZES = frozenset({"compat.v1.image.resize", "compat.v1.image.resize_images"})


def _image_may_return_its_input(call: LayerCall, function: str, plan: ModelPlan | None = None) -> bool:
    """Whether a ``tf.image`` call of :data:`_CENTRAL_CROPS`/:data:`ROT90S`/:data:`V1_RESIZES` may hand back its
    input tensor (arguments not told: it may)."""
    kwargs = tf_call_kwargs(call)
    if function in _CENTRAL_CROPS:
        fraction = kwargs.get("central_fraction")
        return not isinstance(fraction, (int, float)) or fraction == 1.0
    if function in ROT90S:
        k = kwargs.get("k", 1)
        return not isinstance(k, int) or k % 4 == 0
    return plan is None or _v1_resize_keeps(plan, call) is not False


#: Layers whose output has their one input's shape (walked back to a model Input for a static image size).
_SHAPE_KEEPING_LAYERS = frozenset({
    "Masking", "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization", "Identity", "Activation", "ReLU", "LeakyReLU", "ELU", "BatchNormalization"})


def _static_input_shape(plan: ModelPlan, ref: Ref) -> list[Any] | None:
    """The static shape of a tensor as the saved config tells it: a model Input's (``batch_input_shape``), through
    :data:`_SHAPE_KEEPING_LAYERS` and the functions that return their one input; None elsewhere (not read)."""
    inputs = {(r[0], r[1]): cfg for r, cfg in plan.inputs}
    budget = len(plan.producers) + 1
    while budget > 0 and not plan.sequential:
        budget -= 1
        if (ref[0], ref[1]) in inputs:
            config = inputs[(ref[0], ref[1])] or {}
            shape = config.get("batch_input_shape") or config.get("batch_shape")
            return list(shape) if isinstance(shape, list) else None
        producer = plan.producers.get((ref[0], ref[1]))
        refs = call_inputs(producer.node) if producer is not None else []
        function = (producer.entry.get("config") or {}).get("function") if producer is not None else None
        if len(refs) != 1 or ref[2] != 0 or not (producer.class_name in _SHAPE_KEEPING_LAYERS or
                                                 producer.class_name == "TFOpLambda" and
                                                 function in _ITS_ONE_INPUT_TF_FUNCTIONS):
            return None
        ref = refs[0]
    return None


def _v1_resize_keeps(plan: ModelPlan, call: LayerCall) -> bool | None:
    """Whether a tf_keras ``tf.compat.v1.image.resize``/``resize_images`` call hands back its images themselves:
    TF's ``_resize_images_common(skip_resize_if_same=True)`` returns the (rank-4) images when the target size is
    their static height and width (eagerly and traced alike); a rank-3 image is expanded and squeezed, a new tensor,
    as is any other size. None: the config does not tell (the static size not read, the aspect ratio preserved)."""
    kwargs, refs = tf_call_kwargs(call), call_inputs(call.node)
    size = kwargs.get("size")
    if len(refs) != 1 or kwargs.get("preserve_aspect_ratio") or not isinstance(size, list) or len(size) != 2 or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
        return None
    shape = _static_input_shape(plan, refs[0])
    if shape is not None and len(shape) == 3:
        return False
    if shape is None or len(shape) != 4 or not all(isinstance(v, int) for v in shape[1:3]):
        return None
    return list(shape[1:3]) == list(size)


#: tf_keras TF functions that TensorFlow answers with their one input tensor itself: ``add_n``/``accumulate_n`` of a
#: list of one tensor (TFOpLambda drops ``name``, TF's only other reason to make a new one), ``convert_to_tensor``
#: (TF raises on another dtype), ``nn.dropout`` (its lowering takes rate 0 only, where TF returns ``x``).
_ITS_ONE_INPUT_TF_FUNCTIONS = frozenset({"math.add_n", "add_n", "math.accumulate_n", "nn.dropout",
                                         *_IDENTITY_TF_FUNCTIONS})


#: tf_keras TF functions of one tensor (beside constants, which TF converts to its dtype) whose result has that
#: tensor's dtype: the arithmetic TF wraps 8/16-bit integers in, value moves, tanh and sigmoid (which raise on
#: integers) and relu (which keeps an integer's dtype too); pads, flips and extrema beside a number (session 33).
#: Not ``divide`` (integers give float64) nor reductions (``reduce_mean`` of float16: float16, but not listed: not
#: needed).
_DTYPE_KEEPING_TF_FUNCTIONS = frozenset({
    *(name for name in NARROW_WRAPPED_OPS | INTEGER_KEEPING_OPS if not name.startswith("keras.")),
    "math.tanh", "nn.tanh", "nn.relu", "math.sigmoid", "nn.sigmoid", "pad", "compat.v1.pad", "reverse", "reverse_v2",
    "math.maximum", "math.minimum"})


def returns_input_itself(plan: ModelPlan, call: LayerCall, keras3: bool | None) -> bool:
    """A tf_keras op call that surely gives back the very tensor it reads, so that the mask tf_keras set on that
    object (``_keras_mask``) reaches the later layers at run time, as ``tf.cast``'s ``if x.dtype == dtype: return x``
    does: a cast to the dtype the saved config says its input has (checked again on the lowered dtypes, see
    :meth:`ModelLowering._check_cast_keeps`), or a function of :data:`_ITS_ONE_INPUT_TF_FUNCTIONS` given one tensor.
    A Sequential model's calls name no input tensors: not decided (the walk keeps those a gap)."""
    config = call.entry.get("config") or {}
    if keras3 is not False or plan.sequential or call.class_name != "TFOpLambda":
        return False
    function = config.get("function")
    if function in TF_CASTS:
        target, source = cast_dtypes(plan, call)
        return isinstance(target, str) and isinstance(source, str) and not source.startswith("mixed") and \
            target == source
    if function in _CENTRAL_CROPS:  # central_fraction=1.0: ``return image``, eagerly and traced
        fraction = tf_call_kwargs(call).get("central_fraction")
        return isinstance(fraction, (int, float)) and fraction == 1.0 and len(call_inputs(call.node)) == 1
    if function == "stack":  # ``tf.stack(x)`` of one tensor, not a list: ``convert_to_tensor(x)``, eagerly and traced
        return _stacks_one_tensor(call)
    if function in V1_RESIZES:  # to the images' own static size: ``return images``, eagerly and traced
        return _v1_resize_keeps(plan, call) is True
    return function in _ITS_ONE_INPUT_TF_FUNCTIONS and len(call_inputs(call.node)) == 1


def nested_input_casts(plan: ModelPlan, call: LayerCall, keras3: bool | None) -> list[bool | None]:
    """For each tensor a tf_keras nested model is called on: whether tf_keras casts it to another dtype, its Input's
    (``Functional._run_internal_graph`` sets the given masks on the caller's tensors, then
    ``_conform_to_reference_input`` casts each): True, a new tensor without the mask, so the inner layers read none;
    False, the tensor itself (its mask read inside); None, the saved config does not tell (checked again on the
    lowered dtypes, :meth:`ModelLowering._check_nested_input_casts`). Keras 3, or not a model: False each."""
    refs = [("", 0, 0)] if plan.sequential else call_inputs(call.node)
    if keras3 is not False or not is_model(call.entry):
        return [False] * len(refs)
    try:
        inner = model_plan(call.entry, source="a nested model")
    except InputError:
        return [None] * len(refs)
    casts: list[bool | None] = []
    wanted_dtypes = [dtype_name((config or {}).get("dtype")) for _, config in inner.inputs]  # the plan read once
    given_dtypes = nested_given_dtypes(plan, call)
    for i, (given, wanted) in enumerate(zip(given_dtypes, [*wanted_dtypes, *[None] * len(refs)])):
        if i < len(inner.inputs) and wanted is None:
            casts.append(False)  # no dtype named: kept as given (as the walk has always read it)
        elif not isinstance(wanted, str) or not isinstance(given, str) or given.startswith("mixed"):
            casts.append(None)
        else:
            casts.append(wanted != given)
    return casts


def nested_given_dtypes(plan: ModelPlan, call: LayerCall) -> list[str | None]:
    """The dtype the saved config gives each tensor a nested model is called on (Keras's rules, as cast_dtypes; None:
    not told): a ``mixed_float16`` layer's results are float16, its compute dtype (tf_keras's Embedding casts its
    float32 rows to it, other layers compute in it), which a nested model's float32 Input casts to a new tensor."""
    if plan.sequential:
        return [None]
    given = [dtype_name(_held_dtype(plan, ref)) for ref in call_inputs(call.node)]
    return ["float16" if name == "mixed_float16" else name for name in given]


def _keeps_integers_despite_config(call: LayerCall) -> bool:
    """A tf_keras layer that returns integers for integer inputs although its config's dtype says float32: a
    relu/linear Activation, a ReLU without slope, a nearest UpSampling2D (the lowering tracks the integers' dtype)."""
    cls, config = call.class_name, call.entry.get("config") or {}
    return plain_relu(cls, config) or integer_relu(cls, config) or \
        cls == "UpSampling2D" and config.get("interpolation", "nearest") == "nearest"


def _held_dtype(plan: ModelPlan, ref: Ref) -> Any:
    """The dtype Keras gives a tensor as far as the config tells it: :func:`saved_output_dtype`, but through the
    layers of :func:`_keeps_integers_despite_config` (and the integer-keeping ones between) their input's, as the
    lowering tracks it: the dtype a ``tf.cast`` or a nested model's input cast sees, which decides whether TF hands
    the tensor itself on, its mask with it (tf_keras does not cast integer inputs to a layer's float32 policy: a relu
    Activation of int32 ids gives int32, ``tf.cast(a, tf.int32)`` then returns ``a`` and its mask; measured against
    ``model(x)`` in session 21, where the walk still refused it)."""
    budget = len(plan.producers) + 1
    while budget > 0 and not plan.sequential:
        budget -= 1
        producer = plan.producers.get((ref[0], ref[1]))
        refs = call_inputs(producer.node) if producer is not None and not is_op_layer(producer.class_name) and \
            not is_model(producer.entry) else []
        if len(refs) != 1 or not (producer.class_name in INTEGER_KEEPING_LAYERS or
                                  _keeps_integers_despite_config(producer)):
            break
        ref = refs[0]
    return saved_output_dtype(plan, ref)


def saved_output_dtype(plan: ModelPlan, ref: Ref) -> Any:
    """The dtype of a tensor as the saved config tells it (None: not told): a model input's own; through the layers
    that keep their input's dtype (a Masking of int32 ids gives int32, though its config says float32) the input's;
    an op layer's output is not told (its config dtype is the layer's, not the function's result), but for tf_keras's
    ``tf.cast`` (the dtype it names) and the functions that return their one input (:data:`_ITS_ONE_INPUT_TF_FUNCTIONS`)
    or keep its dtype (:data:`_DTYPE_KEEPING_TF_FUNCTIONS`): that input's; a nested Functional model's output as
    inside it (tf_keras casts a nested model's inputs to its Inputs' dtypes); else the producing layer's dtype.
    Followed step by step, at most once through each call (the chain is untrusted)."""
    inputs = {(r[0], r[1]): cfg for r, cfg in plan.inputs}
    budget = len(plan.producers) + 1
    while budget > 0:
        budget -= 1
        key = (ref[0], ref[1])
        if key in inputs:
            return (inputs[key] or {}).get("dtype")
        producer = plan.producers.get(key)
        function = (producer.entry.get("config") or {}).get("function") if producer is not None and \
            producer.class_name in ("TFOpLambda", "SlicingOpLambda") and ref[2] == 0 else None
        if function in TF_CASTS | _SATURATE_CASTS:  # (session 32: a saturate_cast's result has the dtype it names)
            return _tf_cast_target(producer)
        if _resize_gives_float32(producer, function):  # (session 33: a bilinear resize of float16 is float32)
            return "float32"
        if _resize_keeps_dtype(producer, function) and len(call_inputs(producer.node)) == 1:  # (nearest: its own)
            ref = call_inputs(producer.node)[0]
            continue
        if function in _ITS_ONE_INPUT_TF_FUNCTIONS | _DTYPE_KEEPING_TF_FUNCTIONS and \
                len(call_inputs(producer.node)) == 1:  # (session 28: `h * 2.0` of a float16 h is float16)
            ref = call_inputs(producer.node)[0]
            continue
        if function in _SHARED_DTYPE_TF_FUNCTIONS:  # (session 32: `h + h` of a float16 h is float16)
            return _shared_operand_dtype(plan, call_inputs(producer.node))
        if producer is not None and is_model(producer.entry) and producer.class_name != "Sequential":
            try:  # into the nested model (a finite config: each step goes one level deeper)
                plan = model_plan(producer.entry, source="a nested model")
            except InputError:
                return None
            if plan.sequential or not 0 <= ref[2] < len(plan.caller_outputs):
                return None
            ref, inputs = plan.caller_outputs[ref[2]], {(r[0], r[1]): cfg for r, cfg in plan.inputs}
            budget += len(plan.producers) + 1
            continue
        if producer is None or is_op_layer(producer.class_name):
            return None
        if producer.class_name not in INTEGER_KEEPING_LAYERS:
            return (producer.entry.get("config") or {}).get("dtype")
        refs = call_inputs(producer.node)
        if len(refs) != 1:
            return None
        ref = refs[0]
    return None


#: tf_keras arithmetic (and joins, session 33) of several tensors whose result has their dtype: TF does not promote
#: (tensors of two dtypes raise when the model is built), so every tensor operand has the result's dtype.
_SHARED_DTYPE_TF_FUNCTIONS = frozenset({"__operators__.add", "math.add", "math.add_v2", "math.subtract",
                                        "__operators__.sub", "math.multiply", "__operators__.mul", "concat"})


def _resize_gives_float32(producer: LayerCall | None, function: Any) -> bool:
    """A tf_keras bilinear resize whose kernel gives float32 of any images (:func:`.op_layers.resize_gives_float32`)."""
    if producer is None or producer.class_name != "TFOpLambda":
        return False
    from .op_layers import resize_gives_float32  # (op_layers reads this module's facts: imported when asked)

    return resize_gives_float32(function, producer.entry.get("config") or {})


def _resize_keeps_dtype(producer: LayerCall | None, function: Any) -> bool:
    """A tf_keras nearest resize: its result has the images' dtype (:func:`.op_layers.resize_keeps_dtype`)."""
    if producer is None or producer.class_name != "TFOpLambda":
        return False
    from .op_layers import resize_keeps_dtype  # (op_layers reads this module's facts: imported when asked)

    return resize_keeps_dtype(function, producer.entry.get("config") or {})


def _shared_operand_dtype(plan: ModelPlan, refs: list[Ref]) -> Any:
    """The dtype of a :data:`_SHARED_DTYPE_TF_FUNCTIONS` call of several tensors: the one its operands' saved config
    tells (:func:`saved_output_dtype`, each a shorter chain), None where one does not tell or they disagree."""
    told = {dtype_name(saved_output_dtype(plan, ref)) for ref in refs}
    return told.pop() if len(told) == 1 and None not in told else None


def runs_layers(entry: dict[str, Any]) -> bool:
    """A nested model, or a Keras 3 Pipeline: it calls its layers in turn, each with the mask the one before left on
    its output (Keras runs them eagerly), so it is walked as a Sequential model (weights under its path)."""
    return is_model(entry) or entry.get("class_name") in LAYER_LISTS


def takes_states(lowerings: dict[str, Any], class_name: str) -> bool:
    """An RNN layer whose lowering reads ``initial_state`` (tensors after the sequence, or a keyword)."""
    lowering = lowerings.get(class_name)
    return lowering is not None and STATE_KEYWORD in lowering.keywords


#: The model-input dtypes a Keras 3 mask reader takes as a ``mask=`` it was given: each casts a non-bool one to bool
#: (``!= 0``: the RNNs' TensorFlow backend, GlobalAveragePooling1D, Attention's ``logical_not``/``where``), Softmax
#: keeps ``mask > 0.5`` in the mask's dtype (``> 0`` of integers); the walk hands it over so
#: (:meth:`.model_walk.ModelLowering._given_values`).
KERAS3_GIVEN_MASK_DTYPES = ("bool", None, "float32", "int32", "int64", "int16", "int8", "uint8", "uint16")


#: The model-input dtypes a tf_keras nested model takes as a ``mask=`` it was given: tf_keras sets the tensor on
#: its inputs as it is, and the walk carries a float32 or int32 one as weights to the readers that use it so
#: (GlobalAveragePooling1D, :func:`.masking.weighed_mask_gap`); GlobalAveragePooling1D and Softmax given one
#: directly weigh by it too (:data:`.masking.WEIGHED_GIVEN_READERS`).
TF_KERAS_NESTED_MASK_DTYPES = ("bool", "float32", "int32")


def given_mask(plan: ModelPlan, call: LayerCall, unmasked: bool = False, keras3: bool | None = None) -> Ref | None:
    """The tensor a call was given as ``mask=`` (Keras 3 records it, tf_keras keeps it in kwargs), see
    :func:`_given_masks`; Softmax also takes a float32 model input (a weight, ``> 0.5`` in Keras 3, ``1 - m``
    scaled in tf_keras: an integer one too, ``keras3`` False), and in Keras 3 (``keras3`` True) every reader a float or
    integer one (:data:`KERAS3_GIVEN_MASK_DTYPES`)."""
    given = _given_masks(plan, call, 1, unmasked, keras3)
    return given[0] if given else None


def given_replaces_tracked(plan: ModelPlan, call: LayerCall, origins: list[Any], keras3: bool | None) -> bool:
    """Whether a mask reader whose input carries a tracked mask (``origins``, one) was given another ``mask=``, which
    replaces it: tf_keras's ``Layer.__call__`` takes a passed ``mask`` over the input's ``_keras_mask``
    (``_get_input_masks``), and tf_keras records only a passed one; Keras 3 fills ``kwargs["mask"]`` from the input
    only when none was passed, and records the mask it used, so a recorded mask that is not the tracked one
    (:func:`.mask_origins.is_recorded_mask`) was passed. Flavour unknown: not decided (a gap)."""
    if len(origins) != 1 or not call.recorded_masks or keras3 is None:
        return False
    return keras3 is False or not is_recorded_mask(plan, call.recorded_masks, origins[0])


def _given_masks(plan: ModelPlan, call: LayerCall, count: int, unmasked: bool,
                 keras3: bool | None = None, dtypes: tuple[str | None, ...] | None = None) -> list[Ref] | None:
    """The ``count`` tensors a call was given as ``mask=``, each a bool model input (Keras 3: any of
    :data:`KERAS3_GIVEN_MASK_DTYPES`), or, when the call's inputs carry no tracked mask (``unmasked``), a tensor a
    layer computed (``ops.not_equal(ids, 0)``, a TFOpLambda): Keras passes exactly that tensor to ``call``, and the
    walk reads its lowered value (bool, or in Keras 3 read as the reader casts it,
    :meth:`ModelLowering._given_values`). A computed mask beside a tracked one stays a gap unless Keras 3 recorded
    the tracked one (:func:`.mask_origins.is_recorded_mask`)."""
    recorded = call.recorded_masks
    inputs = {ref: config for ref, config in plan.inputs}
    dtypes = dtypes or (KERAS3_GIVEN_MASK_DTYPES if keras3 is True or keras3 is False and call.class_name ==
                        "Softmax" else ("bool", None, "float32") if call.class_name == "Softmax" else
                        TF_KERAS_NESTED_MASK_DTYPES if keras3 is False and call.class_name in WEIGHED_GIVEN_READERS
                        else ("bool",))
    if len(recorded) != count or not all(
            dtype_name(inputs[r].get("dtype")) in dtypes if r in inputs else
            unmasked and not plan.sequential and (r[0], r[1]) in plan.producers for r in recorded):
        return None
    return list(recorded)


def given_per_input(plan: ModelPlan, call: LayerCall, count: int, keras3: bool | None = None
                    ) -> list[Ref | None] | None:
    """The mask a nested model call (whose inputs carry no tracked mask) was given for each of its ``count`` inputs:
    ``mask=m`` / ``mask=[m1, m2]`` (:func:`_given_masks`), or a list with None entries, ``mask=[m, None]``: both
    flavours set each tensor on its input and leave a None one's input unmasked (Keras 3 skips it, tf_keras sets
    None; its input carries no mask either way). A model input given in Keras 3 may be a float or integer one: the
    readers read it as ``!= 0`` (:data:`KERAS3_GIVEN_MASK_DTYPES`; a Softmax reading it, ``mask > 0.5``, is a gap
    as any propagated mask into Softmax); tf_keras's use it as it is (:data:`TF_KERAS_NESTED_MASK_DTYPES`). None when
    the call was given something else (a gap)."""
    try:
        listed = explicit_masks(call.node)
    except ValueError:  # one tensor, or nested lists
        listed = None
    dtypes = KERAS3_GIVEN_MASK_DTYPES if keras3 is True else TF_KERAS_NESTED_MASK_DTYPES if keras3 is False else \
        ("bool",)
    if listed is None or None not in listed:
        return masks_set_in_turn(call, _given_masks(plan, call, count, True, keras3 is True or None, dtypes), keras3)
    inputs = {ref: config for ref, config in plan.inputs}
    if len(listed) != count or all(r is None for r in listed) or not all(
            r is None or (dtype_name(inputs[r].get("dtype")) in dtypes if r in inputs else
                          not plan.sequential and (r[0], r[1]) in plan.producers) for r in listed):
        return None
    return masks_set_in_turn(call, listed, keras3)


def masks_set_in_turn(call: LayerCall, given: list[Ref | None] | None, keras3: bool | None
                      ) -> list[Ref | None] | None:
    """The mask each input of a nested model reads when one unmasked tensor is given as several of its inputs
    (``inner([y, y], mask=[m, m2])``): both flavours set the masks on that one tensor in turn, so each of its inputs
    reads the last, tf_keras's last entry (None too: ``input_t._keras_mask = mask``), Keras 3's last tensor (it skips
    None). ``given`` as it is where no tensor repeats; None (a gap) for another caller or an unknown flavour."""
    refs = call_inputs(call.node)
    if given is None or len(set(refs)) == len(refs) or len(refs) != len(given):
        return given
    if keras3 is None or not is_model(call.entry):
        return None
    last: dict[Ref, Ref | None] = {}
    for ref, mask in zip(refs, given):
        if mask is not None or keras3 is False:
            last[ref] = mask
    return [last.get(ref) for ref in refs]


def given_beside_tracked(plan: ModelPlan, call: LayerCall, count: int, tracked: list[bool] | None = None,
                         keras3: bool | None = None) -> list[Ref | None] | None:
    """``inner([x, y], mask=[m, None])`` where an input carries a tracked mask: the list (None entries kept) when
    its tensors are bool model inputs, or computed tensors given for inputs that carry no tracked mask (``tracked``
    says which do; in tf_keras, ``keras3`` False, for any input), else None. Keras 3 records a mask it fills in
    itself as the list of the inputs' masks, never None for a masked input and None for an unmasked one, and a model
    input in it is that input's mask either way; so a None entry beside a tracked mask, and a computed one for an
    unmasked input, were given explicitly: Keras 3 then keeps a None one's input's own mask, tf_keras sets None.
    tf_keras records only a list it was given (:func:`given_replaces_tracked`), so there a computed entry for a
    masked input replaces that input's mask too (Keras 3's: :func:`.layer_gaps.given_over_tracked`)."""
    try:
        listed = explicit_masks(call.node)
    except ValueError:
        return None
    inputs = {ref: config for ref, config in plan.inputs}
    tracked = tracked if tracked is not None and len(tracked) == count else [True] * count
    if listed is None or None not in listed or len(listed) != count or not all(
            r is None or (dtype_name(inputs[r].get("dtype")) == "bool" if r in inputs else
                          (not kept or keras3 is False) and not plan.sequential and (r[0], r[1]) in plan.producers)
            for r, kept in zip(listed, tracked)):
        return None
    return listed
