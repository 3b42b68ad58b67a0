"""The gaps of a model config: every layer call the lowering cannot lower exactly, named before any lowering runs.

:func:`layer_gaps` walks the plan as :class:`.model_walk.ModelLowering` does (the same call facts from
:mod:`.call_facts`), without building a graph, so a refusal names every gap at once.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError

from ..configs import LAYER_LISTS, MODEL_CLASSES, dtype_name, entry_name, is_model, plain, top_level_layers
from ..op_calls import is_op_layer
from .call_facts import (
    KERAS3_GIVEN_MASK_DTYPES,
    TF_KERAS_NESTED_MASK_DTYPES,
    ROT90S,
    given_beside_tracked,
    given_mask,
    given_per_input,
    given_replaces_tracked,
    may_return_its_input,
    nested_given_dtypes,
    nested_input_casts,
    returns_input_itself,
    runs_layers,
    takes_states,
)
from .float_widths import lowered_in_float32
from .integer_dtypes import FLOAT_DTYPES, INPUT_DTYPES, INTEGER_OUTPUT_LAYERS
from .integer_layer_dtypes import integer_layer_dtype
from .keras_names import is_keras_layer_class, unknown_activations
from .mask_origins import MaskOrigin, is_recorded_mask
from .masking import (
    EXPLICIT_MASK_LAYERS,
    GIVEN_MASK_READERS,
    drops_mask,
    explicit_masks,
    makes_mask,
    mask_gap,
    masked_outputs,
    output_origin,
    passes_mask,
    returns_its_input,
    time_distributed_makes_mask,
)
from .model_plan import (
    MASK_KEYWORD,
    MAX_NESTING,
    LayerCall,
    MaskDeletions,
    ModelPlan,
    Ref,
    attended_inputs,
    call_inputs,
    mask_chain,
    model_plan,
    nested_deleted_inputs,
    nested_input_aliases,
)
from .pipeline import first_layer_reads_given_mask
from .registry import Unsupported, loaded_lowerings
from .weights import _weight_owners, wrapped_model, wrapper_depth
from .wrappers import mask_reaches_model, masked_model_gap


def layer_gaps(model_config: dict[str, Any], source: str | None = None, *, keras3: bool | None = None) -> list[str]:
    """Every layer (as ``'name' (Class: why)``) the lowering does not cover; empty when it covers the model.

    Nested models are looked into (their layers named ``outer/inner``); a mask that reaches a layer
    which does not take masks is a gap (``mask into X``). Models nested too deeply, and layer classes or
    activation functions Keras does not have, are an InputError (no path could load them).
    """
    cls = model_config.get("class_name")
    if cls not in MODEL_CLASSES:
        return [f"a {cls} model"]
    try:
        return LayerGaps(loaded_lowerings(), keras3).of(plain(model_config), source)
    except Unsupported as err:  # a call the plan cannot pair as Keras does (.model_plan.in_input_order)
        return [str(err)]


class LayerGaps:
    """The gaps of a model and of the models nested in it, with the masks each model's outputs carry."""

    def __init__(self, lowerings: dict[str, Any], keras3: bool | None = None) -> None:
        self.lowerings = lowerings
        #: The Keras flavour that saved the model (merge masks differ); None: unknown, masks counted for either.
        self.keras3 = keras3
        self.gaps: list[str] = []
        #: Names Keras itself does not have: no path can load them, so they are refused, not left to TensorFlow.
        self.unknown: list[str] = []
        self._masked_outputs: dict[tuple[int, tuple[bool, ...]], list[bool]] = {}
        #: The calls (``(path, key)``) given a computed ``mask=`` that replaces the mask their input carries
        #: (:func:`.call_facts.given_replaces_tracked`): the walk lowers the given one (``ModelLowering``).
        self.overrides: set[tuple[str, int]] = set()
        #: Nested model calls (``(path, key)``) given masks that replace their inputs' own: per input the given
        #: mask the walk lowers, or None for the input's own (:func:`given_over_tracked`).
        self.nested_given: dict[tuple[str, int], list[Ref | None]] = {}

    def of(self, model: dict[str, Any], source: str | None) -> list[str]:
        self.source = source or "the model config"
        if self.keras3 is None:
            self.keras3 = _saved_by_keras3(model)
        _check_nesting(model, source or "the model")
        self._model(model, "")
        if self.unknown:
            raise InputError(f"{source + ': ' if source else ''}{'; '.join(dict.fromkeys(self.unknown))}",
                             hint="the file is corrupt or was edited by hand; save the model again with Keras")
        return list(dict.fromkeys(self.gaps))

    def _model(self, model: dict[str, Any], prefix: str, in_masked: tuple[bool, ...] = (),
               aliases: dict[Ref, Ref] | None = None) -> list[bool]:
        """Gaps of ``model`` (layers named with ``prefix``) whose inputs carry masks where ``in_masked`` says (and
        are one tensor object where ``aliases`` says, :func:`.model_plan.nested_input_aliases`); returns which of its
        outputs carry a mask."""
        key = (id(model), in_masked, tuple(sorted((aliases or {}).items())))
        if key in self._masked_outputs:
            return self._masked_outputs[key]
        plan = model_plan(model, source=self.source)
        for _, config in plan.inputs:
            dtype = dtype_name(config.get("dtype"))
            if dtype not in INPUT_DTYPES or config.get("sparse") or config.get("ragged"):
                self.gaps.append(f"{prefix}{config.get('name')!r} (InputLayer: a {dtype} input)")
        masked: dict[Ref, MaskOrigin | None] = {}  # the mask each tensor carries, by where it was made
        if any(in_masked):  # masks from the calling model (never one that a call inside recorded)
            refs_in = [("", 0, 0)] if plan.sequential else [ref for ref, _ in plan.inputs]
            masked.update({ref: ("outer", prefix) for ref, flag in zip(refs_in, in_masked) if flag})
        deletions = MaskDeletions(plan, aliases) if self.keras3 and not plan.sequential else None
        for call in plan.calls:
            name, cls, config = f"{prefix}{call.name}", call.class_name, call.entry.get("config") or {}
            refs = [("", 0, 0)] if plan.sequential else call_inputs(call.node)
            if takes_states(self.lowerings, cls):
                refs = refs[:1]  # an RNN reads the sequence's mask; its initial states' are not used
            origins = [masked[r] for r in refs if masked.get(r) is not None]
            # a nested model or Pipeline reading an unseen mask runs on its input unmasked (walked so below), and
            # its outputs' masks are the run-time ones: Keras 3 records none for them, so later calls read those
            unseen = deletions.unseen(call, [r for r in refs if masked.get(r) is not None]) if deletions else set()
            if deletions and is_model(call.entry) and call.recorded_masks and \
                    not deletions.sets_again_in_order(call) and (  # followed by MaskDeletions.unseen otherwise
                    again := [r for r in refs if masked.get(r) is not None and deletions.deleted_before(call, r)
                              and _mask_read_later(plan, deletions, call, r, bool(prefix))]):
                self.gaps.append(f"{name!r} ({cls}: Keras sets its recorded mask on {again[0][0]!r} again, after "
                                 "Keras 3's MultiHeadAttention deleted it, for the readers that run later)")
            if is_model(call.entry) and self.keras3 is not False:
                self._nested_deletions(plan, prefix, call, refs, masked, deletions)
            # a call without a recorded mask reads the run-time mask of a tensor whose mask a deletion changed
            diverged = deletions.diverged(call, refs) if deletions else set()
            if diverged and (runs_layers(call.entry) or any(deletions.run_masks.get(r) is None for r in diverged)):
                self.gaps.append(f"{name!r} ({cls}: reads the mask of {sorted(diverged)[0][0]!r}, which is another one "
                                 "at run time: Keras 3's MultiHeadAttention deleted one it was made of)")
            if origins and self.keras3 is not True and _given_no_mask(call):
                self.gaps.append(f"{name!r} ({cls}: mask=None given explicitly, which drops the mask its input "
                                 "carries in tf_keras)")
            if runs_layers(call.entry) and _masks_differ_on_one_tensor(refs, explicit_mask_list(call.node)) and (
                    origins or not is_model(call.entry) or self.keras3 is None):  # else read as set in turn
                self.gaps.append(f"{name!r} ({cls}: one tensor given as several inputs with a mask list; Keras sets "
                                 "the masks on that tensor in turn)")
            if runs_layers(call.entry):
                given_use: bool | str = True  # a nested model reads mask=m on its inputs
                if cls in LAYER_LISTS:  # a Pipeline: its own check; its layers are walked as a Sequential model's
                    self._layer(name, cls, config)
                    if call.recorded_masks and not origins:  # Keras hands mask=m to the first inner layer only
                        given_use = first_layer_reads_given_mask(config)
                        if given_use is not True and given_use is not False:
                            self.gaps.append(f"{name!r} ({cls}: {given_use})")
                given_in = given_per_input(plan, call, len(refs), self.keras3) if call.recorded_masks and \
                    not origins and given_use is True else None  # inner(x, mask=m): Keras sets m on its inputs
                beside = given_beside_tracked(plan, call, len(refs), [masked.get(r) is not None for r in refs],
                                              self.keras3) \
                    if origins and is_model(call.entry) else None  # inner([x, y], mask=[m, None]), y masked
                if beside is not None:  # Keras 3 keeps y's mask for None; tf_keras sets None on y (the caller's)
                    gone = self._none_entries_deleted(name, call, refs, beside, masked, deletions, beside)
                    self._mask_chain_gaps(plan, prefix, [g for g in beside if g is not None], masked)
                    given_in = [g if g is not None or not self.keras3 else (r if masked.get(r) and r not in gone
                                                                            else None) for g, r in zip(beside, refs)]
                    self._shared_given_inputs(plan, name, call, [r for r, g in zip(refs, beside) if g is not None or (
                        not self.keras3 and masked.get(r) is not None)])
                elif given_in is not None:
                    self._shared_given_inputs(plan, name, call, [r for r, g in zip(refs, given_in) if g is not None])
                    self._mask_chain_gaps(plan, prefix, [g for g in given_in if g is not None], masked)
                elif given_use is True and call.recorded_masks and not (
                        len(call.recorded_masks) == len(origins) and all(
                            is_recorded_mask(plan, [r], o) for r, o in zip(call.recorded_masks, origins))):
                    replaced = given_over_tracked(plan, call, [masked.get(r) for r in refs], self.keras3) \
                        if self.keras3 is not None and origins and is_model(call.entry) else None
                    if replaced is None:
                        self.gaps.append(f"{name!r} ({cls}: a mask the lowering does not track)")
                    else:  # Keras sets each given mask on its input, in place of the input's own
                        gone = self._none_entries_deleted(name, call, refs, replaced, masked, deletions,
                                                          explicit_mask_list(call.node))
                        given_in = self._given_over_tracked(plan, prefix, call, refs, replaced, masked, deletions)
                        given_in = [None if r in gone else g for g, r in zip(given_in, refs)]
                in_flags = tuple(given_in[i] is not None if given_in is not None else
                                 masked.get(r) is not None and r not in unseen for i, r in enumerate(refs))
                in_flags = self._nested_cast_flags(plan, name, call, refs, in_flags)
                aliases = nested_input_aliases(call, deletions) if self.keras3 is True else None
                outputs: list[MaskOrigin | None] = [("nested", name) if flag else None
                                                    for flag in self._model(call.entry, f"{name}/", in_flags, aliases)]
            else:
                self._layer(name, cls, config)
                wrapped = wrapped_model(call.entry)  # TimeDistributed(Sequential / Functional)
                wrapped_flags = self._time_distributed_model(name, wrapped, bool(origins), config, call.entry,
                                                             _saved_integer_dtype(plan, call)) if wrapped else None
                in_origins = [masked.get(r) for r in refs]
                explicit = self._explicit_masks(plan, prefix, name, cls, call, masked, not origins) \
                    if cls in EXPLICIT_MASK_LAYERS else None
                if explicit is not None:  # mask=[...] replaces the inputs' masks
                    in_origins = [None if r is None else ("input", r) for r in explicit[:len(refs)]]
                    in_origins += [None] * (len(refs) - len(in_origins))
                given = given_mask(plan, call, not origins, self.keras3) if cls in GIVEN_MASK_READERS and \
                    len(refs) == 1 else None
                if given is None and cls in GIVEN_MASK_READERS and len(refs) == 1 and \
                        given_replaces_tracked(plan, call, origins, self.keras3):
                    given = given_mask(plan, call, True, self.keras3)  # a computed mask= in place of the tracked one
                    if given is not None:
                        self.overrides.add((name, call.key))
                if given is not None:  # mask=m (a bool model input, or computed) replaces the input's mask
                    self._mask_chain_gaps(plan, prefix, [given], masked)
                    in_origins = [("input", given)]
                its_input = returns_input_itself(plan, call, self.keras3)  # tf_keras's tf.cast(x, x.dtype)
                flags = masked_outputs(cls, config, [o is not None for o in in_origins], self.keras3,
                                       its_input=its_input)
                if wrapped_flags is not None:
                    flags = wrapped_flags
                if cls == "Softmax" and given is None and origins:  # a propagated [batch, steps] mask does not
                    # broadcast to Softmax's input (Keras fails); only a mask= the call was given is lowered
                    flags = None
                if flags is None:
                    self.gaps.append(mask_gap(name, cls, config))
                    flags = set()
                if origins and is_op_layer(cls) and may_return_its_input(plan, call) and not its_input and \
                        not returns_its_input(cls, config):  # surely its input: the mask rides on (masked_outputs)
                    self.gaps.append(f"{name!r} ({cls}: TensorFlow returns the masked input tensor itself"
                                     f"{_its_input_why(call)})")
                elif explicit is None and given is None and call.recorded_masks and not (
                        len(origins) == 1 and is_recorded_mask(plan, call.recorded_masks, origins[0])):
                    self.gaps.append(f"{name!r} ({cls}: a mask the lowering does not track)")
                if origins and cls == "MultiHeadAttention" and self.keras3 is not False:
                    self._cleared_masks(plan, name, call, [r for r in refs if r not in unseen], masked, deletions)
                if cls in SCORES_MASKED and self.keras3 is not False and not plan.sequential:
                    taker = masked_scores_taker(plan, call, bool(origins), bool(prefix))
                    if taker is not None:
                        self.gaps.append(f"{name!r} ({cls}: Keras 3 gives the attention scores it "
                                         "returns its attention mask as their mask, which the lowering does not "
                                         f"track, and {taker} takes them)")
                origin = output_origin(cls, config, refs, in_origins, plan.sequential) if flags else None
                outputs = [origin if i in flags else None for i in range(max(flags, default=0) + 1)]
                if (unseen or diverged) and deletions is not None:
                    self._unseen_outputs(plan, prefix, call, refs, in_origins, unseen, origin, flags, deletions,
                                         diverged)
            if plan.sequential:
                masked[("", 0, 0)] = outputs[0] if outputs else None
            else:
                for tensor, origin in enumerate(outputs):
                    masked[(call.name, call.key, tensor)] = origin
        result = [masked.get(r) is not None for r in ([("", 0, 0)] if plan.sequential else plan.caller_outputs)]
        if deletions is not None:  # Keras 3 hands the caller each output with the mask its run left on it
            result = self._masks_after_run(plan, prefix, deletions, masked)
        self._masked_outputs[key] = result
        return result

    def _nested_cast_flags(self, plan: ModelPlan, name: str, call: LayerCall, refs: list[Ref],
                           in_flags: tuple[bool, ...]) -> tuple[bool, ...]:
        """The masks a tf_keras nested model's layers read: none for a masked tensor tf_keras casts to its Input's
        other dtype (a new tensor, :func:`nested_input_casts`, from the dtype Keras's rules give the tensor)."""
        casts = nested_input_casts(plan, call, self.keras3)
        return tuple(flag and (i >= len(casts) or casts[i] is not True) for i, flag in enumerate(in_flags))

    def _none_entries_deleted(self, name: str, call: LayerCall, refs: list[Ref], given: list[Ref | None],
                              masked: dict[Ref, MaskOrigin | None], deletions: MaskDeletions | None,
                              listed: list[Ref | None] | None) -> set[Ref]:
        """A None entry of a Keras 3 mask list leaves its input's run-time mask alone (``Functional.call``), which a
        MultiHeadAttention (or a nested model holding one) that ran first may have deleted, or which a deletion made
        none or another one (:attr:`MaskDeletions.cleared`, :attr:`MaskDeletions.divergent`), where the walk kept
        the tracked mask (review R6 session 28: 0.95 of the output range off, silently). Returns the inputs whose
        entry of the list as saved (``listed``; an entry Keras recorded is set again) is None and whose run-time mask
        is then surely None (:meth:`.model_plan.MaskDeletions.none_at_run`, session 29: walked unmasked, as Keras
        runs them); the others stay a gap."""
        if deletions is None:
            return set()
        reached = [r for r, g in zip(refs, given) if g is None and masked.get(r) is not None and (
            deletions.deleted_before(call, r) or r in deletions.cleared or r in deletions.divergent)]
        gone = none_entries_unmasked(call, refs, listed, deletions) & set(reached)
        reached = [r for r in reached if r not in gone]
        if reached:
            self.gaps.append(f"{name!r} ({call.class_name}: given a mask list whose None entry leaves "
                             f"{reached[0][0]!r} its run-time mask, which Keras 3's MultiHeadAttention deleted or changed first)")
        return gone

    def _given_over_tracked(self, plan: ModelPlan, prefix: str, call: LayerCall, refs: list[Ref],
                            replaced: list[Ref | None], masked: dict[Ref, MaskOrigin | None],
                            deletions: MaskDeletions | None) -> list[Ref | None]:
        """A nested model call given masks in place of its inputs' own (:func:`given_over_tracked`): noted for the
        walk, the layers computing them checked; Keras sets each on the caller's tensor object itself (Keras 3's
        ``Functional.call``, tf_keras's ``_run_internal_graph``), so another reader of that object (in Keras 3 through
        layers that return it too) or an output of this model that is that object would read it or not by Keras's
        run order: gaps. Returns the mask each input carries (the given ref, or its own tracked one)."""
        name = f"{prefix}{call.name}"
        self.nested_given[(name, call.key)] = replaced
        given = [g for g in replaced if g is not None]
        self._mask_chain_gaps(plan, prefix, given, masked)
        set_on = [r for r, g in zip(refs, replaced) if g is not None]
        if deletions is None:
            self._shared_given_inputs(plan, name, call, set_on)
        else:
            roots = {deletions.same_tensor(r) for r in set_on}
            readers = [c for c in plan.calls if c is not call and any(  # (a Dropout hands the object on)
                deletions.same_tensor(r) in roots for r in call_inputs(c.node)) and
                deletions.same_tensor((c.name, c.key, 0)) not in roots]
            outputs = [r for r in plan.caller_outputs if prefix and deletions.same_tensor(r) in roots]
            if readers or outputs:
                other = repr(readers[0].name) if readers else f"the caller, as the output {outputs[0][0]!r},"
                self.gaps.append(f"{name!r} ({call.class_name}: Keras 3 sets the mask it is given on the tensor "
                                 f"object itself, which {other} reads too)")
        return [g if g is not None else (r if masked.get(r) is not None else None) for g, r in zip(replaced, refs)]

    def _time_distributed_model(self, name: str, wrapped: dict[str, Any], masked: bool,
                                config: dict[str, Any] | None = None, entry: dict[str, Any] | None = None,
                                integer_dtype: DType | None = None) -> set[int]:
        """The gaps of TimeDistributed(model), and which of its outputs carry a mask: the wrapped model's layers
        (named ``wrapper/layer``, walked unmasked: no mask reaches them as lowered), and the masks the lowering does
        not follow. A mask into it: Keras 3 hands each step's mask to the model's call and the input's mask on (its
        default ``compute_mask``), tf_keras hands the folded mask to the model and reshapes the mask the model gives
        back: lowered when no layer inside reads it (Keras 3: none reads it in its call; tf_keras: each hands it on,
        so the output's mask is the input's); where one inside reads it, the model is walked with the mask
        where it reaches them (:func:`.wrappers.mask_reaches_model`, session 28; unmasked where tf_keras's cast drops it), its readers' gaps named there.
        Without one, tf_keras's output carries the mask the model's output carries (its ``compute_mask`` asks the model): a gap when one does (an ``Embedding(mask_zero=True)``
        whose mask a pooling or RNN inside reads and drops leaves none: lowered, as Keras 3's, which keeps no mask)."""
        inner_cls = wrapped.get("class_name")
        reader = wrapped_mask_reader(wrapped, self.keras3) if masked else None
        why = masked_model_gap(self.keras3) if reader else None
        reaches = reader is not None and why is None and \
            mask_reaches_model(config or {}, wrapped_input_dtype(wrapped), self.keras3, integer_dtype)
        if entry is not None and wrapper_depth(entry)[0] > 1:  # TimeDistributed(TimeDistributed(model)): float32
            if gap := _wrappers_gap(name, entry):  # a mask tf_keras's cast drops: walked unmasked (s32)
                self.gaps.append(gap)
            if any(self._model(wrapped, f"{name}/", (True,) if reaches else ())) and self.keras3 is not True and \
                    not reaches:
                self.gaps.append(f"{name!r} (TimeDistributed(TimeDistributed({inner_cls})): tf_keras gives its output "
                                 "the mask the wrapped model's output carries)")
            return {0} if masked else set()
        carried = self._model(wrapped, f"{name}/", (True,) if reaches else ())
        leaves = [leaf for leaf in _weight_owners(wrapped) if leaf.get("class_name") != "InputLayer"]
        if masked:
            if why is not None:
                flavour = {True: "Keras 3 hands each step's mask", False: "tf_keras hands the mask"}.get(
                    self.keras3, "Keras hands the mask")
                self.gaps.append(f"{name!r} (mask into TimeDistributed({inner_cls}): {flavour} to the wrapped model, "
                                 f"whose {entry_name(reader)!r} ({reader.get('class_name')}) does not just hand it "
                                 f"on: {why})")
            return {0}
        if self.keras3 is not True and any(carried):
            maker = next((leaf for leaf in leaves if makes_mask(str(leaf.get("class_name")), leaf.get("config") or {})
                          or time_distributed_makes_mask(leaf.get("config") or {}, False)), None)
            made = f"wrapped model's {entry_name(maker)!r} ({maker.get('class_name')}) makes" if maker is not None \
                else "wrapped model's output carries"
            self.gaps.append(f"{name!r} (TimeDistributed({inner_cls}): tf_keras gives its output the mask the {made})")
        return set()

    def _explicit_masks(self, plan: ModelPlan, prefix: str, name: str, cls: str, call: LayerCall,
                        masked: dict[Ref, MaskOrigin | None], unmasked: bool) -> list[Ref | None] | None:
        """An Attention call's ``mask=[...]``: each entry None, a bool model input (Keras 3: also a float or integer
        one, which its call casts to bool: :data:`.call_facts.KERAS3_GIVEN_MASK_DTYPES`), or a tensor layers computed
        (``ops.not_equal(ids, 0)``; bool when lowered, or in Keras 3 cast as its call casts it), also beside masks the
        inputs carry (``unmasked`` False): both flavours use a passed ``mask`` in place of the inputs' (tf_keras's
        ``_get_input_masks``; Keras 3 fills it in only when none was passed, and records none it filled in for
        Attention); else a gap."""
        try:
            refs = explicit_masks(call.node)
        except ValueError as err:
            self.gaps.append(f"{name!r} ({cls}: {err})")
            return None
        inputs = {ref: config for ref, config in plan.inputs}
        readable = KERAS3_GIVEN_MASK_DTYPES if self.keras3 is True else ("bool",)
        for ref in refs or []:
            if ref is None or ref in inputs and dtype_name(inputs[ref].get("dtype")) in readable:
                continue
            if ref not in inputs and not plan.sequential and (ref[0], ref[1]) in plan.producers:
                self._mask_chain_gaps(plan, prefix, [ref], masked)
            else:
                self.gaps.append(f"{name!r} ({cls}: a mask argument that is no bool model input"
                                 f"{', beside a mask its inputs carry' if not unmasked else ''})")
        return refs

    def _mask_chain_gaps(self, plan: ModelPlan, prefix: str, given: list[Ref],
                         masked: dict[Ref, MaskOrigin | None] | None = None) -> None:
        """The gaps of the layers outside the plan that compute masks a call was given (``ops.not_equal(ids, 0)``)."""
        planned = {(c.name, c.key) for c in plan.calls}
        for ref in given:
            for call in mask_chain(plan, ref, planned):
                if is_model(call.entry):  # a nested model computing the mask, walked with its inputs' masks
                    self._model(call.entry, f"{prefix}{call.name}/",
                                tuple((masked or {}).get(r) is not None for r in call_inputs(call.node)))
                else:
                    self._layer(f"{prefix}{call.name}", call.class_name, call.entry.get("config") or {})

    def _shared_given_inputs(self, plan: ModelPlan, name: str, call: LayerCall, refs: list[Ref]) -> None:
        """Keras sets a mask given to a nested model on the caller's own input tensors (``set_keras_mask(x, m)``,
        tf_keras ``x._keras_mask = m``): another reader of such a tensor would see it or not depending on Keras's
        run order, so that is a gap."""
        for ref in dict.fromkeys(refs):
            readers = [c for c in plan.calls if c is not call and ref in call_inputs(c.node)]
            if readers:
                self.gaps.append(f"{name!r} ({call.class_name}: Keras sets the mask it is given on {ref[0]!r}, "
                                 f"which {readers[0].name!r} reads too)")

    def _cleared_masks(self, plan: ModelPlan, name: str, call: LayerCall, refs: list[Ref],
                       masked: dict[Ref, MaskOrigin | None], deletions: MaskDeletions | None) -> None:
        """Keras 3's MultiHeadAttention deletes its inputs' masks (``set_keras_mask(x, None)``) when it runs
        (:class:`.model_plan.MaskDeletions`): the calls Keras runs after it see none. A reader the run order cannot
        place is a gap. A nested model's output loses it for the caller too (:meth:`_masks_after_run`), and one of its
        input (the caller's tensor itself) is followed in the caller (:meth:`_nested_deletions`)."""
        attended = set(attended_inputs(call.node)) if deletions is not None else set()
        for ref in [r for r in dict.fromkeys(refs) if masked.get(r) is not None]:
            if deletions is None:  # the flavour is unknown: any other reader is a gap
                readers = [c for c in plan.calls if c is not call and not c.recorded_masks and ref in
                           ([("", 0, 0)] if plan.sequential else call_inputs(c.node))]
            elif ref not in attended:  # attention_mask: its own mask is not deleted
                continue
            else:
                readers = deletions.unordered_readers(call, ref)
            if readers:
                self.gaps.append(f"{name!r} (MultiHeadAttention: Keras 3 deletes the mask of {ref[0]!r}, "
                                 f"which {readers[0].name!r} reads too)")

    def _nested_deletions(self, plan: ModelPlan, prefix: str, call: LayerCall, refs: list[Ref],
                          masked: dict[Ref, MaskOrigin | None], deletions: MaskDeletions | None) -> None:
        """A MultiHeadAttention inside a nested model deletes the mask of the caller's tensor itself where Keras 3
        passes that object in (:func:`.model_plan.nested_deleted_inputs`): :class:`.model_plan.MaskDeletions` follows
        it for the caller's later readers as a deletion at the nested call (and for the caller's own caller, where the
        tensor is an output: :meth:`_masks_after_run`). A gap where it cannot: the nested model's or the caller's run
        order is not known, the tensor is several of the nested model's inputs, or a reader is not placed. A Keras 3
        Sequential caller hands each layer the one before's output only: no later layer reads the tensor itself
        (one the nested model returns carries what its run left, :meth:`_masks_after_run`)."""
        deleted = nested_deleted_inputs(call)
        if deleted == set() or plan.sequential and self.keras3 is True:
            return
        name, cls = f"{prefix}{call.name}", call.class_name
        roots = [deletions.same_tensor(r) for r in refs] if deletions is not None else []
        aliases = nested_input_aliases(call, deletions)  # one tensor given twice: followed inside as one
        for i, ref in enumerate(refs):
            if masked.get(ref) is None or deleted is not None and i not in deleted:
                continue
            readers = [] if deleted is None or deletions is None else deletions.unordered_readers(call, ref)
            why = ("which the run order does not place" if deleted is None or deletions is None else
                   "which it is given as another input too" if roots.count(roots[i]) > 1 and aliases is None else
                   f"which {readers[0].name!r} reads too" if readers else None)
            if why:
                self.gaps.append(f"{name!r} ({cls}: a MultiHeadAttention inside deletes the mask of {ref[0]!r} at run "
                                 f"time in Keras 3, {why})")

    def _masks_after_run(self, plan: ModelPlan, prefix: str, deletions: MaskDeletions,
                         masked: dict[Ref, MaskOrigin | None]) -> list[bool]:
        """Which outputs of a Keras 3 Functional model carry a mask for its caller: the one its run left on each
        output tensor (:meth:`.model_plan.MaskDeletions.mask_after_run`; Keras 3 records none for a nested model's
        outputs, so the caller's readers read that one). A gap in a nested model where the run order does not place
        a deletion, or the run-time mask is made of deleted ones (no origin); the outer model's are not read."""
        result = []
        for ref in plan.caller_outputs:
            after = deletions.mask_after_run(ref)
            if prefix and (after is None or after == "divergent" and deletions.run_masks.get(ref) is None):
                self.gaps.append(f"{prefix + ref[0]!r} (the mask its tensor carries when Keras 3 hands it to the "
                                 "calling model is not known: a MultiHeadAttention deletes masks in an order the "
                                 "lowering does not place)")
            result.append(masked.get(ref) is not None if after == "tracked" else after == "divergent")
        return result

    def _unseen_outputs(self, plan: ModelPlan, prefix: str, call: LayerCall, refs: list[Ref],
                        in_origins: list[MaskOrigin | None], unseen: set[Ref], origin: MaskOrigin | None,
                        flags: set[int], deletions: MaskDeletions, diverged: set[Ref] = frozenset()) -> None:
        """A call that runs after a MultiHeadAttention deleted masks it reads (``unseen``), or reads a run-time
        mask that is another one than tracked (``diverged``): it is lowered with Keras's run-time masks (none for the
        deleted ones), and each output whose run-time mask is then None where the walk tracks one is cleared (later
        calls with a recorded mask read the tracked one, the others none), or another one than tracked: divergent,
        its run-time origin kept for the calls without a recorded mask that read it."""
        name, cls, config = f"{prefix}{call.name}", call.class_name, call.entry.get("config") or {}
        seen = [None if r in unseen else deletions.run_masks[r] if r in diverged else o
                for r, o in zip(refs, in_origins)]
        run_flags = masked_outputs(cls, config, [o is not None for o in seen], self.keras3)
        run_origin = output_origin(cls, config, refs, seen, plan.sequential) if run_flags else None
        if run_flags is None or not run_flags <= flags:
            self.gaps.append(f"{name!r} ({cls}: reads the masks of {sorted({r[0] for r in unseen})} after Keras 3's "
                             "MultiHeadAttention deleted them, which changes its output's mask)")
            return
        deletions.cleared.update((call.name, call.key, i) for i in flags - run_flags)
        if run_flags and run_origin != origin:  # calls with a recorded mask read the tracked one, others this one
            deletions.divergent.update((call.name, call.key, i) for i in run_flags)
            deletions.run_masks.update(((call.name, call.key, i), run_origin) for i in run_flags)

    def _layer(self, name: str, cls: str, config: dict[str, Any]) -> None:
        if not is_keras_layer_class(cls, self.lowerings):
            self.unknown.append(f"layer {name!r} has class {cls!r}, which Keras does not have")
        self.unknown += [f"layer {name!r} ({cls}) has {what}, which is no Keras activation function"
                         for what in unknown_activations(config)]
        if cls not in self.lowerings:
            self.gaps.append(f"{name!r} ({cls})")
        elif dtype_name(config.get("dtype")) not in FLOAT_DTYPES[:2] and not lowered_in_float32(cls, config) and not (
                cls in INTEGER_OUTPUT_LAYERS and dtype_name(config.get("dtype")) in ("int32", "int64")
                or integer_layer_dtype(cls, config, self.keras3) is not None  # Keras 3's (.integer_layer_dtypes)
                or cls == "TextVectorization" and dtype_name(config.get("dtype")) == "string"):  # tf_keras's
            self.gaps.append(f"{name!r} ({cls}: dtype {dtype_name(config.get('dtype'))})")
        elif config.get("lora_rank") and (why := _lora_gap(cls, config, self.source, self.keras3)):
            self.gaps.append(f"{name!r} ({cls}: {why})")
        else:
            check = self.lowerings[cls].check
            why = check(config) if check else None
            if why:
                self.gaps.append(f"{name!r} ({cls}: {why})")


def given_over_tracked(plan: ModelPlan, call: LayerCall, origins: list[MaskOrigin | None], keras3: bool
                       ) -> list[Ref | None] | None:
    """What a nested model call whose recorded ``mask`` is not each masked input's own sets on each input. Keras 3:
    ``Functional.call`` sets every recorded entry on its input and leaves a None one's input its own mask, and Keras
    records the entries the call ran with, given or filled in (``Layer.__call__`` fills in only a mask not given,
    from each input's own; that entry is the input's own mask's recorded ops, which :func:`is_recorded_mask` matches).
    tf_keras records only a mask it was given, and sets each entry (a list holding None: :func:`given_beside_tracked`).
    Per input: None for its own mask, or the given ref (a model input of a dtype the flavour's readers take, or a
    tensor layers computed) for the walk to lower. None: an entry of another kind (a gap)."""
    try:
        listed = explicit_masks(call.node)
    except ValueError:  # one tensor
        listed = list(call.recorded_masks) if len(call.recorded_masks) == 1 else None
    if listed is None or len(listed) != len(origins) or not keras3 and None in listed:
        return None
    inputs = {ref: config for ref, config in plan.inputs}
    readable = KERAS3_GIVEN_MASK_DTYPES if keras3 else TF_KERAS_NESTED_MASK_DTYPES
    result: list[Ref | None] = []
    for ref, origin in zip(listed, origins):
        if ref is None or keras3 and origin is not None and is_recorded_mask(plan, [ref], origin):
            result.append(None)
        elif dtype_name(inputs[ref].get("dtype")) in readable if ref in inputs else \
                not plan.sequential and (ref[0], ref[1]) in plan.producers:
            result.append(ref)
        else:
            return None
    return result


def none_entries_unmasked(call: LayerCall, refs: list[Ref], listed: list[Ref | None] | None,
                          deletions: MaskDeletions | None) -> set[Ref]:
    """The inputs of a Keras 3 nested model call whose ``mask=[...]`` entry (``listed``, as saved) is None and whose
    run-time mask is surely None then (:meth:`.model_plan.MaskDeletions.none_at_run`): Keras runs them unmasked."""
    if deletions is None or listed is None or len(listed) != len(refs):
        return set()
    set_on = [r for r, g in zip(refs, listed) if g is not None]
    return {r for r, g in zip(refs, listed) if g is None and deletions.none_at_run(call, r, set_on)}


def _its_input_why(call: LayerCall) -> str:
    """The end of the gap for an op call that may hand back its masked input (:func:`may_return_its_input`): for
    ``rot90`` by a multiple of 4, why it stays a gap (Keras's own two ways of running it disagree)."""
    if (call.entry.get("config") or {}).get("function") in ROT90S:
        return (" when Keras runs eagerly (model(x) keeps its mask), but a new tensor when traced (model.predict and "
                "the TensorFlow path drop it): Keras's two answers differ")
    return ", so at run time its output keeps the mask that Keras's saved graph says it drops"


def _lora_gap(cls: str, config: dict[str, Any], source: str | None, keras3: bool | None) -> str | None:
    """Why a LoRA layer (``lora_rank``) is not lowered, or None. Keras 3's ``.keras`` archive saves its kernel merged
    (``kernel + (alpha/rank)·a@b``, in the layer's own variable slots), so its weights read as a plain layer's; its
    ``.h5`` saves the kernel and the two factors apart, merged when read (``lora.merged_lora_weights``) where Keras
    loads them into the numbers the saved model computed (``lora.lora_gap``; a config alone is judged so too). Only
    Keras 3 has LoRA: in a config tf_keras saved (a SavedModel's weights are not merged) it stays a gap."""
    from .lora import lora_gap

    if isinstance(source, str) and source.lower().endswith(".keras"):
        return None
    return lora_gap(cls, config) if keras3 else "lora_rank"


def _mask_read_later(plan: ModelPlan, deletions: MaskDeletions, call: LayerCall, ref: Ref, nested: bool) -> bool:
    """Whether the run-time mask of ``ref`` (its tensor, through layers that return their input) is read after
    ``call``, a nested model Keras 3 hands its recorded mask (``Functional.call`` sets it on that tensor again, after
    a MultiHeadAttention deleted it): by a later call with no recorded mask (or one the run order cannot place), or
    by the caller of a ``nested`` plan whose output it is. For a setting the walk does not follow
    (:meth:`.model_plan.MaskDeletions.sets_again_in_order`): those stay gaps."""
    tensor, key = deletions.same_tensor(ref), (call.name, call.key)
    if nested and any(deletions.same_tensor(out) == tensor for out in plan.outputs):
        return True
    return any(other is not call and not other.recorded_masks and
               any(deletions.same_tensor(r) == tensor for r in call_inputs(other.node)) and
               not deletions.runs_first((other.name, other.key), key) for other in plan.calls)


def explicit_mask_list(node: Any) -> list[Ref | None] | None:
    """The ``mask=[...]`` list a call was given (None entries kept), None without one or for another value."""
    try:
        return explicit_masks(node)
    except ValueError:
        return None


def _masks_differ_on_one_tensor(refs: list[Ref], listed: list[Ref | None] | None) -> bool:
    """``inner([y, y], mask=[m, None])``: masks set in turn on one tensor, so each input reads the last one (or, in
    Keras 3, the last given one), not its own."""
    seen: dict[Ref, Ref | None] = {}
    for ref, mask in zip(refs, listed or []):
        if ref in seen and seen[ref] != mask:
            return True
        seen[ref] = mask
    return False


#: Keras 3's attention layers whose returned scores come from a Softmax layer called with the attention mask.
SCORES_MASKED = frozenset({"MultiHeadAttention", "GroupQueryAttention", "GroupedQueryAttention"})


def masked_scores_taker(plan: ModelPlan, call: LayerCall, masked_inputs: bool, nested: bool) -> str | None:
    """Who takes the scores a Keras 3 MultiHeadAttention or GroupQueryAttention returns
    (``return_attention_scores=True``) while it has a mask (its inputs' masks, ``attention_mask`` or another mask
    keyword, ``use_causal_mask``). Its inner Softmax call sets that mask, [batch, heads, query, key], on the scores
    at run time, and a later layer reads it (a Softmax over the scores zeroes the masked places: 0.17..0.77 off when
    lowered unmasked). None when nothing takes them."""
    kwargs = (call.node.get("kwargs") or {}) if isinstance(call.node, dict) else {}
    if not kwargs.get("return_attention_scores"):
        return None
    if not (masked_inputs or kwargs.get("use_causal_mask") or any(
            kwargs.get(k) is not None for k in ("attention_mask", "query_mask", "value_mask", "key_mask"))):
        return None
    scores = (call.name, call.key, 1)
    reader = next((c for c in plan.calls if scores in call_inputs(c.node)), None)
    if reader is not None:
        return repr(reader.name)
    return "the calling model" if nested and scores in plan.outputs else None


def _given_no_mask(call: LayerCall) -> bool:
    """A tf_keras call given ``mask=None`` explicitly (recorded in its kwargs): tf_keras passes None instead of the
    input's mask (a nested model also sets None on its inputs), where Keras 3 fills in the input's mask."""
    node = call.node
    if not isinstance(node, list) or not node or not isinstance(node[0], list) or len(node[0]) <= 3 or \
            not isinstance(node[0][3], dict):
        return False
    return MASK_KEYWORD in node[0][3] and node[0][3][MASK_KEYWORD] is None


def _saved_by_keras3(model: dict[str, Any]) -> bool | None:
    """Keras 3 saves inbound nodes as dicts (``args``/``kwargs``), Keras 2 as lists; None when no layer says."""
    for entry in top_level_layers(model):
        nodes = entry.get("inbound_nodes") or []
        if nodes and not is_op_layer(entry.get("class_name")):  # op layers' nodes are made plain lists
            return isinstance(nodes[0], dict)
    return None


def _check_nesting(model: dict[str, Any], what: str) -> None:
    """Refuse models nested more than :data:`MAX_NESTING` levels deep (walked without recursion)."""
    stack = [(model, 0)]
    while stack:
        entry, depth = stack.pop()
        if depth > MAX_NESTING:
            raise InputError(f"{what} nests models more than {MAX_NESTING} levels deep; tfjsconv lowers at most "
                             f"{MAX_NESTING}", hint="the file is corrupt or was edited by hand")
        stack += [(wrapped_model(child) or child, depth + 1) for child in top_level_layers(entry)
                  if is_model(child) or child.get("class_name") in LAYER_LISTS  # Pipelines nest too
                  or wrapped_model(child) is not None]  # and models a TimeDistributed wraps


def _saved_integer_dtype(plan: ModelPlan, call: LayerCall) -> DType | None:
    """The integer dtype the saved config gives the tensor a TimeDistributed(model) reads (None: a float, or not
    told), as the walk tracks it: where tf_keras hands the mask to the wrapped model depends on it
    (:func:`.wrappers.mask_reaches_model`)."""
    given = nested_given_dtypes(plan, call)[:1]
    name = given[0] if given else None
    return DType.from_any(name) if name in INPUT_DTYPES and name not in (*FLOAT_DTYPES, "string") else None


def _wrappers_gap(name: str, entry: dict[str, Any]) -> str | None:
    """Why TimeDistributed(TimeDistributed(model)) is not lowered (folded once over both time axes): a wrapper of a
    policy other than float32 (each casts again). A mask into it that a layer inside reads is followed since session
    29; one tf_keras's cast to the model's Input dtype drops (a float64 or float16 Input) leaves the layers unmasked
    and each wrapper reduces it with ``any`` (session 32, :func:`.model_walk._masked_wrappers_check`)."""
    policies, inner = set(), entry
    while isinstance(inner, dict) and inner.get("class_name") == "TimeDistributed":
        policies.add(dtype_name((inner.get("config") or {}).get("dtype")))
        inner = (inner.get("config") or {}).get("layer")
    if policies - {None, "float32"}:
        return (f"{name!r} (TimeDistributed: a TimeDistributed of a nested model in a TimeDistributed, of dtypes "
                f"{', '.join(sorted(policies - {None, 'float32'}))})")
    return None


def wrapped_mask_reader(wrapped: dict[str, Any], keras3: bool | None) -> dict[str, Any] | None:
    """The first layer inside a model a TimeDistributed wraps that does not just hand a mask on (None: none does), so
    that a mask into the wrapper is handed to the model's layers (the walk lowers them with it)."""
    leaves = [leaf for leaf in _weight_owners(wrapped) if leaf.get("class_name") != "InputLayer"]
    return next((leaf for leaf in leaves if not _ignores_mask(leaf, keras3)), None)


def wrapped_input_dtype(wrapped: dict[str, Any]) -> str | None:
    """The dtype of the Input of a model a TimeDistributed wraps, as saved (None: none named)."""
    try:
        inputs = model_plan(wrapped, source="a wrapped model").inputs
    except InputError:
        return None
    return dtype_name(inputs[0][1].get("dtype")) if inputs else None


def _ignores_mask(entry: dict[str, Any], keras3: bool | None) -> bool:
    """Whether Keras computes a layer the same with a mask as without, inside a model a TimeDistributed wraps, so
    that the step's mask changes nothing there: Keras 3's hand it on or drop it (never reading it in their call);
    tf_keras's hand it on (the model's output mask is then the input's; one that drops it fails to build, one that
    computes another is not followed). Flavour unknown: none."""
    cls = str(entry.get("class_name"))
    if keras3 is None or cls == "GroupNormalization":  # GroupNormalization: tf_keras's weighs its moments by the mask
        return False
    return passes_mask(cls, keras3) or keras3 and drops_mask(cls, True)
