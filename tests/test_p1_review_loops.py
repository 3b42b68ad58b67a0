"""Review of P1's TensorList loops (RP1): the edges of the output collection the other tests do not feed.

Keras (``rnn_edges``, Keras 3 and tf_keras): batch 1 and length 1 (a list of one item), go_backwards sequences fed to
another loop, a go_backwards sequence's mask passed on unreversed (as Keras does), Bidirectional whose forward layer
walks backwards and whose backward layer forwards, with sequences and merge modes concat/None/mul/ave, return_state
without sequences, masks with fully masked rows. ConvLSTMs (``conv_edges``, tf_keras: run-time positions) stacked,
strided, dilated, Bidirectional, per-step ``mask=``; Bidirectional ConvLSTM ``initial_state`` (halves swapped in one
call, go_backwards, Keras 3 and tf_keras), and Keras 3's unmasked run when ``initial_state`` is given with a masked
sequence. One converted model per case, fed three sizes, matches Keras on TF.js cpu and wasm (converted with
TensorFlow, Keras and tf_keras poisoned); repeated runs keep TF.js's tensor count. ONNX LSTM/GRU/RNN loops
(bidirectional as two loops, reverse from ``initial_h``, stacked, layout 0 and 1) match onnxruntime, webgl once.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, flat, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering_masks import _padded_ids  # noqa: E402


def rnn_edges(k):
    L = k.layers
    x, ids = k.Input((None, 3), name="x"), k.Input((None,), dtype="int32", name="ids")
    back_seq = L.LSTM(3, go_backwards=True, return_sequences=True, name="back_seq")(x)
    a = L.GRU(3, return_sequences=True, name="a")(x)
    b = L.LSTM(2, return_sequences=True, go_backwards=True, name="b")(a)
    c = L.SimpleRNN(2, return_state=True, name="c")(b)
    emb = L.Embedding(9, 3, mask_zero=True, name="emb")(ids)
    walked = L.LSTM(3, return_sequences=True, go_backwards=True, name="walked")(emb)
    after = L.GRU(2, return_sequences=True, name="after")(walked)  # Keras passes the mask on unreversed
    flipped = L.Bidirectional(L.LSTM(2, return_sequences=True, go_backwards=True), merge_mode="concat",
                              backward_layer=L.LSTM(2, return_sequences=True), name="flipped")(x)
    flipped_masked = L.Bidirectional(L.GRU(2, return_sequences=True, go_backwards=True, return_state=True),
                                     backward_layer=L.GRU(3, return_sequences=True, return_state=True),
                                     merge_mode=None, name="flipped_masked")(emb)
    muls = L.Bidirectional(L.SimpleRNN(2, return_sequences=True), merge_mode="mul", name="muls")(walked)
    aves = L.Bidirectional(L.LSTM(2, return_sequences=True), merge_mode="ave", name="aves")(L.Masking(name="m")(x))
    states_only = L.GRU(2, go_backwards=True, return_state=True, name="states_only")(emb)
    tail = L.LSTM(2, name="tail")(L.Bidirectional(L.GRU(2, return_sequences=True), name="bi_seq")(emb))
    return k.Model([x, ids], [back_seq, *c, walked, after, flipped, *flat(flipped_masked), muls, aves,
                              *states_only[1:], tail])


def conv_edges(k):
    """Strided, dilated, stacked and Bidirectional ConvLSTMs over run-time positions, and a per-step ``mask=`` over
    run-time positions with a partly known position (tf_keras fails on a mask over static steps and unknown
    positions)."""
    L = k.layers
    x, x1 = k.Input((None, None, None, 2), name="x"), k.Input((None, None, 2), name="x1")
    xf, flags = k.Input((None, None, 5, 2), name="xf"), k.Input((None,), dtype="bool", name="flags")
    pair = L.Bidirectional(L.ConvLSTM2D(2, 3, strides=2, return_sequences=True, go_backwards=True),
                           backward_layer=L.ConvLSTM2D(2, 3, strides=2, return_sequences=True),
                           merge_mode=None, name="pair")(x)
    dilated = L.ConvLSTM2D(2, (2, 3), dilation_rate=(2, 1), padding="same", return_state=True, name="dilated")(x)
    first = L.ConvLSTM2D(3, 2, padding="same", return_sequences=True, name="first")(x)
    second = L.ConvLSTM2D(2, 3, strides=(1, 2), return_sequences=True, go_backwards=True, name="second")(first)
    mul = L.Bidirectional(L.ConvLSTM2D(2, 2, return_sequences=True), merge_mode="mul", name="mul")(second)
    summed = L.Bidirectional(L.ConvLSTM1D(2, 2, return_state=True, padding="same"), merge_mode="sum",
                             name="summed")(x1)
    seq = L.ConvLSTM2D(2, 3, return_sequences=True, go_backwards=True, name="seq")(xf, mask=flags)
    last = L.ConvLSTM2D(2, (2, 3), strides=(2, 1), padding="same", return_state=True, name="last")(xf, mask=flags)
    bi = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True),
                         merge_mode=None, name="bi")(xf, mask=flags)
    return k.Model([x, x1, xf, flags], [*pair, *dilated[1:], second, mul, *summed, seq, *last, *bi])


def conv_started(k):
    L = k.layers
    x = k.Input((None, 5, 4, 2), name="x")
    s = [k.Input((5, 4, 2), name=f"s{i}") for i in range(4)]
    out = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True,
                                       go_backwards=True), merge_mode="ave", name="bi",
                          backward_layer=L.ConvLSTM2D(2, 3, padding="same", return_sequences=True,
                                                      return_state=True))(x, initial_state=s)
    last = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_state=True), name="last")(
        x, initial_state=[s[0], s[1], s[3], s[2]])
    return k.Model([x, *s], [*out, *last])


def conv_started_masked(k):
    """Keras 3 fills in no mask when a call has more than one tensor argument: a Bidirectional ConvLSTM called with
    ``initial_state`` runs unmasked over a masked sequence (tf_keras passes the mask on: refused there)."""
    L = k.layers
    x = k.Input((None, 6, 2), name="x")
    s = [k.Input((6, 2), name=f"s{i}") for i in range(4)]
    masked = L.Masking(name="masking")(x)
    out = L.Bidirectional(L.ConvLSTM1D(2, 3, padding="same", return_sequences=True), name="bi")(masked,
                                                                                                  initial_state=s)
    return k.Model([x, *s], out)


FAMILIES = {"rnn_edges": rnn_edges, "conv_edges": conv_edges, "conv_started": conv_started,
            "conv_started_masked": conv_started_masked}
CASES = [("rnn_edges", "keras3.keras"), ("rnn_edges", "tf_keras.h5"), ("conv_edges", "tf_keras.h5"),
         ("conv_started", "keras3.keras"), ("conv_started", "tf_keras.h5"),
         ("conv_started_masked", "keras3.keras")]
#: (batch, steps, one spatial size) of each run.
RUNS = ((1, 1, 5), (3, 2, 6), (2, 5, 7))


def _inputs(model, rng: np.random.Generator, batch: int, steps: int, size: int) -> dict[str, np.ndarray]:
    inputs = {}
    for i, t in enumerate(model.inputs):
        dims, name = tuple(t.shape)[1:], t.name.split(":")[0]
        shape = (batch, steps, *(size + j if d is None else d for j, d in enumerate(dims[1:])))
        if "bool" in str(getattr(t.dtype, "name", t.dtype)):
            flags = rng.random((batch, steps)) > 0.3
            flags[0, :] = False  # a fully masked row
            inputs[name] = flags
            continue
        if "int" in str(getattr(t.dtype, "name", t.dtype)):
            inputs[name] = _padded_ids(rng, shape, i + steps)
            continue
        if name.startswith("s"):
            shape = (batch, *dims)
        value = rng.standard_normal(shape).astype("float32")
        if len(shape) == 4 and not name.startswith("s") and batch > 1:
            value[1, :1] = 0  # a masked step
        if len(shape) == 3 and batch > 1:
            value[1] = 0  # a fully masked row
            value[0, -1:] = 0
        inputs[name] = value
    return inputs


converted = converted_fixture("p1_review", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=31))


@pytest.mark.node
@each_case(CASES)
def test_loop_edges_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


#: Runs a converted model repeatedly at several lengths and prints ``tf.memory().numTensors`` after loading and
#: after each run (outputs and feeds disposed): a list's kept step tensors must be freed with each run.
MEMORY_SCRIPT = r"""
const fs = require('fs'), path = require('path');
const [runtime, backend, dir, feedsJson] = process.argv.slice(2);
const tf = require(path.join(runtime, 'node_modules/@tensorflow/tfjs'));
if (backend === 'wasm') {
  const wasm = require(path.join(runtime, 'node_modules/@tensorflow/tfjs-backend-wasm'));
  wasm.setWasmPaths(path.dirname(require.resolve(path.join(runtime, 'node_modules/@tensorflow/tfjs-backend-wasm')))
                    + path.sep);
}
const handler = { load: async () => {
  const doc = JSON.parse(fs.readFileSync(path.join(dir, 'model.json')));
  const specs = [], buffers = [];
  for (const group of doc.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const b = Buffer.concat(buffers);
  return { modelTopology: doc.modelTopology, weightSpecs: specs, signature: doc.signature,
           weightData: b.buffer.slice(b.byteOffset, b.byteOffset + b.length) };
} };
(async () => {
  await tf.setBackend(backend); await tf.ready();
  const model = await tf.loadGraphModel(handler);
  const counts = [tf.memory().numTensors];
  for (const T of [3, 7, 1, 5, 2]) {
    const feeds = {};
    for (const [name, [dtype, dims]] of Object.entries(JSON.parse(feedsJson))) {
      const shape = dims.map(d => d === 'T' ? T : d);
      feeds[name] = dtype === 'int32' ? tf.randomUniform(shape, 0, 9, 'int32')
        : dtype === 'bool' ? tf.tidy(() => tf.greater(tf.randomUniform(shape), 0.3)) : tf.randomNormal(shape);
    }
    tf.dispose(await model.executeAsync(feeds));
    tf.dispose(Object.values(feeds));
    counts.push(tf.memory().numTensors);
  }
  console.log(JSON.stringify(counts));
})().catch(e => { console.error(e); process.exit(1); });
"""


@pytest.mark.node
@pytest.mark.parametrize("backend", ["cpu", "wasm"])
def test_repeated_runs_keep_the_tensor_count(converted, tfjs_runtime, tmp_path, backend):
    """TensorListSetItem keeps each step's tensor; TF.js frees the lists after each executeAsync: the tensor count
    after a run is the weights' alone, whatever the length (Keras RNN loops and ConvLSTM loops)."""
    import json
    import subprocess

    script = tmp_path / "memory.cjs"
    script.write_text(MEMORY_SCRIPT)
    for case, feeds in ((("rnn_edges", "keras3.keras"), {"x": ["float32", [2, "T", 3]], "ids": ["int32", [2, "T"]]}),
                        (("conv_edges", "tf_keras.h5"), {"x": ["float32", [2, "T", 6, 7, 2]],
                                                         "x1": ["float32", [2, "T", 5, 2]],
                                                         "xf": ["float32", [2, "T", 6, 5, 2]],
                                                         "flags": ["bool", [2, "T"]]})):
        out = f"{converted[case][0]}.out"
        done = subprocess.run(["node", str(script), str(tfjs_runtime), backend, out, json.dumps(feeds)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        counts = json.loads(done.stdout.strip().splitlines()[-1])
        assert len(counts) == 6 and len(set(counts)) == 1, (case, counts)


# -- ONNX RNNs over a dynamic sequence length (onnxruntime as the reference) ----------------------------------------
def _onnx_rnns(layout: int):
    """Two bidirectional units with other activations per direction (two loops each, not one joint unit), a joint
    bidirectional RNN, a reverse GRU from ``initial_h`` (layout 0) and a stack of two LSTMs (one loop's gathered
    output feeding the next); batch and length dynamic. Same weights for both layouts (one seed, same op order)."""
    from test_onnx import Builder

    b, h = Builder(4), 4
    x = b.input("x", ["batch", "time", 3] if layout else ["time", "batch", 3])
    h0 = b.input("h0", ["batch", 2, h] if layout else [2, "batch", h])
    w = lambda *shape: b.weight(*shape, scale=0.4)  # noqa: E731
    lstm = b.op("LSTM", [x, w(2, 4 * h, 3), w(2, 4 * h, h), w(2, 8 * h), "", h0, h0], outputs=3, hidden_size=h,
                direction="bidirectional", activations=["Sigmoid", "Tanh", "Tanh", "Sigmoid", "Relu", "Tanh"],
                layout=layout)
    gru = b.op("GRU", [x, w(2, 3 * h, 3), w(2, 3 * h, h), w(2, 6 * h), "", h0], outputs=2, hidden_size=h,
               direction="bidirectional", activations=["Sigmoid", "Tanh", "Sigmoid", "Relu"], layout=layout)
    rnn = b.op("RNN", [x, w(2, h, 3), w(2, h, h), w(2, 2 * h)], outputs=2, hidden_size=h, direction="bidirectional",
               layout=layout)
    outputs = [lstm, lstm + "_1", lstm + "_2", gru, gru + "_1", rnn, rnn + "_1"]
    if not layout:
        first = b.op("GRU", [x, w(1, 3 * h, 3), w(1, 3 * h, h), w(1, 6 * h)], outputs=2, hidden_size=h,
                     direction="reverse", linear_before_reset=1)
        squeezed = b.op("Squeeze", [first, b.const(np.array([1], np.int64))])
        second = b.op("LSTM", [squeezed, w(1, 4 * h, h), w(1, 4 * h, h)], outputs=3, hidden_size=h, direction="reverse")
        outputs += [first, second, second + "_2"]
    return b.model(outputs, opset=14)


@pytest.mark.node
def test_onnx_loops_match_onnxruntime_in_both_layouts(tmp_path, tfjs_runtime, browser):
    """layout 0 against onnxruntime; layout 1 (which onnxruntime refuses, and whose ONNX reference ignores
    ``activations``) against onnxruntime on the same weights in layout 0, transposed. Batch 1 and length 1 too;
    webgl for one run."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import tfjsconv
    from tfjsconv.verify.compare import format_report, verify_model
    from test_onnx import ops_of, save

    time_major = _onnx_rnns(0)
    session = ort.InferenceSession(str(save(time_major, tmp_path, "time_major")))
    for layout, model in ((0, time_major), (1, _onnx_rnns(1))):
        path = save(model, tmp_path, f"layout{layout}")
        tfjsconv.convert(path, tmp_path / f"out{layout}")
        ops = ops_of(tmp_path / f"out{layout}")
        assert ops.count("LoopCond") == ops.count("TensorListSetItem") == (5 if layout else 7), ops
        names = [o.name for o in model.graph.output]
        for run, (batch, length) in enumerate(((1, 1), (3, 2), (2, 6))):
            rng = np.random.default_rng(run)
            x, h0 = rng.standard_normal((length, batch, 3)), rng.standard_normal((2, batch, 4))
            outputs = session.run(None, {"x": x.astype(np.float32), "h0": h0.astype(np.float32)})
            feeds = {"x": x, "h0": h0}
            if layout:  # onnxruntime's time-major values, laid out batch-first
                feeds = {k: v.transpose(1, 0, 2) for k, v in feeds.items()}
                outputs = [o.transpose(2, 0, 1, 3) if o.ndim == 4 else o.transpose(1, 0, 2) for o in outputs]
            feeds = {k: v.astype(np.float32) for k, v in feeds.items()}
            expected = dict(zip(names, outputs[:len(names)]))
            backends = ("cpu", "wasm", "webgl") if run == 2 and layout == 0 else ("cpu", "wasm")
            report = verify_model(tmp_path / f"out{layout}", feeds, expected, backends=backends, rtol=1e-5, quiet=True,
                                  browser_session=browser if "webgl" in backends else None)
            assert report.passed, format_report(report)
