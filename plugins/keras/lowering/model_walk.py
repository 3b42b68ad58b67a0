"""A Keras Functional or Sequential model config -> an IR graph, one registered lowering per layer call.

Reads Keras 2 (``[[layer, node, tensor, kwargs]]``) and Keras 3 (``{"args": [<__keras_tensor__>]}``)
inbound nodes alike. Layer calls are lowered in the order :mod:`.model_plan` gives (no recursion over
layers, so long chains cannot overflow the stack; cycles and dangling refs are InputErrors). Nested
models are lowered inline (at most ``MAX_NESTING`` levels), masks travel beside the values
(:mod:`.masking`). The signature uses Keras's names: input layer names, and output layer names.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
from tfjsconv import provenance
from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import Graph, Value
from tfjsconv.narrow_ints import NARROW_INTS, is_narrow, wrapped

from ..configs import LAYER_LISTS, dtype_name, entry_name, is_model, plain, top_level_layers
from ..op_calls import KERAS_OP_PREFIX, OP_ARGUMENTS_KEY, is_op_layer
from .call_facts import (
    TF_CASTS,
    V1_RESIZES,
    cast_dtypes,
    given_beside_tracked,
    given_mask,
    given_per_input,
    nested_given_dtypes,
    nested_input_casts,
    returns_input_itself,
    runs_layers,
    takes_states,
    tf_call_kwargs,
)
from .context import (
    STATE_KEYWORD,
    LayerContext,
    check_kwargs_read,
    differs_in_training,
    layer_differing_in_training,
)
from .float_widths import (
    FLOAT32_INNER,
    KERAS3_FLOAT32_REDUCTIONS,
    WRAPPER_CASTS,
    WRAPPER_CASTS_OUT,
    WidthNotices,
    casts_back_to_half,
    computes_in_half,
    half_input,
    half_tensor_inputs,
    half_rounded,
    half_weights,
    held_half_inputs,
    is_half,
    mark_half_held,
    nested_float_inputs,
    op_layer_in_half,
    op_layer_keeps_held_half,
    op_layer_on_held_in_float32,
    round_each_op,
    rounds_each_op,
    rounds_inputs,
    rounded_to_half,
    rounds_model_input,
    round_merged_directions,
    recorded_input_dtype,
    rounds_outputs,
    through_half,
    width_view,
    wrapper_cast_outputs,
    wrapper_rounds,
)
from .integer_dtypes import (
    DTYPE_FREE_OPS,
    FLOAT_COMPUTING_OPS,
    FLOAT_DTYPES,
    INTEGER_COMPUTING_OPS,
    INTEGER_INPUT_LAYERS,
    INTEGER_KEEPING_OPS,
    NARROW_COMPUTED_OPS,
    NARROW_WRAPPED_OPS,
    OP_REINTEGER_DTYPES,
    WIDE_INTEGER_MOVING_LAYERS,
    WIDE_INTEGERS,
    has_input_dtype,
    is_integer,
    keras_result_dtype,
    narrow_operands,
    per_step_mean_dtype,
    refuse_masked_integer_mean,
    refuse_wide_integers_through_float,
    unwrapped_layer,
    wide_integer_layer,
    wide_integer_merge,
)
from .bounding_boxes import ARGUMENT_KEYS, KEYED_ARGUMENT_LAYERS, argument_keys
from .integer_layer_dtypes import INTEGER_DTYPE_LAYERS, autocast_inputs, give_int64_cast_notes, integer_layer_dtype
from .layer_gaps import LayerGaps, explicit_mask_list, none_entries_unmasked, wrapped_mask_reader
from .masking import (
    ELEMENTWISE_MERGES,
    EXPLICIT_MASK_LAYERS,
    GIVEN_MASK_READERS,
    GLOBAL_AVERAGE_1D,
    QUERY_MASKED,
    STEP_MASK_READERS,
    WEIGHED_GIVEN_READERS,
    explicit_masks,
    make_mask,
    makes_mask,
    mask_gap,
    masked_global_average_1d,
    masked_outputs,
    merged_mask,
    returns_its_input,
    tf_kept,
    time_distributed_makes_mask,
    weighed_mask_gap,
)
from .model_plan import (
    MASK_KEYWORD,
    LayerCall,
    MaskDeletions,
    ModelPlan,
    Ref,
    call_inputs,
    canonical_path,
    keras2_items,
    mask_chain,
    model_plan,
    nested_input_aliases,
    refuse_renumbered,
    shared_paths,
)
from .nested_dtypes import layer_output_dtype, untold_half_gap
from .pipeline import first_layer_reads_given_mask
from .recurrent import wraps_conv_lstm
from .registry import UncoveredLayers, Unsupported, loaded_lowerings
from .weights import LayerWeights, wrapped_model, wrapper_depth
from .wrappers import (
    folded_model_mask,
    mask_reaches_model,
    model_out_mask,
    time_distributed_mask,
    time_distributed_model,
    time_distributed_out_mask,
)

log = logging.getLogger(__name__)

#: The value of a tensor a gap left uncomputed: calls that read it are skipped (one gap is named once, not again
#: for every layer downstream of it).
UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN"})()


def _mask_after_run(deletions: MaskDeletions | None, ref: Ref, values: dict[Ref, tuple[Value, Value | None]]
                    ) -> Value | None:
    """The mask a Keras 3 Functional model's output tensor carries when the run ends, which its caller reads
    (:meth:`.model_plan.MaskDeletions.mask_after_run`; LayerGaps named the outputs it cannot place)."""
    after = deletions.mask_after_run(ref) if deletions is not None else "tracked"
    if after is None or after == "divergent" and deletions.run_masks.get(ref) is None:
        raise Unsupported(f"the mask of {ref[0]!r} after a Keras 3 MultiHeadAttention deleted masks in an order the "
                          "lowering does not place")
    return None if after in ("deleted", "cleared") else deletions.run_masks[ref] if after == "divergent" else \
        values[ref][1]



def _masked_wrappers_check(ctx: LayerContext, mask: Value, depth: int, step_masked: bool) -> None:
    """A mask into ``depth`` TimeDistributed wrappers around a model whose layers all hand it on: the values are the
    unmasked ones and the output carries the input's mask in both flavours (Keras 3's default ``compute_mask``;
    tf_keras's model hands the folded mask on, or, where its cast drops it (``reaches`` False), each wrapper reduces
    the mask to one entry per step with ``any``, which leaves a mask of one entry per step of every wrapper as it
    is; a longer one reduced past those axes, :func:`.wrappers.model_out_mask`, session 32). Keras 3 raises on a mask
    of fewer axes. Where a layer inside reads it (``step_masked``, session 29) it is folded over the wrappers' time
    axes (:func:`.wrappers.folded_model_mask`, which checks its shape). Else refused by name."""
    rank = len(ctx.shape(mask))
    if step_masked:
        return
    if rank < 1 + depth:
        why = f"a mask of rank {rank} over {depth} time axes"
        raise Unsupported(f"layer {ctx.name!r} (mask into {depth} TimeDistributed wrappers around a nested model: "
                          f"{why})")

class _Skipped(Exception):
    """A call that reads a tensor a gap left uncomputed (not a gap itself)."""


#: Complex tensors, which the walk holds as (real, imag) parts (:mod:`.op_layers_complex`) for op layers only.
COMPLEX_DTYPES = (DType.COMPLEX64, DType.COMPLEX128)
#: Keras 3 operations whose TensorFlow backend always makes a new tensor (``tf.squeeze``, even where nothing is
#: squeezed): read from a tensor whose mask the saved graph drops (:meth:`ModelLowering._hides_mask`) they compute its
#: values unmasked, as Keras does, and their result carries none (session 30).
NEW_TENSOR_READERS = frozenset({"keras.ops.Squeeze"})


def _cast_target(config: dict[str, Any]) -> DType | None:
    """The dtype a Keras 3 ``cast`` names in its saved call (None where it names none the lowering knows)."""
    target = dtype_name((config.get(OP_ARGUMENTS_KEY) or config).get("dtype"))
    try:
        return DType.from_any(target) if isinstance(target, str) else None
    except (KeyError, TypeError, ValueError):
        return None


def _flat_values(value: Any) -> list[Any]:
    """The Values among keyword arguments (one, or lists of them)."""
    if isinstance(value, dict):
        return [v for item in value.values() for v in _flat_values(item)]
    if isinstance(value, list):
        return [v for item in value for v in _flat_values(item)]
    return [value] if value is UNKNOWN or isinstance(value, Value) else []


def _resolved(value: Any, values: dict[Ref, tuple[Value, Value | None]]) -> Any:
    """A keyword argument with its Refs (one, or a list of ``initial_state`` ones) replaced by their Values."""
    if isinstance(value, tuple):
        return values[value][0]
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return [values[v][0] for v in value]
    return value


class ModelLowering:
    """Builds the graph of one model config; ``weights(path)`` gives a layer's arrays in Keras's order.

    Nested models are lowered inline at each call (their layers' nodes named ``outer/inner/...``); a
    layer's weights are read once and its Consts shared by all its calls (shared layers, and nested
    models called several times).
    """

    def __init__(self, model_config: dict[str, Any], weights: LayerWeights, *, keras3: bool, source: str,
                 walk_past_gaps: bool = False) -> None:
        self.config = plain(model_config)
        self.weights = weights
        self.keras3 = keras3
        self.source = source
        self.graph = Graph(str((self.config.get("config") or {}).get("name") or "keras_model"))
        self.lowerings = loaded_lowerings()
        #: Per layer path: its arrays (read once) and the Consts made of them, shared by every call of the layer.
        self._layer_weights: dict[tuple[str, ...], tuple[list[Any], dict[tuple[str, int], Value]]] = {}
        self._plans: dict[int, ModelPlan] = {}
        #: Keras 3 lists a layer used in two models twice; its weights are read where it is listed first (set by
        #: :meth:`lower`, after the config's gaps: an ambiguous listing is a gap too).
        self._aliases: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._saved_config = model_config  # with the ``shared_object_id``s that ``plain`` drops
        #: The gaps found while walking (masks, keyword tensors, shapes...): the walk goes on past each one.
        self._walk_gaps: list[str] = []
        #: Walk a model whose config has gaps too (its calls with a gap skipped), to name the walk's gaps beside
        #: them: the result is always :class:`UncoveredLayers`, never a graph.
        self._walk_past_gaps = walk_past_gaps
        self._config_gaps: list[str] = []
        self._overrides: set[tuple[str, int]] = set()
        self._nested_given: dict[tuple[str, int], list[Ref | None]] = {}  # masks given over tracked ones (LayerGaps)
        self._weighed_masks: list[Value] = []  # tf_keras masks given to nested models, used as weights
        #: The context of the call lowered last (its outputs read again for the masks a deletion left tracked).
        self._last_ctx: LayerContext | None = None
        #: The integer dtype Keras gives the Values the walk holds as float32 (by id; Values live with the graph).
        self._keras_dtypes: dict[int, DType | str] = {}
        #: Values carrying a run-time mask the saved graph drops, by id (:meth:`_hides_mask`).
        self._hidden_masks: set[int] = set()
        #: The layers computed in float32 where Keras computes in float64 or float16 (.float_widths), named once.
        self._width_notices = WidthNotices()
        #: The Keras 3 calls saved with ``training=True`` whose layer computes otherwise in training (one warning).
        self._training_calls: list[str] = []
        #: tf_keras: whether each nested model being walked was called with ``training=True``, which tf_keras hands
        #: to the inner calls that do not say ``training`` themselves (:meth:`_inherited_training`).
        self._training_stack: list[bool] = []

    def lower(self) -> Graph:
        # the same verdict as layer_gaps, always
        walker = LayerGaps(self.lowerings, self.keras3)
        gaps = walker.of(self.config, self.source)
        self._overrides = walker.overrides  # computed mask= that replace tracked masks, as LayerGaps decided
        self._nested_given = walker.nested_given
        if gaps and not self._walk_past_gaps:
            raise UncoveredLayers(gaps)
        self._config_gaps = gaps
        if self.keras3 is False and hasattr(self.weights, "holds"):  # tf_keras's .keras archive (model.weights.h5)
            refuse_renumbered(self._saved_config, self.source)
        self._aliases = shared_paths(self._saved_config, getattr(self.weights, "holds", None))  # where .keras saved
        if self.source.lower().endswith(".keras") and (shared := _shared_through_wrapped_model(self._saved_config)):
            raise Unsupported(shared)
        plan = self._plan(self.config)
        if not plan.calls and (plan.sequential or not plan.inputs):  # a functional one of no calls: an identity
            raise Unsupported("an empty model")
        if plan.sequential and not plan.inputs:
            first = plan.calls[0].entry
            config = first.get("config") or {}
            shape = config.get("batch_input_shape") or ((self.config.get("build_config") or {}).get("input_shape"))
            inputs = [self._placeholder(f"{entry_name(first)}_input", list(shape) if shape else None)]
        else:
            inputs = [half_input(self.graph, self._placeholder(ref[0], config.get("batch_shape") or
                                                               config.get("batch_input_shape"), config.get("dtype")),
                                 config.get("dtype")) for ref, config in plan.inputs]
        outputs, _ = self._run(plan, (), "", inputs, [None] * len(inputs))
        if self._config_gaps or self._walk_gaps or any(v is UNKNOWN for v in outputs):  # a gap always refuses
            raise UncoveredLayers(list(dict.fromkeys([*self._config_gaps, *self._walk_gaps])) or
                                  ["an output the walk could not compute"])
        complex_outputs = [key for key, value in zip(plan.output_names(), outputs, strict=True)
                           if value.dtype in COMPLEX_DTYPES]
        if complex_outputs:  # held as (real, imag) parts (.op_layers_complex); TF.js's wasm has no complex tensors
            raise UncoveredLayers([f"output {key!r} (a complex64 tensor: TF.js's wasm has no complex kernels; return "
                                   "its tf.abs, tf.math.real or tf.math.imag)" for key in complex_outputs])
        for index, (key, value) in enumerate(zip(plan.output_names(), outputs, strict=True)):
            self.graph.set_output(key, self._in_keras_dtype(index, value))
        give_int64_cast_notes(self.graph)  # floats cast to int64 that more than an Embedding's lookup reads
        self._width_notices.notice(self.graph)
        self._training_notice()
        self.graph.validate()
        return self.graph

    def _plan(self, model: dict[str, Any]) -> ModelPlan:
        if id(model) not in self._plans:
            self._plans[id(model)] = model_plan(model, source=self.source)
        return self._plans[id(model)]

    def _run(self, plan: ModelPlan, path: tuple[str, ...], prefix: str, inputs: list[Value],
             masks: list[Value | None], aliases: dict[Ref, Ref] | None = None
             ) -> tuple[list[Value], list[Value | None]]:
        """The outputs (and their masks) of one call of a model, given its input Values (``aliases``: its Inputs
        given one tensor object, :func:`.model_plan.nested_input_aliases`)."""
        if plan.sequential:
            if len(inputs) != 1:
                raise Unsupported(f"a Sequential model {prefix or ''}called on {len(inputs)} tensors")
            x, mask = inputs[0], masks[0]
            held = dtype_name((plan.inputs[0][1] or {}).get("dtype")) if plan.inputs else None  # Keras's dtype of x
            untold_after: str | None = None  # the layer whose result dtype the config does not tell (.nested_dtypes)
            for call in plan.calls:
                if x is UNKNOWN and not runs_layers(call.entry):
                    continue
                with self._gap_of(call, prefix) as failed:
                    if untold_after is not None and (gap := untold_half_gap(call.entry, self.keras3, prefix + call.name,
                                                                            untold_after)) is not None:
                        raise Unsupported(gap)
                    produced, produced_masks = self._lower_call(call, path, prefix, [x], [mask], {},
                                                                sequential_dtype=held)
                    if len(produced) != 1:
                        raise Unsupported(f"layer {prefix + call.name!r} of a Sequential model returns several "
                                          "tensors")
                x, mask = (UNKNOWN, None) if failed else (produced[0], produced_masks[0])
                held = layer_output_dtype(call.entry, self._plan)
                untold_after = prefix + call.name if held is None else None
            return [x], [mask]
        if len(inputs) != len(plan.inputs):
            raise Unsupported(f"model {prefix or 'root'} called on {len(inputs)} tensors, "
                              f"but it has {len(plan.inputs)} inputs")
        values: dict[Ref, tuple[Value, Value | None]] = {
            ref: (value, mask) for (ref, _), value, mask in zip(plan.inputs, inputs, masks)}
        skipped: set[tuple[str, int]] = set()  # calls a gap left uncomputed: every output of theirs is UNKNOWN
        # calls with a gap inside (a nested model's, a Pipeline's): their outputs not produced are UNKNOWN too (a
        # Pipeline whose last layer failed returns one UNKNOWN for all its outputs)
        partial: set[tuple[str, int]] = set()

        def unknown(ref: Ref) -> bool:
            return (ref[0], ref[1]) in skipped or ((ref[0], ref[1]) in partial and ref not in values)

        deletions = MaskDeletions(plan, aliases) if self.keras3 else None

        for call in plan.calls:
            read = call_inputs(call.node) + call.recorded_masks
            if any(unknown(r) for r in read):  # a gap upstream, already named
                skipped.add((call.name, call.key))
                continue
            with self._gap_of(call, prefix) as failed:
                produced, produced_masks = self._lower_functional_call(plan, call, path, prefix, values, deletions)
            if failed:
                skipped.add((call.name, call.key))
                continue
            for tensor, (value, mask) in enumerate(zip(produced, produced_masks)):
                values[(call.name, call.key, tensor)] = (value, mask)
            if any(value is UNKNOWN for value in produced):
                partial.add((call.name, call.key))
        for ref in plan.outputs:
            if unknown(ref):
                values[ref] = (UNKNOWN, None)
        missing = [ref for ref in plan.outputs if ref not in values]
        if missing:
            raise InputError(f"{self.source}: output {missing[0]} is not produced by any layer call")
        if not prefix:  # the outer model's outputs: their masks are not read
            return [values[r][0] for r in plan.outputs], [values[r][1] for r in plan.outputs]
        return [values[r][0] for r in plan.outputs], [_mask_after_run(deletions, r, values) for r in plan.outputs]

    def _lower_functional_call(self, plan: ModelPlan, call: LayerCall, path: tuple[str, ...], prefix: str,
                               values: dict[Ref, tuple[Value, Value | None]], deletions: MaskDeletions | None = None
                               ) -> tuple[list[Value], list[Value | None]]:
        """One call of a Functional model's layer, its inputs (and keyword tensors, masks) read from ``values``; a
        mask a Keras 3 MultiHeadAttention deleted before it runs is None (``deletions``, as
        :class:`.layer_gaps.LayerGaps` checks)."""
        self._skip_config_gap(call, prefix)
        lowering = self.lowerings.get(call.class_name)
        keywords = lowering.keywords if lowering else ()
        refs = _node_refs(call.node, call.name, keywords)
        kwargs = _call_kwargs(call.node, keywords, call.name)
        unseen = deletions.unseen(call, [r for r in call_inputs(call.node) if r in values and values[r][1] is not None]) \
            if deletions is not None else set()
        diverged = deletions.diverged(call, [r for r in call_inputs(call.node) if r in values]) \
            if deletions is not None else set()  # read with their run-time masks (LayerGaps checked them)
        tracked_keyword_masks = {k: values[v][1] for k, v in kwargs.items() if isinstance(v, tuple)}
        keyword_masks = {k: None if kwargs[k] in unseen else deletions.run_masks[kwargs[k]] if kwargs[k] in diverged
                         else m for k, m in tracked_keyword_masks.items()}
        kwargs = {k: _resolved(v, values) for k, v in kwargs.items()}
        if call.class_name in KEYED_ARGUMENT_LAYERS:  # called on a dict: which tensor is which (.bounding_boxes)
            kwargs[ARGUMENT_KEYS] = argument_keys(call.node)
        explicit = explicit_masks(call.node) if call.class_name in EXPLICIT_MASK_LAYERS else None
        if explicit is not None:  # mask=[...]: model inputs or computed (checked by LayerGaps), replacing the inputs'
            found = iter(self._given_values(plan, call, path, prefix, [r for r in explicit if r is not None], values))
            kwargs["mask"] = [None if r is None else next(found) for r in explicit]
        tracked_masks = [values[r][1] for r in refs]
        masks = [None if r in unseen else deletions.run_masks[r] if r in diverged else values[r][1] for r in refs]
        if takes_states(self.lowerings, call.class_name):
            masks, tracked_masks = masks[:1], tracked_masks[:1]  # initial states follow; Keras uses one mask only
        unmasked = all(m is None for m in masks)
        given = given_mask(plan, call, unmasked or (prefix + call.name, call.key) in self._overrides, self.keras3) \
            if call.class_name in GIVEN_MASK_READERS else None
        if given is not None and len(masks) == 1:  # mask=m (a bool model input or a computed one, see LayerGaps)
            masks = self._given_values(plan, call, path, prefix, [given], values)
        elif runs_layers(call.entry) and unmasked and call.recorded_masks and (  # inner(x, mask=m): on its inputs
                is_model(call.entry) or first_layer_reads_given_mask(call.entry.get("config") or {}) is True):
            given = given_per_input(plan, call, len(refs), self.keras3) or []
            found = iter(self._given_values(plan, call, path, prefix, [g for g in given if g is not None], values))
            masks = [None if g is None else next(found) for g in given]
        elif is_model(call.entry) and not unmasked and (beside := given_beside_tracked(
                plan, call, len(refs), [m is not None for m in tracked_masks], self.keras3)) is not None:  # mask=[m, None]
            found = iter(self._given_values(plan, call, path, prefix, [g for g in beside if g is not None], values))
            gone = none_entries_unmasked(call, refs, beside, deletions)  # (their mask deleted first: LayerGaps)
            masks = [next(found) if g is not None else mask if self.keras3 and r not in gone else None
                     for g, mask, r in zip(beside, masks, refs)]
        elif is_model(call.entry) and (over := self._nested_given.get((prefix + call.name, call.key))) is not None:
            found = iter(self._given_values(plan, call, path, prefix, [g for g in over if g is not None], values))
            gone = none_entries_unmasked(call, refs, explicit_mask_list(call.node), deletions)
            masks = [next(found) if g is not None else None if r in gone else mask  # (LayerGaps decided)
                     for g, mask, r in zip(over, masks, refs)]
        inputs = [values[r][0] for r in refs]
        if not runs_layers(call.entry) and any(v is UNKNOWN for v in [*inputs, *_flat_values(kwargs)]):
            raise _Skipped()  # a tensor a gap inside a nested model left uncomputed: named there already
        its_input = returns_input_itself(plan, call, self.keras3)  # as :class:`LayerGaps` decided it
        self._check_cast_keeps(plan, call, prefix, inputs, masks, its_input)
        if self._keras3_cast_makes_a_new_tensor(call, inputs, masks):  # its mask dropped, as TensorFlow drops it
            masks = [None] * len(masks)
        outputs, out_masks = self._lower_call(call, path, prefix, inputs, masks, kwargs, keyword_masks,
                                              its_input=its_input,
                                              entry_casts=nested_input_casts(plan, call, self.keras3),
                                              entry_dtypes=nested_given_dtypes(plan, call),
                                              input_aliases=nested_input_aliases(call, deletions)
                                              if self.keras3 is True and is_model(call.entry) else None)
        if (unseen or diverged) and not runs_layers(call.entry):  # (a nested model's, a Pipeline's: LayerGaps)
            # the outputs' masks as tracked (Keras 3 records those for later calls): where none at run time
            tracked = self._tracked_out_masks(call, prefix, tracked_masks, tracked_keyword_masks)
            for i, (mask, kept) in enumerate(zip(out_masks, tracked)):
                if mask is not kept and kept is not None and deletions is not None:  # cleared, or divergent (then
                    out_masks[i] = kept  # only calls with a recorded mask read it, :meth:`LayerGaps._unseen_outputs`)
                    (deletions.cleared if mask is None else deletions.divergent).add((call.name, call.key, i))
                    if mask is not None:  # read by the later calls without a recorded mask
                        deletions.run_masks[(call.name, call.key, i)] = mask
        return outputs, out_masks

    def _lower_mask_chain(self, plan: ModelPlan, call: LayerCall, ref: Ref, path: tuple[str, ...], prefix: str,
                          values: dict[Ref, tuple[Value, Value | None]]) -> None:
        """Lower the calls that compute the mask ``ref`` a call was given and that the outputs do not need (so the
        plan left them out, :func:`.model_plan._add_mask_chains`), each after the tensors it reads."""
        planned = {(c.name, c.key) for c in plan.calls}
        chain = mask_chain(plan, ref, planned)
        while chain:
            ready = [c for c in chain if all(r in values for r in call_inputs(c.node))]
            if not ready:
                missing = next(r for c in chain for r in call_inputs(c.node) if r not in values)
                if (missing[0], missing[1]) in planned:
                    raise _Skipped()  # a gap upstream, named already
                raise Unsupported(f"layer {call.name!r} ({call.class_name}) is given a mask computed from "
                                  f"{missing[0]!r}, which the lowering cannot compute")
            for chained in ready:
                produced, produced_masks = self._lower_functional_call(plan, chained, path, prefix, values)
                for tensor, (value, mask) in enumerate(zip(produced, produced_masks)):
                    values[(chained.name, chained.key, tensor)] = (value, mask)
                chain.remove(chained)

    def _given_values(self, plan: ModelPlan, call: LayerCall, path: tuple[str, ...], prefix: str, given: list[Ref],
                      values: dict[Ref, tuple[Value, Value | None]]) -> list[Value]:
        """The values of the masks a call was given (:func:`_given_masks`). Keras 3's readers cast a float or integer
        one to bool (``!= 0``, :data:`.call_facts.KERAS3_GIVEN_MASK_DTYPES`), so it is handed over so; Softmax's
        own ``mask > 0.5`` reads it as it is (:func:`.activations.softmax`). tf_keras's readers use a float or integer
        one as it is: given to a nested model, or to GlobalAveragePooling1D or Softmax themselves
        (:data:`.masking.WEIGHED_GIVEN_READERS`), a float32 or int32 one is carried as weights (GlobalAveragePooling1D
        weighs by it, another reader is refused: :func:`.masking.weighed_mask_gap`); elsewhere a computed one must be
        bool."""
        inputs = {ref for ref, _ in plan.inputs}
        for ref in given:
            if ref not in values:
                self._lower_mask_chain(plan, call, ref, path, prefix, values)
        masks = [values[r][0] for r in given]
        for i, (ref, mask) in enumerate(zip(given, masks)):
            if mask is UNKNOWN:
                raise _Skipped()
            if mask.dtype == DType.BOOL or call.class_name == "Softmax" and (self.keras3 or ref in inputs):
                continue
            if self.keras3 is False and (runs_layers(call.entry) or call.class_name in WEIGHED_GIVEN_READERS) and \
                    mask.dtype in (DType.FLOAT32, DType.INT32):
                self._weighed_masks.append(mask)  # tf_keras sets it on the inner inputs (or hands it) as it is
                continue
            if not self.keras3 and ref not in inputs:
                raise Unsupported(f"layer {prefix + call.name!r} ({call.class_name}) is given a mask the lowering "
                                  f"computes as {mask.dtype.name.lower()} (it lowers bool masks only)")
            masks[i] = self._read_as_bool(prefix + call.name, mask)
        return masks

    def _read_as_bool(self, layer: str, mask: Value) -> Value:
        """A float or integer mask as Keras 3's readers cast it on TensorFlow, nonzero kept (NaN kept, subnormals
        masked: :func:`.masking.tf_kept`); 8/16-bit integers the walk holds as float32 exactly."""
        if mask.dtype not in (DType.FLOAT32, DType.INT32):
            name = mask.dtype.name.lower()
            raise Unsupported(f"layer {layer!r} is given {'an' if name[0] in 'aeiou' else 'a'} {name} mask")
        return tf_kept(self.graph, mask, f"{layer}/mask_kept")

    @contextlib.contextmanager
    def _gap_of(self, call: LayerCall, prefix: str) -> Iterator[list[bool]]:
        """Run one call; a gap it raises is noted (named with the layer) and the walk goes on past it.

        Yields a list that is ``[True]`` after a gap (the caller then marks the call's outputs UNKNOWN)."""
        failed: list[bool] = []
        try:
            yield failed
        except _Skipped:
            failed.append(True)
        except Unsupported as err:
            name, message = prefix + call.name, str(err)
            if repr(name) not in message and repr(call.name) in message:  # named without its model's path
                message = message.replace(repr(call.name), repr(name), 1)
            if message.startswith(f"layer {name!r}"):  # a gap list names layers: "'x' (...)", not "layer 'x'"
                message = message[len("layer "):]
            self._walk_gaps.append(message if repr(name) in message else f"{name!r} ({call.class_name}: {message})")
            failed.append(True)

    def _skip_config_gap(self, call: LayerCall, prefix: str) -> None:
        """A call the config's gaps name already (``walk_past_gaps``): not lowered, its outputs unknown."""
        if self._config_gaps and any(g.startswith(f"{prefix + call.name!r} (") for g in self._config_gaps):
            raise _Skipped()

    # -- one layer call ---------------------------------------------------------------------------------
    def _lower_call(self, call: LayerCall, path: tuple[str, ...], prefix: str, inputs: list[Value],
                    masks: list[Value | None], kwargs: dict[str, Any],
                    keyword_masks: dict[str, Value | None] | None = None, *, its_input: bool = False,
                    entry_casts: list[bool | None] | None = None, entry_dtypes: list[str | None] | None = None,
                    input_aliases: dict[Ref, Ref] | None = None, sequential_dtype: str | None = None
                    ) -> tuple[list[Value], list[Value | None]]:
        """One call: its output Values and the mask each carries (``its_input``: an op call TF answers with its
        input tensor itself, :func:`returns_input_itself`: lowered unmasked, its input's mask handed on;
        ``entry_casts``: a nested model's inputs tf_keras casts to a new tensor, :func:`nested_input_casts`;
        ``sequential_dtype``: Keras's dtype of a Sequential layer's input, which its config does not record)."""
        self._skip_config_gap(call, prefix)
        self._check_hidden_mask_readers(call, prefix, inputs, kwargs)  # before the nested-model and wrapper returns
        name, cls, config = call.name, call.class_name, call.entry.get("config") or {}
        keyword_masks = keyword_masks or {}
        kwargs = self._inherited_training(kwargs)
        if runs_layers(call.entry):
            if any(m is not None for m in keyword_masks.values()):
                raise Unsupported(mask_gap(prefix + name, f"nested {cls} model"))
            self._check_kwargs(LayerContext(self.graph, prefix + name, cls, config, inputs, [], self.source,
                                            keras3=self.keras3, call_kwargs=kwargs))  # inner(x, training=True)
            kwargs = self._int_training(kwargs)
            nested_prefix = f"{prefix}{name}/"  # Keras sets the inputs' masks on the inner model's inputs
            inputs, masks = self._check_nested_input_casts(call, prefix, inputs, masks, entry_casts, entry_dtypes)
            self._training_stack.append(not self.keras3 and dict.get(kwargs, "training") is True)
            try:
                plan = self._plan(call.entry)
                outputs, out_masks = self._run(plan, (*path, name), nested_prefix, inputs, list(masks), input_aliases)
                return plan.in_caller_order(outputs), plan.in_caller_order(out_masks)
            finally:
                self._training_stack.pop()
        if weighed := [m for m in [*masks, *keyword_masks.values()] if any(m is w for w in self._weighed_masks)]:
            if gap := weighed_mask_gap(prefix + name, cls, config, weighed[0].dtype):
                raise Unsupported(gap)
        if wrapped_model(call.entry) is not None:
            return self._time_distributed_model(call, path, prefix, inputs, masks, kwargs)
        given = kwargs["mask"] + [None] * (len(masks) - len(kwargs["mask"])) if "mask" in kwargs and \
            cls in EXPLICIT_MASK_LAYERS else [*masks, *keyword_masks.values()]
        flags = masked_outputs(cls, config, [m is not None for m in given], self.keras3, its_input=its_input)
        if flags is None:
            raise Unsupported(mask_gap(prefix + name, cls, config))
        if cls in STEP_MASK_READERS and not wraps_conv_lstm(cls, config) and len(masks) == 1 and masks[0] is not None and \
                (masks[0].shape is None or len(masks[0].shape) != 2):  # Masking of a rank-4 tensor, handed on
            raise Unsupported(f"{prefix + name!r} ({cls}: a mask of shape {masks[0].shape} where Keras reads "
                              "[batch, steps])")
        # Keras rounds its float inputs and weights to float16; op layers compute in their float16 inputs' dtype
        wcls, wconfig = width_view(cls, config, self.keras3)  # a wrapper's layer's policy (.float_widths)
        half = computes_in_half(wcls, wconfig) or op_layer_in_half(self.graph, cls, inputs, config)  # (.float_widths)
        if half and is_op_layer(cls):  # op-layer casts' float16 tensors, as marked float32 Values
            inputs = held_half_inputs(self.graph, prefix + name, inputs)
        keras_dtype = sequential_dtype if call.node is None else recorded_input_dtype(call.node)
        back_to_half = not half and casts_back_to_half(cls, self.keras3, inputs, keras_dtype)
        if back_to_half:  # Keras's float16 tensor, on float16's grid (an LSTM's float32 steps rounded)
            inputs = half_tensor_inputs(self.graph, prefix + name, inputs)
        if rounds_inputs(wcls, self.keras3, wconfig) if half else wrapper_rounds(wconfig, WRAPPER_CASTS):
            inputs = half_rounded(self.graph, prefix + name, inputs, [self._keras_dtype(v) is None for v in inputs],
                                  entry=True)
        if half:
            self._half_weights(call, path, wcls, wconfig)
        if (layer_dtype := integer_layer_dtype(cls, config, self.keras3)) is not None and \
                cls in INTEGER_DTYPE_LAYERS:  # Keras 3 casts the float inputs to an integer dtype layer's dtype
            inputs = self._integer_autocast(prefix + name, cls, inputs, layer_dtype)
        before = {node.name for node in self.graph.nodes} if half else set()
        hides = self._hides_mask(cls, inputs, masks)  # Keras 3's absolute of a masked unsigned tensor
        ctx = self._call(call.entry, (*path, name), prefix + name, inputs, kwargs,
                         [None] * len(masks) if its_input or hides else masks, keyword_masks,
                         bool(call.recorded_masks))
        self._last_ctx = ctx
        outputs = ctx.outputs if isinstance(ctx.outputs, list) else [ctx.outputs]
        if hides:
            self._hidden_masks.update(id(v) for v in outputs[:1])
        cast_out = wrapper_rounds(wconfig, WRAPPER_CASTS_OUT)  # a float64 layer's in a float16 Bidirectional
        if (half and rounds_outputs(wcls, self.keras3, wconfig)) or cast_out:  # computed in float32, cast to float16
            if self.keras3 and outputs:  # each direction cast before a float16 merge, the states not
                round_merged_directions(self.graph, cls, config, outputs[0])
            outputs = half_rounded(self.graph, f"{prefix}{name}/out", outputs, [
                self._keras_dtype(v) is None and cast for v, cast in
                zip(outputs, wrapper_cast_outputs(cls, config, len(outputs)), strict=True)])
        elif half and rounds_each_op(wcls):  # each op's result rounded to float16, as TF rounds it
            outputs = round_each_op(self.graph, before, outputs, once=cls in KERAS3_FLOAT32_REDUCTIONS)
        elif half and wcls != FLOAT32_INNER:  # float16 in Keras, computed in float32 (LSTM, attention): recorded
            mark_half_held(self.graph, outputs)
        elif back_to_half:  # a float32 normalization cast back to its float16 input's dtype, then to float32
            outputs = through_half(self.graph, f"{prefix}{name}/out", outputs)
            ctx.outputs = outputs if isinstance(ctx.outputs, list) else outputs[0]
        elif not half and op_layer_keeps_held_half(self.graph, cls, inputs, config):  # on such results: float16
            mark_half_held(self.graph, outputs)
        elif not half and op_layer_on_held_in_float32(self.graph, cls, inputs, config):  # float16 in Keras: named
            self._width_notices.add_held_float32(prefix + name, cls)
        if half or cast_out:
            ctx.outputs = outputs if isinstance(ctx.outputs, list) else outputs[0]
        self._width_notices.add(prefix + name, wcls, wconfig, shown=cls)
        if not is_op_layer(cls) and dtype_name(wconfig.get("dtype")) == "float64":  # float64 held in float32
            from .float64_compare import mark_float64_computed

            mark_float64_computed(self.graph, outputs)
        if half and is_op_layer(cls):  # named in the float16 notice (its sums: add)
            self._width_notices.add_op_layer(prefix + name, cls)
        out_masks: list[Value | None] = [None] * len(outputs)
        if flags:
            with provenance.scope(self.graph, prefix + name):
                out_masks[0] = self._out_mask(ctx, given)
            for i in flags - {0}:  # Bidirectional(merge_mode=None): both directions carry the input's mask
                out_masks[i] = out_masks[0]
        return outputs, out_masks

    def _inherited_training(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """A call inside a tf_keras nested model called with ``training=True``: tf_keras's call context gives it
        ``training=True`` unless its call site says ``training`` (``False`` stays); each layer's ``_check_kwargs``
        then decides (lowered where computed so, :data:`.context.LOWERED_IN_TRAINING`, else refused by name)."""
        if self._training_stack and self._training_stack[-1] and dict.get(kwargs, "training") is None:
            return {**kwargs, "training": True}
        return kwargs

    def _int_training(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """A tf_keras nested model called with ``training=1`` or ``0``: it hands the int to its layers, whose
        ``smart_cond``/``constant_value`` (or BatchNormalization's ``bool()``) read 1 and 0 as True and False."""
        training = dict.get(kwargs, "training")
        if not self.keras3 and type(training) is int and training in (0, 1):
            return {**kwargs, "training": bool(training)}
        return kwargs

    def _half_weights(self, call: LayerCall, path: tuple[str, ...], cls: str, config: dict[str, Any]) -> None:
        """A float16-computing layer's weights as Keras reads them (:func:`.float_widths.half_weights`), read once."""
        key = canonical_path((*path, call.name), self._aliases)
        if key not in self._layer_weights:
            self._layer_weights[key] = (half_weights(self.weights(key), cls, config), {})

    def _time_distributed_model(self, call: LayerCall, path: tuple[str, ...], prefix: str, inputs: list[Value],
                                masks: list[Value | None], kwargs: dict[str, Any]
                                ) -> tuple[list[Value], list[Value | None]]:
        """TimeDistributed(Sequential / Functional): the wrapped model's layers lowered as a nested model's on the
        folded input (:func:`.wrappers.time_distributed_model`), each with its own weights (path ``(..., wrapper,
        layer)``, :mod:`.weights`). The output's mask: the input's, in both flavours (the masks Keras would change
        are gaps, :meth:`LayerGaps._time_distributed_model`); where a layer inside reads it, the model's layers get it
        folded (:func:`.wrappers.folded_model_mask`) and tf_keras's output carries the model's (:func:`.wrappers.
        model_out_mask`)."""
        name, config = prefix + call.name, call.entry.get("config") or {}
        wrapped = wrapped_model(call.entry) or {}
        plan = self._plan(wrapped)
        ctx = LayerContext(self.graph, name, call.class_name, config, inputs, [], self.source, keras3=self.keras3,
                           call_kwargs=kwargs)
        inner: list[Value] = []
        masked = bool(masks) and masks[0] is not None
        reaches = masked and mask_reaches_model(config, dtype_name(plan.inputs[0][1].get("dtype")) if plan.inputs
                                                else None, self.keras3, self._keras_dtype(inputs[0]))
        step_masked = reaches and wrapped_mask_reader(wrapped, self.keras3) is not None
        depth = wrapper_depth(call.entry)[0]
        if masked and depth > 1:
            _masked_wrappers_check(ctx, masks[0], depth, step_masked)
        inner_masks: list[Value | None] = []

        def run(folded: Value) -> Value:
            if rounds_model_input(config) and self._keras_dtype(inputs[0]) is None:  # the wrapper's float16 cast
                folded = rounded_to_half(self.graph, folded, f"{name}/to_float16")
            folded = self._wrapped_model_input(ctx, plan, inputs[0], folded)
            step_mask = folded_model_mask(ctx, masks[0], depth) if step_masked else None
            outputs, out_masks = self._run(plan, (*path, call.name), f"{name}/", [folded], [step_mask])
            inner_masks.extend(out_masks[:1])
            if len(outputs) != 1:
                raise Unsupported(f"layer {name!r} (TimeDistributed) wraps a model with {len(outputs)} outputs")
            if outputs[0] is UNKNOWN:
                raise _Skipped()  # a gap inside, named there
            inner.append(outputs[0])
            return outputs[0]

        with provenance.scope(self.graph, name):
            output = time_distributed_model(ctx, run, depth)
        self._check_kwargs(ctx)
        if inner and id(inner[0]) in self._keras_dtypes:  # integers the model returns as float32: unfolded, the same
            self._keras_dtypes[id(output)] = self._keras_dtypes[id(inner[0])]
        if step_masked or masked and not reaches:  # tf_keras: the model's mask, or the input's reduced
            with provenance.scope(self.graph, name):
                return [output], [model_out_mask(ctx, masks[0], inner_masks[0] if inner_masks else None, depth)]
        return [output], [masks[0] if masks else None]

    def _wrapped_model_input(self, ctx: LayerContext, plan: ModelPlan, value: Value, folded: Value) -> Value:
        """The folded input as the wrapped model's layers get it: both flavours cast it to the dtype of the model's
        Input (Keras 3's ``Functional._standardize_inputs``, tf_keras's ``_conform_to_reference_input``), as
        :meth:`_cast_to_input_dtype` casts; integers into an Input of their own dtype stay them, the walk's tracking
        following into the fold (the inner layers see them as Keras does, an Embedding its ids, a Dense them cast).
        Other casts, and integers into an Input of no saved dtype, are refused by name."""
        actual = self._keras_dtype(value)  # None: a float
        wanted = dtype_name(plan.inputs[0][1].get("dtype")) if plan.inputs else None
        cast = None if actual is not None and wanted is None else self._cast_to_input_dtype(ctx, folded, actual, wanted)
        if cast is None:
            held = getattr(actual, "numpy", actual) if actual is not None else "float"
            raise Unsupported(f"layer {ctx.name!r} (TimeDistributed) of a model whose Input is "
                              f"{wanted or 'of no saved dtype'}, on {held} inputs (Keras casts them to it; not "
                              "lowered)")
        return nested_float_inputs(self.graph, plan, [cast])[0]  # float32 <-> float64 Inputs (.float_widths)

    def _cast_to_input_dtype(self, ctx: LayerContext, value: Value, actual: DType | None, wanted: str | None
                             ) -> Value | None:
        """``value`` (Keras dtype ``actual``, None for a float) cast as both Keras flavours cast a tensor given to a
        model whose Input's dtype is ``wanted``, or None where the lowering does not make that cast: integers and bools
        into a float Input become float32, rounded as TF's Cast rounds them (int32/int64 past 2^24 by
        :func:`.integer_resize.exact_float32`: TF.js's cpu Cast keeps them unrounded), a new untracked Value; floats
        into an int32 Input are TF's cast (truncated, INT_MIN for NaN, ±Inf and magnitudes from 2^31:
        :func:`.op_layers.float_to_int32`), into an int64 Input TF's cast to int64 as TF.js holds int64 (its low 32
        bits, :func:`.op_layers.float_to_int64_low_bits`, as an op layer's cast), into a bool Input ``x != 0``; int32
        and int64 into each other (TF.js holds both as int32) and integers into an Input of their own dtype keep their
        values, the dtype tracked; integers and bools into an 8/16-bit Input wrap into its range as TF's cast does
        (int32 40000 into int16 is -25536). Floats into an 8/16-bit Input are not made (TF's cast of a float out of
        that range is the C cast's, undefined)."""
        from .integer_resize import exact_float32
        from .op_layers import float_to_int32, float_to_int64_low_bits

        floating = actual is None or actual == DType.FLOAT32
        if floating and wanted in FLOAT_DTYPES:  # a float16 Input rounds what it is given (.float_widths)
            return rounded_to_half(self.graph, value, f"{ctx.name}/to_float16") if wanted == "float16" else value
        if floating and value.dtype == DType.FLOAT32 and wanted in ("int32", "bool"):
            if wanted == "bool":
                return self._as_integer(ctx.name, value, DType.BOOL)
            return float_to_int32(ctx, value, "input_as_int32")
        if floating and value.dtype == DType.FLOAT32 and wanted == "int64":
            out = float_to_int64_low_bits(ctx, value, "input_as_int64")
            self._keras_dtypes[id(out)] = DType.INT64
            return out
        narrow = DType.from_any(wanted) if wanted in ("int8", "uint8", "int16", "uint16") else None
        if not floating and is_integer(actual) and narrow is not None and actual != narrow:
            as_int32 = value if value.dtype == DType.INT32 else self._as_integer(ctx.name, value, DType.INT32)
            out = wrapped(self.graph, as_int32, narrow, f"{ctx.name}/input_as_{wanted}")
            self._keras_dtypes[id(out)] = narrow
            return out
        if not floating and is_integer(actual) and wanted in FLOAT_DTYPES[1:]:
            if value.dtype in WIDE_INTEGERS:  # rounded past 2^24 as Keras's cast rounds
                as_int32 = self._as_integer(ctx.name, value, DType.INT32) if value.dtype == DType.INT64 else value
                return exact_float32(ctx, as_int32, "input_as_float")
            if is_integer(value.dtype):
                return self._as_float(ctx.name, ctx.class_name, value)
            return ctx.unary("Identity", value, label="input_as_float32")  # held as float32: now untracked floats
        if not floating and is_integer(actual) and actual != DType.BOOL and actual.numpy.itemsize < 4 and \
                wanted == "int32":  # 8/16-bit integers into an int32 Input: the same numbers
            out = ctx.unary("Identity", value, label="input_as_int32") if value.dtype == DType.INT32 else \
                self._as_integer(ctx.name, value, DType.INT32)
            self._keras_dtypes[id(out)] = DType.INT32
            return out
        try:
            same = not floating and wanted is not None and DType.from_any(wanted) == actual
        except (KeyError, TypeError, ValueError):
            same = False
        if same or actual in WIDE_INTEGERS and wanted in ("int32", "int64"):
            out = ctx.unary("Identity", value, label=f"input_as_{wanted}") if not same else value
            if out.dtype != DType.from_any(wanted) or not same:
                self._keras_dtypes[id(out)] = DType.from_any(wanted)
            return out
        return None

    def _check_nested_input_casts(self, call: LayerCall, prefix: str, inputs: list[Value],
                                  masks: list[Value | None], entry_casts: list[bool | None] | None = None,
                                  entry_dtypes: list[str | None] | None = None
                                  ) -> tuple[list[Value], list[Value | None]]:
        """The tensors (and masks) a tf_keras nested model's layers read: it sets the masks it is given on the
        caller's tensors, then casts each to its Input's dtype (``Functional._conform_to_reference_input``): a
        tensor of another dtype becomes a new tensor (cast as TF casts, :meth:`_nested_input_cast`) without the
        mask, so the inner layers read none (and the outputs carry the masks they make from none). The mask is
        dropped so where the dtype the lowering tracks and the saved config (``entry_casts``,
        :func:`nested_input_casts`, as :class:`LayerGaps` walked it) agree; where they disagree (or the config does not
        tell and the dtypes differ, or does not tell a float16 tensor the walk holds in float32), which mask Keras reads is not known: a gap, named (with the dtype the config
        tells, ``entry_dtypes``, :func:`nested_given_dtypes`). A float16 layer's result is float16 (:func:`is_half`:
        under ``mixed_float16`` the walk once read it as float32, kept the mask Keras drops)."""
        if not is_model(call.entry):
            return inputs, masks
        plan = self._plan(call.entry)
        inputs = nested_float_inputs(self.graph, plan, inputs)  # float32 <-> float64 Inputs (.float_widths)
        if self.keras3:
            return self._keras3_nested_input_casts(call, prefix, plan, inputs), masks
        casts = list(entry_casts or [])
        casts += [None] * (len(masks) - len(casts))
        values, kept = list(inputs), list(masks)
        for i, ((ref, config), value, mask) in enumerate(zip(plan.inputs, inputs, masks)):
            if not isinstance(value, Value):
                continue
            wanted = dtype_name((config or {}).get("dtype"))
            actual = self._keras_dtype(value) or (DType.FLOAT16 if is_half(self.graph, value) else value.dtype)
            same = has_input_dtype(actual, wanted)
            untold_half = same and casts[i] is None and value.dtype != DType.FLOAT16 and is_half(self.graph, value)
            if mask is not None and (same is None or same == (casts[i] is True) or not same and casts[i] is not True
                                     or untold_half):  # (a float16 the walk records but the config does not tell)
                told = (entry_dtypes or [])[i] if i < len(entry_dtypes or []) else None
                held = getattr(actual, "numpy", actual)
                raise Unsupported(f"{prefix + call.name!r} ({call.class_name}: tf_keras casts the masked "
                                  f"{told or 'float'} tensor (held as {held!s}) to the dtype of its input "
                                  f"{ref[0]!r}, {wanted}: whether that is a new tensor without the mask is not "
                                  "known)")
            if same is False:
                values[i], kept[i] = self._nested_input_cast(call, prefix, ref[0], value, actual, wanted), None
        return values, kept

    def _keras3_nested_input_casts(self, call: LayerCall, prefix: str, plan: ModelPlan, inputs: list[Value]
                                   ) -> list[Value]:
        """Keras 3's nested Functional (and Sequential) model converts each tensor to its Input's dtype
        (``Functional._convert_inputs_to_tensors``: a ``tf.cast`` on the TensorFlow backend, floats into an int32
        Input truncated) before its layers run, then sets the masks it was given on the results: the values cast
        (:meth:`_nested_input_cast`), the masks kept. The lowering once handed the tensor in uncast."""
        values = list(inputs)
        for i, ((ref, config), value) in enumerate(zip(plan.inputs, inputs)):
            if not isinstance(value, Value):
                continue
            wanted = dtype_name((config or {}).get("dtype"))
            actual = self._keras_dtype(value) or value.dtype
            if has_input_dtype(actual, wanted) is False:  # (None: a name the lowering does not know, read as before)
                values[i] = self._nested_input_cast(call, prefix, ref[0], value, actual, wanted)
        return values

    def _nested_input_cast(self, call: LayerCall, prefix: str, input_name: str, value: Value, actual: Any,
                           wanted: str | None) -> Value:
        """A nested model's cast of a tensor to its Input's dtype ``wanted`` (:meth:`_cast_to_input_dtype`); other
        casts are a gap, named (the lowering once read the tensor uncast)."""
        name = f"{prefix}{call.name}/{input_name}_cast"
        ctx = LayerContext(self.graph, name, call.class_name, call.entry.get("config") or {}, [value], [],
                           self.source, keras3=self.keras3)
        with provenance.scope(self.graph, name):
            floating = actual in (DType.FLOAT32, DType.FLOAT16)  # (float16 held rounded in float32)
            cast = self._cast_to_input_dtype(ctx, value, None if floating else actual, wanted)
            if cast is value and actual == DType.FLOAT16:  # a new float32 tensor: its readers compute in float32
                cast = ctx.unary("Identity", value, label=f"input_as_{wanted}")
        if cast is None:
            flavour = "Keras 3" if self.keras3 else "tf_keras"
            raise Unsupported(f"{prefix + call.name!r} ({call.class_name}: {flavour} casts the "
                              f"{getattr(actual, 'numpy', actual)!s} tensor to the dtype of its input {input_name!r}, "
                              f"{wanted} (a cast the lowering does not make there)")
        return cast

    def _hides_mask(self, cls: str, inputs: list[Value], masks: list[Value | None]) -> bool:
        """Keras 3's ``absolute`` of a masked unsigned tensor (the walk's tracked dtype; the saved graph may call it
        float32): its TensorFlow backend returns that tensor itself (``if "uint" in dtype: return x``), the run-time
        mask riding on it where the saved graph drops it. Lowered as the unmasked op (the same values), its output
        marked (:meth:`_check_hidden_mask_readers`), session 29."""
        held = self._keras_dtype(inputs[0]) if inputs else None
        masked = bool(masks and masks[0] is not None) or bool(inputs and id(inputs[0]) in self._hidden_masks)
        return bool(self.keras3 and cls == "keras.ops.Absolute" and masked and isinstance(held, DType) and
                    held.name.startswith("UINT"))  # (an absolute of such an absolute: that tensor again, session 30)

    def _check_hidden_mask_readers(self, call: LayerCall, prefix: str, inputs: list[Value],
                                   kwargs: dict[str, Any]) -> None:
        """A reader of a tensor that carries a run-time mask the saved graph drops (:meth:`_hides_mask`): lowered
        only where Keras computes it unmasked and its output carries none, a Keras 3 ``cast`` to a dtype other than
        the tensor's or a squeeze (TensorFlow makes a new tensor: :data:`NEW_TENSOR_READERS`; measured against
        ``model(x)`` and ``predict``), or where it is that tensor again (an absolute of it, whose own readers are
        checked so; session 30: the squeeze and the second absolute were refused before); any other
        reader (a mask reader, a cast to its own dtype, a nested model, a wrapper such as TimeDistributed around a
        layer or a model) is refused by name. Checked before a nested model's or a wrapper's inputs are cast or
        folded into new Values: Keras 3 hands the mask into the model, which the walk would compute unmasked
        (13.5 off, NaN where Keras gives 0, until review of session 29)."""
        hidden = [v for v in [*inputs, *_flat_values(kwargs)] if id(v) in self._hidden_masks]
        if not hidden:
            return
        held = self._keras_dtype(hidden[0])
        target = _cast_target(call.entry.get("config") or {})
        one = len(inputs) == 1 and inputs[0] is hidden[0] and isinstance(held, DType)
        new_tensor = one and (call.class_name == "keras.ops.Cast" and target is not None and target != held or
                              call.class_name in NEW_TENSOR_READERS)
        if not new_tensor and not (one and self._hides_mask(call.class_name, inputs, [None])):
            held_name = held.name.lower() if isinstance(held, DType) else str(held)
            raise Unsupported(f"{prefix + call.name!r} ({call.class_name}: reads the absolute of a masked {held_name} "
                              "tensor, which Keras 3 returns as that tensor itself, its mask riding on at run time "
                              "where the saved graph drops it; lowered before a cast to another dtype, a squeeze or "
                              "another absolute only)")

    def _check_keras3_cast_keeps(self, call: LayerCall, prefix: str, value: Value) -> None:
        """Keras 3's ``cast`` of a masked integer tensor: the walk decides from the saved call whether TensorFlow hands
        the tensor back, its mask riding on (the recorded input dtype is the target: :func:`.masking.
        returns_its_input`), but the saved graph may record another dtype than the tensor has at run time (a Masking
        of int32 or uint8 ids is recorded float32, so ``cast(x, "float32")`` was taken for the tensor itself and its
        mask read by a GlobalAveragePooling1D after it, 1.8 off Keras's unmasked mean until session 29). The dtype
        the walk tracks must say the same, else refused by name; where the tracked dtype is another than the target,
        TensorFlow makes a new tensor whatever the saved call records: lowered as that (the mask dropped,
        :meth:`_keras3_cast_makes_a_new_tensor`; refused until session 30)."""
        config = call.entry.get("config") or {}
        actual = self._keras_dtype(value)
        if not isinstance(actual, DType):
            return
        target = dtype_name((config.get(OP_ARGUMENTS_KEY) or config).get("dtype"))
        if _cast_target(config) == actual and not returns_its_input(call.class_name, config):
            raise Unsupported(f"{prefix + call.name!r} ({call.class_name}: a cast to {target} of a masked "
                              f"{actual.name.lower()} tensor whose saved call records another dtype: whether "
                              "TensorFlow hands the tensor itself on, its mask with it, is not known)")

    def _keras3_cast_makes_a_new_tensor(self, call: LayerCall, inputs: list[Value], masks: list[Value | None]) -> bool:
        """Keras 3's ``cast`` of a masked integer tensor (its dtype tracked by the walk) to another dtype, which its
        saved call records as a cast to the dtype it reads (``cast(Masking(int32 ids), "float32")``, recorded float32
        to float32): TensorFlow's ``tf.cast`` makes a new tensor, so the mask is dropped, as ``model(x)`` and
        ``predict`` compute (an LSTM or mean after it reads every step)."""
        if not (self.keras3 and call.class_name == "keras.ops.Cast" and masks and masks[0] is not None and inputs):
            return False
        actual, target = self._keras_dtype(inputs[0]), _cast_target(call.entry.get("config") or {})
        return isinstance(actual, DType) and target is not None and target != actual

    def _check_cast_keeps(self, plan: ModelPlan, call: LayerCall, prefix: str, inputs: list[Value],
                          masks: list[Value | None], its_input: bool) -> None:
        """tf_keras's ``tf.cast`` of a masked tensor: the walk decided from the saved config's dtypes whether TF hands
        that tensor back (its mask riding on, ``its_input``) or makes a new one (the mask dropped), through the dtypes
        Keras's rules give (an Activation of int32 ids keeps them int32 though its config says float32); the dtype
        the lowering tracks for the tensor must say the same, else which mask Keras's later layers read is not
        known: a gap, never a guess."""
        config = call.entry.get("config") or {}
        if not self.keras3 and call.class_name == "TFOpLambda" and config.get("function") in V1_RESIZES and \
                masks and masks[0] is not None and inputs:  # the walk read the images' size from the config
            shape, kwargs = inputs[0].shape, tf_call_kwargs(call)
            same = shape is not None and len(shape) == 4 and list(shape[1:3]) == list(kwargs.get("size") or []) \
                and not kwargs.get("preserve_aspect_ratio")
            if same != its_input:
                raise Unsupported(f"{prefix + call.name!r} (TFOpLambda: a resize of masked images of shape "
                                  f"{list(shape or [])} whose saved config tells another size: whether TensorFlow "
                                  "hands the images themselves on, their mask with them, is not known)")
        if self.keras3 and call.class_name == "keras.ops.Cast" and masks and masks[0] is not None and inputs:
            self._check_keras3_cast_keeps(call, prefix, inputs[0])
        if self.keras3 or call.class_name != "TFOpLambda" or config.get("function") not in TF_CASTS or \
                not masks or masks[0] is None or not inputs:
            return
        target, _ = cast_dtypes(plan, call)
        actual = self._keras_dtype(inputs[0]) or (DType.FLOAT16 if is_half(self.graph, inputs[0]) else inputs[0].dtype)
        try:
            same = isinstance(target, str) and DType.from_any(target) == actual
        except (KeyError, TypeError, ValueError):
            same = False
        if same != its_input:
            raise Unsupported(f"{prefix + call.name!r} (TFOpLambda: a cast to {target} of a masked "
                              f"{getattr(actual, 'numpy', actual)!s} tensor whose saved config tells another dtype: "
                              "whether TensorFlow hands the tensor itself on, its mask with it, is not known)")

    def _tracked_out_masks(self, call: LayerCall, prefix: str, masks: list[Value | None],
                           keyword_masks: dict[str, Value | None]) -> list[Value | None]:
        """The masks of a call's outputs as the walk tracks them (its inputs' masks before a MultiHeadAttention
        deleted some): the call's own ops read the run-time masks; these are for the later calls whose mask Keras 3
        recorded. Made from the call's lowered outputs (its last context)."""
        ctx = self._last_ctx
        assert ctx is not None
        cls, config = call.class_name, call.entry.get("config") or {}
        given = [*masks, *keyword_masks.values()]
        flags = masked_outputs(cls, config, [m is not None for m in given], self.keras3) or set()
        outputs = ctx.outputs if isinstance(ctx.outputs, list) else [ctx.outputs]
        tracked: list[Value | None] = [None] * len(outputs)
        if flags:
            with provenance.scope(self.graph, prefix + call.name + "/tracked"):
                tracked[0] = self._out_mask(ctx, given, keyword_masks)
            for i in flags - {0}:
                tracked[i] = tracked[0]
        return tracked

    def _out_mask(self, ctx: LayerContext, given: list[Value | None],
                  keyword_masks: dict[str, Value | None] | None = None) -> Value:
        """The mask of a call's first output (see :func:`.masking.masked_outputs` for which calls have one)."""
        if makes_mask(ctx.class_name, ctx.config):
            return make_mask(ctx)
        if ctx.class_name == "TimeDistributed" and time_distributed_makes_mask(ctx.config, self.keras3):
            return time_distributed_mask(ctx)
        if ctx.class_name == "TimeDistributed":
            return time_distributed_out_mask(ctx, next(m for m in given if m is not None))
        if ctx.class_name in ELEMENTWISE_MERGES or ctx.class_name == "Concatenate":
            return merged_mask(ctx, given)
        keyword_masks = ctx.keyword_masks if keyword_masks is None else keyword_masks
        if ctx.class_name in QUERY_MASKED:  # the query's (tf_keras may give the query by keyword)
            return keyword_masks["query"] if "query" in keyword_masks else given[0]
        return next(m for m in given if m is not None)

    def _call(self, entry: dict[str, Any], path: tuple[str, ...], name: str, inputs: list[Value],
              call_kwargs: dict[str, Any], masks: list[Value | None],
              keyword_masks: dict[str, Value | None], mask_recorded: bool = False) -> LayerContext:
        """Lower one call; its output Value(s) are ``ctx.outputs`` of the context returned."""
        cls = entry["class_name"]
        lowering = self.lowerings.get(cls)
        if lowering is None:
            raise Unsupported(f"{name!r} ({cls})")
        if not is_op_layer(cls) and any(getattr(v, "dtype", None) in COMPLEX_DTYPES for v in inputs):  # op layers only
            raise Unsupported(f"layer {name!r} ({cls}) on a complex64 tensor (held as (real, imag) parts: only op "
                              "layers such as tf.abs and tf.math.real read it)")
        path = canonical_path(path, self._aliases)
        if path not in self._layer_weights:
            self._layer_weights[path] = (self.weights(path), {})
        arrays, consts = self._layer_weights[path]
        keras_dtypes = [self._keras_dtype(v) for v in inputs]
        op = cls if cls.startswith(KERAS_OP_PREFIX) else (entry.get("config") or {}).get("function")
        narrow = narrow_operands(cls, op, keras_dtypes, name)
        if is_op_layer(cls) and op not in DTYPE_FREE_OPS | INTEGER_KEEPING_OPS and any(
                d is not None and (d not in OP_REINTEGER_DTYPES or op not in INTEGER_COMPUTING_OPS) and
                v.dtype == DType.FLOAT32 and not (is_narrow(d) and op in NARROW_COMPUTED_OPS)
                for d, v in zip(keras_dtypes, inputs)):
            raise Unsupported(f"layer {name!r} ({cls}) on integers the lowering holds as float32 (Keras computes "
                              "the operation in their integer dtype)")
        if op in FLOAT_COMPUTING_OPS:  # Keras 3 casts integers to float32 first (a model input's too)
            inputs = [self._as_float(name, cls, v) if is_integer(v.dtype) else v for v in inputs]
        if is_op_layer(cls) and op in INTEGER_COMPUTING_OPS:  # on the integers Keras gives it (as on a model input)
            inputs = [self._as_integer(name, v, d) if (d in OP_REINTEGER_DTYPES or is_narrow(d)) and v.dtype in (
                DType.FLOAT32, *NARROW_INTS) else v for d, v in zip(keras_dtypes, inputs)]
        if cls not in INTEGER_INPUT_LAYERS and not is_op_layer(cls):  # Keras: float layers on ints in float32
            config = entry.get("config") or {}
            merge = wide_integer_merge(cls, keras_dtypes, inputs)  # masked too (Keras 3's reads: in int32)
            wide = merge or wide_integer_layer(cls, config, self.keras3) or (
                unwrapped_layer(cls, config)[0] in GLOBAL_AVERAGE_1D and len(masks) == 1 and masks[0] is not None
                and keras_dtypes[0] == DType.INT32)  # Keras sums the kept ids in int32, wrapping (.masking), per
            # step too (a TimeDistributed: Keras 3's handed as float32 before S16, other numbers past 2^24)
            if not wide:
                refuse_wide_integers_through_float(name, cls, config, keras_dtypes, self.keras3)
            if merge and len({v.dtype for v in inputs}) > 1:  # mixed dtypes: all int32, promoted as Keras promotes
                inputs = [v if v.dtype == DType.INT32 else self._as_integer(name, v, DType.INT32) for v in inputs]
            elif wide and not merge and unwrapped_layer(cls, config)[0] not in WIDE_INTEGER_MOVING_LAYERS:
                inputs = [self._as_integer(name, v, DType.INT32) if v.dtype == DType.INT64 else v for v in inputs]
            inputs = [v if wide and v.dtype in WIDE_INTEGERS else self._as_float(name, cls, v) for v in inputs]
        ctx = LayerContext(self.graph, name, cls, entry.get("config") or {}, inputs, arrays, self.source,
                           keras3=self.keras3, weight_consts=consts, call_kwargs=call_kwargs)
        ctx.keras_dtypes = keras_dtypes
        ctx.masks, ctx.keyword_masks, ctx.mask_recorded = list(masks), dict(keyword_masks), mask_recorded
        ctx.mask = masks[0] if len(masks) == 1 else None
        with provenance.scope(self.graph, name):
            if ctx.mask is not None and cls == "GlobalAveragePooling1D":
                refuse_masked_integer_mean(name, cls, keras_dtypes[0], self.keras3)
                ctx.outputs = masked_global_average_1d(ctx, ctx.mask)
            else:
                if ctx.mask is not None and unwrapped_layer(cls, ctx.config)[0] in GLOBAL_AVERAGE_1D:  # per step
                    refuse_masked_integer_mean(name, cls, keras_dtypes[0], self.keras3)
                ctx.outputs = lowering.lower(ctx)
        if not is_op_layer(cls):  # op layers bind every recorded argument themselves (.op_layers)
            self._check_kwargs(ctx)
        if narrow is not None:  # computed in int32: back into the 8/16-bit dtype Keras computes in
            ctx.outputs = self._narrowed(name, op, ctx.outputs, narrow)
        result = narrow or ctx.output_keras_dtype or per_step_mean_dtype(cls, ctx, self.keras3) or \
            keras_result_dtype(op if is_op_layer(cls) else cls, ctx.config, keras_dtypes, self.keras3)
        outputs = ctx.outputs if isinstance(ctx.outputs, list) else [ctx.outputs]
        if any(self._keras_dtypes.get(id(v), result) != result for v in outputs):  # an input handed on as it is
            outputs = [self._retyped(name, v, i) if self._keras_dtypes.get(id(v), result) != result else v
                       for i, v in enumerate(outputs)]
            ctx.outputs = outputs if isinstance(ctx.outputs, list) else outputs[0]
        if result is not None:
            for value in outputs:
                self._keras_dtypes[id(value)] = result
        return ctx

    def _narrowed(self, layer: str, op: str, value: Any, dtype: DType) -> Value:
        """An op layer's int32 result on 8/16-bit integers, wrapped into ``dtype`` as TF wraps (for the ops whose
        result may leave its range), and tracked as that dtype (a later op or merge wraps in it again)."""
        if not isinstance(value, Value) or value.dtype != DType.INT32:
            raise Unsupported(f"layer {layer!r} ({op}) on {dtype.numpy} integers gave a {getattr(value, 'dtype', '?')}"
                              " result")
        if op in NARROW_WRAPPED_OPS:
            value = wrapped(self.graph, value, dtype, f"{layer}/wrap")
        return value

    def _in_keras_dtype(self, index: int, value: Value) -> Value:
        """A model output the walk holds as float32 whose Keras dtype is an integer (a MaxPooling of uint8 images):
        cast back, so TF.js returns Keras's dtype (exact for 8/16-bit integers and bools; int32 ones never reach here
        as float32: :func:`refuse_wide_integers_through_float`)."""
        dtype = self._keras_dtypes.get(id(value))
        if not isinstance(dtype, DType) or value.dtype != DType.FLOAT32:
            return value
        return self._as_integer(f"model_output_{index}", value, dtype)

    def _retyped(self, layer: str, value: Value, index: int) -> Value:
        """A new Value of ``value`` for an output whose Keras dtype is not its input's (a same-size CenterCrop of
        integers returns them as they are, in float32): the input keeps its own dtype for its other readers."""
        return self.graph.add_op("Identity", [value], {"T": value.dtype}, name=f"{layer}/as_float_{index}",
                                 dtype=value.dtype, shape=value.shape)

    def _keras_dtype(self, value: Value) -> DType | str | None:
        """The integer dtype Keras gives ``value`` (None: a float): tracked for the Values the walk made float32,
        else the Value's own."""
        if id(value) in self._keras_dtypes:
            return self._keras_dtypes[id(value)]
        return value.dtype if is_integer(value.dtype) else None

    def _check_kwargs(self, ctx: LayerContext) -> None:
        """Refuse the call keywords the lowering did not read. A saved ``training=True``: Keras 3's
        ``model(x, training=False)`` and ``predict()`` override it (the lowering computes that), but a bare
        ``model(x)`` applies it, so a layer it changes is named in a warning; tf_keras's ``model(x, training=False)``
        keeps it, so it is a gap unless the layer computes the same in training (a noise layer of amount 0, a frozen
        BatchNormalization, an RNN or attention without dropout: :func:`.context.differs_in_training`; a Lambda's
        function may read it); a nested model hands it to each of its layers, so it is lowered when none of them
        computes otherwise, else refused naming that layer."""
        given = dict.get(ctx.call_kwargs, "training")  # tf_keras's 0/1 read as False/True (:meth:`_int_training`)
        training = dict.get(self._int_training({"training": given}), "training")
        if self.keras3 and training is True and differs_in_training(ctx.class_name, ctx.config):
            named = f"{ctx.name} ({ctx.class_name})"
            if named not in self._training_calls:
                self._training_calls.append(named)
        nested = not self.keras3 and training is True and isinstance(ctx.config.get("layers"), list)
        if nested and (inner := layer_differing_in_training(ctx.config)) is not None:
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with training={given!r}, which tf_keras "
                              f"hands to its layer {ctx.name + '/' + inner[0]!r} ({inner[1]}), computed otherwise in "
                              "training")
        alike = not self.keras3 and training is True and ctx.class_name != "Lambda" and \
            not differs_in_training(ctx.class_name, ctx.config)  # (a nested model's: checked above)
        off = not self.keras3 and training is False and ctx.class_name != "Lambda"  # 0: inference, as False
        neutral = self.keras3 or alike or nested or off  # a nested model's: handed to its layers, each checked
        check_kwargs_read(ctx, (MASK_KEYWORD, "training") if neutral else (MASK_KEYWORD,))

    def _training_notice(self) -> None:
        """One warning naming the Keras 3 calls saved with ``training=True`` that compute otherwise in training."""
        if not self._training_calls:
            return
        shown = ", ".join(self._training_calls[:8]) + (f" and {len(self._training_calls) - 8} more"
                                                       if len(self._training_calls) > 8 else "")
        text = (f"{len(self._training_calls)} layer call(s) saved with training=True are computed at inference, as "
                "Keras 3's predict() and model(x, training=False) compute them; a bare model(x) applies "
                f"training=True there (dropout, noise, batch statistics), so its numbers differ: {shown}")
        log.warning("%s", text)
        self.graph.notes.append(text)

    def _as_integer(self, layer: str, value: Value, dtype: DType) -> Value:
        """The integers the walk held as float32 (exactly) back in the dtype Keras gives them, for an op layer: int64
        as int32 (TF.js narrows int64 inputs to it too), bools by NotEqual 0 (wasm's Cast to bool is wrong)."""
        if dtype == DType.BOOL:
            zero = self.graph.const(np.zeros((), np.float32), name=f"{layer}/zero")
            return self.graph.add_op("NotEqual", [value, zero], {"T": value.dtype, "incompatible_shape_error": True},
                                     name=f"{layer}/to_bool",
                                     dtype=DType.BOOL, shape=value.shape)
        dtype = DType.INT32
        return self.graph.add_op("Cast", [value], {"SrcT": value.dtype, "DstT": dtype, "Truncate": False},
                                 name=f"{layer}/to_int32", dtype=dtype, shape=value.shape)

    def _integer_autocast(self, layer: str, cls: str, inputs: list[Value], dtype: DType) -> list[Value]:
        """The inputs of a Keras 3 layer of an integer dtype as its ``__call__`` converts them (floats truncated to
        it, :func:`.integer_layer_dtypes.autocast_inputs`), an int64 result tracked as int64."""
        cast = autocast_inputs(self.graph, layer, cls, self.source, inputs, [self._keras_dtype(v) for v in inputs],
                               dtype)
        for value, tracked in cast:
            if tracked is not None:
                self._keras_dtypes[id(value)] = tracked
        return [value for value, _ in cast]

    def _as_float(self, layer: str, cls: str, value: Value) -> Value:
        if value.dtype == DType.FLOAT32:
            return value
        if value.dtype == DType.STRING:  # TF.js's Cast rejects strings: the model would not run
            raise Unsupported(f"layer {layer!r} ({cls}) on a string input (only StringLookup, Hashing and "
                              "TextVectorization take strings)")
        if value.dtype in COMPLEX_DTYPES:  # held as (real, imag) parts: a Cast of the Complex node would drop them
            raise Unsupported(f"layer {layer!r} ({cls}) on a complex64 tensor (held as (real, imag) parts: only op "
                              "layers such as tf.abs and tf.math.real read it)")
        return self.graph.add_op("Cast", [value], {"SrcT": value.dtype, "DstT": DType.FLOAT32, "Truncate": False},
                                 name=f"{layer}/to_float", dtype=DType.FLOAT32, shape=value.shape)

    def _placeholder(self, name: str, shape: Any, dtype: Any = None) -> Value:
        if not isinstance(shape, list) or not shape or any(d is not None and (not isinstance(d, int) or d < 0)
                                                           for d in shape):
            raise Unsupported(f"input {name!r} has no readable shape ({shape!r})")
        dtype = dtype_name(dtype)
        ir_dtype = DType.FLOAT32 if dtype in FLOAT_DTYPES else DType.from_any(dtype)
        return self.graph.placeholder(name, ir_dtype, (None, *shape[1:]))


def _shared_through_wrapped_model(model_config: dict[str, Any]) -> str | None:
    """A layer inside a model a TimeDistributed wraps that the saved config lists again (its ``shared_object_id``;
    the first listing may have none, so a listed-again layer of its name and class elsewhere counts too), as a gap:
    a ``.keras`` archive saves its weights once, under a listing :func:`.model_plan.shared_paths` does not follow
    through the wrapper. Walked iteratively (nesting is bounded by :func:`_check_nesting`)."""
    inside: list[tuple[str, dict[str, Any]]] = []  # (the outermost wrapper's path, a layer entry in its model)
    shared_outside: set[tuple[str, Any]] = set()
    stack: list[tuple[dict[str, Any], str | None, tuple[str, ...]]] = [
        (entry, None, (entry_name(entry),)) for entry in top_level_layers(model_config)]
    while stack:
        entry, wrapper, here = stack.pop()
        if wrapper is not None:
            inside.append((wrapper, entry))
        elif entry.get("shared_object_id") is not None:
            shared_outside.add((entry_name(entry), entry.get("class_name")))
        wrapped = wrapped_model(entry)
        if wrapped is not None:
            stack.append((wrapped, wrapper or "/".join(here), here))
        elif is_model(entry) or entry.get("class_name") in LAYER_LISTS:
            stack += [(child, wrapper, (*here, entry_name(child))) for child in top_level_layers(entry)]
    for wrapper, entry in inside:
        if entry.get("shared_object_id") is not None or \
                (entry_name(entry), entry.get("class_name")) in shared_outside:
            return (f"{wrapper!r} (TimeDistributed: its {entry_name(entry)!r} ({entry.get('class_name')}) is used in "
                    "other places too, and a .keras archive saves its weights once, where the lowering does not "
                    "follow it through the wrapper)")
    return None


def _node_refs(node: Any, layer: str, keywords: tuple[str, ...] = ()) -> list[Ref]:
    """The input tensors of one call, in order; tensors passed as keyword arguments (masks) are covered only
    where the layer's lowering declares them (``keywords``, read by :func:`_call_kwargs`)."""
    if isinstance(node, list):
        return [(item[0], int(item[1]), int(item[2])) for item in keras2_items(node)]
    refs: list[Ref] = []
    _tensors(node.get("args"), refs)
    extra: list[Ref] = []
    _tensors({k: v for k, v in (node.get("kwargs") or {}).items() if k not in keywords and k != MASK_KEYWORD},
             extra)  # the mask is tracked by the walk (.masking)
    if extra:
        raise Unsupported(f"layer {layer!r} is called with tensors as keyword arguments")
    return refs


def _call_kwargs(node: Any, keywords: tuple[str, ...], layer: str = "") -> dict[str, Any]:
    """A call's keyword arguments: plain values as saved, the ``keywords`` tensors as Refs (tuples)."""
    if isinstance(node, list):  # Keras 2: every inbound item repeats the call's kwargs
        saved = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
        return {k: _keras2_ref(v) if k in keywords else v for k, v in saved.items()}
    out: dict[str, Any] = {}
    for key, value in (node.get("kwargs") or {}).items():
        found: list[Ref] = []
        _tensors(value, found)
        if key == STATE_KEYWORD and key in keywords and found:
            if not _only_tensors(value):  # a constant beside the tensors would be lost
                raise Unsupported(f"layer {layer!r} is called with initial_state mixing tensors and constants")
            out[key] = found  # every state, in Keras's flat order
        elif key in keywords and found:
            if len(found) != 1:
                raise Unsupported(f"keyword argument {key!r} holds {len(found)} tensors")
            out[key] = found[0]
        elif not found:
            out[key] = value
    return out


def _only_tensors(value: Any) -> bool:
    """A Keras 3 keyword value that is tensors only (one, or nested lists of them; iterative, depth is untrusted)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack += item
        elif not (isinstance(item, dict) and item.get("class_name") == "__keras_tensor__"):
            return False
    return True


def _keras2_ref(value: Any) -> Any:
    """``[layer, node, tensor]`` (Keras 2's tensor in kwargs) as a Ref; other values as they are."""
    if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str) and \
            all(isinstance(v, int) for v in value[1:3]):
        return (value[0], int(value[1]), int(value[2]))
    return value


def _tensors(value: Any, refs: list[Ref]) -> None:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            refs.append((history[0], int(history[1]), int(history[2])))
            return
        for item in value.values():
            _tensors(item, refs)
    elif isinstance(value, list):
        for item in value:
            _tensors(item, refs)
