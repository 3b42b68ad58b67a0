// The tfjsconv serve page: load the model with TF.js on each backend, run it, chart the timings.
// Everything comes from this local server (TF.js from the pinned npm package); nothing from a CDN.
// `window.tfjsconv` is the page's API; the browser tests and `tfjsconv bench --browser` use it.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { info: null, inputs: {}, results: {}, renderer: null };
const COLORS = { cpu: '#8a63d2', wasm: '#2f80ed', webgl: '#27ae60' };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function table(headers, rows, numeric = []) {
  const t = el('table', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h))));
  for (const row of rows) {
    t.append(el('tr', {}, ...row.map((c, i) => el('td', numeric.includes(i) ? { class: 'num' } : {}, c))));
  }
  return t;
}

const shapeText = (s) => (s == null ? '?' : '[' + s.map((d) => (d == null ? '?' : d)).join(', ') + ']');
const ms = (v) => (v == null ? '-' : v < 100 ? v.toFixed(2) : v.toFixed(0));

function stats(times) {
  if (!times.length) return { median_ms: null, min_ms: null, p90_ms: null };
  const s = [...times].sort((a, b) => a - b);
  const q = (p) => { const i = (s.length - 1) * p; const lo = Math.floor(i); const hi = Math.ceil(i); return s[lo] + (s[hi] - s[lo]) * (i - lo); };
  return { median_ms: q(0.5), min_ms: s[0], p90_ms: q(0.9) };
}

// ---------------------------------------------------------------------------------------------
// Signature and inputs.

function looksLikeImage(spec) {
  const s = spec.shape;
  return s != null && s.length === 4 && (s[3] === 3 || s[3] === 1) && spec.dtype !== 'string' && spec.dtype !== 'bool';
}

function renderSignature(info) {
  const box = $('signature');
  box.replaceChildren();
  for (const side of ['inputs', 'outputs']) {
    const withLayout = info.signature[side].some((e) => e.layout);
    const rows = info.signature[side].map((e) =>
      [e.name, e.dtype ?? '?', shapeText(e.shape), ...(withLayout ? [e.layout ?? ''] : [])]);
    box.append(el('div', {}, el('strong', {}, side)),
      table(['name', 'dtype', 'shape', ...(withLayout ? ['layout'] : [])], rows));
  }
}

function renderInputs() {
  const box = $('inputs');
  box.replaceChildren();
  for (const spec of state.info.signature.inputs) {
    const current = state.inputs[spec.name];
    const what = current ? `${current.source}: ${current.dtype} ${shapeText(current.shape)}` : 'none';
    const file = el('input', { type: 'file', accept: looksLikeImage(spec) ? 'image/*,.npy,.json' : '.npy,.json' });
    file.addEventListener('change', () => uploadInput(spec, file.files[0]).catch(showError));
    const row = el('p', {}, el('code', {}, spec.name), ` — ${what} — upload `, file);
    if (looksLikeImage(spec)) {
      const scale = el('select', { id: `scale-${spec.name}` },
        el('option', { value: '0..1' }, 'pixels 0..1'), el('option', { value: '0..255' }, 'pixels 0..255'),
        el('option', { value: '-1..1' }, 'pixels -1..1'));
      row.append(' image scale ', scale);
      if (current?.thumb) row.append(el('img', { class: 'thumb', src: current.thumb, alt: 'uploaded picture' }));
    }
    box.append(row);
  }
}

async function randomInputs(seed) {
  const response = await fetch(`/api/random?seed=${seed}`);
  const doc = await response.json();
  if (!response.ok) throw new Error(doc.error ?? `random inputs: HTTP ${response.status}`);
  for (const [name, a] of Object.entries(doc)) {
    // non-finite floats arrive as "NaN", "Infinity", "-Infinity" (JSON has no such numbers): Number() reads them
    const values = a.dtype === 'float32' ? a.values.map(Number) : a.values;
    state.inputs[name] = { ...a, values, source: `random (seed ${seed})` };
  }
  renderInputs();
  return doc;
}

function parseNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes[0] !== 0x93 || String.fromCharCode(...bytes.slice(1, 6)) !== 'NUMPY') throw new Error('not a .npy file');
  const major = bytes[6];
  const view = new DataView(buffer);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.slice(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = JSON.parse('[' + (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').replace(/,\s*$/, '') + ']');
  if (/'fortran_order':\s*True/.test(header)) throw new Error('.npy in Fortran order is not supported');
  const data = buffer.slice(start + headerLen);
  const kinds = { '<f4': [Float32Array, 'float32'], '<f8': [Float64Array, 'float32'], '<i4': [Int32Array, 'int32'],
                  '<i8': [BigInt64Array, 'int32'], '|b1': [Uint8Array, 'bool'], '|u1': [Uint8Array, 'int32'] };
  const kind = kinds[descr];
  if (!kind) throw new Error(`.npy dtype ${descr} is not supported (float32/64, int32/64, bool, uint8)`);
  const values = Array.from(new kind[0](data), (v) => Number(v));
  return { dtype: kind[1], shape, values };
}

async function imageToInput(spec, file) {
  const bitmap = await createImageBitmap(file);
  const h = spec.shape[1] ?? 224;
  const w = spec.shape[2] ?? 224;
  const canvas = el('canvas', { width: w, height: h });
  canvas.getContext('2d').drawImage(bitmap, 0, 0, w, h);
  const scale = $(`scale-${spec.name}`)?.value ?? '0..1';
  const values = tf.tidy(() => {
    let t = tf.browser.fromPixels(canvas, spec.shape[3]).toFloat();
    if (scale === '0..1') t = t.div(255);
    if (scale === '-1..1') t = t.div(127.5).sub(1);
    return Array.from(t.dataSync());
  });
  return { dtype: spec.dtype === 'int32' ? 'int32' : 'float32', shape: [1, h, w, spec.shape[3]], values,
           thumb: canvas.toDataURL() };
}

async function uploadInput(spec, file) {
  if (!file) return;
  let input;
  if (file.type.startsWith('image/')) input = await imageToInput(spec, file);
  else if (file.name.endsWith('.npy')) input = parseNpy(await file.arrayBuffer());
  else {
    const doc = JSON.parse(await file.text());
    const flat = doc.flat(Infinity);
    const shape = [];
    for (let a = doc; Array.isArray(a); a = a[0]) shape.push(a.length);
    input = { dtype: spec.dtype === 'int32' ? 'int32' : spec.dtype === 'bool' ? 'bool' : 'float32', shape, values: flat };
  }
  state.inputs[spec.name] = { ...input, source: `uploaded ${file.name}` };
  renderInputs();
}

// ---------------------------------------------------------------------------------------------
// Running.

async function loadModel() {
  const url = '/model/model.json';
  return state.info.model_type === 'layers-model' ? tf.loadLayersModel(url) : tf.loadGraphModel(url);
}

function makeTensors() {
  const out = [];
  for (const spec of state.info.signature.inputs) {
    const a = state.inputs[spec.name];
    if (!a) throw new Error(`no value for input ${spec.name}`);
    out.push([spec.name, tf.tensor(a.values, a.shape, a.dtype)]);
  }
  return out;
}

async function execute(model, inputs) {
  if (state.info.model_type === 'layers-model') {
    const byName = new Map(inputs);
    const names = model.inputNames?.length ? model.inputNames : inputs.map(([n]) => n);
    const ordered = names.length === inputs.length && names.every((n) => byName.has(n))
      ? names.map((n) => byName.get(n)) : inputs.map(([, t]) => t);
    const result = model.predict(ordered.length === 1 ? ordered[0] : ordered);
    const list = Array.isArray(result) ? result : [result];
    return list.map((t, i) => [model.outputNames?.[i] ?? `output_${i}`, t]);
  }
  const named = Object.fromEntries(inputs);
  const names = state.info.signature.outputs.length
    ? state.info.signature.outputs.map((o) => o.name) : model.outputNodes;
  let result;
  try {
    result = model.execute(named, names);
  } catch (e) {
    if (!/executeAsync/.test(String(e?.message))) throw e;
    result = await model.executeAsync(named, names);
  }
  const list = Array.isArray(result) ? result : [result];
  return list.map((t, i) => [names[i], t]);
}

function glRenderer() {
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2') || canvas.getContext('webgl');
  if (!gl) return null;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const precision = gl.getShaderPrecisionFormat(gl.FRAGMENT_SHADER, gl.HIGH_FLOAT);
  return { renderer: String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)),
           highp_bits: precision ? precision.precision : null };
}

// What decides WebGL's numerics: float32 or float16 render targets, and the shaders' highp mantissa.
function webglFacts() {
  const gl = glRenderer();
  state.renderer = gl?.renderer ?? null;
  return { gl_renderer: state.renderer, highp_mantissa_bits: gl?.highp_bits ?? null,
           webgl_version: tf.env().getNumber('WEBGL_VERSION'),
           render_float32: tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED'),
           download_float: tf.env().getBool('WEBGL_DOWNLOAD_FLOAT_ENABLED'),
           packed: tf.env().getBool('WEBGL_PACK') };
}

// JSON has no NaN/Infinity: those travel as the strings "NaN", "Infinity", "-Infinity".
// -0 too, as "-0" (JSON.stringify(-0) is "0"), so every float comes back bit for bit.
const jsonValue = (v) => (typeof v === 'number'
  ? (Object.is(v, -0) ? '-0' : Number.isFinite(v) ? v : String(v)) : String(v));

async function runBackend(backend, runs, warmup) {
  const entry = { backend, ok: false, times_ms: [], info: {} };
  let model = null;
  let inputs = [];
  try {
    if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) {
      throw new Error(`the ${backend} backend failed to initialize`);
    }
    await tf.ready();
    if (backend === 'webgl') Object.assign(entry.info, webglFacts());
    if (backend === 'wasm') {
      entry.info.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      entry.info.threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    }
    let t0 = performance.now();
    model = await loadModel();
    entry.load_ms = performance.now() - t0;
    inputs = makeTensors();
    const total = Math.max(1, warmup + runs);
    for (let k = 0; k < total; k++) {
      t0 = performance.now();
      const results = await execute(model, inputs);
      const values = await Promise.all(results.map(([, t]) => t.data()));
      const elapsed = performance.now() - t0;
      if (k === 0) {
        entry.first_ms = elapsed;
        entry.outputs = Object.fromEntries(results.map(([name, t], i) =>
          [name, { dtype: t.dtype, shape: t.shape, values: Array.from(values[i], jsonValue) }]));
      }
      if (k >= total - runs) entry.times_ms.push(elapsed);
      results.forEach(([, t]) => t.dispose());
    }
    Object.assign(entry, stats(entry.times_ms));
    entry.ok = true;
  } catch (e) {
    entry.error = e?.message ?? String(e);
  } finally {
    inputs.forEach(([, t]) => t.dispose());
    try { model?.dispose(); } catch { /* failed before */ }
  }
  return entry;
}

async function run({ backends, runs = 10, warmup = 2, flags = {} } = {}) {
  backends = backends ?? [...document.querySelectorAll('input[name=backend]:checked')].map((b) => b.value);
  // TF.js environment flags, set before any backend starts (e.g. WEBGL_FORCE_F16_TEXTURES).
  for (const [name, value] of Object.entries(flags)) tf.env().set(name, value);
  // Show what runs, also when a script (bench --browser, the tests) calls run() directly.
  document.querySelectorAll('input[name=backend]').forEach((b) => { b.checked = backends.includes(b.value); });
  $('runs').value = runs;
  $('warmup').value = warmup;
  $('status').textContent = `running on ${backends.join(', ')}…`;
  state.results = {};
  for (const backend of backends) {
    $('status').textContent = `running on ${backend}…`;
    state.results[backend] = await runBackend(backend, runs, warmup);
    renderResults(runs, warmup);
  }
  const failed = Object.values(state.results).filter((r) => !r.ok).map((r) => r.backend);
  $('status').textContent = failed.length ? `failed on ${failed.join(', ')}` : `done: ${backends.join(', ')}`;
  $('status').className = failed.length ? 'bad' : 'ok';
  return { tfjs_version: tf.version.tfjs, user_agent: navigator.userAgent, results: state.results };
}

// ---------------------------------------------------------------------------------------------
// Results: table, SVG chart, outputs.

function renderResults(runs, warmup) {
  const entries = Object.values(state.results);
  const rows = entries.map((r) => r.ok
    ? [r.backend, ms(r.load_ms), ms(r.first_ms), ms(r.median_ms), ms(r.min_ms), ms(r.p90_ms)]
    : [r.backend, 'FAILED', r.error, '', '', '']);
  $('timings').replaceChildren(
    el('p', { class: 'muted' }, `${warmup} warm-up run(s) discarded, then ${runs} timed run(s)`),
    table(['backend', 'load ms', 'first ms', 'median ms', 'min ms', 'p90 ms'], rows, [1, 2, 3, 4, 5]));
  $('chart').replaceChildren(chart(entries.filter((r) => r.ok)));
  $('renderer').textContent = state.renderer ? `WebGL renderer: ${state.renderer}` : '';
  renderOutputs();
}

function chart(entries) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  const rowH = 34;
  const left = 70;
  const width = 720;
  const height = 30 + rowH * Math.max(1, entries.length);
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'median inference time per backend');
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text != null) n.textContent = text;
    svg.append(n);
    return n;
  };
  const max = Math.max(1e-3, ...entries.flatMap((r) => r.times_ms));
  const x = (v) => left + (width - left - 90) * (v / max);
  entries.forEach((r, i) => {
    const y = 10 + i * rowH;
    add('text', { x: 0, y: y + 17, 'font-size': 13 }, r.backend);
    add('rect', { x: left, y, width: Math.max(1, x(r.median_ms) - left), height: 22, fill: COLORS[r.backend] ?? '#888', opacity: 0.85 });
    add('line', { x1: x(r.min_ms), x2: x(r.p90_ms), y1: y + 11, y2: y + 11, stroke: '#1d2330', 'stroke-width': 2 });
    for (const t of r.times_ms) add('circle', { cx: x(t), cy: y + 11, r: 2.5, fill: '#1d2330', opacity: 0.6 });
    add('text', { x: x(Math.max(r.median_ms, r.p90_ms)) + 6, y: y + 16, 'font-size': 12 }, `${ms(r.median_ms)} ms`);
  });
  add('line', { x1: left, x2: width - 90, y1: height - 14, y2: height - 14, stroke: '#aab' });
  add('text', { x: left, y: height - 2, 'font-size': 11, fill: '#667' }, '0');
  add('text', { x: width - 90, y: height - 2, 'font-size': 11, fill: '#667', 'text-anchor': 'end' }, `${ms(max)} ms`);
  return svg;
}

function renderOutputs() {
  const box = $('outputs');
  box.replaceChildren();
  const entries = Object.values(state.results).filter((r) => r.ok);
  if (!entries.length) return;
  const base = entries[0];
  const rows = [];
  for (const [name, out] of Object.entries(base.outputs)) {
    const head = out.values.slice(0, 6).map((v) => (typeof v === 'number' ? v.toPrecision(4) : v)).join(', ');
    const diffs = entries.slice(1).map((r) => {
      const other = r.outputs[name];
      if (!other) return `${r.backend}: missing`;
      let m = 0;
      for (let i = 0; i < out.values.length; i++) m = Math.max(m, Math.abs(out.values[i] - other.values[i]));
      return `${r.backend} vs ${base.backend}: max |diff| ${m.toExponential(2)}`;
    });
    rows.push([name, out.dtype, shapeText(out.shape), head + (out.values.length > 6 ? ', …' : ''), diffs.join('; ')]);
  }
  box.append(table(['output', 'dtype', 'shape', 'first values', 'backends agree?'], rows));
}

function showError(e) {
  $('status').textContent = `error: ${e?.message ?? e}`;
  $('status').className = 'bad';
}

// ---------------------------------------------------------------------------------------------

async function start() {
  tf.wasm.setWasmPaths('/tfjs/');
  const info = await (await fetch('/api/info')).json();
  state.info = info;
  document.title = `${info.name} — tfjsconv serve`;
  $('model-name').textContent = info.name;
  $('model-facts').textContent = `${info.format} · ${info.weights.parameters.toLocaleString()} parameters` +
    ` · ${(info.weights.bytes / 1024).toFixed(1)} KiB · ${info.ops != null ? info.ops + ' nodes · ' : ''}` +
    `TF.js ${tf.version.tfjs} (local, from npm)`;
  renderSignature(info);
  try {
    await randomInputs(0);
  } catch (e) {
    renderInputs();
    showError(e);
  }
  $('random-inputs').addEventListener('click', () => randomInputs(Number($('seed').value) || 0).catch(showError));
  $('run').addEventListener('click', () => run({ runs: Number($('runs').value), warmup: Number($('warmup').value) }).catch(showError));
  $('status').textContent = 'ready';
  return info;
}

window.tfjsconv = { state, run, randomInputs, ready: start().catch((e) => { showError(e); throw e; }) };
