// Drive the `tfjsconv serve` page in headless Chromium with playwright-core (no downloaded browsers:
// the system's Chromium runs). Used by `tfjsconv bench --browser`, `tfjsconv verify --browser` and
// the browser tests, through tfjsconv/serve/browser.py's BrowserSession.
//
// Usage: node browser.mjs   (a session: one Chromium, many pages, JSON lines on stdin/stdout)
// stdin line 1 (launch): { "runtime_dir": "...", "executable": "/usr/bin/chromium", "user_data_dir": "...",
//                          "timeout_ms": 120000 }
//   -> stdout: { "ready": true, "browser_version": "..." }  or  { "error": "...", "kind": "..." }
// every further stdin line (a page): { "url": "http://127.0.0.1:PORT/", "backends": ["wasm", "webgl"],
//                                      "runs": 10, "warmup": 2, "screenshot": "/path/shot.png" | null,
//                                      "flags": {TF.js env flag: value} }
//   -> stdout: { "browser_version", "tfjs_version", "user_agent", "results": {backend: {...}},
//                "console_errors": [...] }  or  { "error": "...", "kind": "..." }
// End of stdin closes Chromium and exits.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
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

const reply = (doc) => new Promise((resolve) => writeStdout(JSON.stringify(doc) + '\n', resolve));
const errorDoc = (e) => ({ error: e?.message ?? String(e), kind: e?.kind ?? 'internal' });

async function launch(request) {
  const require = createRequire(path.join(path.resolve(request.runtime_dir), 'package.json'));
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e) {
    throw fail(`cannot load playwright-core from ${request.runtime_dir}: ${e.message}`, 'runtime');
  }
  try {
    return await chromium.launchPersistentContext(request.user_data_dir, {
      executablePath: request.executable,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1200, height: 1000 },
      timeout: request.timeout_ms,
    });
  } catch (e) {
    throw fail(`cannot start ${request.executable}: ${String(e.message).split('\n')[0]}`, 'browser');
  }
}

async function runPage(context, page, request) {
  const consoleErrors = [];
  const onConsole = (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); };
  const onError = (e) => consoleErrors.push(String(e));
  page.on('console', onConsole);
  page.on('pageerror', onError);
  try {
    await page.goto(request.url, { waitUntil: 'load' });
    await page.evaluate(() => window.tfjsconv.ready);
    const result = await page.evaluate(
      (opts) => window.tfjsconv.run(opts),
      { backends: request.backends, runs: request.runs, warmup: request.warmup, flags: request.flags ?? {} });
    if (request.screenshot) {
      await page.screenshot({ path: request.screenshot, fullPage: true });
    }
    return { browser_version: context.browser()?.version() ?? null, ...result, console_errors: consoleErrors };
  } finally {
    page.off('console', onConsole);
    page.off('pageerror', onError);
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) return;
  const launchRequest = JSON.parse(first.value);
  let context;
  try {
    context = await launch(launchRequest);
  } catch (e) {
    await reply(errorDoc(e));
    return;
  }
  try {
    let page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(launchRequest.timeout_ms);
    await reply({ ready: true, browser_version: context.browser()?.version() ?? null });
    for (let next = await lines.next(); !next.done; next = await lines.next()) {
      if (!next.value.trim()) continue;
      try {
        await reply(await runPage(context, page, JSON.parse(next.value)));
      } catch (e) {
        await reply(errorDoc(e));
        // A page that crashed or hung is replaced, so the next model starts clean.
        await page.close().catch(() => {});
        page = await context.newPage();
        page.setDefaultTimeout(launchRequest.timeout_ms);
      }
    }
  } finally {
    await context.close();
  }
}

main().then(() => process.exit(0), async (e) => { await reply(errorDoc(e)); process.exit(2); });
