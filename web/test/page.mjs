// The lab page in headless Chromium with WebGPU on its software adapter (SwiftShader; no GPU):
// a scripted run through the URL must finish with W1 below 0.5 and without a console error, a
// failed request or an uncaught exception; a bad URL parameter must be reported, naming it.
// Run by scripts/test_web.sh (which builds web/dist and installs puppeteer-core).
//   node web/test/page.mjs [--screenshot PATH] [--query QUERY]
import { createRequire } from 'node:module';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.resolve(process.env.PUPPETEER_DIR || 'target/web-test') + '/');
const puppeteer = require('puppeteer-core');
const arg = (name) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : null; };
const dist = path.resolve('web/dist');
if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error('no web/dist/index.html: run scripts/build_web.sh');

const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };
const missing = [];
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const file = path.join(dist, url.pathname === '/' ? 'index.html' : url.pathname);
  if (!file.startsWith(dist) || !fs.existsSync(file)) { missing.push(url.pathname); res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}/`;

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || 'chromium',
  headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--window-size=1000,1400'],
});
const failures = [];
async function open(query) {
  const page = await browser.newPage();
  await page.setViewport({ width: 980, height: 1400 });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  const t0 = Date.now();
  await page.goto(base + query);
  await page.waitForFunction(() => document.title === 'done', { timeout: 15 * 60 * 1000, polling: 500 });
  const seconds = (Date.now() - t0) / 1000;
  const read = await page.evaluate(() => ({
    metrics: document.getElementById('metrics').textContent,
    errors: document.getElementById('errors').textContent,
    status: document.getElementById('status').textContent,
    adapter: document.getElementById('adapter').textContent,
    speed: window.gangpu.speed,
    history: window.gangpu.history || [],
  }));
  return { page, problems, seconds, ...read };
}

// 1. the scripted run of the issue: WGAN on disjoint supports, 300 iterations
const query = arg('--query') || '?dist=disjoint&loss=wgan&steps=300&autostart=1';
const r = await open(query);
console.log(`${r.adapter}\n${query}: ${r.status} (${r.seconds.toFixed(1)} s in all)`);
console.log(`latest metrics row: ${r.metrics}`);
let m = {};
try { m = JSON.parse(r.metrics); } catch (e) { failures.push(`#metrics is not JSON: ${r.metrics}`); }
if (r.errors) failures.push(`the page reported errors:\n${r.errors}`);
failures.push(...r.problems);
// the run: 300 iterations, W1 below 0.5; other --query runs are checked for errors only
if (!arg('--query')) {
  const steps = Number(new URLSearchParams(query).get('steps'));
  if (m.step !== steps) failures.push(`the run stopped at step ${m.step}, not ${steps}`);
  const first = r.history[0] && r.history[0][0];
  console.log(`W1 at step ${first && first.step}: ${first && first.w1}; at step ${m.step}: ${m.w1}`);
  if (!(m.w1 < 0.5)) failures.push(`W1 at the end is ${m.w1}, not below 0.5`);
  if (!(first && first.w1 > 2 * m.w1)) failures.push(`W1 did not fall: ${first && first.w1} at step ${first && first.step}, ${m.w1} at the end`);
  for (const k of ['step', 'loss_d', 'loss_g', 'd_real', 'd_fake', 'js', 'g_grad_norm', 'w1']) if (!(k in m)) failures.push(`metrics row lacks '${k}'`);
}
if (!(r.speed > 0)) failures.push(`no iterations/s measured (${r.speed})`);
else console.log(`iterations/s in the page: ${r.speed.toFixed(1)}`);
const shot = arg('--screenshot');
if (shot) { await r.page.screenshot({ path: shot, fullPage: true }); console.log(`wrote ${shot}`); }

// 2. a bad parameter is reported on the page, naming it and what is accepted
if (!arg('--query')) {
  const bad = await open('?dist=disjoint&loss=wgam&autostart=1');
  if (!(bad.errors.includes('loss="wgam"') && bad.errors.includes('wgan'))) failures.push(`a bad loss was not reported naming it: '${bad.errors}'`);
  const unknown = await open('?stepz=5');
  if (!unknown.errors.includes("unknown parameter 'stepz'")) failures.push(`an unknown parameter was not reported: '${unknown.errors}'`);
}
await browser.close();
server.close();
if (missing.length) failures.push(`requests for files web/dist lacks: ${missing.join(', ')}`);
if (failures.length) { console.error(`FAILED:\n- ${failures.join('\n- ')}`); process.exit(1); }
console.log('the lab page trains in Chromium\'s WebGPU: ok');
