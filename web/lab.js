// The lab page: asks the wasm module (web/src/lib.rs) for a run the way `gangpu lab` would set
// it up, trains it in batches of iterations on WebGPU, and draws each snapshot: P_data (green)
// and P_G (purple) over D's verdict, and the measures over training. Errors of any kind land in
// #errors (and the console), never silently.
import init, { choices, resolve, open_engine, WebLab } from './gangpu_web.js';

const $ = (id) => document.getElementById(id);
const LN2 = Math.log(2);
const C = { real: '#2a9d55', fake: '#7b3fb5', blue: '#1f77b4', red: '#d62728', orange: '#ff7f0e', grey: '#999999' };
const state = { speed: null, step: 0, errors: [], running: false, stop: false };
window.gangpu = state;

function report(msg) {
  state.errors.push(String(msg));
  $('errors').textContent = state.errors.join('\n');
}
window.addEventListener('error', (e) => report(e.message || e));
window.addEventListener('unhandledrejection', (e) => report(e.reason && e.reason.message ? e.reason.message : e.reason));

// ---------------------------------------------------------------- drawing
function axes(ctx, box, xr, yr, xlabel, ylabel, logY) {
  ctx.strokeStyle = '#888'; ctx.fillStyle = '#555'; ctx.lineWidth = 1; ctx.font = '11px sans-serif';
  ctx.strokeRect(box.x, box.y, box.w, box.h);
  for (let k = 0; k <= 4; k++) {
    const xv = xr[0] + (xr[1] - xr[0]) * k / 4;
    const px = box.x + box.w * k / 4;
    ctx.fillText(fmt(xv), px - 10, box.y + box.h + 13);
    const yv = logY ? Math.pow(10, yr[0] + (yr[1] - yr[0]) * k / 4) : yr[0] + (yr[1] - yr[0]) * k / 4;
    const py = box.y + box.h - box.h * k / 4;
    ctx.fillText(fmt(yv), 2, py + 4);
  }
  if (xlabel) ctx.fillText(xlabel, box.x + box.w / 2 - 12, box.y + box.h + 26);
  if (ylabel) ctx.fillText(ylabel, box.x, box.y - 4);
}

function fmt(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return (v / 1000).toFixed(a >= 10000 ? 0 : 1) + 'k';
  if (a >= 10) return v.toFixed(0);
  if (a >= 0.01) return v.toFixed(2);
  return v.toExponential(0);
}

/// P_data and P_G over D: histograms with D's curve (1-D), samples over D's heat map (2-D).
function drawView(canvas, s) {
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const box = { x: 44, y: 16, w: canvas.width - 56, h: canvas.height - 48 };
  const [lo, hi] = s.range;
  const sx = (v) => box.x + (v - lo) / (hi - lo) * box.w;
  let gmin = Infinity, gmax = -Infinity;
  for (const v of s.grid) { gmin = Math.min(gmin, v); gmax = Math.max(gmax, v); }
  const dnorm = (v) => s.prob ? v : (v - gmin) / Math.max(gmax - gmin, 1e-12);
  const dName = s.prob ? 'D(x)' : 'critic f(x), scaled';
  if (s.dim === 1) {
    const bins = 60, hr = new Array(bins).fill(0), hf = new Array(bins).fill(0);
    const bin = (v) => Math.floor((v - lo) / (hi - lo) * bins);
    for (const v of s.real) { const b = bin(v); if (b >= 0 && b < bins) hr[b]++; }
    for (const v of s.fake) { const b = bin(v); if (b >= 0 && b < bins) hf[b]++; }
    const top = Math.max(...hr, ...hf, 1);
    const bw = box.w / bins;
    for (const [h, col] of [[hr, C.real], [hf, C.fake]]) {
      ctx.fillStyle = col; ctx.globalAlpha = 0.45;
      h.forEach((c, b) => { const hh = c / top * box.h; ctx.fillRect(box.x + b * bw, box.y + box.h - hh, bw, hh); });
    }
    ctx.globalAlpha = 1; ctx.strokeStyle = C.orange; ctx.lineWidth = 2; ctx.beginPath();
    const n = s.grid.length;
    s.grid.forEach((v, i) => {
      const x = box.x + (i + 0.5) / n * box.w, y = box.y + box.h - dnorm(v) * box.h;
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
    axes(ctx, box, [lo, hi], [0, 1], 'x', `histograms; ${dName} (orange, 0 to 1)`);
  } else {
    const n = s.grid_n, cw = box.w / n, ch = box.h / n;
    // D's verdict: pale purple where it says "generated", pale green where it says "real"
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
      const t = Math.min(1, Math.max(0, dnorm(s.grid[j * n + i])));
      const r = Math.round(236 + (214 - 236) * t), g = Math.round(222 + (240 - 222) * t), b = Math.round(245 + (220 - 245) * t);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(box.x + i * cw, box.y + box.h - (j + 1) * ch, cw + 0.5, ch + 0.5);
    }
    const sy = (v) => box.y + box.h - (v - lo) / (hi - lo) * box.h;
    const show = Math.min(600, s.fake.length / 2);
    // samples outside the plotted range are not drawn over the axes
    ctx.save(); ctx.beginPath(); ctx.rect(box.x, box.y, box.w, box.h); ctx.clip();
    for (const [pts, col] of [[s.real, C.real], [s.fake, C.fake]]) {
      ctx.fillStyle = col;
      for (let k = 0; k < show; k++) ctx.fillRect(sx(pts[2 * k]) - 1.5, sy(pts[2 * k + 1]) - 1.5, 3, 3);
    }
    ctx.restore();
    axes(ctx, box, [lo, hi], [lo, hi], 'x1', `samples over ${dName} (pale green: "real")`);
  }
}

/// A line chart of several series [{name, color, dash, points: [[x, y]]}].
function chart(canvas, title, series, opt = {}) {
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const box = { x: 44, y: 30, w: canvas.width - 56, h: canvas.height - 62 };
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!opt.logY || y > 0));
  ctx.fillStyle = '#222'; ctx.font = '12px sans-serif'; ctx.fillText(title, box.x, 13);
  if (!pts.length) return;
  const tf = (y) => opt.logY ? Math.log10(y) : y;
  let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = opt.yMin ?? Math.min(...pts.map((p) => tf(p[1]))), y1 = opt.yMax ?? Math.max(...pts.map((p) => tf(p[1])));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => box.x + (x - x0) / (x1 - x0) * box.w, Y = (y) => box.y + box.h - (tf(y) - y0) / (y1 - y0) * box.h;
  let lx = box.x + 4;
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.lineWidth = 1.6; ctx.setLineDash(s.dash ? [5, 3] : []); ctx.beginPath();
    let first = true;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y) || (opt.logY && y <= 0)) continue;
      first ? ctx.moveTo(X(x), Y(y)) : ctx.lineTo(X(x), Y(y)); first = false;
    }
    ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = s.color; ctx.fillText(s.name, lx, box.y + 12); lx += ctx.measureText(s.name).width + 12;
  }
  axes(ctx, box, [x0, x1], [y0, y1], 'step', '', opt.logY);
}

function drawCharts(runs) {
  const pick = (r, f) => r.history.filter((m) => f(m) != null).map((m) => [m.step, f(m)]);
  const dist = [], js = [], grad = [], loss = [];
  for (const r of runs) {
    dist.push({ name: r.dim === 1 ? `${r.name} W1` : `${r.name} sliced W`, color: r.color, points: pick(r, (m) => m.w1 ?? m.sliced_w) });
    if (r.history.some((m) => m.critic_estimate != null)) dist.push({ name: `${r.name} critic's estimate`, color: r.color, dash: true, points: pick(r, (m) => m.critic_estimate) });
    js.push({ name: `${r.name} JS`, color: r.color, points: pick(r, (m) => m.js) });
    grad.push({ name: `${r.name} |grad G|`, color: r.color, points: pick(r, (m) => m.g_grad_norm) });
    loss.push({ name: `${r.name} D`, color: r.color, points: pick(r, (m) => m.loss_d) });
    loss.push({ name: `${r.name} G`, color: r.color, dash: true, points: pick(r, (m) => m.loss_g) });
  }
  const steps = runs[0].history.map((m) => m.step);
  if (steps.length) js.push({ name: 'ln 2 (no overlap)', color: C.grey, dash: true, points: [[Math.min(...steps), LN2], [Math.max(...steps), LN2]] });
  chart($('chart-distance'), 'Distance from P_G to P_data', dist, { yMin: 0 });
  chart($('chart-js'), 'JS divergence of the histograms (nats)', js, { yMin: 0, yMax: 0.75 });
  chart($('chart-grad'), "Norm of G's gradient (log scale)", grad, { logY: true });
  chart($('chart-loss'), 'Losses (D solid, G dashed)', loss);
}

// ---------------------------------------------------------------- running
async function run(plan, engine) {
  state.running = true; state.stop = false; state.speed = null;
  document.title = 'running';
  for (const b of ['train', 'compare']) $(b).disabled = true;
  $('stop').disabled = false;
  try {
    const colors = plan.compare ? [C.blue, C.red] : [C.blue];
    const runs = plan.runs.map((cfg, k) => ({
      cfg, color: colors[k], history: [], dim: null, name: plan.compare ? ['BCE', 'WGAN'][k] : null,
      lab: new WebLab(engine, JSON.stringify(cfg)),
    }));
    const views = $('views');
    views.innerHTML = '';
    for (const r of runs) {
      const fig = document.createElement('figure');
      fig.innerHTML = `<figcaption></figcaption><canvas width="${runs.length > 1 ? 430 : 640}" height="340"></canvas>`;
      views.appendChild(fig);
      r.caption = fig.querySelector('figcaption'); r.canvas = fig.querySelector('canvas');
    }
    const steps = plan.runs[0].steps;
    // D's warm-up, G frozen (the comparison's 500 steps), before the first picture
    for (const r of runs) r.lab.train(0);
    let t0 = null, s0 = 0, step = 0;
    for (;;) {
      const rows = {};
      for (const r of runs) {
        const s = JSON.parse(await r.lab.snapshot());
        r.dim = s.dim; step = s.step; r.name ??= s.loss;
        drawView(r.canvas, s);
        r.caption.textContent = `${r.name}, step ${s.step}` + (s.step === 0 && r.cfg.d_warmup > 0 ? `: D trained ${r.cfg.d_warmup} steps, G frozen` : '');
        if (s.metrics) { r.history.push(s.metrics); rows[r.name.toLowerCase()] = s.metrics; }
      }
      if (Object.keys(rows).length) $('metrics').textContent = JSON.stringify(plan.compare ? rows : Object.values(rows)[0]);
      drawCharts(runs);
      state.step = step; state.history = runs.map((r) => r.history);
      const now = performance.now();
      // iterations per second from the first snapshot on (warm-up and pipeline builds excluded),
      // the snapshots' evaluations included, as in a native run's log steps
      if (t0 === null) { t0 = now; s0 = step; } else if (step > s0) state.speed = (step - s0) * runs.length / ((now - t0) / 1000);
      const measures = runs.map((r) => {
        const last = r.history[r.history.length - 1];
        if (!last) return '';
        const who = runs.length > 1 ? `${r.name} ` : '';
        return (last.w1 != null ? `, ${who}W1 ${last.w1.toFixed(3)}` : '') + (last.sliced_w != null ? `, ${who}sliced W ${last.sliced_w.toFixed(3)}` : '') +
          (last.modes_total ? `, ${who}modes ${last.modes_covered}/${last.modes_total}` : '');
      });
      $('status').textContent = `step ${step} of ${steps}` + (state.speed ? `, ${state.speed.toFixed(1)} iterations/s` : '') + measures.join('');
      if (step >= steps || state.stop) break;
      for (const r of runs) r.lab.train(plan.every);
    }
    if (state.stop) $('status').textContent += ' (stopped)';
    for (const r of runs) r.lab.free();
  } catch (e) {
    report(`training: ${e && e.message ? e.message : e}`);
    console.error(e);
  } finally {
    state.running = false;
    for (const b of ['train', 'compare']) $(b).disabled = false;
    $('stop').disabled = true;
    document.title = 'done';
  }
}

function controlParams(extra) {
  const p = { ...extra };
  for (const k of ['dist', 'loss', 'optimizer', 'lr', 'steps']) { const v = $(k).value.trim(); if (v) p[k] = v; }
  return p;
}

async function main() {
  await init();
  const c = JSON.parse(choices());
  for (const d of c.dists) $('dist').add(new Option(`${d.name} (${d.dim}-D)`, d.name));
  for (const l of c.losses) $('loss').add(new Option(l.display, l.name));
  for (const o of c.optimizers) $('optimizer').add(new Option(o, o));
  const query = Object.fromEntries(new URLSearchParams(location.search));
  let plan;
  try {
    plan = JSON.parse(resolve(JSON.stringify(query)));
  } catch (e) {
    report(`URL parameters: ${e}`);
    document.title = 'done';
    return;
  }
  const cfg = plan.config;
  $('dist').value = cfg.dist; $('loss').value = plan.compare ? 'bce' : cfg.loss;
  if (query.optimizer) $('optimizer').value = cfg.optimizer;
  if (query.lr) $('lr').value = query.lr;
  if (query.steps) $('steps').value = query.steps;
  $('status').textContent = 'opening WebGPU…';
  if (!navigator.gpu) throw new Error('this browser has no WebGPU (navigator.gpu): use a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled');
  const engine = await open_engine();
  // the browser names its adapter only to the page (wgpu's adapter info leaves the name empty)
  const info = (await navigator.gpu.requestAdapter())?.info;
  const named = info ? [info.vendor, info.architecture, info.description].filter((x) => x).join(' ') : '';
  // (wgpu's adapter summary has no name in the browser: the page's own request names it)
  $('adapter').textContent = `WebGPU adapter: ${named || 'unnamed'}; ${engine.describe()}`;
  // the URL's other parameters (seed, batch, ...) stay with the runs the buttons start
  const keep = Object.fromEntries(Object.entries(query).filter(([k]) => !['dist', 'loss', 'optimizer', 'lr', 'steps', 'compare', 'autostart'].includes(k)));
  const start = (compare) => {
    if (state.running) return;
    let p;
    try { p = JSON.parse(resolve(JSON.stringify(controlParams(compare ? { ...keep, compare: '1' } : keep)))); } catch (e) { report(e); return; }
    run(p, engine);
  };
  $('train').onclick = () => start(false);
  $('compare').onclick = () => start(true);
  $('stop').onclick = () => { state.stop = true; };
  $('status').textContent = 'ready: choose a target and a loss, then Train';
  if (plan.autostart) await run(plan, engine);
}

main().catch((e) => { report(`starting: ${e && e.message ? e.message : e}`); console.error(e); document.title = 'done'; });
