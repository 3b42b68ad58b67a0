// Batch runner for conformance sweeps: many small converted graph (or layers) models in ONE Node process, with
// the same pinned TF.js runtime as tfjsconv's verify runner (core/verify/node/runner.mjs), which
// starts one process per model. One process per ONNX node test would cost ~1 s each.
//
//   node batch_runner.mjs REQUEST.json
//
// REQUEST.json: { "runtime_dir": "...", "backends": ["cpu", "wasm"],
//   "jobs": [{ "id": "test_abs", "model_dir": "...", "output_dir": "...",
//              "inputs": [{"name", "dtype", "shape", "file"}] }] }
// Data files: raw little-endian float32/int32, bool as one byte per element, string as a JSON list.
//
// stdout: one JSON object per line, flushed as it goes (a crash loses only the running job):
//   {"event": "start", "backend": "cpu", "id": "test_abs"}
//   {"event": "done", "backend": "cpu", "id": "test_abs", "ok": true, "mode": "execute",
//    "outputs": [{"name", "dtype", "shape", "file"}]}
//   {"event": "done", ..., "ok": false, "stage": "load" | "run", "error": "..."}
//   {"event": "backend", "backend": "wasm", "ok": false, "error": "..."}   (backend failed to init)

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const out = (doc) => fs.writeSync(1, JSON.stringify(doc) + '\n');
console.log = console.error;
console.info = console.error;
console.warn = console.error;

const BYTES = { float32: 4, int32: 4, bool: 1 };
const TYPED = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

const toArrayBuffer = (buf) => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);

function handlerFor(tf, modelDir) {
  const text = fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8');
  const modelJSON = JSON.parse(text);
  const shards = [];
  for (const group of modelJSON.weightsManifest ?? []) {
    for (const rel of group.paths ?? []) shards.push(toArrayBuffer(fs.readFileSync(path.join(modelDir, rel))));
  }
  return {
    modelJSON,
    handler: {
      load: async () => tf.io.getModelArtifactsForJSON(JSON.parse(text), async (manifest) => {
        const specs = [];
        for (const group of manifest) specs.push(...group.weights);
        return [specs, shards];
      }),
    },
  };
}

function readInput(tf, spec) {
  if (spec.dtype === 'string') return tf.tensor(JSON.parse(fs.readFileSync(spec.file, 'utf8')), spec.shape, 'string');
  const Typed = TYPED[spec.dtype];
  if (Typed == null) throw new Error(`input ${spec.name}: unsupported dtype ${spec.dtype}`);
  const buffer = toArrayBuffer(fs.readFileSync(spec.file));
  if (buffer.byteLength !== spec.shape.reduce((a, b) => a * b, 1) * BYTES[spec.dtype]) {
    throw new Error(`input ${spec.name}: wrong byte count in ${spec.file}`);
  }
  return tf.tensor(new Typed(buffer), spec.shape, spec.dtype);
}

async function writeOutput(tensor, name, file) {
  if (tensor.dtype === 'string') {
    fs.writeFileSync(file, JSON.stringify(Array.from(await tensor.data())));
  } else {
    const Typed = TYPED[tensor.dtype];
    if (Typed == null) throw new Error(`output ${name}: unsupported dtype ${tensor.dtype}`);
    const raw = await tensor.data();
    const data = raw instanceof Typed ? raw : Typed.from(raw);
    fs.writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return { name, dtype: tensor.dtype, shape: tensor.shape, file };
}

async function runJob(tf, backend, job) {
  const result = { event: 'done', backend, id: job.id, ok: false, stage: 'load' };
  let model = null;
  const inputs = {};
  let outputs = [];
  try {
    const { modelJSON, handler } = handlerFor(tf, job.model_dir);
    if ((modelJSON.format ?? (modelJSON.modelTopology?.node != null ? 'graph-model' : 'layers-model')) === 'layers-model') {
      // Layers models (the Keras conformance run): inputs in job order, as model.predict takes them.
      model = await tf.loadLayersModel(handler);
      result.stage = 'run';
      const given = job.inputs.map((spec) => readInput(tf, spec));
      given.forEach((t, i) => { inputs[`input${i}`] = t; });
      result.mode = 'predict';
      const predicted = model.predict(given.length === 1 ? given[0] : given);
      outputs = Array.isArray(predicted) ? predicted : [predicted];
      fs.mkdirSync(job.output_dir, { recursive: true });
      result.outputs = [];
      for (let i = 0; i < outputs.length; i++) {
        result.outputs.push(await writeOutput(outputs[i], `output_${i}`, path.join(job.output_dir, `${backend}-output${i}.bin`)));
      }
      result.ok = true;
      delete result.stage;
      return result;
    }
    model = await tf.loadGraphModel(handler);
    result.stage = 'run';
    for (const spec of job.inputs) inputs[spec.name] = readInput(tf, spec);
    const signature = modelJSON.signature?.outputs;
    const keys = signature != null ? Object.keys(signature) : [];
    const names = keys.length === model.outputNodes.length ? keys : model.outputNodes;
    const fetch = signature != null && keys.length === model.outputNodes.length
      ? keys.map((k) => signature[k].name ?? k) : model.outputNodes;
    let results;
    result.mode = 'execute';
    try {
      results = model.execute(inputs, fetch);
    } catch (e) {
      if (!/executeAsync/.test(String(e?.message))) throw e;
      result.mode = 'executeAsync';
      results = await model.executeAsync(inputs, fetch);
    }
    outputs = Array.isArray(results) ? results : [results];
    fs.mkdirSync(job.output_dir, { recursive: true });
    result.outputs = [];
    for (let i = 0; i < outputs.length; i++) {
      result.outputs.push(await writeOutput(outputs[i], names[i] ?? `output_${i}`,
                                            path.join(job.output_dir, `${backend}-output${i}.bin`)));
    }
    result.ok = true;
    delete result.stage;
  } catch (e) {
    result.error = String(e?.message ?? e).slice(0, 2000);
  } finally {
    for (const t of Object.values(inputs)) t.dispose();
    for (const t of outputs) { try { t.dispose(); } catch { /* already */ } }
    try { model?.dispose(); } catch { /* failed load */ }
  }
  return result;
}

async function main() {
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const require = createRequire(path.join(path.resolve(request.runtime_dir), 'package.json'));
  const tf = require('@tensorflow/tfjs');
  for (const backend of request.backends) {
    if (backend === 'wasm' && !tf.findBackendFactory('wasm')) {
      const wasm = require('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
    }
    let ok = false;
    try {
      ok = await tf.setBackend(backend);
      await tf.ready();
    } catch (e) {
      out({ event: 'backend', backend, ok: false, error: String(e?.message ?? e) });
      continue;
    }
    if (!ok || tf.getBackend() !== backend) {
      out({ event: 'backend', backend, ok: false, error: `the ${backend} backend failed to initialize` });
      continue;
    }
    for (const job of request.jobs) {
      out({ event: 'start', backend, id: job.id });
      out(await runJob(tf, backend, job));
    }
  }
}

main().then(() => process.exit(0), (e) => {
  out({ event: 'fatal', error: String(e?.stack ?? e) });
  process.exit(2);
});
