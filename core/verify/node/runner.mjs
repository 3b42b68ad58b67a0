// tfjsconv's TF.js runner: loads a converted model from local disk and runs it on each requested
// backend of pure @tensorflow/tfjs (no tfjs-node), writing the outputs as raw files.
//
//   node runner.mjs REQUEST.json
//
// REQUEST.json:
//   { "model_dir": "...", "backends": ["cpu", "wasm"], "output_dir": "...",
//     "inputs": [{"name": "x", "dtype": "float32", "shape": [1, 3], "file": "..."}],
//     "runs": 1, "warmup": 0, "output_names": ["y"],          // output_names is optional
//     "call_style": "execute" | "executeAsync" | "predict",    // optional, graph models: force one call
//     "layer_outputs": ["dense_1"],                             // optional, layers models: these layers' outputs
//     "runtime_dir": "..." }   // folder with node_modules/@tensorflow/tfjs (default: next to this file)
//
// Data files are raw little-endian element data (float32, int32, bool as one byte per element,
// complex64 as interleaved re/im float32); string tensors are a JSON list of the flattened strings.
//
// stdout receives exactly one JSON document (everything TF.js logs goes to stderr):
//   { "tfjs_version": "4.22.0",
//     "backends": { "cpu": { "ok": true, "load_ms": .., "first_ms": .., "times_ms": [..],
//                            "outputs": [{"name", "dtype", "shape", "file"}] },
//                   "wasm": { "ok": false, "stage": "init" | "load" | "run", "error": "..." } } }
// or, when nothing could run at all: { "error": "...", "kind": "request" | "model" } (exit code 2).
//
// Runs: the model executes max(1, warmup + runs) times per backend. first_ms is the first
// execution (it includes one-time costs such as shader/kernel setup), times_ms the last `runs`
// ones; the outputs written are those of the first execution.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

// Keep stdout for the result: TF.js and models may log with console.log.
const writeStdout = process.stdout.write.bind(process.stdout);
console.log = console.error;
console.info = console.error;
console.debug = console.error;

class RunnerError extends Error {
  constructor(message, kind) {
    super(message);
    this.kind = kind;
  }
}

const BYTES_PER_ELEMENT = { float32: 4, int32: 4, bool: 1, complex64: 8 };

function readJSON(file, what, kind) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new RunnerError(`cannot read ${what} ${file}: ${e.message}`, kind);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RunnerError(`${what} ${file} is not valid JSON: ${e.message}`, kind);
  }
}

/** An exact ArrayBuffer holding a Node Buffer's bytes (Buffers may be views into a shared pool). */
function toArrayBuffer(buf) {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

function numElements(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------------------------
// Loading: a tiny IOHandler over the local file system.

/** Reads model.json and its weight shards once; returns {modelJSON, handler}. */
function localModel(tf, modelDir) {
  const modelPath = path.join(modelDir, 'model.json');
  if (!fs.existsSync(modelPath)) {
    throw new RunnerError(`${modelDir} has no model.json`, 'model');
  }
  const text = fs.readFileSync(modelPath, 'utf8');
  let modelJSON;
  try {
    modelJSON = JSON.parse(text);
  } catch (e) {
    throw new RunnerError(`${modelPath} is not valid JSON: ${e.message}`, 'model');
  }
  if (modelJSON == null || typeof modelJSON !== 'object' || modelJSON.modelTopology == null) {
    throw new RunnerError(`${modelPath} has no modelTopology`, 'model');
  }
  const manifest = modelJSON.weightsManifest ?? [];
  if (!Array.isArray(manifest)) {
    throw new RunnerError(`${modelPath}: weightsManifest is not a list`, 'model');
  }
  // Shard order = group order, then path order within a group: the order tfjs concatenates them.
  const shards = [];
  for (const group of manifest) {
    for (const rel of group.paths ?? []) {
      const file = path.join(modelDir, rel);
      let data;
      try {
        data = fs.readFileSync(file);
      } catch (e) {
        throw new RunnerError(`cannot read weight shard ${rel} listed in ${modelPath}: ${e.message}`, 'model');
      }
      shards.push(toArrayBuffer(data));
    }
  }
  const handler = {
    // A fresh parse per load, so nothing a loader mutates leaks into the next backend.
    load: async () => tf.io.getModelArtifactsForJSON(JSON.parse(text), async (weightsManifest) => {
      const specs = [];
      for (const group of weightsManifest) specs.push(...group.weights);
      // One ArrayBuffer per shard, exactly as tf.io.http hands them over in a browser, so shard
      // layouts TF.js mis-reads (e.g. a last shard larger than the others) fail here too.
      return [specs, shards];
    }),
  };
  return { modelJSON, handler };
}

// ---------------------------------------------------------------------------------------------
// Inputs and outputs.

function readInput(tf, spec) {
  const { name, dtype, shape, file } = spec;
  if (dtype === 'string') {
    const values = readJSON(file, `input ${name}`, 'request');
    if (!Array.isArray(values) || values.length !== numElements(shape)) {
      throw new RunnerError(`input ${name}: expected a JSON list of ${numElements(shape)} strings in ${file}`, 'request');
    }
    return tf.tensor(values, shape, 'string');
  }
  const size = BYTES_PER_ELEMENT[dtype];
  if (size == null) throw new RunnerError(`input ${name}: unsupported dtype ${dtype}`, 'request');
  const buffer = toArrayBuffer(fs.readFileSync(file));
  if (buffer.byteLength !== numElements(shape) * size) {
    throw new RunnerError(`input ${name}: ${file} has ${buffer.byteLength} bytes, expected ` +
                          `${numElements(shape) * size} for ${dtype} ${JSON.stringify(shape)}`, 'request');
  }
  switch (dtype) {
    case 'float32': return tf.tensor(new Float32Array(buffer), shape, 'float32');
    case 'int32': return tf.tensor(new Int32Array(buffer), shape, 'int32');
    case 'bool': return tf.tensor(new Uint8Array(buffer), shape, 'bool');
    case 'complex64': {
      const both = new Float32Array(buffer);
      const n = both.length / 2;
      const re = new Float32Array(n);
      const im = new Float32Array(n);
      for (let i = 0; i < n; i++) { re[i] = both[2 * i]; im[i] = both[2 * i + 1]; }
      return tf.tidy(() => tf.complex(tf.tensor(re, shape), tf.tensor(im, shape)));
    }
  }
  throw new RunnerError(`input ${name}: unsupported dtype ${dtype}`, 'request');
}

async function writeOutput(tf, tensor, name, file) {
  const dtype = tensor.dtype;
  if (dtype === 'string') {
    const values = await tensor.data();
    fs.writeFileSync(file, JSON.stringify(Array.from(values)));
  } else if (dtype === 'complex64') {
    const re = tf.real(tensor);
    const im = tf.imag(tensor);
    const [r, i] = await Promise.all([re.data(), im.data()]);
    re.dispose();
    im.dispose();
    const both = new Float32Array(r.length * 2);
    for (let k = 0; k < r.length; k++) { both[2 * k] = r[k]; both[2 * k + 1] = i[k]; }
    fs.writeFileSync(file, new Uint8Array(both.buffer));
  } else {
    // TF.js may hand back a buffer of another type than the dtype says (cpu's int32->float32 Cast
    // keeps the Int32Array), so convert to the dtype's own typed array before writing raw bytes.
    const Typed = { float32: Float32Array, int32: Int32Array, bool: Uint8Array }[dtype];
    if (Typed == null) throw new RunnerError(`output ${name}: unsupported dtype ${dtype}`, 'run');
    const raw = await tensor.data();
    const data = raw instanceof Typed ? raw : Typed.from(raw);
    fs.writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return { name, dtype, shape: tensor.shape, file };
}

// ---------------------------------------------------------------------------------------------
// Running.

/** Returns {run: async (inputs) => [[name, tensor], ...], dispose}. */
async function loadRunnable(tf, modelJSON, handler, request) {
  const format = modelJSON.format ?? (modelJSON.modelTopology.node != null ? 'graph-model' : 'layers-model');
  if (format === 'graph-model') {
    const model = await tf.loadGraphModel(handler);
    const signatureOutputs = modelJSON.signature?.outputs;
    let outputNames = request.output_names;
    if (outputNames == null || outputNames.length === 0) {
      outputNames = signatureOutputs != null && Object.keys(signatureOutputs).length > 0
        ? Object.keys(signatureOutputs) : model.outputNodes;
    }
    // execute() is synchronous and what most apps call; models with control flow or dynamic
    // shapes refuse it ("... please use model.executeAsync() instead"), then executeAsync is used.
    // request.call_style forces one call, made as an app makes it (no fallback): 'predict',
    // 'execute' or 'executeAsync' — the latter two without output names unless output_names is given,
    // so TF.js picks the model's outputs itself. Results are named by signature order.
    const style = request.call_style ?? null;
    if (style != null && !['execute', 'executeAsync', 'predict'].includes(style)) {
      throw new RunnerError(`unknown call_style ${JSON.stringify(style)}`, 'request');
    }
    const given = request.output_names?.length ? request.output_names : undefined;
    const keys = signatureOutputs != null ? Object.keys(signatureOutputs) : [];
    const ownNames = keys.length === model.outputNodes.length ? keys : model.outputNodes;
    const runnable = {
      mode: style ?? 'execute',
      run: async (inputs) => {
        const named = {};
        for (const [name, t] of inputs) named[name] = t;
        if (style === 'predict') return nameResults(model.predict(named), ownNames);
        if (style === 'execute') return nameResults(model.execute(named, given), given ?? ownNames);
        if (style === 'executeAsync') return nameResults(await model.executeAsync(named, given), given ?? ownNames);
        if (runnable.mode === 'execute') {
          try {
            return nameResults(model.execute(named, outputNames), outputNames);
          } catch (e) {
            if (!/executeAsync/.test(String(e?.message))) throw e;
            runnable.mode = 'executeAsync';
          }
        }
        return nameResults(await model.executeAsync(named, outputNames), outputNames);
      },
      dispose: () => model.dispose(),
    };
    return runnable;
  }
  if (format === 'layers-model') {
    const model = await tf.loadLayersModel(handler);
    // A Sequential model keeps these names on its inner model: fall back to the layers'.
    const layerName = (t) => t.sourceLayer?.name ?? t.name;
    const inputNames = model.inputNames?.length ? model.inputNames : model.inputs.map(layerName);
    let outputNames = model.outputNames?.length ? model.outputNames : model.outputs.map(layerName);
    let predictor = model;
    if (request.layer_outputs?.length) {
      // verify --trace: a sub-model whose outputs are the named layers' (first output of each).
      const outputs = request.layer_outputs.map((name) => {
        const out = model.getLayer(name).output;
        return out instanceof Array ? out[0] : out;
      });
      predictor = tf.model({ inputs: model.inputs, outputs });
      outputNames = request.layer_outputs;
    }
    return {
      mode: 'predict',
      run: async (inputs) => {
        const ordered = orderLayersInputs(inputNames, inputs);
        const result = predictor.predict(ordered.length === 1 ? ordered[0] : ordered);
        return nameResults(result, outputNames);
      },
      dispose: () => model.dispose(),
    };
  }
  throw new RunnerError(`unknown model format ${JSON.stringify(format)} (expected "graph-model" or "layers-model")`, 'model');
}

function nameResults(result, names) {
  if (result instanceof Array) return result.map((t, i) => [names[i] ?? `output_${i}`, t]);
  if (result != null && typeof result.dataSync === 'function') return [[names[0] ?? 'output_0', result]];
  return Object.entries(result); // a NamedTensorMap (graph models with structuredOutputKeys)
}

function orderLayersInputs(inputNames, inputs) {
  const given = new Map(inputs);
  if (inputNames.length === 1 && inputs.length === 1) return [inputs[0][1]];
  const strip = (n) => n.replace(/:0$/, '');
  const byStripped = new Map(inputs.map(([n, t]) => [strip(n), t]));
  const missing = [];
  const ordered = inputNames.map((n) => {
    const t = given.get(n) ?? byStripped.get(strip(n));
    if (t == null) missing.push(n);
    return t;
  });
  if (missing.length > 0 || inputs.length !== inputNames.length) {
    throw new Error(`the layers model takes inputs ${JSON.stringify(inputNames)}, ` +
                    `got ${JSON.stringify(inputs.map(([n]) => n))}`);
  }
  return ordered;
}

function disposeAll(pairs) {
  for (const [, t] of pairs) t.dispose();
}

async function runBackend(tf, backend, modelJSON, handler, request) {
  // stage: where a failure happened — 'init' (the backend), 'load' (the model), 'run' (executing it).
  const entry = { ok: false, stage: 'init' };
  let runnable = null;
  let inputs = [];
  try {
    const ok = await tf.setBackend(backend);
    await tf.ready();
    if (!ok || tf.getBackend() !== backend) {
      throw new Error(`the ${backend} backend failed to initialize (see the runner's stderr)`);
    }
    entry.stage = 'load';
    let t0 = performance.now();
    runnable = await loadRunnable(tf, modelJSON, handler, request);
    entry.load_ms = performance.now() - t0;
    entry.stage = 'run';
    inputs = request.inputs.map((spec) => [spec.name, readInput(tf, spec)]);

    const warmup = Math.max(0, request.warmup ?? 0);
    const runs = Math.max(0, request.runs ?? 1);
    const total = Math.max(1, warmup + runs);
    const times = [];
    const discarded = []; // the warm-up executions' times: reported, never in the statistics
    let first = null;
    for (let k = 0; k < total; k++) {
      t0 = performance.now();
      const results = await runnable.run(inputs);
      await Promise.all(results.map(([, t]) => t.data())); // wait until the values exist
      const ms = performance.now() - t0;
      if (k === 0) {
        entry.first_ms = ms;
        first = results;
      } else {
        disposeAll(results);
      }
      if (k >= total - runs) times.push(ms);
      else discarded.push(ms);
    }
    entry.times_ms = times;
    entry.warmup_ms = discarded;
    entry.mode = runnable.mode;
    entry.info = await backendInfo(tf, backend);
    entry.outputs = [];
    for (let i = 0; i < (request.write_outputs === false ? 0 : first.length); i++) {
      const [name, tensor] = first[i];
      const ext = tensor.dtype === 'string' ? 'json' : 'bin';
      const file = path.join(request.output_dir, `${backend}-output${i}.${ext}`);
      entry.outputs.push(await writeOutput(tf, tensor, name, file));
    }
    disposeAll(first);
    entry.ok = true;
    delete entry.stage;
  } catch (e) {
    entry.ok = false;
    entry.error = (e && e.message) ? e.message : String(e);
    if (e && e.stack) entry.stack = String(e.stack).split('\n').slice(0, 6).join('\n');
  } finally {
    disposeAll(inputs);
    try { runnable?.dispose(); } catch { /* already failed */ }
  }
  return entry;
}

/** Facts that explain a backend's speed (wasm: SIMD and threads). */
async function backendInfo(tf, backend) {
  const info = {};
  if (backend === 'wasm') {
    for (const [key, flag] of [['simd', 'WASM_HAS_SIMD_SUPPORT'], ['threads', 'WASM_HAS_MULTITHREAD_SUPPORT']]) {
      try { info[key] = await tf.env().getAsync(flag); } catch { /* flag unknown in this version */ }
    }
  }
  return info;
}

function loadTfjs(runtimeDir) {
  const require = createRequire(runtimeDir != null
    ? path.join(path.resolve(runtimeDir), 'package.json') : import.meta.url);
  let tf;
  try {
    tf = require('@tensorflow/tfjs');
  } catch (e) {
    throw new RunnerError(`cannot load @tensorflow/tfjs from ${runtimeDir ?? 'next to runner.mjs'}: ${e.message}`, 'runtime');
  }
  return { tf, require };
}

async function main() {
  const requestPath = process.argv[2];
  if (!requestPath) throw new RunnerError('usage: node runner.mjs REQUEST.json', 'request');
  if (os.endianness() !== 'LE') throw new RunnerError('the runner needs a little-endian machine', 'request');
  const request = readJSON(requestPath, 'request', 'request');
  for (const key of ['model_dir', 'output_dir', 'inputs', 'backends']) {
    if (request[key] == null) throw new RunnerError(`request lacks "${key}"`, 'request');
  }
  const { tf, require } = loadTfjs(request.runtime_dir);
  const { modelJSON, handler } = localModel(tf, request.model_dir);
  fs.mkdirSync(request.output_dir, { recursive: true });

  const result = {
    tfjs_version: tf.version?.tfjs ?? null,
    environment: { node: process.version, platform: `${os.platform()} ${os.arch()}`,
                   cpu: `${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}` },
    backends: {},
  };
  for (const backend of request.backends) {
    if (backend === 'wasm' && !tf.findBackendFactory('wasm')) {
      try {
        const wasm = require('@tensorflow/tfjs-backend-wasm');
        // Point at the installed .wasm files, so nothing is fetched from the network.
        const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
        wasm.setWasmPaths(dist + path.sep);
      } catch (e) {
        result.backends[backend] = { ok: false, error: `cannot load @tensorflow/tfjs-backend-wasm: ${e.message}` };
        continue;
      }
    }
    result.backends[backend] = await runBackend(tf, backend, modelJSON, handler, request);
  }
  return result;
}

// Exit explicitly once stdout is flushed: a backend may leave handles that keep Node alive.
function finish(doc, code) {
  writeStdout(JSON.stringify(doc) + '\n', () => process.exit(code));
}

main().then((result) => finish(result, 0), (e) => {
  const kind = e instanceof RunnerError ? e.kind : 'internal';
  const message = e instanceof RunnerError ? e.message : String(e?.stack ?? e);
  finish({ error: message, kind }, 2);
});
