"""TF graphs whose ops TF.js lacks or computes differently are rewritten so TF.js matches TF.

Each model is a real TF model built here (frozen GraphDef or SavedModel); it is converted, run in
TF.js on cpu and wasm, and compared with TensorFlow's own outputs (rtol 1e-5 × max|reference|):
NCHW convs/pools/biases/batch norms (``nchw_to_nhwc``), Keras MultiHeadAttention's Einsums
(``lower_einsum``), tf_keras grouped convolutions left as function calls (``inline_functions``,
``grouped_conv``), truncating Mod/Div (``truncating_division``), BatchNormWithGlobalNormalization
(``batchnorm_global``), and the TF op conformance run's findings: StridedSlice masks (``strided_slice``),
BatchMatMul broadcasting (``batch_matmul_broadcast``), Select rows (``select_rows``), OneHot axis/depth 1
(``one_hot``), float FloorDiv/FloorMod (``float_floor_division``), EnsureShape/PreventGradient/NMS V5
(``tfjs_pass_through``).
"""
from __future__ import annotations

import base64
import json
import logging

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.cli import main  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

pytestmark = pytest.mark.node

RTOL = 1e-5
rng = np.random.default_rng(12)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def convert_and_verify(source, out, inputs, expected=None, backends=("cpu", "wasm"), **flags):
    """Convert, run in TF.js (cpu, wasm) and compare with ``expected`` (default: the SavedModel run by TF)."""
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import verify_model

    result = tfjsconv.convert(source, out, **flags)
    if expected is None:
        options = ConvertOptions.from_kwargs(**flags)
        options.extra["model_dir"] = str(out)
        expected = get_plugin_manager().registry.frontends[result.input_format].reference(source, inputs, options)
    report = verify_model(out, inputs, expected, backends=backends, rtol=RTOL, atol=0.0)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == set(backends)
    return result, json.loads((out / "model.json").read_text())


def nodes(doc) -> list[dict]:
    return doc["modelTopology"]["node"]


def ops_of(doc) -> set[str]:
    return {n["op"] for n in nodes(doc)}


def data_formats(doc) -> set[str]:
    return {base64.b64decode(n["attr"]["data_format"]["s"]).decode() for n in nodes(doc)
            if "data_format" in n.get("attr", {})}


# -- NCHW ---------------------------------------------------------------------------------------
W_DW, BIAS = randn(3, 3, 4, 2), randn(8)
BN = (randn(8), randn(8), randn(8), np.abs(randn(8)) + 0.5)
W1, W2 = randn(3, 3, 8, 6), randn(2, 2, 8, 3)


def nchw_graph(fmt: str, x):
    """The same network in either layout; attrs are written out by hand for each (no shared permuting)."""
    first = fmt == "NCHW"
    s = (lambda h, w: [1, 1, h, w]) if first else (lambda h, w: [1, h, w, 1])
    pads = [0, 0, 0, 0, 1, 2, 0, 1] if first else [0, 0, 1, 2, 0, 1, 0, 0]
    raw = tf.raw_ops
    dw = raw.DepthwiseConv2dNative(input=x, filter=W_DW, strides=s(2, 2), padding="SAME", data_format=fmt,
                                   dilations=[1, 1, 1, 1], name="depthwise")
    biased = raw.BiasAdd(value=dw, bias=BIAS, data_format=fmt, name="bias")
    normed = raw.FusedBatchNormV3(x=biased, scale=BN[0], offset=BN[1], mean=BN[2], variance=BN[3], epsilon=1e-3,
                                  data_format=fmt, is_training=False, name="batchnorm")[0]
    act = raw.Relu(features=normed, name="relu")
    conv1 = raw.Conv2D(input=act, filter=W1, strides=s(1, 2), padding="EXPLICIT", explicit_paddings=pads,
                       data_format=fmt, dilations=[1, 1, 1, 1], name="conv_explicit")
    conv2 = raw.Conv2D(input=act, filter=W2, strides=[1, 1, 1, 1], padding="SAME", data_format=fmt,
                       dilations=s(2, 1), name="conv_dilated")
    pool_max = raw.MaxPool(input=conv2, ksize=s(2, 2), strides=s(2, 1), padding="VALID", data_format=fmt,
                           name="max_pool")
    pool_avg = raw.AvgPool(value=conv2, ksize=s(3, 2), strides=s(1, 1), padding="SAME", data_format=fmt,
                           name="avg_pool")
    return {"conv_explicit": conv1, "max_pool": pool_max, "avg_pool": pool_avg}


def test_nchw_frozen_graph_runs_channels_last(tmp_path, tfjs_runtime):
    graph = tf.Graph()
    with graph.as_default():
        nchw_graph("NCHW", tf.compat.v1.placeholder(tf.float32, [1, 4, 9, 9], name="images"))
    source = tmp_path / "nchw.pb"
    source.write_bytes(graph.as_graph_def().SerializeToString())
    images = randn(1, 4, 9, 9)
    # TF's CPU kernels are NHWC-only: the reference is the NHWC network on the transposed input
    nhwc = nchw_graph("NHWC", tf.constant(images.transpose(0, 2, 3, 1)))
    expected = {k: v.numpy().transpose(0, 3, 1, 2) for k, v in nhwc.items()}
    result, doc = convert_and_verify(source, tmp_path / "web", {"images": images}, expected,
                                     output_node_names=list(expected))
    assert "NCHW" not in data_formats(doc)
    stats = {s.name: s.changes for s in result.pass_report.stats}
    assert stats["nchw_to_nhwc"] == 7
    transposes = result.op_histogram.get("Transpose", 0)
    assert transposes <= 4  # one in, three out: the ones between the ops cancel


W_T = randn(3, 3, 2, 4)  # (h, w, out channels, in channels)


def test_nchw_transposed_convs_run_channels_last(tmp_path, tfjs_runtime):
    """TF.js reads a Conv2DBackpropInput's strides and output shape as NHWC whatever its data_format."""
    raw = tf.raw_ops
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4, 5, 5], name="x")
        raw.Conv2DBackpropInput(input_sizes=[2, 2, 10, 10], filter=W_T, out_backprop=x, strides=[1, 1, 2, 2],
                                padding="SAME", data_format="NCHW", name="fixed_sizes")
        sizes = tf.stack([tf.shape(x)[0], 2, 11, 11])  # known only at run time: reordered by a Gather
        raw.Conv2DBackpropInput(input_sizes=sizes, filter=W_T, out_backprop=x, strides=[1, 1, 2, 2],
                                padding="VALID", data_format="NCHW", name="runtime_sizes")
    source = tmp_path / "deconv.pb"
    source.write_bytes(graph.as_graph_def().SerializeToString())
    images = randn(2, 4, 5, 5)
    nhwc = tf.constant(images.transpose(0, 2, 3, 1))  # TF's CPU kernels are NHWC-only
    expected = {name: raw.Conv2DBackpropInput(input_sizes=[2, size, size, 2], filter=W_T, out_backprop=nhwc,
                                              strides=[1, 2, 2, 1], padding=padding).numpy().transpose(0, 3, 1, 2)
                for name, size, padding in (("fixed_sizes", 10, "SAME"), ("runtime_sizes", 11, "VALID"))}
    _, doc = convert_and_verify(source, tmp_path / "web", {"x": images}, expected, output_node_names=list(expected))
    assert "NCHW" not in data_formats(doc)


# -- Einsum -------------------------------------------------------------------------------------
def tf_keras_attention(path):
    import tf_keras

    query, value = tf_keras.Input((6, 8), name="query"), tf_keras.Input((5, 8), name="value")
    attended = tf_keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(query, value)
    projected = tf_keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 3), bias_axes="d")(attended)
    tf_keras.Model([query, value], projected).save(path, save_format="tf")
    return path


def keras3_attention(path):
    import keras

    query, value = keras.Input((6, 8), name="query"), keras.Input((None, 8), name="value")
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(query, value)
    keras.Model([query, value], attended).export(str(path), verbose=False)
    return path


@pytest.mark.parametrize("build", [tf_keras_attention, keras3_attention])
def test_multi_head_attention_einsums_are_lowered(build, tmp_path, tfjs_runtime):
    source = build(tmp_path / "attention")
    inputs = {"query": randn(2, 6, 8), "value": randn(2, 5, 8)}
    result, doc = convert_and_verify(source, tmp_path / "web", inputs)
    assert result.pass_report.ops_before.get("Einsum", 0) >= 4
    assert "Einsum" not in ops_of(doc)
    assert {"BatchMatMulV2"} & ops_of(doc) or {"_FusedMatMul", "MatMul"} & ops_of(doc)


#: equation -> operand shapes (None: the batch size, unknown in the signature)
EQUATIONS = {
    "abc,cd->abd": [(None, 5, 4), (4, 3)],              # EinsumDense
    "abc,cde->abde": [(None, None, 4), (4, 2, 3)],      # MHA projection, any length: a shape computed at run time
    "aecd,abcd->acbe": [(None, 6, 2, 4), (None, 5, 2, 4)],  # attention scores: two batch labels
    "acbe,aecd->abcd": [(None, 2, 5, 6), (None, 6, 2, 4)],  # attention output
    "abcd,cde->abe": [(None, 5, 2, 4), (2, 4, 3)],      # output projection: two contracted labels
    "...ij,jk->...ik": [(None, 2, 3, 4), (4, 5)],       # an ellipsis
    "ab,cd->abdc": [(None, 3), (2, 4)],                 # outer product, transposed output
    "aii->ai": [(None, 3, 3)],                          # a diagonal (identity mask, sum)
    "abc,abd->acd": [(None, 3, 4), (None, 3, 2)],       # batch matmul over the middle label
    "abc->ca": [(None, 3, 4)],                          # a sum and a transpose
}


def test_einsum_equations_match_tf(tmp_path, tfjs_runtime):
    names = [f"e{i}" for i in range(len(EQUATIONS))]
    specs = [tf.TensorSpec(shape, tf.float32, name=f"{name}_{k}")
             for name, shapes in zip(names, EQUATIONS.values()) for k, shape in enumerate(shapes)]

    class Einsums(tf.Module):
        @tf.function(input_signature=specs)
        def __call__(self, *args):
            args, out = list(args), {}
            for name, (equation, shapes) in zip(names, EQUATIONS.items()):
                out[name] = tf.einsum(equation, *args[:len(shapes)])
                args = args[len(shapes):]
            return out

    tf.saved_model.save(Einsums(), str(tmp_path / "einsums"))
    inputs = {spec.name: randn(*[2 if d is None else d for d in spec.shape]) for spec in specs}
    inputs["e1_0"] = randn(2, 7, 4)  # a length the graph does not know
    result, doc = convert_and_verify(tmp_path / "einsums", tmp_path / "web", inputs)
    assert result.pass_report.ops_before.get("Einsum", 0) >= len(EQUATIONS) - 1  # TF may lower a trivial one
    assert "Einsum" not in ops_of(doc)


def test_einsum_that_may_broadcast_is_refused_not_lowered(tmp_path):
    """The ellipsis of ``a`` is unknown, that of ``b`` is 1: TF broadcasts it. Lowered with ``b``'s size,
    the reshapes would fold a's batch into its rows (a (1, 6, 2, 5) result instead of (3, 2, 2, 5))."""
    from tfjsconv.errors import BackendUnsupportedError

    class Broadcast(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, 2, 4], tf.float32, name="a"),
                                      tf.TensorSpec([1, 4, 5], tf.float32, name="b")])
        def __call__(self, a, b):
            return {"y": tf.einsum("...ijk,...kl->...ijl", a, b)}

    tf.saved_model.save(Broadcast(), str(tmp_path / "broadcast"))
    with pytest.raises(BackendUnsupportedError, match="Einsum on wasm"):  # left to TF.js's own Einsum
        tfjsconv.convert(tmp_path / "broadcast", tmp_path / "web")


# -- grouped convolutions (function calls) --------------------------------------------------------
def test_tf_keras_grouped_convs_are_inlined_and_lowered(tmp_path, tfjs_runtime, caplog):
    import tf_keras

    images = tf_keras.Input((8, 8, 4), name="images")
    halves = tf_keras.layers.Conv2D(6, 3, groups=2, padding="same")(images)  # Split + 2 Conv2D + Concat
    per_channel = tf_keras.layers.Conv2D(12, 3, groups=6, strides=2)(halves)  # depthwise, multiplier 2
    tf_keras.Model(images, per_channel).save(tmp_path / "grouped", save_format="tf")
    with caplog.at_level(logging.INFO, logger="tfjsconv.plugins.savedmodel"):
        result, doc = convert_and_verify(tmp_path / "grouped", tmp_path / "web", {"images": randn(2, 8, 8, 4)})
    assert "with TensorFlow" not in caplog.text  # read straight from the files: the calls are left to the IR
    # the TF-free reader expands every call as it reads; TF's path keeps the jit_compile ones for the IR pass
    with_tf = tfjsconv.convert(tmp_path / "grouped", tmp_path / "web_tf", loader="tensorflow")
    assert with_tf.pass_report.ops_before.get("PartitionedCall", 0) + \
        with_tf.pass_report.ops_before.get("StatefulPartitionedCall", 0) == 2
    assert ops_of(json.loads((tmp_path / "web_tf" / "model.json").read_text())) == ops_of(doc)
    ops = ops_of(doc)
    assert not {"PartitionedCall", "StatefulPartitionedCall"} & ops
    assert "Split" in ops and {"DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"} & ops


def test_nested_multi_output_calls_are_inlined(tmp_path, tfjs_runtime):
    @tf.function(jit_compile=True)  # TF keeps jit_compile functions as calls when it freezes
    def inner(x):
        return tf.nn.relu(x) * 2.0

    @tf.function(jit_compile=True)
    def outer(x):
        return inner(x) + 1.0, inner(-x)

    class Calls(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            first, second = outer(x)
            return {"first": first, "second": second}

    tf.saved_model.save(Calls(), str(tmp_path / "calls"))
    _, doc = convert_and_verify(tmp_path / "calls", tmp_path / "web", {"x": randn(2, 3)})  # TF-free: expanded on reading
    assert not {"PartitionedCall", "StatefulPartitionedCall"} & ops_of(doc)
    result, doc = convert_and_verify(tmp_path / "calls", tmp_path / "web_tf", {"x": randn(2, 3)}, loader="tensorflow")
    stats = {s.name: s.changes for s in result.pass_report.stats}
    assert stats["inline_functions"] >= 2  # the outer call, then the inner ones from its body
    assert not {"PartitionedCall", "StatefulPartitionedCall"} & ops_of(doc)


def recursive_graph_def():
    from tensorflow.core.framework import function_pb2, graph_pb2

    float_type = tf.float32.as_datatype_enum

    def call(node, name, func, arg):
        node.name, node.op = name, "PartitionedCall"
        node.input.append(arg)
        node.attr["Tin"].list.type.append(float_type)
        node.attr["Tout"].list.type.append(float_type)
        node.attr["f"].func.name = func

    graph_def = graph_pb2.GraphDef()
    graph_def.versions.producer = 1000
    for name, callee in (("ping", "pong"), ("pong", "ping")):  # ping -> pong -> ping
        fdef = function_pb2.FunctionDef()
        fdef.signature.name = name
        fdef.signature.input_arg.add(name="x", type=float_type)
        fdef.signature.output_arg.add(name="y", type=float_type)
        call(fdef.node_def.add(), "again", callee, "x")
        fdef.ret["y"] = "again:output:0"
        graph_def.library.function.append(fdef)
    x = graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = float_type
    call(graph_def.node.add(), "out", "ping", "x")
    return graph_def


def test_recursive_function_is_refused_cleanly(tmp_path, capsys):
    source = tmp_path / "recursive.pb"
    source.write_bytes(recursive_graph_def().SerializeToString())
    code = main(["convert", str(source), str(tmp_path / "web"), "--output_node_names", "out"])
    err = capsys.readouterr().err
    assert code == 2
    assert "ping -> pong -> ping" in err and "Traceback" not in err


def test_inline_pass_refuses_recursion_in_ir_functions(tmp_path):
    """The pass's own check, for frontends that hand it function bodies without checking them first."""
    from tfjsconv.dtypes import DType
    from tfjsconv.errors import InputError
    from tfjsconv.ir import FuncAttr, Graph

    def calling(name: str, callee: str) -> Graph:
        g = Graph(name)
        x = g.placeholder("x", DType.FLOAT32, (2,))
        call = g.add_node("PartitionedCall", [x], {"f": FuncAttr(callee), "Tin": [DType.FLOAT32],
                                                   "Tout": [DType.FLOAT32]}, name="call")
        call.output(0).dtype = DType.FLOAT32
        g.set_output("y", call.output(0))
        return g

    main_graph = calling("main", "ping")
    main_graph.functions = {"ping": calling("ping", "pong"), "pong": calling("pong", "ping")}
    with pytest.raises(InputError, match="ping -> pong -> ping") as info:
        tfjsconv.convert(main_graph, tmp_path / "web")
    assert info.value.exit_code == 2 and "recursive" in info.value.message


# -- truncating Mod / Div -------------------------------------------------------------------------
class Arithmetic(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([8], tf.int32, name="a"), tf.TensorSpec([8], tf.int32, name="b"),
                                  tf.TensorSpec([8], tf.float32, name="x"), tf.TensorSpec([8], tf.float32, name="y")])
    def __call__(self, a, b, x, y):
        raw = tf.raw_ops
        return {"mod_int": raw.Mod(x=a, y=b), "truncate_mod_int": raw.TruncateMod(x=a, y=b),
                "truncate_div_int": raw.TruncateDiv(x=a, y=b), "div_int": raw.Div(x=a, y=b),
                "mean_int": raw.Mean(input=tf.reshape(a, [2, 4]), axis=[1]),
                "floor_mod_int": raw.FloorMod(x=a, y=b), "floor_div_int": raw.FloorDiv(x=a, y=b),
                "mod_float": raw.Mod(x=x, y=y), "truncate_mod_float": raw.TruncateMod(x=x, y=y),
                "truncate_div_float": raw.TruncateDiv(x=x, y=y), "floor_mod_float": raw.FloorMod(x=x, y=y)}


def arithmetic_inputs() -> dict[str, np.ndarray]:
    """Every sign combination, exact and inexact divisions, and a zero dividend."""
    return {"a": np.array([-7, 7, -7, 7, 0, -6, 5, -1], np.int32), "b": np.array([2, -2, -2, 2, 3, 3, -7, 5], np.int32),
            "x": rng.uniform(-10, 10, 8).astype(np.float32),
            "y": (rng.uniform(0.5, 3, 8) * rng.choice([-1, 1], 8)).astype(np.float32)}


def test_truncating_mod_and_div_match_tf(tmp_path, tfjs_runtime):
    tf.saved_model.save(Arithmetic(), str(tmp_path / "arith"))
    result, doc = convert_and_verify(tmp_path / "arith", tmp_path / "web", arithmetic_inputs())
    assert {"Mod", "TruncateMod", "TruncateDiv", "Div", "Mean"} <= set(result.pass_report.ops_before)
    assert not {"Mod", "TruncateMod", "TruncateDiv", "Div"} & ops_of(doc)


class ArithmeticEdges(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([8], tf.int32, name="a"), tf.TensorSpec([8], tf.int32, name="b"),
                                  tf.TensorSpec([8], tf.float32, name="x"), tf.TensorSpec([8], tf.float32, name="y")])
    def __call__(self, a, b, x, y):
        raw = tf.raw_ops
        mod_float = raw.Mod(x=x, y=y)
        # 1 / Mod shows the sign of a zero remainder (fmod(-0, 3) is -0: -inf here)
        return {"mod_int": raw.Mod(x=a, y=b), "truncate_div_int": raw.TruncateDiv(x=a, y=b),
                "mod_float": mod_float, "inverse_mod_float": 1.0 / mod_float}


def test_truncating_mod_and_div_edges_match_tf(tmp_path, tfjs_runtime):
    """INT_MIN and ints beyond 2^24 (TF.js's integer Abs rounds them through float32), ±Inf, NaN, -0."""
    tf.saved_model.save(ArithmeticEdges(), str(tmp_path / "edges"))
    int_min = np.iinfo(np.int32).min
    inputs = {"a": np.array([int_min, int_min, int_min, 2**31 - 1, 16777217, -16777219, 123456789, -987654321],
                            np.int32),
              "b": np.array([2, 3, 7, 2, 2, 3, -10, 7], np.int32),
              "x": np.array([np.inf, -np.inf, np.nan, -0.0, 5.5, -5.5, -6.0, 1e30], np.float32),
              "y": np.array([2.0, 3.0, 2.0, 3.0, np.inf, -np.inf, 3.0, 7.0], np.float32)}
    # cpu: all of it; wasm divides integers in float32 (its own FloorDiv is off beyond 2^24), so no division there
    convert_and_verify(tmp_path / "edges", tmp_path / "web", inputs, backends=("cpu",))
    expected = {k: v.numpy() for k, v in ArithmeticEdges()(**{k: tf.constant(v) for k, v in inputs.items()}).items()}
    del expected["truncate_div_int"]
    from tfjsconv.verify.compare import verify_model

    report = verify_model(tmp_path / "web", inputs, expected, backends=("wasm",), rtol=RTOL, atol=0.0)
    assert report.passed, report.failures


# -- BatchNormWithGlobalNormalization ---------------------------------------------------------------
def global_batchnorm_graph_def(scale_after: bool):
    """TF1's batch norm, removed from GraphDef version 9 on: only a producer-8 GraphDef holds it."""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.placeholder(tf.float32, [None, 3, 3, 4], name="x")
        for name, value in (("m", randn(4)), ("v", np.abs(randn(4)) + 0.1), ("beta", randn(4)), ("gamma", randn(4))):
            tf.constant(value, name=name)
    graph_def = graph.as_graph_def()
    node = graph_def.node.add(name="bn", op="BatchNormWithGlobalNormalization")
    node.input.extend(["x", "m", "v", "beta", "gamma"])
    node.attr["T"].type = tf.float32.as_datatype_enum
    node.attr["variance_epsilon"].f = 0.01
    node.attr["scale_after_normalization"].b = scale_after
    graph_def.versions.producer = 8
    return graph_def


@pytest.mark.parametrize("scale_after", [True, False])
def test_batchnorm_with_global_normalization(scale_after, tmp_path, tfjs_runtime):
    graph_def = global_batchnorm_graph_def(scale_after)
    source = tmp_path / "bn.pb"
    source.write_bytes(graph_def.SerializeToString())
    x = randn(2, 3, 3, 4)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        expected = {"bn": session.run("bn:0", {"x:0": x})}
    result, doc = convert_and_verify(source, tmp_path / "web", {"x": x}, expected, output_node_names=["bn"])
    assert "BatchNormWithGlobalNormalization" not in ops_of(doc)


class EmptyReductions(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([2, 0, 4], tf.float32, name="x"),
                                  tf.TensorSpec([None, 0, 3], tf.int32, name="n")])
    def __call__(self, x, n):
        return {"max": tf.reduce_max(x, axis=1), "min": tf.reduce_min(x, axis=[1, 2], keepdims=True),
                "prod": tf.reduce_prod(x, axis=1), "mean": tf.reduce_mean(x, axis=1), "int_max": tf.reduce_max(n, axis=1),
                "int_min": tf.reduce_min(n, axis=[1, 2], keepdims=True), "int_prod": tf.reduce_prod(n, axis=1)}


def test_reductions_over_an_empty_axis_match_tf(tmp_path, tfjs_runtime):
    """TF.js's Max/Min over zero elements give NaN (cpu) or the wrong infinity (wasm), wasm's Prod 0, Mean 0
    or garbage (TF: NaN): ``empty_reductions`` writes TF's result (a Fill of the run-time shape when dynamic)."""
    tf.saved_model.save(EmptyReductions(), str(tmp_path / "empty"))
    inputs = {"x": np.zeros((2, 0, 4), np.float32), "n": np.zeros((3, 0, 3), np.int32)}
    result, doc = convert_and_verify(tmp_path / "empty", tmp_path / "web", inputs)
    assert {"Max", "Min", "Prod", "Mean"} <= set(result.pass_report.ops_before)
    assert not {"Max", "Min", "Prod", "Mean"} & ops_of(doc)
    assert "Fill" in ops_of(doc)


def frozen_graph(tmp_path, name: str, build, feeds: dict[str, np.ndarray]):
    """A frozen GraphDef of ``build(placeholders) -> {output: tensor}`` and TF's own outputs on ``feeds``."""
    graph = tf.Graph()
    with graph.as_default():
        placeholders = {k: tf.compat.v1.placeholder(tf.as_dtype(v.dtype), v.shape, name=k) for k, v in feeds.items()}
        outputs = {k: tf.identity(t, name=k) for k, t in build(**placeholders).items()}
    with tf.compat.v1.Session(graph=graph) as session:
        expected = session.run({k: t.name for k, t in outputs.items()}, {f"{k}:0": v for k, v in feeds.items()})
    source = tmp_path / f"{name}.pb"
    source.write_bytes(graph.as_graph_def().SerializeToString())
    return source, expected


def run_frozen(tmp_path, name: str, build, feeds: dict[str, np.ndarray], **flags):
    source, expected = frozen_graph(tmp_path, name, build, feeds)
    return convert_and_verify(source, tmp_path / "web", feeds, expected, output_node_names=list(expected), **flags)


def test_strided_slices_tfjs_misreads_become_plain_slices(tmp_path, tfjs_runtime):
    """new_axis + shrink (``x[None, 1, ::2]``), shrink + negative stride + end_mask, and begin > end:
    ``strided_slice`` resolves them to in-range mask-free slices and a Reshape."""
    raw = tf.raw_ops

    def build(x, y):
        def ss(t, b, e, s, **masks):
            return raw.StridedSlice(input=t, begin=b, end=e, strides=s, **masks)
        return {"newaxis_shrink": y[None, 1, ::2],
                "shrink_reversed": ss(x, [1, 0, 5], [2, 0, 0], [1, 1, -2], begin_mask=2, end_mask=6,
                                      shrink_axis_mask=1),
                "empty": ss(y, [3, 0], [1, 4], [1, 1]),
                "reversed_to_start": x[::-1, 1, None, ::-3]}

    result, doc = run_frozen(tmp_path, "slices", build, {"x": randn(2, 7, 6, 3), "y": randn(4, 5)})
    stats = {s.name: s.changes for s in result.pass_report.stats}
    assert stats["strided_slice"] == 4
    for node in nodes(doc):
        if node["op"] == "StridedSlice":
            attrs = node.get("attr", {})
            assert all(int(attrs.get(m, {}).get("i", 0)) == 0 for m in ("new_axis_mask", "shrink_axis_mask"))


def test_batch_matmul_broadcasting_is_made_explicit(tmp_path, tfjs_runtime):
    """TF.js's BatchMatMul indexes each operand's flattened batch modulo its size, wrong for ``(2,1)``
    against ``(2,3)``: ``batch_matmul_broadcast`` inserts BroadcastTo (static, or BroadcastArgs of the
    run-time shapes when the batch is dynamic)."""
    raw = tf.raw_ops

    def build(a, b, c, d, e):
        return {"ranks": raw.BatchMatMulV2(x=a, y=b), "rank5": raw.BatchMatMulV2(x=c, y=d, adj_y=True),
                "dynamic": raw.BatchMatMulV2(x=e, y=b)}

    feeds = {"a": randn(2, 1, 3, 4), "b": randn(3, 4, 5), "c": randn(2, 1, 2, 3, 4), "d": randn(1, 3, 1, 2, 4),
             "e": randn(2, 1, 3, 4)}
    source, expected = frozen_graph(tmp_path, "bmm", build, feeds)
    # the same graph with e's leading dim unknown: the target shape is computed at run time
    graph_def = tf.compat.v1.GraphDef.FromString(source.read_bytes())
    shape = next(n for n in graph_def.node if n.name == "e").attr["shape"].shape
    shape.dim[0].size = -1
    source.write_bytes(graph_def.SerializeToString())
    result, doc = convert_and_verify(source, tmp_path / "web", feeds, expected,
                                     output_node_names=list(expected))
    stats = {s.name: s.changes for s in result.pass_report.stats}
    assert stats["batch_matmul_broadcast"] == 3
    assert {"BroadcastTo", "BroadcastArgs"} <= ops_of(doc)


def test_select_rows_and_one_hot_forms_match_tf(tmp_path, tfjs_runtime):
    """TF1 Select with a vector condition picks rows (``select_rows`` → SelectV2 on ``[n, 1, 1]``);
    TF.js's oneHot ignores ``axis`` on cpu and refuses depth 1 (``one_hot`` → last axis + Transpose,
    depth 1 → SelectV2)."""
    raw = tf.raw_ops

    def build(cond, t, e, idx):
        return {"rows": raw.Select(condition=cond, x=t, y=e),
                "axis0": raw.OneHot(indices=idx, depth=4, on_value=np.int32(5), off_value=np.int32(-2), axis=0),
                "axis1": raw.OneHot(indices=idx, depth=3, on_value=np.int32(1), off_value=np.int32(0), axis=1),
                "depth1": raw.OneHot(indices=idx, depth=1, on_value=np.float32(2), off_value=np.float32(-1)),
                "depth1_axis0": raw.OneHot(indices=idx, depth=1, on_value=np.float32(3), off_value=np.float32(0),
                                           axis=0)}

    feeds = {"cond": np.array([True, False, True]), "t": randn(3, 2, 4), "e": randn(3, 2, 4),
             "idx": np.array([[0, -1, 3], [1, 0, 2]], np.int32)}
    result, doc = run_frozen(tmp_path, "select_onehot", build, feeds)
    stats = {s.name: s.changes for s in result.pass_report.stats}
    assert stats["select_rows"] == 1 and stats["one_hot"] == 4
    assert "Select" not in ops_of(doc)
    assert all(n["attr"].get("axis", {}).get("i", "-1") in ("-1", -1) for n in nodes(doc) if n["op"] == "OneHot")


def test_float_floor_division_matches_tf(tmp_path, tfjs_runtime):
    """TF.js's cpu floorDiv returns int32 for floats; its mod is NaN for a ±Inf divisor and -0 for
    ``mod(1, -1e30)``: ``float_floor_division`` writes ``Floor(RealDiv)`` and TF's ``fmod + b`` form."""
    special = np.float32([0.0, -0.0, 1.0, -1.0, 2.5, -3.7, 1e-30, -1e-30, 1e30, -1e30, np.nan, np.inf, -np.inf])
    a, b = np.repeat(special, special.size), np.tile(special, special.size)
    raw = tf.raw_ops

    def build(a, b, m, v):
        return {"div": raw.FloorDiv(x=a, y=b), "mod": raw.FloorMod(x=a, y=b),
                "div_broadcast": raw.FloorDiv(x=m, y=v), "mod_broadcast": raw.FloorMod(x=m, y=v)}

    feeds = {"a": a, "b": b, "m": randn(2, 3, 1, scale=3), "v": randn(4, scale=3)}
    result, doc = run_frozen(tmp_path, "floor", build, feeds)
    assert "FloorDiv" not in ops_of(doc)
    stats = {s.name: s.changes for s in result.pass_report.stats}
    assert stats["float_floor_division"] == 4


def test_pass_through_ops_and_nms_valid_outputs(tmp_path, tfjs_runtime):
    """TF.js's EnsureShape reads a 2nd input TF's op lacks, PreventGradient has no TF.js op, and TF.js's
    NonMaxSuppressionV5 has no ``valid_outputs``: ``tfjs_pass_through`` (also at level 0, where
    ``remove_identity`` does not run) makes them Identity and ``Size(indices)``."""
    raw = tf.raw_ops

    def build(x, boxes, scores):
        selected, _, valid = raw.NonMaxSuppressionV5(boxes=boxes, scores=scores, max_output_size=4,
                                                     iou_threshold=0.5, score_threshold=0.1, soft_nms_sigma=0.0)
        return {"ensured": raw.EnsureShape(input=x, shape=[2, 3]) * 2.0,
                "no_grad": raw.PreventGradient(input=x) + 1.0, "selected": selected, "valid": valid}

    corners = rng.uniform(0, 1, (6, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(0.1, 0.5, (6, 2)).astype(np.float32)], axis=1)
    feeds = {"x": randn(2, 3), "boxes": boxes, "scores": rng.uniform(0, 1, 6).astype(np.float32)}
    result, doc = run_frozen(tmp_path, "pass_through", build, feeds, optimization_level=0)
    assert not {"EnsureShape", "PreventGradient"} & ops_of(doc)
    assert "Size" in ops_of(doc)
