// Which tfjs-core ops run on string tensors, per backend: a quick cross-check of the string limits of
// core/ops/data/tfjs_backends.json (docs/backends.md, "String tensors"). The limits themselves come from the
// generator's string_limits (tfjs-core's dtype checks) and from scripts/probe_backends.py (graph ops against TF).
//
//   node scripts/probe_string_ops.mjs RUNTIME_DIR            # cpu and wasm under Node
//   node scripts/probe_string_ops.mjs RUNTIME_DIR --webgl    # webgl in headless Chromium (SwiftShader)
//
// RUNTIME_DIR: the verify runtime (python -c "from tfjsconv.verify.runtime import ensure_runtime as e; print(e())").
// Prints one line per case: the dtype, shape and values each backend answers, or THROWS and the message.
// Read the answers against TensorFlow (same ops on the same strings); a garbage bool (wasm's comparisons) is
// a wrong answer, not a throw.
import { createRequire } from 'node:module';

const runtime = process.argv[2];
const require = createRequire(runtime + '/package.json');

// Evaluated in Node and in the page alike (tf is a global there): case name -> result tensor.
const CASES = `({
  reverse: () => tf.reverse(s(), [1]), transpose: () => tf.transpose(s()),
  gather: () => tf.gather(v(), tf.tensor1d([2, 0], 'int32')),
  where: () => tf.where(tf.tensor1d([true, false, true], 'bool'), v(), v()),
  pad: () => tf.pad(v(), [[1, 1]]), broadcastTo: () => tf.broadcastTo(v(), [2, 3]),
  split: () => tf.split(s(), 3, 1)[0], add: () => tf.add(v(), v()),
  tile: () => tf.tile(v(), [2]), slice: () => tf.slice(s(), [0, 1], [2, 2]),
  stridedSlice: () => tf.stridedSlice(s(), [0, 0], [2, 3], [1, 2]),
  stridedSliceUnit: () => tf.stridedSlice(s(), [0, 1], [2, 3], [1, 1]),
  concat: () => tf.concat([s(), s()], 1), stack: () => tf.stack([v(), v()]), unstack: () => tf.unstack(s(), 1)[1],
  reshape: () => tf.reshape(s(), [3, 2]), expandDims: () => tf.expandDims(v(), 0),
  squeeze: () => tf.squeeze(tf.reshape(v(), [1, 3])),
  gatherND: () => tf.gatherND(s(), tf.tensor2d([[1, 2], [0, 0]], [2, 2], 'int32')),
  equal: () => tf.equal(v(), tf.tensor1d(['b', 'x', 'c'])), notEqual: () => tf.notEqual(v(), tf.scalar('a')),
  greater: () => tf.greater(v(), tf.tensor1d(['a', 'x', 'c'])), less: () => tf.less(v(), tf.tensor1d(['a', 'x', 'c'])),
  unique: () => tf.unique(tf.tensor1d(['b', 'a', 'b'])).values, fill: () => tf.fill([2], 'z', 'string'),
  sparseToDense: () => tf.sparseToDense(tf.tensor1d([1], 'int32'), tf.tensor1d(['q']), [3], tf.scalar('')),
})`;

async function probe(backends) {
  const s = () => tf.tensor2d([['a', 'b', 'c'], ['d', 'e', 'f']], [2, 3], 'string');
  const v = () => tf.tensor1d(['b', 'a', 'c'], 'string');
  const cases = eval(CASES_TEXT);
  const out = {};
  for (const backend of backends) {
    await tf.setBackend(backend);
    await tf.ready();
    for (const [name, fn] of Object.entries(cases)) {
      let answer;
      try {
        const t = fn();
        const values = Array.from(await t.data()).map(x => (typeof x === 'object' ? new TextDecoder().decode(x) : x));
        answer = `${t.dtype}${JSON.stringify(t.shape)} ${JSON.stringify(values)}`;
      } catch (e) {
        answer = 'THROWS ' + String(e.message).slice(0, 90);
      }
      (out[name] = out[name] || {})[backend] = answer;
    }
  }
  return out;
}

let results;
if (process.argv.includes('--webgl')) {
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'] });
  try {
    const page = await browser.newPage();
    await page.setContent('<html><body></body></html>');
    await page.addScriptTag({ path: runtime + '/node_modules/@tensorflow/tfjs/dist/tf.min.js' });
    results = await page.evaluate(`(() => { const CASES_TEXT = ${JSON.stringify(CASES)}; return (${probe})(['webgl']); })()`);
  } finally {
    await browser.close();
  }
} else {
  console.warn = () => {};
  globalThis.tf = require('@tensorflow/tfjs');
  require('@tensorflow/tfjs-backend-wasm');
  globalThis.CASES_TEXT = CASES;
  results = await probe(['cpu', 'wasm']);
}
for (const [name, answers] of Object.entries(results)) console.log(name.padEnd(18), JSON.stringify(answers));
