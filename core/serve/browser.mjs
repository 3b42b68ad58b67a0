// Drive the `tfjsconv serve` page in headless Chromium with playwright-core (no downloaded browsers:
// the system's Chromium runs). Used by `tfjsconv bench --browser` and the browser tests.
//
// Usage: node browser.mjs REQUEST.json
// REQUEST: { "runtime_dir": "...", "url": "http://127.0.0.1:PORT/", "executable": "/usr/bin/chromium",
//            "user_data_dir": "...", "backends": ["wasm", "webgl"], "runs": 10, "warmup": 2,
//            "screenshot": "/path/shot.png" | null, "timeout_ms": 120000 }
// stdout (one JSON line): { "browser_version", "tfjs_version", "user_agent", "results": {backend: {...}},
//                          "console_errors": [...] }  or  { "error": "...", "kind": "..." } (exit code 2)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const writeStdout = process.stdout.write.bind(process.stdout);
console.log = console.error;

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-default-apps',
  // WebGL without a GPU: SwiftShader (software), which Chromium only enables when asked.
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader'];

function fail(message, kind) {
  const e = new Error(message);
  e.kind = kind;
  return e;
}

async function main() {
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const require = createRequire(path.join(path.resolve(request.runtime_dir), 'package.json'));
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e) {
    throw fail(`cannot load playwright-core from ${request.runtime_dir}: ${e.message}`, 'runtime');
  }
  let context;
  try {
    context = await chromium.launchPersistentContext(request.user_data_dir, {
      executablePath: request.executable,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1200, height: 1000 },
      timeout: request.timeout_ms,
    });
  } catch (e) {
    throw fail(`cannot start ${request.executable}: ${String(e.message).split('\n')[0]}`, 'browser');
  }
  const consoleErrors = [];
  try {
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(request.timeout_ms);
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(request.url, { waitUntil: 'load' });
    await page.evaluate(() => window.tfjsconv.ready);
    const result = await page.evaluate(
      (opts) => window.tfjsconv.run(opts),
      { backends: request.backends, runs: request.runs, warmup: request.warmup });
    if (request.screenshot) {
      await page.screenshot({ path: request.screenshot, fullPage: true });
    }
    return { browser_version: context.browser()?.version() ?? null, ...result, console_errors: consoleErrors };
  } finally {
    await context.close();
  }
}

function finish(doc, code) {
  writeStdout(JSON.stringify(doc) + '\n', () => process.exit(code));
}

main().then((doc) => finish(doc, 0), (e) => finish({ error: e?.message ?? String(e), kind: e?.kind ?? 'internal' }, 2));
