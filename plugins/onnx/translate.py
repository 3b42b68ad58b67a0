"""ONNX ModelProto -> IR Graph: inputs, initializers, one mapping call per node, outputs.

The translation runs NHWC inside: each tensor carries a layout (see :mod:`.layout`), graph inputs
start in the interface layout (NCHW by default, NHWC with ``input_layout="nhwc"``), convolutions
ask for NHWC, and :meth:`Translator.view` inserts (and caches) a Transpose only where an op needs
a layout the tensor does not have yet. Graph outputs are turned back to the interface layout.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError, TfjsconvError, UnsupportedOpsError, UsageError
from tfjsconv import provenance
from tfjsconv.ir import Graph, Value

from . import half_kernels, layout, symbolic
from .dim_classes import DimClasses
from .context import Laid, NodeContext, Tensor
from .dtypes import ir_dtype, narrow, onnx_elem_to_numpy
from .float64_note import float64_note
from .folding import try_fold
from .layout import Perm
from .mapping import DEFAULT_DOMAINS, VersionedMapping, lookup
from .reading import has_full_shape, infer_shapes, initializer_array, opset_map, refuse_initializers_outside
from .tensors import attribute_value

log = logging.getLogger(__name__)

LAYOUTS = ("nchw", "nhwc")


class UnsupportedOnnxOpsError(UnsupportedOpsError):
    """ONNX op types with no mapping; ``ops`` maps op type -> node names (all of them, at once)."""

    def __init__(self, ops: dict[str, list[str]], also: Sequence[TfjsconvError] = ()) -> None:
        super().__init__(ops, hint="add a mapping from a plugin (docs/onnx.md, \"Adding an op mapping\"), "
                                   "or change the model to avoid these ops")
        self.also = list(also)
        lines = [f"{len(self.ops)} ONNX op type(s) have no TF.js mapping in tfjsconv:"]
        for op, names in self.ops.items():
            shown = ", ".join(names[:5]) + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")
            lines.append(f"  {op}: {shown}")
        if also:
            lines.append("and these nodes cannot be converted:")
            lines.extend(f"  {err.message}" for err in also)
        self.message = "\n".join(lines)
        self.args = (self.message,)


_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-/]")


def sanitize(name: str) -> str:
    """A TF node name: no ``:`` (it separates the output index), no leading ``/`` or ``_``."""
    cleaned = _BAD_NAME_CHARS.sub("_", name).strip("/")
    if not cleaned or not (cleaned[0].isalnum() or cleaned[0] == "."):
        cleaned = "t" + cleaned
    return cleaned


class Translator:
    """Translates one ONNX model; holds the per-tensor state while it does."""

    def __init__(self, model: Any, options: Any, op_mappings: dict[tuple[str, str], Any], *,
                 base_dir: Path, input_layout: str = "nchw") -> None:
        if input_layout not in LAYOUTS:
            raise UsageError(f"--input_layout must be one of {', '.join(LAYOUTS)}, got {input_layout!r}")
        g = model.graph
        #: Values whose shape the file declares in full (dims numbers or symbols): a symbol there is a
        #: dynamic size, so per-node inference (which imports onnx) is not tried on them.
        self._declared = {vi.name for vi in (*g.input, *g.value_info, *g.output) if has_full_shape(vi.type)}
        self.model, shape_note = infer_shapes(model)
        self.options = options
        self.op_mappings = op_mappings
        self.base_dir = base_dir
        self.input_layout = input_layout
        self.opsets = opset_map(model)
        self.graph = Graph(sanitize(model.graph.name or "onnx_model"))
        self.tensors: dict[str, Tensor] = {}
        self.notes: set[str] = {shape_note} if shape_note else set()
        self._views: dict[tuple[Any, Perm], Value] = {}
        self._info: dict[str, tuple[np.dtype | None, tuple | None]] = {}
        #: How many times each ONNX tensor is read (graph outputs count as a read).
        self.uses: Counter[str] = Counter()
        #: Which unknown dims are equal at run time (for Reshape targets computed from other tensors).
        self.dims = DimClasses()
        #: Main-graph nodes onnxruntime runs on float16 kernels (:meth:`_nodes_on_half_kernels`), by index.
        self._half_plan = half_kernels.HalfPlan()
        self._node_index: dict[str, int] = {}
        #: Those whose computed float16 inputs were rounded (:meth:`_half_kernel_inputs`), named in the notice.
        self._half_kernel_named: list[str] = []
        #: Tensors whose inferred shape the lowering contradicted (:meth:`_own_shape`): their readers' inferred
        #: shapes were derived from a wrong one and are inferred again from the real one (:meth:`_reinfer_after`).
        self._contradicted: set[str] = set()
        self._collect_value_info()

    # -- value info ---------------------------------------------------------------------------
    def _collect_value_info(self) -> None:
        g = self.model.graph
        for vi in [*g.input, *g.value_info, *g.output]:
            if not vi.type.HasField("tensor_type"):
                continue
            tt = vi.type.tensor_type
            shape = None
            if tt.HasField("shape"):
                shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
            self._info[vi.name] = (onnx_elem_to_numpy(tt.elem_type), shape)

    def inferred_shape(self, name: str) -> tuple | None:
        return self._info.get(name, (None, None))[1]

    def adopt_outer_shape(self, name: str, outer: Translator) -> None:
        """This subgraph translation reads ``outer``'s tensor ``name``: where ``outer`` kept the lowering's shape
        over onnx's inference of it (:meth:`_own_shape`), the subgraph's readers, whose stored shapes were inferred
        from the wrong one, are inferred again too (:meth:`_reinfer_after`)."""
        if name in outer._contradicted:
            self._info[name] = outer._info[name]
            self._contradicted.add(name)

    def adopt_input_shape(self, name: str, shape: tuple | None, outer: Translator, outer_name: str) -> None:
        """This subgraph's input ``name`` holds a value of ``shape`` made from ``outer``'s tensor ``outer_name`` (a
        Loop's initial carried value, a Scan input's slice): where the shape the subgraph declares for it (onnx's
        inference, stored by exporters) contradicts a known dim, or ``outer`` kept its own shape for
        ``outer_name`` (the declared one was inferred from the wrong one), ``shape`` is kept and the readers are
        inferred again (:meth:`_own_shape`)."""
        self._own_shape(name, shape, stated=outer_name in outer._contradicted)

    def inferred_dtype(self, name: str) -> np.dtype | None:
        return self._info.get(name, (None, None))[0]

    @staticmethod
    def attributes(node: Any) -> dict[str, Any]:
        attrs = {}
        for attr in node.attribute:
            value = attribute_value(attr)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            elif isinstance(value, list) and value and isinstance(value[0], bytes):
                value = [v.decode("utf-8", "replace") for v in value]
            attrs[attr.name] = value
        return attrs

    @functools.cached_property
    def producers(self) -> dict[str, Any]:
        """The main graph's node computing each tensor (the first, as ONNX has one), for walks back from a node."""
        found: dict[str, Any] = {}
        for node in self.model.graph.node:
            for name in node.output:
                if name:
                    found.setdefault(name, node)
        return found

    def node_name(self, name: str) -> str:
        return sanitize(name)

    # -- layout views -------------------------------------------------------------------------
    def has_view(self, t: Tensor, perm: Perm) -> bool:
        """Whether ``t`` is available laid out as ``perm`` without a new Transpose."""
        if t.const is not None or t.value is None or t.perm == perm:
            return True
        rel = layout.relative(t.perm, perm, len(t.perm if t.perm is not None else perm))
        return (t.value, rel) in self._views

    def view(self, t: Tensor, perm: Perm) -> Value:
        """``t`` as an IR value laid out as ``perm`` (a Const for known values); cached per (tensor, perm)."""
        if t.const is None and t.value is not None:
            if t.perm == perm:
                return t.value
            rel = layout.relative(t.perm, perm, len(t.perm if t.perm is not None else perm))
            key: tuple[Any, Perm] = (t.value, rel)  # the same value transposed the same way: one Transpose
        else:
            key = (t.name, perm)
        cached = self._views.get(key)
        if cached is not None:
            return cached
        if t.const is not None:
            array = t.const if perm is None else np.transpose(t.const, perm)
            array = narrow(array, f"ONNX tensor {t.name!r}", self.notes)
            suffix = "" if perm is None else "/" + _perm_label(perm)
            value = self.graph.const(array, name=sanitize(t.name) + suffix)
        elif t.value is None:
            raise InputError(f"ONNX tensor {t.name!r} has no value (its producer could not be translated)")
        else:
            perm_const = self.graph.const(np.asarray(rel, dtype=np.int32), name=f"{sanitize(t.name)}/perm")
            value = self.graph.add_op(
                "Transpose", [t.value, perm_const], {"T": t.value.dtype, "Tperm": perm_const.dtype},
                name=f"{sanitize(t.name)}/{_perm_label(perm)}", dtype=t.value.dtype,
                shape=layout.permute(t.shape, perm))
        self._views[key] = value
        return value

    # -- the translation ----------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.model.graph
        initializers = {init.name for init in g.initializer}
        refuse_initializers_outside(g.initializer, self.base_dir)
        for init in g.initializer:
            array = initializer_array(init, self.base_dir)
            self.tensors[init.name] = Tensor(init.name, const=array, dtype=array.dtype, shape=tuple(array.shape))
        layouts: dict[str, dict[str, str]] = {"inputs": {}, "outputs": {}}
        for vi in g.input:
            if vi.name in initializers:
                continue
            self._add_input(vi.name, layouts)
        self.translate_nodes()
        for vi in g.output:
            self._add_output(vi.name, layouts)
        for note in (self._half_note(), float64_note(self.model.graph, self._onnx_dtype, self._folded)):
            if note:
                log.warning("%s", note)
                self.graph.notes.append(note)
        self.graph.source_modules = provenance.torch_module_paths(g.node)
        self.graph.metadata["onnx"] = {
            "opset": self.opsets.get("", 0),
            "producer": " ".join(p for p in (self.model.producer_name, self.model.producer_version) if p) or None,
            "layout": layouts,
            **({"notes": sorted(self.notes)} if self.notes else {}),
        }
        self.graph.generated_by = (" ".join(p for p in (self.model.producer_name, self.model.producer_version) if p)
                                   or "onnx")
        return self.graph

    def translate_nodes(self) -> None:
        """Fold or map every node of the model's graph in order (its inputs and initializers already known);
        raises once for all the problems found. Subgraphs' reads of this graph's tensors count as uses."""
        g = self.model.graph
        unsupported: dict[str, list[str]] = {}
        failures: list[TfjsconvError] = []
        self.uses = Counter(name for node in g.node for name in node.input if name)
        self.uses.update(o.name for o in g.output)
        self.uses.update(name for node in g.node for name in subgraph_reads(node))
        used = set(self.uses)
        self._half_plan = self._nodes_on_half_kernels()
        self._node_index = {o: k for k, n in enumerate(g.node) for o in n.output if o}
        for index, node in enumerate(g.node):
            self._translate(node, index, unsupported, failures, used)
        if unsupported:
            raise UnsupportedOnnxOpsError(unsupported, also=failures)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise InputError(f"{len(failures)} ONNX nodes cannot be converted:\n  "
                             + "\n  ".join(err.message for err in failures),
                             hint="; ".join(dict.fromkeys(err.hint for err in failures if err.hint)) or None)

    def _add_input(self, name: str, layouts: dict[str, dict[str, str]]) -> None:
        np_dtype, shape = self._info.get(name, (None, None))
        dtype = ir_dtype(np_dtype)
        if dtype is None:
            raise InputError(f"graph input {name!r} is not a tensor of a type TF.js supports")
        if shape is not None and any(d is not None and d < 0 for d in shape):
            raise InputError(f"graph input {name!r} has a negative dimension in its shape {list(shape)}")
        perm = layout.channels_last(4) if self.input_layout == "nhwc" and shape is not None and len(shape) == 4 else None
        value = self.graph.placeholder(self.graph.unique_name(sanitize(name)), dtype, layout.permute(shape, perm),
                                       key=name)
        self.tensors[name] = Tensor(name, value=value, perm=perm, dtype=np_dtype, shape=shape)
        layouts["inputs"][name] = _layout_name(perm, None if shape is None else len(shape))

    def _add_output(self, name: str, layouts: dict[str, dict[str, str]]) -> None:
        t = self.tensors.get(name)
        if t is None or not t.known:
            raise InputError(f"graph output {name!r} is not produced by any node")
        rank = t.rank
        if rank is None and t.value is not None and t.value.shape is not None:
            rank = len(t.value.shape)
        target = layout.channels_last(4) if self.input_layout == "nhwc" and rank == 4 else None
        value = self.view(t, target)
        if self._is_half(name) and t.const is None:
            value = self._rounded_to_half(name, value)
        self.graph.set_output(name, value)
        layouts["outputs"][name] = _layout_name(target, rank)

    def _onnx_dtype(self, name: str) -> np.dtype | None:
        """The ONNX tensor ``name``'s dtype (by the file's types, else the translated tensor's)."""
        np_dtype = self._info.get(name, (None, None))[0]
        t = self.tensors.get(name)
        return np_dtype if np_dtype is not None or t is None else t.dtype

    def _folded(self, name: str) -> bool:
        """Whether the ONNX tensor ``name`` was computed at conversion (its value is known)."""
        t = self.tensors.get(name)
        return t is not None and t.const is not None

    def _is_half(self, name: str) -> bool:
        """Whether the ONNX tensor ``name`` is float16 (by the file's types, else the translated tensor's)."""
        np_dtype = self._info.get(name, (None, None))[0]
        t = self.tensors.get(name)
        if np_dtype is None and t is not None:
            np_dtype = t.dtype
        return np_dtype is not None and np.dtype(np_dtype) == np.float16

    def _rounded_to_half(self, name: str, value: Value) -> Value:
        """A float16 graph output, held as float32, rounded to float16 as onnxruntime returns it: a Cast to
        float16 and back, which the core ``narrow_ints`` pass rounds (as the ONNX Cast to float16 is)."""
        label = sanitize(name)
        half = self.graph.add_op("Cast", [value], {"SrcT": DType.FLOAT32, "DstT": DType.FLOAT16, "Truncate": False},
                                 name=self.graph.unique_name(f"{label}/to_half"), dtype=DType.FLOAT16,
                                 shape=value.shape)
        return self.graph.add_op("Cast", [half], {"SrcT": DType.FLOAT16, "DstT": DType.FLOAT32, "Truncate": False},
                                 name=self.graph.unique_name(f"{label}/half_as_float"), dtype=DType.FLOAT32,
                                 shape=value.shape)

    def output_as_onnxruntime_holds_it(self, name: str, value: Value) -> Value:
        """The (sub)graph output ``name``: rounded to float16 when it is float16 and computed, as onnxruntime's
        float16 outputs are (a Loop or Scan body's in every iteration, since its carried values are float16)."""
        t = self.tensors.get(name)
        if not self._is_half(name) or (t is not None and t.const is not None):
            return value
        return self._rounded_to_half(name, value)

    def _half_note(self) -> str | None:
        """The notice for a model with float16 tensors: TF.js computes them in float32 (float16 weights and inputs
        are exact there), as onnxruntime's CPU does except around the nodes it keeps on float16 kernels
        (:mod:`half_kernels`): float16 outputs, Casts to float16 and those kernels' inputs and results are rounded."""
        g = self.model.graph
        named = list(dict.fromkeys(vi.name for vi in (*g.input, *g.value_info, *g.output)  # these overlap
                                   if self._is_half(vi.name)))
        weights = [init.name for init in g.initializer if init.data_type == 10]
        if not named and not weights:
            return None
        shown = ", ".join(named[:8]) + (f" and {len(named) - 8} more" if len(named) > 8 else "")
        outputs = [vi.name for vi in g.output if self._is_half(vi.name)]
        kernels = _listed(list(dict.fromkeys(self._half_kernel_named)))
        unmodelled = _listed([g.node[k].name or f"{g.node[k].op_type}_{k}" for k in sorted(self._half_plan.unmodelled)])
        return (f"ONNX float16: TF.js has no float16 and computes the float16 tensors in float32 "
                f"({shown or 'none typed'}; {len(weights)} float16 weights, exact in float32), as onnxruntime "
                f"{half_kernels.ORT_MEASURED} does for nodes without a float16 kernel. Float16 outputs "
                f"({', '.join(outputs) or 'none'}) and Casts to float16 are rounded to float16 (but for the Cast pairs it "
                "drops: a float32 node reads a Cast to float16 unrounded, and a Cast back up reads a float32 node's "
                "float16 result unrounded), and so are the "
                "inputs and results of the nodes it keeps on float16 kernels (a node with one that is not isolated "
                f"between float32 nodes: {kernels or 'none'}). Nodes onnxruntime rewrites first (Identity, Dropout, "
                "Transposes its optimizer may move, HardSigmoid and HardSwish at opset 18) and their float16 "
                f"neighbours ({unmodelled or 'none'}) are "
                "computed in float32 unrounded and may differ by about one float16 step (1e-3 of the result's "
                "scale); so may fused nodes. If/Loop/Scan bodies round the float16 values they return to float16 "
                "in every iteration, as onnxruntime holds them (a step's difference in one iteration carries into "
                "the next). Other builds or providers (ARM64, GPU) were not measured")

    def _nodes_on_half_kernels(self) -> half_kernels.HalfPlan:
        """The main graph's nodes onnxruntime's CPU keeps on float16 kernels (:func:`half_kernels.plan_half_kernels`);
        its other float16 nodes it runs in float32 with no rounding between them (measured, docs/onnx.md)."""
        return half_kernels.plan_half_kernels(self.model.graph, self.opsets.get("", 1), self._is_half,
                                              self._is_wide_cast_source)

    def _is_wide_cast_source(self, name: str) -> bool:
        """Whether the ONNX tensor ``name`` is float32, float64, an integer or bool (by the file's types, else the
        translated tensor's): onnxruntime drops a Cast pair to float16 and back of these (measured with 1.32 for
        each: int64 70000 -> Cast(half) -> Neg -> Cast(float) is -70000, not -inf; :mod:`half_kernels`)."""
        np_dtype = self._info.get(name, (None, None))[0]
        t = self.tensors.get(name)
        if np_dtype is None and t is not None:
            np_dtype = t.dtype
        return np_dtype is not None and np.dtype(np_dtype).kind in "fiub" and np.dtype(np_dtype) != np.float16

    def half_rounding_dropped(self, index: int) -> bool:
        """Whether onnxruntime drops the float16 rounding of the Cast node ``index`` (:mod:`half_kernels`)."""
        return index in self._half_plan.unrounded_casts

    def _rounded_operand(self, name: str) -> bool:
        """Whether a float16 input is computed by a node onnxruntime runs in float32 (so its Cast rounds it)."""
        producer = self.producers.get(name)
        t = self.tensors.get(name)
        return (bool(name) and t is not None and t.value is not None and producer is not None
                and self._is_half(name) and self._node_index.get(name) not in self._half_plan.on_half)

    @contextlib.contextmanager
    def _half_kernel_inputs(self, node: Any, index: int) -> Iterator[None]:
        """While a node onnxruntime runs on a float16 kernel is mapped, its float16 inputs computed in float32 are
        read rounded to float16 (onnxruntime's Cast before that kernel rounds them: Round of 2.5002 gives 2)."""
        if index not in self._half_plan.on_half:
            yield
            return
        kept: dict[str, Tensor] = {}
        for name in dict.fromkeys(node.input):
            if self._rounded_operand(name):
                t = self.tensors[name]
                kept[name] = t
                self.tensors[name] = dataclasses.replace(t, value=self._rounded_to_half(name, t.value))
        if kept:
            self._half_kernel_named.append(node.name or f"{node.op_type}_{index}")
        try:
            yield
        finally:
            self.tensors.update(kept)

    def _round_half_kernel_results(self, node: Any, index: int) -> None:
        """A float16 kernel's result is a float16 value: rounded here unless the op gives one anyway
        (:data:`half_kernels.EXACT_ON_HALVES`, e.g. LayerNormalization or Shrink's results are rounded)."""
        rounded = index in self._half_plan.rounded_results  # a function onnxruntime inlines with a final Cast
        if not rounded and (index not in self._half_plan.on_half or node.op_type in half_kernels.EXACT_ON_HALVES):
            return
        for name in node.output:
            t = self.tensors.get(name)
            if name and t is not None and t.value is not None and self._is_half(name):
                self.tensors[name] = dataclasses.replace(t, value=self._rounded_to_half(name, t.value))
                self._half_kernel_named.append(node.name or f"{node.op_type}_{index}")

    def _translate(self, node: Any, index: int, unsupported: dict[str, list[str]],
                   failures: list[TfjsconvError], used: set[str]) -> None:
        """Fold or map one node; problems are collected (not raised) so that all of them are reported."""
        name = node.name or f"{node.op_type}_{index}"
        domain = "" if node.domain in DEFAULT_DOMAINS else node.domain
        opset = self.opsets.get(domain, 1)
        op_label = node.op_type if not domain else f"{domain}:{node.op_type}"
        inputs = []
        for input_name in node.input:
            if not input_name:
                inputs.append(None)
                continue
            if input_name not in self.tensors:
                raise InputError(f"ONNX node {name!r} reads {input_name!r}, which no node or input produces "
                                 "(the graph is not in topological order or is incomplete)")
            inputs.append(self.tensors[input_name])
        present = [t for t in inputs if t is not None]
        if (present and all(t.const is not None for t in present)  # folded even without a mapping,
                and all(_foldable(t.const) for t in present)):  # but external weights stay unread
            folded = try_fold(node, [t.const if t is not None else None for t in inputs], self.opsets)
            if folded is not None:
                for out_name, array in zip(node.output, folded):
                    if out_name:
                        self.tensors[out_name] = Tensor(out_name, const=array, dtype=array.dtype,
                                                        shape=tuple(array.shape))
                return
        entry = lookup(self.op_mappings, domain, node.op_type)
        fn = entry.function if entry is not None else None
        if isinstance(fn, VersionedMapping) and not fn.supports(opset):
            unsupported.setdefault(f"{op_label} (opset {opset}; mapped from opset {fn.min_opset})", []).append(
                describe_node(node, name))
            fn = None
        elif fn is None:
            unsupported.setdefault(op_label, []).append(describe_node(node, name))
        if fn is None or any(t is not None and not t.known for t in inputs):
            self._mark_unknown(node)
            return
        self._reinfer_after(node, inputs)
        self._refine_shapes(node, inputs)
        ctx = NodeContext(self, node, name, opset)
        try:
            with provenance.scope(self.graph, name), self._half_kernel_inputs(node, index):
                result = fn(ctx)
                result = self._wrap_narrow_overflow(ctx, node, result)  # T6: 8/16-bit wrap-around
                self._store_outputs(ctx, node, result, used)
                self._round_half_kernel_results(node, index)
            self._track_elements(node, inputs, ctx.attrs)
            self.dims.track(node, inputs, [self.tensors.get(o) if o else None for o in node.output], ctx.attrs)
        except TfjsconvError as err:
            failures.append(err)
            self._mark_unknown(node)
        except Exception as err:
            if unsupported or failures:  # most likely a consequence of a problem already reported
                self._mark_unknown(node)
                return
            err.add_note(f"while translating ONNX node {name!r} ({op_label}, opset {opset})")
            raise

    def _reinfer_after(self, node: Any, inputs: Sequence[Tensor | None]) -> None:
        """Infer again, from the real input shapes, the output shapes of a node reading a tensor whose inferred
        shape was wrong (:meth:`_own_shape`); outputs whose shape then changes are contradicted in turn. Shapes
        the file declares are inferred again too: exporters store onnx's inference in the file (value_info)."""
        if not any(name in self._contradicted for name in node.input):
            return
        before = {out: self._info[out] for out in node.output if out and out in self._info}
        for out, (np_dtype, _) in before.items():
            self._info[out] = (np_dtype, None)
            self._declared.discard(out)
        self._refine_shapes(node, inputs)
        for out, (_, shape) in before.items():
            now = self.inferred_shape(out)
            if now != shape:
                log.debug("ONNX tensor %r: inferred again from its inputs' real shapes as %s (was %s)", out,
                          None if now is None else list(now), None if shape is None else list(shape))
                self._contradicted.add(out)

    def _refine_shapes(self, node: Any, inputs: Sequence[Tensor | None]) -> None:
        """Infer this node's output shapes from what translation knows (folded constants included).

        Whole-model inference cannot see through computed shapes (Shape -> ... -> Reshape); once
        those are folded, per-node inference can.
        """
        wanted = [o for o in node.output if o and _unknown(self.inferred_shape(o)) and o not in self._declared]
        if not wanted or node.domain not in DEFAULT_DOMAINS:
            return
        try:  # only here (a value the file leaves unshaped) does translation itself need onnx
            import onnx
            from onnx import helper, numpy_helper, shape_inference

            schema = onnx.defs.get_schema(node.op_type, self.opsets.get("", 1), "")
            types, data = {}, {}
            for name, t in zip(node.input, inputs):
                if t is None or t.dtype is None:
                    continue
                types[name] = helper.make_tensor_type_proto(helper.np_dtype_to_tensor_dtype(t.dtype), t.shape)
                if t.const is not None and t.const.size <= 4096:
                    data[name] = numpy_helper.from_array(np.asarray(t.const), name)
            inferred = shape_inference.infer_node_outputs(schema, node, types, data,
                                                          opset_imports=list(self.model.opset_import))
        except Exception:  # an aid only: mappings cope with unknown shapes or say what they need
            return
        for name in wanted:
            tp = inferred.get(name)
            if tp is None or not tp.HasField("tensor_type") or not tp.tensor_type.HasField("shape"):
                continue
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tp.tensor_type.shape.dim)
            known = self.inferred_shape(name)
            if known is not None and len(known) == len(dims):  # keep what whole-model inference knew
                dims = tuple(k if k is not None else d for k, d in zip(known, dims))
            self._info[name] = (onnx_elem_to_numpy(tp.tensor_type.elem_type) or self.inferred_dtype(name), dims)

    def _track_elements(self, node: Any, inputs: Sequence[Tensor | None], attrs: dict) -> None:
        """Record what a computed shape vector holds (a number or an input's dim, per element)."""
        out = self.tensors.get(node.output[0]) if node.output and node.output[0] else None
        if out is None or out.value is None:
            return
        elements = symbolic.infer(node, inputs, attrs)
        if elements is not None:
            out.elements = tuple(elements)

    def _mark_unknown(self, node: Any) -> None:
        for out_name in node.output:
            if out_name:
                self.tensors[out_name] = Tensor(out_name)

    def _wrap_narrow_overflow(self, ctx: NodeContext, node: Any, result: Any) -> Any:
        """T6: an 8/16-bit integer result of an op that can leave its type's range (uint8 200 + 100), held as
        int32 in TF.js, wrapped into that range as onnxruntime's C++ arithmetic wraps it (44)."""
        if node.op_type not in _NARROW_OVERFLOW_OPS or node.domain not in DEFAULT_DOMAINS:
            return result
        from .ops.bitwise import wrap_to_width

        single = not isinstance(result, (list, tuple))
        items = [result] if single else list(result)
        for j, item in enumerate(items[:len(node.output)]):
            np_dtype = self._info.get(node.output[j], (None, None))[0]
            if np_dtype is None or np.dtype(np_dtype).kind not in "iu" or np.dtype(np_dtype).itemsize > 2:
                continue
            if isinstance(item, Value):
                items[j] = wrap_to_width(ctx, item, np_dtype, label=f"narrow_wrap{j}")
            elif isinstance(item, Laid):
                items[j] = Laid(wrap_to_width(ctx, item.value, np_dtype, label=f"narrow_wrap{j}"), item.perm)
        return items[0] if single else type(result)(items)

    def _store_outputs(self, ctx: NodeContext, node: Any, result: Any, used: set[str]) -> None:
        items = list(result) if isinstance(result, (list, tuple)) else [result]
        perms = [getattr(item, "perm", None) for item in items[:len(node.output)]]
        if any(perms):  # the IR value is np.transpose(ONNX value, perm): verify --trace undoes it
            self.graph.source_layouts[ctx.name] = [list(p) if p else None for p in perms]
        for j, out_name in enumerate(node.output):
            if not out_name:
                continue
            item = items[j] if j < len(items) else None
            if item is None:
                if out_name in used:
                    raise ctx.error(f"output {j} ({out_name!r}) is not supported")
                continue
            self.tensors[out_name] = self._as_tensor(out_name, item)

    def _own_shape(self, name: str, own: tuple | None, *, stated: bool) -> None:
        """Keep the shape the lowering computed for ``name`` where onnx's shape inference says otherwise (onnx 1.23
        infers a SAME ConvTranspose with output_padding one longer than onnxruntime's, and a symbolic Attention's
        last dim as 0): the emitted graph computes ``own``, and readers must see it. A ``stated`` shape (a mapping's
        Tensor) contradicts every inferred number it does not hold; an IR annotation only numbers it differs on."""
        np_dtype, inferred = self._info.get(name, (None, None))
        if own is None or inferred is None:
            return
        if len(own) == len(inferred) and all(i is None or o == i or (o is None and not stated)
                                             for o, i in zip(own, inferred)):
            return
        kept = tuple(own) if stated or len(own) != len(inferred) else tuple(
            o if o is not None else i for o, i in zip(own, inferred))
        log.debug("ONNX tensor %r: onnx's shape inference gives %s, the lowering computes %s; keeping %s",
                  name, list(inferred), list(own), list(kept))
        self._info[name] = (np_dtype, kept)
        self._contradicted.add(name)

    def _as_tensor(self, name: str, item: Any) -> Tensor:
        if isinstance(item, Tensor):
            self._own_shape(name, item.shape, stated=True)
        elif isinstance(item, (Value, Laid)) and not isinstance(item, np.ndarray):
            value, perm = (item, None) if isinstance(item, Value) else (item.value, item.perm)
            own = None if value.shape is None else tuple(value.shape) if perm is None else layout.permute(
                value.shape, layout.inverse(perm))
            self._own_shape(name, own, stated=False)
        np_dtype, shape = self._info.get(name, (None, None))
        if isinstance(item, Tensor):
            if item.value is not None and item.value.shape is None and item.shape is not None:
                item.value.shape = layout.permute(item.shape, item.perm)  # as a Laid value is annotated below
            return Tensor(name, value=item.value, perm=item.perm, const=item.const,
                          dtype=item.dtype if item.dtype is not None else np_dtype,
                          shape=item.shape if item.shape is not None else shape)
        if isinstance(item, (np.ndarray, np.generic)):
            array = np.asarray(item)
            return Tensor(name, const=array, dtype=array.dtype, shape=tuple(array.shape))
        if isinstance(item, Value):
            item = Laid(item, None)
        if not isinstance(item, Laid):
            raise TypeError(f"an ONNX op mapping returned {type(item).__name__} for {name!r}; expected a Value, "
                            "ctx.laid(...), a numpy array or None")
        value, perm = item.value, item.perm
        if shape is None and value.shape is not None:
            shape = tuple(value.shape) if perm is None else layout.permute(value.shape, layout.inverse(perm))
        if value.shape is None and shape is not None:
            value.shape = layout.permute(shape, perm)
        elif (shape is not None and value.shape is not None and len(value.shape) == len(shape)
              and value.producer is not None and value.producer.op == "Reshape"):
            # a dim of a computed Reshape target the mapping knows (dim_classes) that inference left unknown
            own = tuple(value.shape) if perm is None else layout.permute(value.shape, layout.inverse(perm))
            shape = tuple(d if d is not None else (o if isinstance(o, int) else None) for d, o in zip(shape, own))
        if value.dtype is None:
            value.dtype = ir_dtype(np_dtype)
        return Tensor(name, value=value, perm=perm, dtype=np_dtype, shape=shape)


def _layout_name(perm: Perm, rank: int | None) -> str:
    """What model.json records per input/output: NCHW/NHWC for images, "ONNX" (as exported) otherwise."""
    if rank == 4:
        return "NHWC" if perm else "NCHW"
    return "ONNX"


def _listed(names: list[str]) -> str:
    """At most eight names, then how many more."""
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def describe_node(node: Any, name: str) -> str:
    """The node's name, with the torch module it came from when the exporter recorded it."""
    for prop in getattr(node, "metadata_props", ()):
        if prop.key == "pkg.torch.onnx.name_scopes":
            scopes = [s.strip(" '\"") for s in prop.value.strip("[]").split(",")]
            path = ".".join(s for s in scopes[-2:-1] if s)  # the last scope is the op itself
            if path:
                return f"{name} (torch module {path})"
    return name


#: T6: ONNX ops whose 8/16-bit integer results can leave the type's range (wrapped by _wrap_narrow_overflow).
_NARROW_OVERFLOW_OPS = frozenset({"Add", "Sub", "Mul", "Neg", "Abs", "Div", "Pow", "Sum", "ReduceSum", "ReduceProd",
                                  "ReduceSumSquare", "CumSum", "MatMul", "Gemm", "Einsum", "ScatterElements",
                                  "ScatterND"})


#: AttributeProto types holding one graph (GRAPH) or several (GRAPHS): If/Loop/Scan bodies.
_GRAPH_ATTR, _GRAPHS_ATTR = 5, 10


def subgraphs(node: Any) -> list[Any]:
    """The graphs ``node``'s attributes hold (an If's branches, a Loop's or Scan's body)."""
    found: list[Any] = []
    for attr in node.attribute:
        if attr.type == _GRAPH_ATTR:
            found.append(attr.g)
        elif attr.type == _GRAPHS_ATTR:
            found.extend(attr.graphs)
    return found


def outer_reads(graph: Any) -> list[str]:
    """Tensors ``graph`` (a subgraph, its nested subgraphs included) reads from an enclosing scope, each once."""
    defined = {vi.name for vi in graph.input} | {init.name for init in graph.initializer}
    defined |= {name for node in graph.node for name in node.output if name}
    read = [name for node in graph.node for name in (*node.input, *subgraph_reads(node)) if name]
    read += [vi.name for vi in graph.output]
    return [name for name in dict.fromkeys(read) if name not in defined]


def subgraph_reads(node: Any) -> list[str]:
    """Tensors the subgraphs of ``node`` read from the scope ``node`` is in."""
    return list(dict.fromkeys(name for graph in subgraphs(node) for name in outer_reads(graph)))


def _foldable(const: Any) -> bool:
    """numpy, or a raw initializer the reader left in the model file (it was in memory before)."""
    return isinstance(const, np.ndarray) or getattr(const, "in_model", False)


def _unknown(shape: tuple | None) -> bool:
    return shape is None or any(d is None for d in shape)


def _perm_label(perm: Sequence[int] | None) -> str:
    if perm is None:
        return "to_onnx_layout"
    if tuple(perm) == layout.channels_last(len(perm)):
        return "to_channels_last"
    return "transpose_" + "".join(str(p) for p in perm)
