"""``TensorScatterUpdate`` beyond session 19's rewrite: an index given twice, indices computed at run time, bool.

Session 19's rewrite (``ScatterNd``s and a ``SelectV2``) summed the updates of an index given twice, where TF's CPU
kernel keeps the last one (``[[0], [0]]`` with updates 5 and 7 gave 12, TF 7), and left bool tensors and run-time
indices exposed to TF.js cpu's in-place write. Now constant duplicates are reduced to their last update at
conversion time, and any other update reads a private copy of its tensor (kept apart by ``cse``).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node
RNG = np.random.default_rng(20)


def _nodes(out) -> list[dict]:
    return json.loads((out / "model.json").read_text())["modelTopology"]["node"]


def _ops(out) -> list[str]:
    return [n["op"] for n in _nodes(out)]


def _check(runs, expected, outputs) -> None:
    for backend, run in runs.items():
        assert run.ok, (backend, run.error)
        for name in outputs:
            got = np.asarray(run.outputs[name]).reshape(expected[name].shape)
            np.testing.assert_array_equal(got, expected[name], err_msg=f"{backend} {name}")


def _numbers(dtype) -> dict[str, np.ndarray]:
    x = RNG.standard_normal((4, 3)) * 4
    u = RNG.standard_normal((4, 3)) * 4
    if dtype == np.int32:
        return {"x": np.round(x).astype(np.int32), "u": np.round(u).astype(np.int32)}
    x[1, 1], u[2, 0] = np.nan, -np.inf
    return {"x": x.astype(np.float32), "u": u.astype(np.float32)}


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_constant_index_given_twice_keeps_its_last_update(tmp_path, dtype):
    feeds = _numbers(dtype)
    outputs = ["rows", "elements", "reader"]

    def build(tf) -> None:
        x = tf.compat.v1.placeholder(tf.as_dtype(dtype), (4, 3), "x")
        u = tf.compat.v1.placeholder(tf.as_dtype(dtype), (4, 3), "u")
        rows = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant([[2], [0], [2], [3]]), updates=u)
        elements = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant([[[1, 1], [0, 2]], [[1, 1], [1, 1]]]),
                                                  updates=tf.reshape(u[0:2, 0:2], (2, 2)))
        tf.identity(rows, name="rows")
        tf.identity(elements, name="elements")
        tf.identity(x + rows, name="reader")

    source, expected = raw_ops_graph(tmp_path / "m.pb", build, feeds, outputs)
    np.testing.assert_array_equal(expected["rows"][2], feeds["u"][2])  # TF keeps the last update
    tfjsconv.convert(source, tmp_path / "out", output_node_names=outputs)
    assert "TensorScatterUpdate" not in _ops(tmp_path / "out")
    _check(dict(run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True).backends), expected, outputs)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_])
def test_run_time_indices_and_bool_read_a_private_copy(tmp_path, dtype):
    """Two updates of one tensor with indices fed at run time, and a reader of it: each update copies its tensor."""
    feeds = _numbers(np.float32 if dtype == np.bool_ else dtype)
    if dtype == np.bool_:
        feeds = {k: v > 0 for k, v in feeds.items()}
    feeds["i"] = np.array([[3], [1]], np.int32)
    feeds["j"] = np.array([[0], [3], [0]], np.int32)
    outputs = ["first", "second", "reader"]

    def build(tf) -> None:
        x = tf.compat.v1.placeholder(tf.as_dtype(dtype), (4, 3), "x")
        u = tf.compat.v1.placeholder(tf.as_dtype(dtype), (4, 3), "u")
        i = tf.compat.v1.placeholder(tf.int32, (2, 1), "i")
        j = tf.compat.v1.placeholder(tf.int32, (3, 1), "j")
        first = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=i, updates=u[:2])
        second = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=j, updates=u[1:])
        tf.identity(first, name="first")
        tf.identity(second, name="second")
        if dtype == np.bool_:
            tf.identity(tf.math.logical_xor(x, second), name="reader")
        else:
            tf.identity(x + second, name="reader")

    source, expected = raw_ops_graph(tmp_path / "m.pb", build, feeds, outputs)
    tfjsconv.convert(source, tmp_path / "out", output_node_names=outputs)
    ops = _ops(tmp_path / "out")
    assert ops.count("TensorScatterUpdate") == 2
    copies = [n for n in _nodes(tmp_path / "out") if n["name"].endswith("/private_copy")]
    assert [n["op"] for n in copies] == ["LogicalAnd" if dtype == np.bool_ else "Mul"] * 2  # cse keeps them apart
    _check(dict(run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True).backends), expected, outputs)


def test_webgl_keeps_the_last_update(tmp_path, browser):
    """Constant indices given twice keep the last update on webgl too. Run-time indices keep webgl's own kernel:
    exact for distinct indices over finite values (its NaN row is named; duplicates are in no set order in TF)."""
    from tfjsconv.serve.browser import run_backends_in_browser

    feeds = _numbers(np.float32)
    feeds["u"][2, 0] = 1.5  # webgl's kernel turns an Inf anywhere in its tensor into NaN (a named contract row)
    feeds["i"] = np.array([[3], [2], [0]], np.int32)
    outputs = ["constant", "run_time"]

    def build(tf) -> None:
        x = tf.compat.v1.placeholder(tf.float32, (4, 3), "x")
        u = tf.compat.v1.placeholder(tf.float32, (4, 3), "u")
        i = tf.compat.v1.placeholder(tf.int32, (3, 1), "i")
        constant = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant([[1], [2], [1]]), updates=u[:3])
        tf.identity(constant, name="constant")
        tf.identity(tf.raw_ops.TensorScatterUpdate(tensor=constant, indices=i, updates=u[1:]), name="run_time")

    source, expected = raw_ops_graph(tmp_path / "m.pb", build, feeds, outputs)
    tfjsconv.convert(source, tmp_path / "out", output_node_names=outputs)
    runs = run_backends_in_browser(tmp_path / "out", feeds, backends=["webgl"], session=browser,
                                   flags={"WEBGL_CPU_FORWARD": False})[0]
    _check(runs, expected, ["constant"])
    # webgl's scatter shader mixes old and new values (a + t·(b - a)): a kept value may move by an ulp
    np.testing.assert_allclose(np.asarray(runs["webgl"].outputs["run_time"]).reshape(4, 3), expected["run_time"],
                               rtol=1e-6, atol=0)


#: Loads a graph model once and runs it on each feed in turn (TF.js keeps its constants between runs), printing each
#: run's outputs as one JSON line: argv runtime, backend, model folder, feeds (a JSON list), output names.
TWICE_SCRIPT = r"""
const path = require('path'), fs = require('fs');
const [runtime, backend, dir, feedsText, namesText] = process.argv.slice(2);
const tf = require(path.join(runtime, 'node_modules/@tensorflow/tfjs'));
if (backend === 'wasm') {
  const wasm = require(path.join(runtime, 'node_modules/@tensorflow/tfjs-backend-wasm'));
  wasm.setWasmPaths(path.dirname(require.resolve(path.join(runtime, 'node_modules/@tensorflow/tfjs-backend-wasm'))) + path.sep);
}
(async () => {
  await tf.setBackend(backend);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const buffers = [];
  for (const group of json.weightsManifest) for (const p of group.paths) {
    const b = fs.readFileSync(path.join(dir, p)); buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  const handler = {load: async () => tf.io.getModelArtifactsForJSON(json, async (manifest) =>
    [manifest.flatMap((g) => g.weights), buffers])};
  const model = await tf.loadGraphModel(handler);
  const names = JSON.parse(namesText);
  for (const feed of JSON.parse(feedsText)) {
    const named = {};
    for (const [k, v] of Object.entries(feed)) named[k] = tf.tensor(v.data, v.shape, v.dtype);
    const out = [].concat(model.execute(named, names));
    console.log(JSON.stringify(await Promise.all(out.map((t) => t.array()))));
  }
})();
"""


@pytest.mark.node
@pytest.mark.parametrize("backend", ["cpu", "wasm"])
def test_a_constant_tensor_updated_at_run_time_stays_constant_across_runs(tmp_path, tfjs_runtime, backend):
    """Found by session 20's review (R2): ``tensor·1`` of a constant tensor was folded into a new constant, which
    cpu's kernel then wrote into: the first run was right, the second saw the first's updates."""
    import subprocess

    def build(tf) -> None:
        u = tf.compat.v1.placeholder(tf.float32, (2, 3), "u")
        i = tf.compat.v1.placeholder(tf.int32, (2, 1), "i")
        zeros = tf.constant(np.zeros((4, 3), np.float32))
        tf.identity(tf.raw_ops.TensorScatterUpdate(tensor=zeros, indices=i, updates=u), name="a")
        tf.identity(tf.raw_ops.TensorScatterUpdate(tensor=zeros, indices=i + 0, updates=u * 2), name="b")

    runs = [{"u": np.full((2, 3), 5, np.float32), "i": np.array([[3], [1]], np.int32)},
            {"u": np.full((2, 3), 7, np.float32), "i": np.array([[0], [0]], np.int32)}]
    expected = [raw_ops_graph(tmp_path / f"m{k}.pb", build, feeds, ["a", "b"]) for k, feeds in enumerate(runs)]
    tfjsconv.convert(expected[0][0], tmp_path / "out", output_node_names=["a", "b"])
    script = tmp_path / "twice.cjs"
    script.write_text(TWICE_SCRIPT)
    feeds = [{k: {"data": v.reshape(-1).tolist(), "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in f.items()}
             for f in runs]
    done = subprocess.run(["node", str(script), str(tfjs_runtime), backend, str(tmp_path / "out"), json.dumps(feeds),
                           json.dumps(["a", "b"])], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    for run, (_, want) in zip(lines, expected, strict=True):
        for got, name in zip(run, ["a", "b"], strict=True):
            np.testing.assert_array_equal(np.asarray(got, np.float32), want[name], err_msg=f"{backend} {name}")


def test_a_constant_index_outside_the_tensor_is_refused(tmp_path):
    """TF raises on it for every input; TF.js's cpu throws at run time and wasm writes out of bounds."""
    from tfjsconv.errors import InputError

    graph = tf.Graph()
    with graph.as_default():  # TF would raise running it: the GraphDef is written without a run
        x = tf.compat.v1.placeholder(tf.float32, (4, 3), "x")
        tf.identity(tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant([[1], [4]]), updates=x[:2]),
                    name="y")
    (tmp_path / "m.pb").write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(InputError, match="outside the tensor's axis 0 of size 4"):
        tfjsconv.convert(tmp_path / "m.pb", tmp_path / "out", output_node_names=["y"])
    assert not (tmp_path / "out").exists()
