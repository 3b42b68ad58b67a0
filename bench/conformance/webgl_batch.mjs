// Batch runner for the webgl column of conformance sweeps: many small converted models in ONE headless
// Chromium page (TF.js's webgl backend needs a browser; Node has no WebGL context). The request and the
// stdout protocol are batch_runner.mjs's, so the Python side reads both the same way (onnx_backend.read_outputs).
// The page loads TF.js once, turns WEBGL_CPU_FORWARD off (so the shaders are measured, see openPage) and selects
// webgl once; each job's model.json, shards and inputs are handed to the page as base64 (no web server), and its
// outputs come back the same way and are written as raw files.
//
//   node webgl_batch.mjs REQUEST.json
//
// REQUEST.json: batch_runner.mjs's request plus "executable" (the system Chromium) and "job_timeout_ms".
// stdout (JSON lines): {"event": "info", "backend": "webgl", "render_float32", "renderer"} once, then
// batch_runner.mjs's "start"/"done" events; a job that hangs or crashes the page is reported as failed
// ("stage": "timeout" / "crash") and the page is replaced before the next job.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const out = (doc) => fs.writeSync(1, JSON.stringify(doc) + '\n');
console.log = console.error;

// As core/serve/browser.mjs: WebGL without a GPU is SwiftShader, which Chromium only enables when asked.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-default-apps',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader'];

const b64 = (file) => fs.readFileSync(file).toString('base64');

function payload(job) {
  const text = fs.readFileSync(path.join(job.model_dir, 'model.json'), 'utf8');
  const shards = [];
  for (const group of JSON.parse(text).weightsManifest ?? []) {
    for (const rel of group.paths ?? []) shards.push(b64(path.join(job.model_dir, rel)));
  }
  // strings travel as batch_runner.mjs's JSON lists; numbers as raw bytes (so NaN/±Inf/-0 arrive bit for bit)
  const inputs = job.inputs.map((s) => ({ name: s.name, dtype: s.dtype, shape: s.shape,
    ...(s.dtype === 'string' ? { values: JSON.parse(fs.readFileSync(s.file, 'utf8')) } : { data: b64(s.file) }) }));
  return { modelJSON: text, shards, inputs };
}

// Runs in the page (a function serialized by playwright: no closure over Node values).
async function runInPage(job) {
  const tf = window.tf;
  const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
  const toB64 = (bytes) => {
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(bin);
  };
  const TYPED = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };
  const result = { ok: false, stage: 'load' };
  const inputs = [];
  let outputs = [];
  let model = null;
  try {
    const modelJSON = JSON.parse(job.modelJSON);
    const shards = job.shards.map(fromB64);
    const handler = {
      load: async () => tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const specs = [];
        for (const group of manifest) specs.push(...group.weights);
        return [specs, shards];
      }),
    };
    const complexOf = (s) => {  // complex64 travels as interleaved re/im float32 (batch_runner.mjs's format)
      const both = new Float32Array(fromB64(s.data));
      const re = both.filter((_, i) => i % 2 === 0);
      const im = both.filter((_, i) => i % 2 === 1);
      return tf.tidy(() => tf.complex(tf.tensor(re, s.shape), tf.tensor(im, s.shape)));
    };
    const tensorOf = (s) => (s.dtype === 'string' ? tf.tensor(s.values, s.shape, 'string')
      : s.dtype === 'complex64' ? complexOf(s) : tf.tensor(new TYPED[s.dtype](fromB64(s.data)), s.shape, s.dtype));
    const layers = (modelJSON.format ?? (modelJSON.modelTopology?.node != null ? 'graph-model' : 'layers-model'))
      === 'layers-model';
    let names;
    if (layers) {  // inputs in job order, as model.predict takes them
      model = await tf.loadLayersModel(handler);
      result.stage = 'run';
      for (const s of job.inputs) inputs.push(tensorOf(s));
      result.mode = 'predict';
      const predicted = model.predict(inputs.length === 1 ? inputs[0] : inputs);
      outputs = Array.isArray(predicted) ? predicted : [predicted];
      names = outputs.map((_, i) => `output_${i}`);
    } else {
      model = await tf.loadGraphModel(handler);
      result.stage = 'run';
      const feeds = {};
      for (const s of job.inputs) { const t = tensorOf(s); inputs.push(t); feeds[s.name] = t; }
      const signature = modelJSON.signature?.outputs;
      const keys = signature != null ? Object.keys(signature) : [];
      const bySignature = signature != null && keys.length === model.outputNodes.length;
      names = bySignature ? keys : model.outputNodes;
      const fetch = bySignature ? keys.map((k) => signature[k].name ?? k) : model.outputNodes;
      let results;
      result.mode = 'execute';
      try {
        results = model.execute(feeds, fetch);
      } catch (e) {
        if (!/executeAsync/.test(String(e?.message))) throw e;
        result.mode = 'executeAsync';
        results = await model.executeAsync(feeds, fetch);
      }
      outputs = Array.isArray(results) ? results : [results];
    }
    result.outputs = [];
    for (let i = 0; i < outputs.length; i++) {
      const t = outputs[i];
      if (t.dtype === 'string') {
        result.outputs.push({ name: names[i] ?? `output_${i}`, dtype: t.dtype, shape: t.shape,
                              values: Array.from(await t.data()) });
        continue;
      }
      if (t.dtype === 'complex64') {
        const [re, im] = await Promise.all([tf.real(t), tf.imag(t)].map(async (p) => {
          const values = await p.data();
          p.dispose();
          return values;
        }));
        const both = new Float32Array(re.length * 2);
        for (let k = 0; k < re.length; k++) { both[2 * k] = re[k]; both[2 * k + 1] = im[k]; }
        result.outputs.push({ name: names[i] ?? `output_${i}`, dtype: t.dtype, shape: t.shape,
                              data: toB64(new Uint8Array(both.buffer)) });
        continue;
      }
      if (TYPED[t.dtype] == null) throw new Error(`output ${names[i]}: unsupported dtype ${t.dtype}`);
      const raw = await t.data();
      const data = raw instanceof TYPED[t.dtype] ? raw : TYPED[t.dtype].from(raw);
      result.outputs.push({ name: names[i] ?? `output_${i}`, dtype: t.dtype, shape: t.shape,
                            data: toB64(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) });
    }
    result.ok = true;
    delete result.stage;
  } catch (e) {
    result.error = String(e?.message ?? e).slice(0, 2000);
  } finally {
    for (const t of [...inputs, ...outputs]) { try { t.dispose(); } catch { /* already */ } }
    try { model?.dispose(); } catch { /* failed load */ }
  }
  return result;
}

async function openPage(browser, tfPath) {
  const page = await browser.newPage();
  await page.addScriptTag({ path: tfPath });
  const info = await page.evaluate(async () => {
    // Deliberate: measure the shaders. With WEBGL_CPU_FORWARD (TF.js's default, true) webgl runs many kernels
    // (element-wise, reductions, ...) on its CPU implementation when every input is CPU-resident and has fewer
    // than 128 elements (shouldExecuteOnCPU), which is what the small graph inputs of conformance cases are; in a
    // real model most tensors come from earlier shaders, so the shader is what runs. Off, every case runs its shader.
    window.tf.env().set('WEBGL_CPU_FORWARD', false);
    const ok = await window.tf.setBackend('webgl');
    await window.tf.ready();
    const gl = document.createElement('canvas').getContext('webgl2');
    const debug = gl?.getExtension('WEBGL_debug_renderer_info');
    return { ok: ok && window.tf.getBackend() === 'webgl',
             render_float32: window.tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED'),
             renderer: debug ? gl.getParameter(debug.UNMASKED_RENDERER_WEBGL) : null };
  });
  if (!info.ok) throw new Error('the webgl backend failed to initialize in Chromium');
  return { page, info };
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(Object.assign(new Error(
    `no result within ${Math.round(ms / 1000)} s`), { stage: 'timeout' })), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const require = createRequire(path.join(path.resolve(request.runtime_dir), 'package.json'));
  const { chromium } = require('playwright-core');
  const tfPath = require.resolve('@tensorflow/tfjs/dist/tf.min.js');
  const timeoutMs = request.job_timeout_ms ?? 60000;
  const browser = await chromium.launch({ executablePath: request.executable, headless: true, args: CHROMIUM_ARGS });
  try {
    let opened;
    try {
      opened = await openPage(browser, tfPath);
    } catch (e) {
      out({ event: 'backend', backend: 'webgl', ok: false, error: String(e?.message ?? e) });
      return;
    }
    out({ event: 'info', backend: 'webgl', browser_version: browser.version(), ...opened.info });
    let { page } = opened;
    for (const job of request.jobs) {
      out({ event: 'start', backend: 'webgl', id: job.id });
      let doc;
      try {
        doc = await withTimeout(page.evaluate(runInPage, payload(job)), timeoutMs);
      } catch (e) {
        doc = { ok: false, stage: e?.stage ?? 'crash', error: String(e?.message ?? e).split('\n')[0] };
        await page.close().catch(() => {});  // a hung or crashed page is replaced: the next job starts clean
        ({ page } = await openPage(browser, tfPath));
      }
      if (doc.ok) {
        fs.mkdirSync(job.output_dir, { recursive: true });
        doc.outputs = doc.outputs.map((o, i) => {
          const file = path.join(job.output_dir, `webgl-output${i}.${o.dtype === 'string' ? 'json' : 'bin'}`);
          fs.writeFileSync(file, o.dtype === 'string' ? JSON.stringify(o.values) : Buffer.from(o.data, 'base64'));
          return { name: o.name, dtype: o.dtype, shape: o.shape, file };
        });
      }
      out({ event: 'done', backend: 'webgl', id: job.id, ...doc });
    }
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (e) => {
  out({ event: 'fatal', error: String(e?.stack ?? e) });
  process.exit(2);
});
