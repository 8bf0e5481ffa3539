// Convolutions as implicit GEMMs for GPUs: shared-memory tiles with double buffering.
//
// Every pass of conv2d / conv_transpose2d is C (GM x GN) (+)= A (GM x GK) * B (GK x GN), with A and
// B gathered straight from the operands (no im2col buffers) and C scattered into place. MODE picks
// the pass; the geometry arrives as override constants (conv_geometry.wgsl), so every division
// below is by a constant and compiles to a multiply and a shift.
//   MODE_FWD    y (BATCH, CO, OH, OW):  A = w (CO, CI*KH*KW), B = x gathered at (ci, ky, kx) x (b, oy, ox)
//   MODE_DGRAD  dx (BATCH, CI, IH, IW): split into its STRIDE x STRIDE output phases (grid z), so each
//               output gathers only the taps that reach it (nothing scatters, no zero taps):
//               A = w (CI, CO*TY*TX) at the phase's taps, B = dy gathered at (co, ty, tx) x (b, jy, jx)
//   MODE_WGRAD  dw (CO, CI*KH*KW):      A = dy (CO, BATCH*OH*OW), B = x gathered at (b, oy, ox) x (ci, ky, kx)
//
// Why this shape, on a GPU: a workgroup owns a TILE x TILE tile of C (64 x 64 with 256
// invocations; 32 x 32 with 64 where a layer has too few 64-tiles to fill a large GPU), each
// invocation 4 x 4 of it. Per step of TK = 16 along K the workgroup stages a TILE x 16 tile of A and
// a 16 x TILE tile of B in workgroup memory (coalesced global loads: neighbouring invocations read
// neighbouring addresses), and every staged value is used TILE times from there. Two buffers per
// operand: the next step's values are loaded into registers while the current step multiplies,
// then stored to the other buffer, so one barrier per step suffices and global latency hides
// behind arithmetic. (On a CPU adapter barriers are coroutine switches, so conv.wgsl's
// barrier-free kernels run there instead; this file is still tested on one.)

// The geometry (BATCH, CI, ..., ACCUMULATE, ACT) comes from conv_geometry.wgsl, compiled before this file.

override MODE: u32 = 0u;

const MODE_FWD: u32 = 0u;
const MODE_DGRAD: u32 = 1u;
const MODE_WGRAD: u32 = 2u;

// Rows and columns of C per workgroup (64 or 32), invocations per workgroup (4 x 4 values of C
// each) and values of A (and of B) each invocation stages per step.
override TILE: u32 = 64u;
override THREADS: u32 = TILE * TILE / 16u;
override LOADS: u32 = TK * TILE / THREADS;
const TK: u32 = 16u;   // depth of one staged step
const MAX_LOADS: u32 = 8u;

// dgrad: taps per phase along each axis, and the largest phase's output rows / columns
override TY: u32 = (KH + STRIDE - 1u) / STRIDE;
override TX: u32 = (KW + STRIDE - 1u) / STRIDE;
override PH: u32 = (IH + STRIDE - 1u) / STRIDE;
override PW: u32 = (IW + STRIDE - 1u) / STRIDE;

override GM: u32 = select(select(CO, CI, MODE == MODE_DGRAD), CO, MODE == MODE_WGRAD);
override GN: u32 = select(select(BATCH * OH * OW, BATCH * PH * PW, MODE == MODE_DGRAD), CI * KH * KW, MODE == MODE_WGRAD);
override GK: u32 = select(select(CI * KH * KW, CO * TY * TX, MODE == MODE_DGRAD), BATCH * OH * OW, MODE == MODE_WGRAD);

// Split-K (weight gradients whose C has too few tiles to fill a GPU while K, the batch's pixels,
// is long: dcgan64's first layer has 4 tiles over K = 65,536): grid z cuts K into SPLIT chunks of
// KC (a multiple of TK), each workgroup writes its partial C raw into dst at z GM GN (a scratch
// buffer of SPLIT x GM x GN), and conv_split_sum adds the SPLIT partials in order into dw. The
// order is fixed, so results are reproducible run to run.
override SPLIT: u32 = 1u;
override KC: u32 = ((GK + SPLIT - 1u) / SPLIT + TK - 1u) / TK * TK;

@group(0) @binding(1) var<storage, read> src: array<f32>;        // fwd, wgrad: x (BATCH, CI, IH, IW); dgrad: dy (BATCH, CO, OH, OW); split sum: partials (SPLIT, GM, GN)
@group(0) @binding(2) var<storage, read> wt: array<f32>;         // fwd, dgrad: w (CO, CI, KH, KW); wgrad: dy (BATCH, CO, OH, OW)
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;  // fwd: y; dgrad: dx; wgrad: dw (CO, CI, KH, KW), split: partials (SPLIT, GM, GN)

// [buffer][k][m / 4]: an invocation reads its 4 rows (or columns) of one k as one vec4
var<workgroup> tile_a: array<vec4<f32>, 2u * TK * TILE / 4u>;
var<workgroup> tile_b: array<vec4<f32>, 2u * TK * TILE / 4u>;

// The dgrad phase (qy, qx) of grid z: outputs iy = qy + STRIDE * jy take kernel rows
// ky = ry + STRIDE * ty with ry = (qy + PAD) % STRIDE, from dy row oy = jy + (qy + PAD) / STRIDE - ty.
struct Phase { q: vec2<u32>, r: vec2<u32>, base: vec2<i32> };

fn phase_of(z: u32) -> Phase {
    let q = vec2<u32>(z / STRIDE, z % STRIDE);
    return Phase(q, (q + PAD) % STRIDE, vec2<i32>((q + PAD) / STRIDE));
}

// x at (image b, channel ci, row iy, column ix), zero in the padding
fn x_at(b: u32, ci: u32, iy: i32, ix: i32) -> f32 {
    if (iy < 0 || ix < 0 || iy >= i32(IH) || ix >= i32(IW)) { return 0.0; }
    return src[((b * CI + ci) * IH + u32(iy)) * IW + u32(ix)];
}

// A (m, k), zero outside
fn a_at(m: u32, k: u32, ph: Phase) -> f32 {
    if (m >= GM || k >= GK) { return 0.0; }
    if (MODE == MODE_FWD) {
        return wt[m * GK + k];
    }
    if (MODE == MODE_DGRAD) {
        let co = k / (TY * TX);
        let t = k % (TY * TX);
        let ky = ph.r.x + STRIDE * (t / TX);
        let kx = ph.r.y + STRIDE * (t % TX);
        if (ky >= KH || kx >= KW) { return 0.0; }
        return wt[((co * CI + m) * KH + ky) * KW + kx];
    }
    // wgrad: dy (b, co = m, p)
    let b = k / (OH * OW);
    return wt[(b * CO + m) * OH * OW + k % (OH * OW)];
}

// B (k, n), zero outside
fn b_at(k: u32, n: u32, ph: Phase) -> f32 {
    if (k >= GK || n >= GN) { return 0.0; }
    if (MODE == MODE_FWD) {
        let ci = k / (KH * KW);
        let ky = (k / KW) % KH;
        let kx = k % KW;
        let b = n / (OH * OW);
        let oy = (n / OW) % OH;
        let ox = n % OW;
        return x_at(b, ci, i32(oy * STRIDE + ky) - i32(PAD), i32(ox * STRIDE + kx) - i32(PAD));
    }
    if (MODE == MODE_DGRAD) {
        let co = k / (TY * TX);
        let t = k % (TY * TX);
        let b = n / (PH * PW);
        let oy = i32((n / PW) % PH) + ph.base.x - i32(t / TX);
        let ox = i32(n % PW) + ph.base.y - i32(t % TX);
        if (oy < 0 || ox < 0 || oy >= i32(OH) || ox >= i32(OW)) { return 0.0; }
        return src[((b * CO + co) * OH + u32(oy)) * OW + u32(ox)];
    }
    // wgrad: k = (b, oy, ox), n = (ci, ky, kx)
    let b = k / (OH * OW);
    let oy = (k / OW) % OH;
    let ox = k % OW;
    let ci = n / (KH * KW);
    let ky = (n / KW) % KH;
    let kx = n % KW;
    return x_at(b, ci, i32(oy * STRIDE + ky) - i32(PAD), i32(ox * STRIDE + kx) - i32(PAD));
}

// Where C (m, n) lives in dst, or -1 outside the output
fn c_index(m: u32, n: u32, ph: Phase) -> i32 {
    if (m >= GM || n >= GN) { return -1; }
    if (MODE == MODE_FWD) {
        let b = n / (OH * OW);
        return i32((b * CO + m) * OH * OW + n % (OH * OW));
    }
    if (MODE == MODE_DGRAD) {
        let b = n / (PH * PW);
        let iy = ph.q.x + STRIDE * ((n / PW) % PH);
        let ix = ph.q.y + STRIDE * (n % PW);
        if (iy >= IH || ix >= IW) { return -1; }
        return i32(((b * CI + m) * IH + iy) * IW + ix);
    }
    return i32(m * GN + n);
}

// The LOADS values of A and of B this invocation stages for step k0. A is walked k-fastest (weights and
// dy rows are contiguous along k); B n-fastest (neighbouring pixels), except for wgrad where its k
// runs along pixels.
struct Staged { a: array<f32, MAX_LOADS>, b: array<f32, MAX_LOADS> };

fn a_slot(lid: u32, i: u32) -> vec2<u32> {
    let e = lid + THREADS * i;
    return vec2<u32>(e / TK, e % TK); // (m, k) within the tile
}

fn b_slot(lid: u32, i: u32) -> vec2<u32> {
    let e = lid + THREADS * i;
    if (MODE == MODE_WGRAD) {
        return vec2<u32>(e % TK, e / TK); // (k, n)
    }
    return vec2<u32>(e / TILE, e % TILE);
}

fn load_step(k0: u32, m0: u32, n0: u32, lid: u32, ph: Phase) -> Staged {
    var s: Staged;
    for (var i = 0u; i < LOADS; i++) {
        let a = a_slot(lid, i);
        s.a[i] = a_at(m0 + a.x, k0 + a.y, ph);
        let b = b_slot(lid, i);
        s.b[i] = b_at(k0 + b.x, n0 + b.y, ph);
    }
    return s;
}

fn store_step(s: Staged, buf: u32, lid: u32) {
    for (var i = 0u; i < LOADS; i++) {
        let a = a_slot(lid, i);
        tile_a[(buf * TK + a.y) * (TILE / 4u) + a.x / 4u][a.x % 4u] = s.a[i];
        let b = b_slot(lid, i);
        tile_b[(buf * TK + b.x) * (TILE / 4u) + b.y / 4u][b.y % 4u] = s.b[i];
    }
}

fn put(m: u32, n: u32, ph: Phase, kz: u32, v: f32) {
    let o = c_index(m, n, ph);
    if (o < 0) { return; }
    if (SPLIT > 1u) {
        dst[kz * GM * GN + u32(o)] = v;
    } else if (ACCUMULATE) {
        dst[o] += v;
    } else {
        dst[o] = act_apply(ACT, ACT_SLOPE, v);
    }
}

// grid: x over column tiles, y over row tiles, z over dgrad phases or wgrad's K chunks
@compute @workgroup_size(THREADS)
fn conv_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let kz = select(0u, wid.z, MODE == MODE_WGRAD);
    let ph = phase_of(select(wid.z, 0u, MODE == MODE_WGRAD));
    let k_begin = kz * KC;
    let k_end = min(GK, k_begin + KC);
    let m0 = wid.y * TILE;
    let n0 = wid.x * TILE;
    let tm = lid / (TILE / 4u); // this invocation's 4 rows: m0 + 4 tm ..
    let tn = lid % (TILE / 4u); // and 4 columns: n0 + 4 tn ..
    var acc: array<vec4<f32>, 4>; // acc[i][j] = C (m0 + 4 tm + i, n0 + 4 tn + j)
    let steps = (max(k_end, k_begin) - k_begin + TK - 1u) / TK;
    store_step(load_step(k_begin, m0, n0, lid, ph), 0u, lid);
    workgroupBarrier();
    for (var s = 0u; s < steps; s++) {
        let buf = s % 2u;
        let more = s + 1u < steps;
        var next: Staged;
        if (more) { next = load_step(k_begin + (s + 1u) * TK, m0, n0, lid, ph); }
        for (var k = 0u; k < TK; k++) {
            let av = tile_a[(buf * TK + k) * (TILE / 4u) + tm];
            let bv = tile_b[(buf * TK + k) * (TILE / 4u) + tn];
            acc[0] = fma(vec4<f32>(av.x), bv, acc[0]);
            acc[1] = fma(vec4<f32>(av.y), bv, acc[1]);
            acc[2] = fma(vec4<f32>(av.z), bv, acc[2]);
            acc[3] = fma(vec4<f32>(av.w), bv, acc[3]);
        }
        if (more) { store_step(next, 1u - buf, lid); }
        workgroupBarrier();
    }
    if (BN_STATS) { write_bn_partials(acc, m0, n0, tm, tn, lid, ph, wid.z * ((GN + TILE - 1u) / TILE) + wid.x); }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            put(m0 + 4u * tm + i, n0 + 4u * tn + j, ph, kz, acc[i][j]);
        }
    }
}

// dw (+)= the sum of split-K's SPLIT partial products, value i per invocation, in chunk order.
@compute @workgroup_size(64)
fn conv_split_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= GM * GN) { return; }
    var t = 0.0;
    for (var z = 0u; z < SPLIT; z++) { t += src[z * GM * GN + i]; }
    if (ACCUMULATE) { dst[i] += t; } else { dst[i] = t; }
}

// Batch-norm partials (BN_STATS, conv_geometry.wgsl; forward and input-gradient passes, whose
// rows are output channels): record `slot` of each of the tile's rows summarises the row's values
// in the tile. Each invocation summarises its 4 values per row; the summaries meet in the staging
// tiles, free after the last step's barrier (rows 0-1 of invocation l at tile_a[2 l ..], rows 2-3
// at tile_b[2 l ..]: 2 THREADS vec4s each, as large as a staging tile), and invocation r < TILE
// merges row r's TILE / 4 of them.
fn write_bn_partials(acc: array<vec4<f32>, 4>, m0: u32, n0: u32, tm: u32, tn: u32, lid: u32, ph: Phase, slot: u32) {
    for (var i = 0u; i < 4u; i++) {
        var kept = vec4<bool>(false);
        for (var j = 0u; j < 4u; j++) {
            kept[j] = c_index(m0 + 4u * tm + i, n0 + 4u * tn + j, ph) >= 0;
        }
        let n = dot(select(vec4<f32>(0.0), vec4<f32>(1.0), kept), vec4<f32>(1.0));
        let mean = dot(select(vec4<f32>(0.0), acc[i], kept), vec4<f32>(1.0)) / max(n, 1.0);
        let d = select(vec4<f32>(0.0), acc[i] - mean, kept);
        let rec = vec4<f32>(n, mean, dot(d, d), 0.0);
        if (i < 2u) { tile_a[2u * lid + i] = rec; } else { tile_b[2u * lid + i - 2u] = rec; }
    }
    workgroupBarrier();
    if (lid < TILE) {
        // row lid of the tile: rows i of the invocations (lid / 4) * TILE / 4 + t
        let i = lid % 4u;
        let first = (lid / 4u) * (TILE / 4u);
        var t = vec3<f32>(0.0);
        for (var u = 0u; u < TILE / 4u; u++) {
            let at = 2u * (first + u) + i % 2u;
            t = merge_stats(t, select(tile_b[at], tile_a[at], i < 2u).xyz);
        }
        if (m0 + lid < GM) { bn_parts[(m0 + lid) * BN_SLOTS + slot] = vec4<f32>(t, 0.0); }
    }
}
