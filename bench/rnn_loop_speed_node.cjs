// Same-process A/B timing for bench/rnn_loop_speed.py --same_process: loads every converted model into one
// TF.js (one backend), then runs them alternately, round after round, so that they share the machine's load.
// usage: node rnn_loop_speed_node.cjs RUNTIME_DIR BACKEND BATCH LENGTH ROUNDS NAME=MODEL_DIR...
// prints one JSON line: {name: {median_ms, min_ms, times_ms}, num_tensors_after}
const fs = require('fs');
const path = require('path');
const [runtime, backend, batch, length, rounds, ...models] = process.argv.slice(2);
const tf = require(path.join(runtime, 'node_modules/@tensorflow/tfjs'));
if (backend === 'wasm') {
  const wasm = require(path.join(runtime, 'node_modules/@tensorflow/tfjs-backend-wasm'));
  wasm.setWasmPaths(path.dirname(require.resolve(path.join(runtime, 'node_modules/@tensorflow/tfjs-backend-wasm'))) + path.sep);
}

function handler(dir) {
  return { load: async () => {
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
}

(async () => {
  await tf.setBackend(backend);
  await tf.ready();
  const loaded = {};
  for (const item of models) {
    const [name, dir] = item.split('=');
    loaded[name] = await tf.loadGraphModel(handler(dir));
  }
  const x = tf.randomNormal([+batch, +length, 32]);
  const times = Object.fromEntries(Object.keys(loaded).map(n => [n, []]));
  for (let round = 0; round <= +rounds; round++) {  // round 0 warms up
    for (const [name, model] of Object.entries(loaded)) {
      const t0 = performance.now();
      const y = await model.executeAsync({ x });
      await y.data();
      y.dispose();
      if (round > 0) times[name].push(performance.now() - t0);
    }
  }
  const out = {};
  for (const [name, t] of Object.entries(times)) {
    const s = [...t].sort((a, b) => a - b);
    out[name] = { median_ms: s[s.length >> 1], min_ms: s[0], times_ms: t };
  }
  x.dispose();
  out.num_tensors_after = tf.memory().numTensors;  // the weights only: a list's kept tensors are freed per run
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
