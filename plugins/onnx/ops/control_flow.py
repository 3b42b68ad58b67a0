"""ONNX ``If`` and ``Loop`` with a run-time condition or trip count: functional ``StatelessIf``/``StatelessWhile``.

Each subgraph is translated by a translator of its own into an IR function (``graph.functions``); the core
``lower_control_flow`` pass turns the functional nodes into TF v1 frames (``Switch``/``Merge`` for a branch,
``Enter``/``Merge``/``Switch``/``LoopCond``/``NextIteration``/``Exit`` for a loop) that TF.js runs with
``executeAsync`` on every backend, and every later pass (the contract checks too) sees the inlined bodies.
A subgraph's reads of outer-scope tensors become extra arguments (constants are copied in instead); a nested
``If``/``Loop`` registers its functions in the same table. A ``Loop``'s scan outputs are pushed onto a TensorList
per iteration and gathered once after the loop (``[0, ...]`` when it runs no iteration, as onnxruntime gives).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import FuncAttr, Graph, Shape, Value

from ..context import NodeContext, Tensor
from ..mapping import onnx_op
from ..reading import initializer_array

#: The largest trip count TF.js's int32 counter holds: torch exports a while loop's M as the int64 maximum.
_MAX_TRIPS = np.iinfo(np.int32).max


class _Body:
    """One ONNX subgraph becoming one IR function: arguments first (in the functional node's order), then the
    subgraph's nodes, then the outputs."""

    def __init__(self, ctx: NodeContext, proto: Any, role: str) -> None:
        from ..translate import Translator, sanitize

        if getattr(ctx.options, "control_flow_v2", False):
            raise ctx.error("--control_flow_v2 keeps control flow as FunctionDefs, which the ONNX frontend does "
                            "not write (its subgraphs become TF v1 frames)", hint="convert without --control_flow_v2")
        parent = ctx.translator
        model = type(parent.model)()
        model.ir_version = parent.model.ir_version
        model.opset_import.extend(parent.model.opset_import)
        model.graph.CopyFrom(proto)
        self.ctx, self.proto = ctx, proto
        self.translator = Translator(model, parent.options, parent.op_mappings, base_dir=parent.base_dir)
        self.name = _function_name(parent.graph.functions, sanitize(f"{ctx.name}/{role}"))
        self.graph = Graph(self.name)
        self.graph.functions = parent.graph.functions  # nested control flow registers its bodies at the top
        self.translator.graph = self.graph

    def argument(self, dtype: DType | None, shape: Shape, onnx_name: str | None = None,
                 np_dtype: Any = None) -> Value:
        """The next argument; ``onnx_name`` is the subgraph tensor it stands for (an input or an outer read).
        A value of unknown type is refused: guessing float32 would mistype the loop variable."""
        if dtype is None:
            raise self.ctx.error(f"the type of {onnx_name or 'a loop variable'!r}, which its subgraph "
                                 f"{self.proto.name!r} reads, is unknown")
        key = f"arg{len(self.graph.inputs)}"
        value = self.graph.placeholder(key, dtype, shape)
        if onnx_name:
            self.translator.tensors[onnx_name] = Tensor(onnx_name, value=value, dtype=np_dtype, shape=shape)
        return value

    def outer_argument(self, onnx_name: str, value: Value) -> Value:
        """The next argument, standing for the outer computed tensor ``onnx_name`` (``value``), with the shape the
        outer translation keeps for it (:meth:`Translator.adopt_outer_shape`)."""
        argument = self.argument(value.dtype, value.shape, onnx_name, self.ctx.tensor_named(onnx_name).dtype)
        self.translator.adopt_outer_shape(onnx_name, self.ctx.translator)
        return argument

    def bind(self, onnx_name: str, value: Value, np_dtype: Any, outer_name: str) -> None:
        """The subgraph's tensor ``onnx_name`` is ``value`` (computed in the function from the outer tensor
        ``outer_name``), of ``value``'s shape where the subgraph declares a wrong one
        (:meth:`Translator.adopt_input_shape`)."""
        if value.shape is not None:
            self.translator.adopt_input_shape(onnx_name, tuple(value.shape), self.ctx.translator, outer_name)
        self.translator.tensors[onnx_name] = Tensor(onnx_name, value=value, dtype=np_dtype, shape=value.shape)

    def scan_output_names(self, count: int) -> list[str]:
        """The subgraph's last ``count`` outputs' names (its scan outputs)."""
        return [vi.name for vi in self.proto.output[len(self.proto.output) - count:]]

    def declared_shape(self, name: str) -> Shape:
        """The shape the subgraph declares for ``name`` (None dims for symbols), or None."""
        return self.translator.inferred_shape(name)

    def translate(self, outer_constants: dict[str, Tensor]) -> list[Value]:
        """The subgraph's nodes in the function; returns its outputs in ONNX's layout."""
        tr = self.translator
        for init in self.proto.initializer:
            array = initializer_array(init, tr.base_dir)
            tr.tensors[init.name] = Tensor(init.name, const=array, dtype=array.dtype, shape=tuple(array.shape))
        tr.tensors.update(outer_constants)
        tr.translate_nodes()
        outputs = []
        for vi in self.proto.output:
            t = tr.tensors.get(vi.name)
            if t is None or not t.known:
                raise self.ctx.error(f"subgraph output {vi.name!r} is not produced by any node")
            outputs.append(self._as_onnxruntime_returns(vi.name, tr.view(t, None)))
        return outputs

    def _as_onnxruntime_returns(self, name: str, value: Value) -> Value:
        """A float16 output rounded to float16 (held as float32), as onnxruntime returns it from every iteration
        or branch: a carried float16 sum stalls where float16 stalls (v + 0.3 stops at 1024). An argument
        returned unchanged is float16 already."""
        if value.producer.op == "Placeholder" and value in self.graph.inputs.values():
            return value
        return self.translator.output_as_onnxruntime_holds_it(name, value)

    def finish(self, outputs: Sequence[Value]) -> FuncAttr:
        """Register the function with ``outputs`` as its results."""
        for k, value in enumerate(outputs):
            self.graph.set_output(f"out{k}", value)
        self.graph.functions[self.name] = self.graph
        return FuncAttr(self.name)


def _function_name(functions: dict[str, Graph], base: str) -> str:
    name, k = base, 0
    while name in functions:
        k += 1
        name = f"{base}_{k}"
    return name


def _outer_values(ctx: NodeContext, protos: Sequence[Any]) -> tuple[list[str], list[Value], dict[str, Tensor]]:
    """The outer tensors the subgraphs read: computed ones (names, values in ONNX's layout) become arguments,
    constants are copied into each subgraph."""
    from ..translate import outer_reads

    names: list[str] = []
    values: list[Value] = []
    constants: dict[str, Tensor] = {}
    for name in dict.fromkeys(n for proto in protos for n in outer_reads(proto)):
        t = ctx.tensor_named(name)
        if t is None or not t.known:
            raise ctx.error(f"a subgraph reads {name!r}, which is not computed before this node")
        if t.const is not None:
            constants[name] = t
        else:
            names.append(name)
            values.append(ctx.translator.view(t, None))
    return names, values, constants


def _relaxed(shapes: Sequence[Shape]) -> Shape:
    """The most specific shape all of ``shapes`` have (unknown dims where they differ)."""
    if any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
        return None
    return tuple(dims[0] if len(set(dims)) == 1 else None for dims in zip(*shapes))


def _scalar(graph: Graph, value: Value, name: str) -> Value:
    """A one-element condition or count as the scalar TF's Switch and Less read (in ``graph``: the main graph or
    a body)."""
    if value.shape == ():
        return value
    shape = graph.const(np.zeros((0,), np.int32), name=graph.unique_name(f"{name}_scalar_shape"))
    return graph.add_op("Reshape", [value, shape], {"T": value.dtype, "Tshape": DType.INT32},
                        name=graph.unique_name(name), dtype=value.dtype, shape=())


@onnx_op("If")
def if_(ctx: NodeContext) -> list[Value]:
    """Both branches as functions of the outer tensors they read; a StatelessIf on the scalar condition."""
    protos = [ctx.attr("then_branch"), ctx.attr("else_branch")]
    names, args, constants = _outer_values(ctx, protos)
    attrs: dict[str, Any] = {"Tcond": DType.BOOL, "Tin": [a.dtype for a in args]}
    branch_outputs = []
    for role, proto in zip(("then_branch", "else_branch"), protos):
        body = _Body(ctx, proto, role.split("_")[0])
        for name, value in zip(names, args):
            body.outer_argument(name, value)
        outputs = body.translate(constants)
        if len(outputs) != len(ctx.node.output):
            raise ctx.error(f"its {role} returns {len(outputs)} value(s) for {len(ctx.node.output)} output(s)")
        attrs[role] = body.finish(outputs)
        branch_outputs.append(outputs)
    if any(a.dtype != b.dtype for a, b in zip(*branch_outputs)):
        raise ctx.error("its branches return values of different types")
    attrs["Tout"] = [v.dtype for v in branch_outputs[0]]
    cond = _scalar(ctx.graph, ctx.input(0), ctx.unique_name("cond"))
    node = ctx.graph.add_node("StatelessIf", [cond, *args], attrs, name=ctx.unique_name("if"),
                              num_outputs=len(ctx.node.output))
    for j, out in enumerate(node.outputs):
        out.dtype = branch_outputs[0][j].dtype
        out.shape = _relaxed([branch_outputs[0][j].shape, branch_outputs[1][j].shape])
    return node.outputs


def _trip_limit(ctx: NodeContext) -> Value | None:
    """The loop's ``M`` as an int32 scalar (a constant past int32's range clipped: no loop runs that long)."""
    if not ctx.has_input(0):
        return None
    const = ctx.const(0)
    if const is not None:
        return ctx.int32(int(min(int(np.asarray(const).reshape(-1)[0]), _MAX_TRIPS)), label="max_trips")
    return _scalar(ctx.graph, ctx.input(0), ctx.unique_name("max_trips"))


def _element_shape(shape: Shape) -> list[int]:
    return [-1 if d is None else int(d) for d in shape] if shape is not None else []


def _carried(body: _Body, name: str, init: Value, np_dtype: Any, outer_name: str) -> Value:
    """A loop-carried argument: the shape the body declares for it, else its initial value's rank only (a value
    may grow from one iteration to the next). A declared dim the initial value contradicts was inferred from a
    wrong shape (a ceil_mode pool, a symbolic Attention): the initial value's dim is kept there."""
    if init.shape is not None:
        body.translator.adopt_input_shape(name, tuple(init.shape), body.ctx.translator, outer_name)
    declared = body.declared_shape(name)
    if init.shape is None:
        shape = None
    elif declared is not None and len(declared) == len(init.shape):
        shape = declared
    else:
        shape = (None,) * len(init.shape)
    return body.argument(init.dtype, shape, name, np_dtype)


def _pushed(ctx: NodeContext, body: _Body, lists: Sequence[Value], scanned: Sequence[Value]) -> list[Value]:
    """Each scan output of an iteration pushed onto its list (the lists' next values). A scan output of unknown
    rank is refused: with no iteration, TF.js cannot stack an empty list whose element shape it does not know."""
    if any(v.dtype is None for v in scanned):
        raise ctx.error("a scan output's type is unknown")
    unranked = [name for name, v in zip(body.scan_output_names(len(scanned)), scanned) if v.shape is None]
    if unranked:
        raise ctx.error(f"the rank of its scan output(s) {', '.join(unranked)} is unknown: TF.js cannot stack "
                        "the empty list of a loop that runs no iteration without it")
    return [body.graph.add_op("TensorListPushBack", [lst, v], {"element_dtype": v.dtype}, name=f"scan_{k}",
                              dtype=DType.VARIANT, shape=()) for k, (lst, v) in enumerate(zip(lists, scanned))]


def _empty_lists(ctx: NodeContext, scanned: Sequence[Value]) -> tuple[list[Value], list[Value]]:
    """An empty TensorList per scan output, and its element shapes (``-1`` for sizes known at run time only)."""
    shapes = [ctx.int32(_element_shape(v.shape) if v.shape is not None else -1, label=f"scan_{k}_element_shape")
              for k, v in enumerate(scanned)]
    lists = [ctx.op("EmptyTensorList", [shape, ctx.int32(-1, label=f"scan_{k}_unbounded")],
                    {"element_dtype": v.dtype, "shape_type": DType.INT32}, dtype=DType.VARIANT, shape=(),
                    label=f"scan_{k}_list") for k, (shape, v) in enumerate(zip(shapes, scanned))]
    return lists, shapes


def _while(ctx: NodeContext, inits: Sequence[Value], updates: Sequence[Value], cond: FuncAttr,
           body: FuncAttr) -> list[Value]:
    """The StatelessWhile node; its outputs (the loop variables after the loop)."""
    node = ctx.graph.add_node("StatelessWhile", list(inits), {
        "T": [v.dtype for v in inits], "cond": cond, "body": body, "parallel_iterations": 1,
        "output_shapes": []}, name=ctx.unique_name("loop"), num_outputs=len(inits))
    for out, init, update in zip(node.outputs, inits, updates):
        out.dtype, out.shape = init.dtype, _relaxed([init.shape, update.shape])
    return node.outputs


def _gathered(ctx: NodeContext, lists: Sequence[Value], count: Value, shapes: Sequence[Value],
              scanned: Sequence[Value]) -> list[Value]:
    """The lists' ``count`` items stacked along a new axis 0 (``[0, ...]`` for a loop that ran no iteration)."""
    indices = ctx.op("Range", [ctx.int32(0, label="scan_start"), count, ctx.int32(1, label="scan_step")],
                     {"Tidx": DType.INT32}, dtype=DType.INT32, label="scan_indices")
    ran = ctx.op("Greater", [count, ctx.int32(0, label="no_iteration")], {"T": DType.INT32}, dtype=DType.BOOL,
                 shape=(), label="scan_ran") if any(None in v.shape for v in scanned) else None
    gathered = []
    for k, (lst, shape, v) in enumerate(zip(lists, shapes, scanned)):
        if None in v.shape:
            shape = _gather_shape(ctx, shape, ran, v.shape, k)
        out = ctx.op("TensorListGather", [lst, indices, shape], {"element_dtype": v.dtype}, dtype=v.dtype,
                     label=f"scan_{k}")
        out.shape = None if v.shape is None else (None, *v.shape)
        if v.dtype is not DType.FLOAT32:  # TF.js gathers an empty list as float32, whatever its element type
            out = ctx.op("Cast", [out], {"SrcT": v.dtype, "DstT": v.dtype, "Truncate": False}, dtype=v.dtype,
                         shape=out.shape, label=f"scan_{k}_typed")
        gathered.append(out)
    return gathered


def _gather_shape(ctx: NodeContext, shape: Value, ran: Value, element: tuple, k: int) -> Value:
    """The element shape a gather reads: the list's own (``-1`` for sizes known at run time) once the loop ran,
    else those sizes as 0, as onnxruntime gives a loop with no iteration (``[0, 0, 3]`` for ``[a, 3]``: measured
    with 1.32); TF.js cannot stack an empty list of a partly known element shape."""
    empty = ctx.int32([0 if d is None else int(d) for d in element], label=f"scan_{k}_empty_element_shape")
    return ctx.op("SelectV2", [ran, shape, empty], {"T": DType.INT32}, dtype=DType.INT32, shape=(len(element),),
                  label=f"scan_{k}_element_shape_read")


def _next_counter(body: _Body, i: Value) -> Value:
    one = body.graph.const(np.asarray(1, np.int32), name="one")
    return body.graph.add_op("AddV2", [i, one], {"T": DType.INT32}, name="next_i", dtype=DType.INT32, shape=())


@onnx_op("Loop")
def loop(ctx: NodeContext) -> list[Value]:
    """A StatelessWhile over ``(i, [M], cond, v..., scan lists..., outer tensors...)``."""
    proto = ctx.attr("body")
    carried = [ctx.input(k) for k in range(2, ctx.num_inputs)]
    scans = len(proto.output) - 1 - len(carried)
    if len(proto.input) != 2 + len(carried) or scans < 0:
        raise ctx.error(f"its body takes {len(proto.input)} input(s) and returns {len(proto.output)} for "
                        f"{len(carried)} loop-carried value(s)")
    limit = _trip_limit(ctx)
    if limit is None and not ctx.has_input(1):
        raise ctx.error("it has neither a trip count nor a condition (it would never end)")
    cond = _scalar(ctx.graph, ctx.input(1), ctx.unique_name("cond")) if ctx.has_input(1) else ctx.make_const(np.asarray(True),
                                                                                        label="always")
    names, args, constants = _outer_values(ctx, [proto])
    body = _Body(ctx, proto, "body")
    i = body.argument(DType.INT32, (), proto.input[0].name, np.dtype(np.int64))
    m = [body.argument(DType.INT32, ())] if limit is not None else []
    body.argument(DType.BOOL, (), proto.input[1].name, np.dtype(np.bool_))
    for k, init in enumerate(carried):
        _carried(body, proto.input[2 + k].name, init, ctx.tensor(2 + k).dtype, ctx.node.input[2 + k])
    lists = [body.argument(DType.VARIANT, ()) for _ in range(scans)]
    outer = [body.outer_argument(name, value)
             for name, value in zip(names, args)]
    results = body.translate(constants)
    scanned = results[1 + len(carried):]
    updates = [_next_counter(body, i), *m, _scalar(body.graph, results[0], "next_cond"), *results[1:1 + len(carried)],
               *_pushed(ctx, body, lists, scanned), *outer]
    body_attr = body.finish(updates)
    cond_attr = _loop_condition(ctx, body, 1 if limit is not None else None, 1 + len(m))
    empty, shapes = _empty_lists(ctx, scanned)
    inits = [ctx.int32(0, label="first_iteration"), *([limit] if limit is not None else []), cond, *carried,
             *empty, *args]
    after = _while(ctx, inits, updates, cond_attr, body_attr)
    first = 2 + len(m)
    finals = after[first:first + len(carried)]
    return [*finals, *_gathered(ctx, after[first + len(carried):first + len(carried) + scans], after[0], shapes,
                                scanned)]


def _axes(ctx: NodeContext, name: str, count: int, ranks: Sequence[int | None]) -> list[int]:
    """A Scan axes attribute (default 0), negative axes counted from each tensor's rank."""
    axes = list(ctx.attr(name) or [0] * count)
    if len(axes) != count:
        raise ctx.error(f"{name} has {len(axes)} entries for {count} tensor(s)")
    for k, axis in enumerate(axes):
        if axis < 0:
            if ranks[k] is None:
                raise ctx.error(f"{name}[{k}] is negative and the rank is unknown")
            axes[k] = axis + ranks[k]
    return axes


def _scan_step(body: _Body, x: Value, i: Value, n: Value, axis: int, reverse: bool, k: int) -> Value:
    """Scan input ``x``'s slice at this iteration (from the end for a reverse direction), axis ``axis`` dropped."""
    bg = body.graph
    t = i
    if reverse:
        one = bg.const(np.asarray(1, np.int32), name=f"x{k}_one")
        last = bg.add_op("Sub", [n, one], {"T": DType.INT32}, name=f"x{k}_last", dtype=DType.INT32, shape=())
        t = bg.add_op("Sub", [last, i], {"T": DType.INT32}, name=f"x{k}_t", dtype=DType.INT32, shape=())
    where = bg.const(np.asarray(axis, np.int32), name=f"x{k}_axis")
    shape = None if x.shape is None else tuple(d for j, d in enumerate(x.shape) if j != axis)
    return bg.add_op("GatherV2", [x, t, where], {"batch_dims": 0, "Tparams": x.dtype, "Tindices": DType.INT32,
                                                 "Taxis": DType.INT32}, name=f"x{k}_step", dtype=x.dtype, shape=shape)


def _placed(ctx: NodeContext, y: Value, axis: int, reverse: bool, k: int) -> Value:
    """A stacked scan output reversed along its new axis 0 and moved to ``axis`` as the attributes ask."""
    if reverse:
        y = ctx.op("ReverseV2", [y, ctx.int32([0], label=f"y{k}_reverse_axis")], {"Tidx": DType.INT32},
                   shape=y.shape, label=f"y{k}_reversed")
    if axis == 0:
        return y
    rank = len(y.shape)
    perm = [*range(1, axis + 1), 0, *range(axis + 1, rank)]
    return ctx.op("Transpose", [y, ctx.int32(perm, label=f"y{k}_perm")], {"Tperm": DType.INT32},
                  shape=tuple(y.shape[p] for p in perm), label=f"y{k}_axis")


@onnx_op("Scan", since=9)
def scan(ctx: NodeContext) -> list[Value]:
    """A StatelessWhile over ``(i, n, state..., scan lists..., scan inputs..., outer tensors...)``: each iteration
    gathers its slice of every scan input and pushes its scan outputs; after the loop they are stacked, reversed
    and moved to their axes as the attributes ask."""
    proto = ctx.attr("body")
    count = int(ctx.attr("num_scan_inputs"))
    states = [ctx.input(k) for k in range(ctx.num_inputs - count)]
    xs = [ctx.input(k) for k in range(ctx.num_inputs - count, ctx.num_inputs)]
    outs = len(proto.output) - len(states)
    if count < 1 or len(proto.input) != len(states) + count or outs < 0:
        raise ctx.error(f"its body takes {len(proto.input)} input(s) and returns {len(proto.output)} for "
                        f"{len(states)} state(s) and {count} scan input(s)")
    in_axes = _axes(ctx, "scan_input_axes", count, [None if x.shape is None else len(x.shape) for x in xs])
    in_reverse = [bool(d) for d in (ctx.attr("scan_input_directions") or [0] * count)]
    out_reverse = [bool(d) for d in (ctx.attr("scan_output_directions") or [0] * outs)]
    names, args, constants = _outer_values(ctx, [proto])
    body = _Body(ctx, proto, "body")
    i, n = body.argument(DType.INT32, ()), body.argument(DType.INT32, ())
    for k, init in enumerate(states):
        _carried(body, proto.input[k].name, init, ctx.tensor(k).dtype, ctx.node.input[k])
    lists = [body.argument(DType.VARIANT, ()) for _ in range(outs)]
    sequences = [body.argument(x.dtype, x.shape) for x in xs]
    outer = [body.outer_argument(name, value)
             for name, value in zip(names, args)]
    for k, x in enumerate(sequences):
        step = _scan_step(body, x, i, n, in_axes[k], in_reverse[k], k)
        body.bind(proto.input[len(states) + k].name, step, ctx.tensor(len(states) + k).dtype,
                  ctx.node.input[len(states) + k])
    results = body.translate(constants)
    scanned = results[len(states):]
    updates = [_next_counter(body, i), n, *results[:len(states)], *_pushed(ctx, body, lists, scanned),
               *sequences, *outer]
    body_attr = body.finish(updates)
    cond_attr = _loop_condition(ctx, body, 1, None)
    empty, shapes = _empty_lists(ctx, scanned)
    length = ctx.run_time_dim(xs[0], in_axes[0], label="length")
    inits = [ctx.int32(0, label="first_iteration"), length, *states, *empty, *xs, *args]
    after = _while(ctx, inits, updates, cond_attr, body_attr)
    stacked = _gathered(ctx, after[2 + len(states):2 + len(states) + outs], after[0], shapes, scanned)
    out_axes = _axes(ctx, "scan_output_axes", outs, [None if y.shape is None else len(y.shape) for y in stacked])
    if any(a and y.shape is None for a, y in zip(out_axes, stacked)):
        raise ctx.error("a scan output's rank is unknown, so it cannot be moved to its scan_output_axes")
    placed = [_placed(ctx, y, out_axes[k], out_reverse[k], k) for k, y in enumerate(stacked)]
    return [*after[2:2 + len(states)], *placed]


def _loop_condition(ctx: NodeContext, body: _Body, limit_index: int | None, cond_index: int | None) -> FuncAttr:
    """The While's cond function: ``i < M and cond`` (or the one of them the loop has); ``i`` is argument 0."""
    from ..translate import sanitize

    parent = ctx.translator
    name = _function_name(parent.graph.functions, sanitize(f"{ctx.name}/cond"))
    graph = Graph(name)
    arguments = [graph.placeholder(f"arg{k}", v.dtype or DType.FLOAT32, v.shape)
                 for k, v in enumerate(body.graph.inputs.values())]
    flags = [] if cond_index is None else [arguments[cond_index]]
    if limit_index is not None:
        flags.insert(0, graph.add_op("Less", [arguments[0], arguments[limit_index]], {"T": DType.INT32}, name="more",
                                     dtype=DType.BOOL, shape=()))
    flag = flags[0] if len(flags) == 1 else graph.add_op("LogicalAnd", flags, {}, name="go_on", dtype=DType.BOOL,
                                                         shape=())
    graph.set_output("out0", flag)
    parent.graph.functions[name] = graph
    return FuncAttr(name)
