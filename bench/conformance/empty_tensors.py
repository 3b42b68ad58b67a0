"""Ops fed run-time-empty tensors: TF.js on cpu, wasm (and webgl) against ``tf.raw_ops``.

    python bench/conformance/empty_tensors.py [--webgl] [--only NAME,...] [--output bench/results/empty_tensors.md]

Every case is a TF SavedModel whose inputs have unknown (``None``) sizes, fed arrays with a zero-size axis (an
empty input, or an input whose output is empty), converted by tfjsconv with its default targets and run in real
TF.js. A case's expected values are TensorFlow's own outputs for the same SavedModel; TF refusing a feed drops
that feed. Outcomes: ``ok``, ``wrong`` (values or shape differ), ``error`` (TF.js threw or crashed), ``refused``
(the converter refused the model by name). Reductions and matmuls over an empty axis are checked by
``tests/test_backend_contract_empty_reductions.py``; this sweep covers the other ops the converter emits.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

F32 = np.float32
#: oneDNN's Conv2D returns its input for an empty batch ((0, 4, 4, 3) for a 4-channel VALID conv): TF's own kernels
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _cases(tf):
    """name -> (input specs [(shape, dtype)], function, {feed name: [arrays]})."""
    raw = tf.raw_ops
    r = np.random.default_rng(0)
    k2 = tf.constant(r.standard_normal((2, 2, 3, 4)).astype(F32))
    dk2 = tf.constant(r.standard_normal((2, 2, 3, 2)).astype(F32))
    bias4 = tf.constant(r.standard_normal(4).astype(F32))
    w34 = tf.constant(r.standard_normal((3, 4)).astype(F32))
    img = [None, None, None, 3]
    vol = [None, None, None, None, 2]

    def z(*shape, dtype=F32):
        return np.zeros(shape, dtype)

    def n(*shape):
        return r.standard_normal(shape).astype(F32)

    images = {"empty_batch": [z(0, 4, 4, 3)], "empty_height": [z(1, 0, 4, 3)], "small": [n(1, 1, 4, 3)],
              "full": [n(1, 4, 4, 3)]}
    volumes = {"empty_batch": [z(0, 4, 4, 4, 2)], "empty_depth": [z(1, 0, 4, 4, 2)], "small": [n(1, 1, 4, 4, 2)],
               "full": [n(1, 4, 4, 4, 2)]}
    rows = {"empty_rows": [z(0, 5)], "empty_cols": [z(3, 0)], "full": [n(3, 5)]}
    c = {}
    for op in ("MaxPool", "AvgPool"):
        c[op] = ([(img, tf.float32)], lambda x, op=op: getattr(raw, op)(
            **{"input" if op == "MaxPool" else "value": x}, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID"), images)
        c[op + "_same"] = ([(img, tf.float32)], lambda x, op=op: getattr(raw, op)(
            **{"input" if op == "MaxPool" else "value": x}, ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1], padding="SAME"), images)
        c[op + "3D"] = ([(vol, tf.float32)], lambda x, op=op: getattr(raw, op + "3D")(
            input=x, ksize=[1, 2, 2, 2, 1], strides=[1, 2, 2, 2, 1], padding="VALID"), volumes)
    c["Conv2D"] = ([(img, tf.float32)], lambda x: raw.Conv2D(input=x, filter=k2, strides=[1, 1, 1, 1],
                                                              padding="VALID"), images)
    c["Conv2D_same"] = ([(img, tf.float32)], lambda x: raw.Conv2D(input=x, filter=k2, strides=[1, 1, 1, 1],
                                                                   padding="SAME"), images)
    c["FusedConv2D"] = ([(img, tf.float32)], lambda x: tf.nn.relu(tf.nn.bias_add(raw.Conv2D(
        input=x, filter=k2, strides=[1, 1, 1, 1], padding="VALID"), bias4)), images)
    c["DepthwiseConv2dNative"] = ([(img, tf.float32)], lambda x: raw.DepthwiseConv2dNative(
        input=x, filter=dk2, strides=[1, 1, 1, 1], padding="VALID"), images)
    c["Conv2DBackpropInput"] = ([(img, tf.float32)], lambda x: tf.nn.conv2d_transpose(
        x, tf.constant(r.standard_normal((2, 2, 4, 3)).astype(F32)),
        tf.stack([tf.shape(x)[0], 2 * tf.shape(x)[1], 2 * tf.shape(x)[2], 4]), 2), images)
    c["Conv3D"] = ([(vol, tf.float32)], lambda x: raw.Conv3D(
        input=x, filter=tf.constant(r.standard_normal((2, 2, 2, 2, 3)).astype(F32)), strides=[1] * 5,
        padding="VALID"), volumes)
    c["FusedMatMul"] = ([([None, 3], tf.float32)], lambda x: tf.nn.relu(tf.matmul(x, w34) + bias4),
                        {"empty_rows": [z(0, 3)], "full": [n(2, 3)]})
    c["MatMul_outer"] = ([([None, None], tf.float32), ([None, None], tf.float32)], lambda a, b: tf.matmul(a, b),
                         {"empty_rows": [z(0, 3), n(3, 4)], "empty_cols": [n(2, 3), z(3, 0)],
                          "full": [n(2, 3), n(3, 4)]})
    c["BatchMatMulV2_outer"] = ([([None, None, None], tf.float32), ([None, None, None], tf.float32)],
                                lambda a, b: tf.matmul(a, b),
                                {"empty_batch": [z(0, 2, 3), z(0, 3, 4)], "empty_rows": [z(2, 0, 3), n(2, 3, 4)],
                                 "full": [n(2, 2, 3), n(2, 3, 4)]})
    for op in ("ArgMax", "ArgMin"):
        c[op] = ([([None, None], tf.float32)], lambda x, op=op: getattr(raw, op)(input=x, dimension=1),
                 {"empty_rows": [z(0, 5)], "full": [n(3, 5)]})
    for op in ("Cumsum", "Cumprod"):
        c[op] = ([([None, None], tf.float32)], lambda x, op=op: getattr(raw, op)(x=x, axis=1), rows)
        c[op + "_exclusive_reverse"] = ([([None, None], tf.float32)], lambda x, op=op: getattr(raw, op)(
            x=x, axis=1, exclusive=True, reverse=True), rows)
    c["TopKV2"] = ([([None, None], tf.float32)], lambda x: raw.TopKV2(input=x, k=2).values,
                   {"empty_rows": [z(0, 5)], "full": [n(3, 5)]})
    c["TopKV2_k0"] = ([([None, None], tf.float32)], lambda x: raw.TopKV2(input=x, k=tf.shape(x)[1]).indices,
                      {"empty_cols": [z(3, 0)], "full": [n(3, 5)]})
    for op in ("Softmax", "LogSoftmax"):
        c[op] = ([([None, None], tf.float32)], lambda x, op=op: getattr(raw, op)(logits=x), rows)
    c["GatherV2"] = ([([None, None], tf.float32), ([None], tf.int32)],
                     lambda p, i: tf.gather(p, i, axis=1),
                     {"empty_indices": [n(3, 5), z(0, dtype=np.int32)], "empty_params": [z(0, 5), np.array([1, 4], np.int32)],
                      "full": [n(3, 5), np.array([1, 4], np.int32)]})
    c["ConcatV2"] = ([([None, None], tf.float32), ([None, None], tf.float32)], lambda a, b: tf.concat([a, b], 1),
                     {"one_empty": [z(3, 0), n(3, 2)], "both_empty": [z(3, 0), z(3, 0)], "empty_rows": [z(0, 2), z(0, 3)],
                      "full": [n(3, 2), n(3, 1)]})
    c["Tile"] = ([([None, None], tf.float32)], lambda x: tf.tile(x, [2, 3]), rows)
    c["Pad"] = ([([None, None], tf.float32)], lambda x: tf.pad(x, [[1, 1], [2, 0]]), rows)
    c["PadV2"] = ([([None, None], tf.float32)], lambda x: tf.pad(x, [[1, 0], [0, 2]], constant_values=5.0), rows)
    c["ResizeBilinear"] = ([(img, tf.float32)], lambda x: raw.ResizeBilinear(images=x, size=[6, 6]),
                           {"empty_batch": [z(0, 4, 4, 3)], "full": [n(1, 4, 4, 3)]})
    c["ResizeNearestNeighbor"] = ([(img, tf.float32)], lambda x: raw.ResizeNearestNeighbor(images=x, size=[6, 6]),
                                  {"empty_batch": [z(0, 4, 4, 3)], "full": [n(1, 4, 4, 3)]})
    c["StridedSlice"] = ([([None, None], tf.float32)], lambda x: x[1:, ::2],
                         {"empty_rows": [z(0, 5)], "one_row": [n(1, 5)], "empty_cols": [z(3, 0)], "full": [n(3, 5)]})
    c["Slice"] = ([([None, None], tf.float32)], lambda x: tf.slice(x, [0, 1], [-1, -1]),
                  {"empty_rows": [z(0, 5)], "one_col": [n(3, 1)], "full": [n(3, 5)]})
    c["Transpose"] = ([([None, None, None], tf.float32)], lambda x: tf.transpose(x, [2, 0, 1]),
                      {"empty": [z(0, 3, 2)], "empty_last": [z(2, 3, 0)], "full": [n(2, 3, 4)]})
    c["OneHot"] = ([([None], tf.int32)], lambda i: tf.one_hot(i, 3), {"empty": [z(0, dtype=np.int32)],
                                                                     "full": [np.array([0, 2], np.int32)]})
    c["Range"] = ([([None], tf.float32)], lambda x: tf.range(tf.shape(x)[0]) * 2,
                  {"empty": [z(0)], "full": [n(4)]})
    c["Reverse"] = ([([None, None], tf.float32)], lambda x: tf.reverse(x, [1]), rows)
    c["Split"] = ([([None, None], tf.float32)], lambda x: tf.split(x, 2, axis=1)[1],
                  {"empty_rows": [z(0, 4)], "empty_cols": [z(3, 0)], "full": [n(3, 4)]})
    c["Unpack"] = ([([None, 2], tf.float32)], lambda x: tf.unstack(x, axis=1)[1], {"empty": [z(0, 2)],
                                                                                  "full": [n(3, 2)]})
    c["Pack"] = ([([None], tf.float32), ([None], tf.float32)], lambda a, b: tf.stack([a, b], 1),
                 {"empty": [z(0), z(0)], "full": [n(3), n(3)]})
    c["Reshape"] = ([([None, None], tf.float32)], lambda x: tf.reshape(x, [-1, 2, tf.shape(x)[0]]),
                    {"empty_rows": [z(0, 4)], "full": [n(2, 4)]})
    c["AddV2_broadcast"] = ([([None, None], tf.float32), ([None, None], tf.float32)], lambda a, b: a + b,
                            {"empty_rows": [z(0, 3), n(1, 3)], "empty_both": [z(0, 3), z(0, 1)],
                             "full": [n(2, 3), n(1, 3)]})
    c["Unary"] = ([([None, None], tf.float32)], lambda x: {"relu": tf.nn.relu(x), "sigmoid": tf.sigmoid(x),
                                                           "exp": tf.exp(x), "cast": tf.cast(x, tf.int32),
                                                           "square": tf.square(x), "tanh": tf.tanh(x)}, rows)
    c["SelectV2"] = ([([None, None], tf.float32)], lambda x: tf.where(x > 0, x, -x), rows)
    c["FusedBatchNorm"] = ([(img, tf.float32)], lambda x: tf.compat.v1.nn.fused_batch_norm(
        x, tf.ones([3]), tf.zeros([3]), mean=tf.constant([0.5, 0.1, 0.2]), variance=tf.constant([1.0, 2.0, 3.0]),
        is_training=False)[0], {"empty_batch": [z(0, 4, 4, 3)], "full": [n(1, 4, 4, 3)]})
    c["GatherNd"] = ([([None, None], tf.float32), ([None, 2], tf.int32)], lambda p, i: tf.gather_nd(p, i),
                     {"empty_indices": [n(3, 5), z(0, 2, dtype=np.int32)], "full": [n(3, 5), np.array([[1, 4]], np.int32)]})
    c["BroadcastTo"] = ([([None, None], tf.float32)], lambda x: tf.broadcast_to(x[:1], tf.shape(x)),
                        {"empty_rows": [z(0, 3)], "full": [n(3, 3)]})
    c["Fill"] = ([([None, None], tf.float32)], lambda x: tf.fill(tf.shape(x), 2.0), rows)
    c["DepthToSpace"] = ([([None, None, None, 4], tf.float32)], lambda x: tf.nn.depth_to_space(x, 2),
                         {"empty_batch": [z(0, 2, 2, 4)], "empty_height": [z(1, 0, 2, 4)], "full": [n(1, 2, 2, 4)]})
    c["LRN"] = ([(img, tf.float32)], lambda x: tf.nn.local_response_normalization(x, 1),
                {"empty_batch": [z(0, 4, 4, 3)], "full": [n(1, 4, 4, 3)]})
    c["Einsum_outer"] = ([([None, None, 3], tf.float32)], lambda x: tf.einsum("bij,jk->bik", x, w34),
                         {"empty_batch": [z(0, 2, 3)], "empty_rows": [z(2, 0, 3)], "full": [n(2, 2, 3)]})
    c["SquaredDifference"] = ([([None, None], tf.float32)], lambda x: tf.math.squared_difference(x, 1.0), rows)
    c["ClipByValue"] = ([([None, None], tf.float32)], lambda x: tf.clip_by_value(x, -0.5, 0.5), rows)
    c["Where_cond"] = ([([None, None], tf.float32)], lambda x: tf.cast(tf.where(x > 0), tf.int32), rows)
    c["ScatterNd"] = ([([None, 1], tf.int32), ([None], tf.float32)],
                      lambda i, u: tf.scatter_nd(i, u, [4]), {"empty": [z(0, 1, dtype=np.int32), z(0)],
                                                              "full": [np.array([[1], [3]], np.int32), n(2)]})
    c["Transpose_batch"] = ([([None, None, None, None], tf.float32)], lambda x: tf.transpose(x, [0, 3, 1, 2]),
                            {"empty_batch": [z(0, 4, 5, 8)], "empty_height": [z(1, 0, 5, 8)], "full": [n(1, 4, 5, 8)]})
    c["Transpose_3d_keep_first"] = ([([None, None, None], tf.float32)], lambda x: tf.transpose(x, [0, 2, 1]),
                                    {"empty_first": [z(0, 3, 2)], "full": [n(2, 3, 2)]})
    # session 31 (h2): wasm's Transpose throws "divide by zero" when, after dropping size-1 axes, the permutation
    # keeps leading axes in place and one of those is empty; other dtypes, ranks and empty trailing axes run
    c["Transpose_2d"] = ([([None, None], tf.float32)], lambda x: tf.transpose(x), rows)
    c["Transpose_keep_two"] = ([([None, None, None, None], tf.float32)], lambda x: tf.transpose(x, [0, 1, 3, 2]),
                               {"empty_second": [z(2, 0, 4, 5)], "empty_third": [z(2, 3, 0, 5)],
                                "full": [n(2, 3, 4, 5)]})
    c["Transpose_attention"] = ([([None, None, None, None], tf.float32)], lambda x: tf.transpose(x, [0, 2, 1, 3]),
                                {"empty_batch": [z(0, 4, 2, 8)], "empty_sequence": [z(2, 0, 2, 8)],
                                 "one_batch_empty_sequence": [z(1, 0, 2, 8)], "full": [n(2, 4, 2, 8)]})
    c["Transpose_5d_keep_three"] = ([([None] * 5, tf.float32)], lambda x: tf.transpose(x, [0, 1, 2, 4, 3]),
                                    {"empty_third": [z(2, 3, 0, 5, 6)], "empty_last": [z(2, 3, 4, 5, 0)],
                                     "full": [n(2, 3, 4, 5, 6)]})
    for dtype, np_dtype in ((tf.int32, np.int32), (tf.bool, np.bool_)):
        c[f"Transpose_keep_first_{dtype.name}"] = ([([None, None, None], dtype)], lambda x: tf.transpose(x, [0, 2, 1]),
                                                   {"empty_first": [z(0, 3, 2, dtype=np_dtype)],
                                                    "full": [np.ones((2, 3, 2), np_dtype)]})
    # converted for known spatial sizes only (a Reshape/Transpose/Reshape of rank 6 that keeps two axes in place)
    c["SpaceToDepth"] = ([([None, 4, 4, 3], tf.float32)], lambda x: tf.nn.space_to_depth(x, 2),
                         {"empty_batch": [z(0, 4, 4, 3)], "full": [n(1, 4, 4, 3)]})
    for op in ("Mean", "Sum", "Max"):
        # reductions over non-empty axes of an empty batch: wasm transposes the reduced axes inwards first
        c[op + "_empty_batch"] = ([([None, None, None, 8], tf.float32)], lambda x, op=op: getattr(tf, f"reduce_{op.lower()}")(
            x, [1, 2], keepdims=True), {"empty_batch": [z(0, 4, 5, 8)], "full": [n(2, 4, 5, 8)]})
    return c


def _module(tf, specs, fn):
    sig = [tf.TensorSpec(shape, dtype, name=f"in{k}") for k, (shape, dtype) in enumerate(specs)]

    class Case(tf.Module):
        @tf.function(input_signature=sig)
        def __call__(self, *args):
            out = fn(*args)
            return out if isinstance(out, dict) else {"out": out}

    return Case()


def run(names: list[str] | None, webgl: bool) -> list[dict]:
    import tensorflow as tf

    import tfjsconv
    from tfjsconv.errors import TfjsconvError
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import verify_model

    backends = ("cpu", "wasm", *(("webgl",) if webgl else ()))
    session = None
    if webgl:
        from tfjsconv.serve.browser import BrowserSession

        session = BrowserSession(timeout=120).__enter__()
    rows = []
    cases = _cases(tf)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (specs, fn, feeds) in cases.items():
            if names and name not in names:
                continue
            saved, out = Path(tmp) / name / "saved", Path(tmp) / name / "web"
            tf.saved_model.save(_module(tf, specs, fn), str(saved))
            refused = {}
            try:
                result = tfjsconv.convert(saved, out)
            except TfjsconvError as err:
                # refused for another reason (the contract's wrong-answer rows): the other backends still run it
                refused = {b: "refused: " + err.message[:200] for b in backends if f" on {b} " in err.message}
                others = [b for b in backends if b not in refused]
                try:
                    if not refused or not others:
                        raise
                    result = tfjsconv.convert(saved, out, target_backends=others)
                except TfjsconvError:
                    rows.append({"case": name, "feed": "*", **{b: "refused: " + err.message[:200] for b in backends}})
                    print(name, "refused", err.message[:200], flush=True)
                    continue
            ops = sorted({node["op"] for node in json.loads((out / "model.json").read_text())["modelTopology"]["node"]}
                         - {"Const", "Placeholder", "Identity"})
            for feed_name, arrays in feeds.items():
                feed = {f"in{k}": a for k, a in enumerate(arrays)}
                options = ConvertOptions.from_kwargs()
                options.extra["model_dir"] = str(out)
                try:
                    expected = get_plugin_manager().registry.frontends[result.input_format].reference(saved, feed, options)
                except Exception as err:  # noqa: BLE001 - TF refuses this feed: no oracle
                    print(name, feed_name, "TF refuses:", str(err).splitlines()[0][:120], flush=True)
                    continue
                row = {"case": name, "feed": feed_name, "ops": " ".join(ops),
                       "shapes": " ".join(str(tuple(a.shape)) for a in arrays),
                       "expected": " ".join(f"{k}{tuple(v.shape)}" for k, v in sorted(expected.items()))}
                row.update(refused)
                for backend in (b for b in backends if b not in refused):
                    try:
                        report = verify_model(out, feed, expected, backends=(backend,), rtol=1e-5, atol=1e-6,
                                              quiet=True, browser_session=session if backend == "webgl" else None)
                    except Exception as err:  # noqa: BLE001 - the runner itself died (a wasm memory fault)
                        row[backend] = "crash: " + str(err).splitlines()[0][:160]
                        continue
                    run_ = report.runs.get(backend)
                    if run_ is not None and not run_.ok:
                        row[backend] = "error: " + str(run_.error).splitlines()[0][:160]
                    elif report.passed:
                        row[backend] = "ok"
                    else:
                        bad = [c for c in report.comparisons if not c.passed]
                        row[backend] = "wrong: " + "; ".join(
                            f"{c.name} {c.shape} vs {c.expected_shape} err {c.max_abs_err} {c.problem or ''}"[:160]
                            for c in bad)
                rows.append(row)
                print(name, feed_name, {b: row[b][:100] for b in backends}, flush=True)
    if session is not None:
        session.__exit__(None, None, None)
    return rows


def markdown(rows: list[dict], backends: tuple[str, ...], seconds: float) -> str:
    lines = ["# Ops fed run-time-empty tensors (TF.js 4.22 against tf.raw_ops)", "",
             f"`python bench/conformance/empty_tensors.py{' --webgl' if 'webgl' in backends else ''}`: "
             f"{len(rows)} feeds in {seconds:.0f} s. Models converted with the default targets (so with the "
             "converter's rewrites).", "",
             "| case | feed | input shapes | TF output | " + " | ".join(backends) + " |",
             "|---|---|---|---|" + "---|" * len(backends)]
    for row in rows:
        cells = [str(row.get(b, "-")).replace("|", "/") for b in backends]
        lines.append(f"| {row['case']} | {row['feed']} | {row.get('shapes', '')} | {row.get('expected', '')} | "
                     + " | ".join(cells) + " |")
    bad = [r for r in rows if any(str(r.get(b, "ok")) != "ok" for b in backends)]
    lines += ["", f"{len(bad)} feeds not ok on some backend."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webgl", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "empty_tensors.md")
    args = parser.parse_args(argv)
    start = time.monotonic()
    rows = run([s for s in args.only.split(",") if s] or None, args.webgl)
    backends = ("cpu", "wasm", *(("webgl",) if args.webgl else ()))
    args.output.write_text(markdown(rows, backends, time.monotonic() - start), encoding="utf-8")
    args.output.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print("wrote", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
