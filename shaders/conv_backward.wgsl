// The backward passes of shaders/conv.wgsl's convolutions (compiled after it, sharing its
// overrides, bindings and helpers): the input gradient by phases (conv_dgrad), with both column
// phases per invocation for stride 2 and 4-tap rows (conv_dgrad_x2), and the weight gradient
// (conv_wgrad), with kernel rows in pairs where KH = 2 x stride (conv_wgrad_pair).

// ------------------------------------------------------------------ input gradient

// Adds tap kx = kx0 + S u of kernel row t_row (= co's weights + ky KW) to a phase strip: output
// b0 + q reads dy at ds index q + tx - 1 - u.
fn dgrad_tap(lo: ptr<function, Acc>, hi: ptr<function, Acc>, ds: Seg, u: u32, t_row: u32, kx0: u32, mine: Mine, ci0: u32) {
    let tx = (KW + STRIDE - 1u) / STRIDE;
    let kx = kx0 + STRIDE * u;
    let j = tx - 1u - u;
    let ok = kx < KW;
    let dv = select(vec4<f32>(0.0), vec4<f32>(at(ds, j), at(ds, j + 1u), at(ds, j + 2u), at(ds, j + 3u)), ok);
    let ev = select(vec4<f32>(0.0), vec4<f32>(at(ds, j + 4u), at(ds, j + 5u), at(ds, j + 6u), at(ds, j + 7u)), ok);
    let t_off = t_row + min(kx, KW - 1u);
    var m: array<f32, ROWS / 8u>;
    for (var j = 0u; j < ROWS / 8u; j++) {
        m[j] = wt[mine[j] + t_off];
    }
    for (var r = 0u; r < ROWS; r++) {
        let v = vec4<f32>(share1(m[r / 8u], r % 8u, wt[min(ci0 + r, CI - 1u) * KH * KW + t_off]));
        (*lo)[r] = fma(v, dv, (*lo)[r]);
        (*hi)[r] = fma(v, ev, (*hi)[r]);
    }
}


// dx[n, ci, iy, ix] = sum over co and the taps (ky, kx) with iy + P - ky and ix + P - kx
// divisible by S of dy[n, co, (iy + P - ky) / S, (ix + P - kx) / S] w[co, ci, ky, kx].
// Phase (py, px) = (iy % S, ix % S) = grid z fixes which taps reach an output: ky = ky0 + S t.
// Grid: x over (n, a, strip of 8 b) with iy = a S + py, ix = b S + px; y over blocks of ROWS ci.
@compute @workgroup_size(WG)
fn conv_dgrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let py = wid.z / STRIDE;
    let px = wid.z % STRIDE;
    // phase rows a and columns b (the last may not exist for py, px > 0)
    let st = strip_of(wid.x * WG + lid, (IH + STRIDE - 1u) / STRIDE, (IW + STRIDE - 1u) / STRIDE, false);
    let valid = st.valid;
    if (!any_lane(valid)) { return; }
    let n = st.n;
    let a = st.row;
    let b0 = st.x0;
    let ci0 = wid.y * ROWS;
    // taps of this phase: ky = ky0 + S t for t < TY (constant bound; taps past KH are masked)
    let ky0 = (py + PAD) % STRIDE;
    let kx0 = (px + PAD) % STRIDE;
    let cy = i32((py + PAD - ky0) / STRIDE);
    let cx = i32((px + PAD - kx0) / STRIDE);
    let ty = (KH + STRIDE - 1u) / STRIDE;
    let tx = (KW + STRIDE - 1u) / STRIDE;
    let tap_stride = KH * KW;
    let mine = mine_rows(LANE8, ci0, CI, tap_stride);
    // dy[.., ox] for ox = b0 + cx - (tx - 1) + i
    let ox0 = i32(b0) + cx - i32(tx) + 1;
    let seg = 7u + tx;
    var lo: Acc;
    var hi: Acc;
    for (var co = 0u; co < CO; co++) {
        let wco = co * CI * tap_stride;
        for (var t = 0u; t < ty; t++) {
            let ky = ky0 + STRIDE * t;
            let oy = i32(a) + cy - i32(t);
            let row_ok = ky < KH && oy >= 0 && oy < i32(OH);
            let base = i32(((n * CO + co) * OH + u32(clamp(oy, 0, i32(OH) - 1))) * OW);
            let ds = masked_row(src_segment(base + ox0, seg), seg, ox0, OW, row_ok);
            let t_row = wco + min(ky, KH - 1u) * KW;
            dgrad_tap(&lo, &hi, ds, 0u, t_row, kx0, mine, ci0);
            if (tx > 1u) { dgrad_tap(&lo, &hi, ds, 1u, t_row, kx0, mine, ci0); }
            if (tx > 2u) { dgrad_tap(&lo, &hi, ds, 2u, t_row, kx0, mine, ci0); }
            for (var u = 3u; u < tx; u++) {
                dgrad_tap(&lo, &hi, ds, u, t_row, kx0, mine, ci0);
            }
        }
    }
    let iy = a * STRIDE + py;
    if (!valid || iy >= IH) { return; }
    // output b0 + q sits at ix = (b0 + q) S + px; pixels past the row's end are not stored
    let count = select(0u, (IW - px + STRIDE - 1u) / STRIDE - b0, px < IW && b0 * STRIDE + px < IW);
    store_strip(lo, hi, ci0, CI, count, ((n * CI + ci0) * IH + iy) * IW + b0 * STRIDE + px, IH * IW, STRIDE);
}

// The input gradient of a stride-2 convolution with 4 taps per kernel row (DCGAN's layers; a
// 4x4 stride-2 transposed convolution's forward pass), both column phases in one invocation:
// outputs ix = 2 (b0 + q) + px for px = 0, 1 read overlapping dy segments (10 values instead of
// 2 x 9) and both phases' taps come from one vec4 kernel row: about half the loads per
// multiply-add of conv_dgrad. Grid: x over (n, a, strip of 8 b), y over blocks of ROWS ci, z
// over the row phase py. Phase rows of 4 outputs (dcgan64's 4 -> 8 layers, KH even) take rows a and
// a + 1 per strip instead of leaving half of it idle.
// ds: the dy segments of the strip's outputs 0-3 (lo) and 4-7 (hi at half hb, as XRows).
fn dgrad_x2_tap(lo: ptr<function, Acc>, hi: ptr<function, Acc>, ds: XRows, j: u32, m: array<vec4<f32>, ROWS / 8u>, kx: u32, t_row: u32, ci0: u32) {
    let dv = vec4<f32>(at(ds.lo, j), at(ds.lo, j + 1u), at(ds.lo, j + 2u), at(ds.lo, j + 3u));
    let jh = j + 4u * ds.hb;
    let ev = vec4<f32>(at(ds.hi, jh), at(ds.hi, jh + 1u), at(ds.hi, jh + 2u), at(ds.hi, jh + 3u));
    for (var r = 0u; r < ROWS; r++) {
        let v = vec4<f32>(share1(m[r / 8u][kx], r % 8u, wt[min(ci0 + r, CI - 1u) * KH * KW + t_row + kx]));
        (*lo)[r] = fma(v, dv, (*lo)[r]);
        (*hi)[r] = fma(v, ev, (*hi)[r]);
    }
}

@compute @workgroup_size(WG)
fn conv_dgrad_x2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let py = wid.z;
    let pairs = (IW + 1u) / 2u == 4u && KH % 2u == 0u;
    let lane = wid.x * WG + lid;
    let st = strip_of(lane, (IH + 1u) / 2u, (IW + 1u) / 2u, pairs);
    let valid = st.valid;
    if (!any_lane(valid)) { return; }
    let n = st.n;
    let a = st.row;
    let b0 = st.x0;
    let ci0 = wid.y * ROWS * BLOCKS;
    let ky0 = (py + PAD) % 2u;
    let cy = i32((py + PAD - ky0) / 2u);
    // column phase px: first tap kx0(px) = (px + P) % 2, offset cx(px) = (px + P - kx0) / 2;
    // output b0 + q of phase px, tap u reads dy column b0 + q + cx(px) - u
    let kx00 = PAD % 2u;
    let kx01 = (1u + PAD) % 2u;
    let cx0 = (PAD - kx00) / 2u;
    let cx1 = (1u + PAD - kx01) / 2u;
    let c_lo = min(cx0, cx1);
    let ox0 = i32(b0) + i32(c_lo) - 1;
    let mine = mine_rows(LANE8, ci0, CI, KH * KW);
    let mine2 = mine_rows(LANE8, ci0 + ROWS, CI, KH * KW);
    var lo0: Acc; var hi0: Acc;   // phase px = 0
    var lo1: Acc; var hi1: Acc;   // phase px = 1
    var lo2: Acc; var hi2: Acc;   // the second block of rows, px = 0
    var lo3: Acc; var hi3: Acc;   // and px = 1
    let seg = select(10u, 6u, pairs);
    for (var co = 0u; co < CO; co++) {
        let wco = co * CI * KH * KW;
        let plane = (n * CO + co) * OH;
        // pairs: phase row a + 1 under tap t reads the dy row that row a reads under tap t - 1
        var upper: Seg;
        if (pairs) { upper = plane_row(plane, OH, OW, i32(a) + cy + 1, ox0, seg); }
        for (var t = 0u; t < (KH + 1u) / 2u; t++) {
            let ky = ky0 + 2u * t;
            let oy = i32(a) + cy - i32(t);
            let d_lo = plane_row(plane, OH, OW, select(-1, oy, ky < KH), ox0, seg);
            var ds = XRows(d_lo, d_lo, 1u);
            if (pairs) {
                ds = XRows(d_lo, upper, 0u);
                upper = d_lo;
            }
            let t_row = wco + min(ky, KH - 1u) * KW;
            var m: array<vec4<f32>, ROWS / 8u>;
            for (var i = 0u; i < ROWS / 8u; i++) {
                m[i] = wt4[(mine[i] + t_row) / 4u];
            }
            // ds index of output q = 0 for phase px, tap u: cx(px) - u - c_lo + 1
            dgrad_x2_tap(&lo0, &hi0, ds, cx0 - c_lo + 1u, m, kx00, t_row, ci0);
            dgrad_x2_tap(&lo0, &hi0, ds, cx0 - c_lo, m, kx00 + 2u, t_row, ci0);
            dgrad_x2_tap(&lo1, &hi1, ds, cx1 - c_lo + 1u, m, kx01, t_row, ci0);
            dgrad_x2_tap(&lo1, &hi1, ds, cx1 - c_lo, m, kx01 + 2u, t_row, ci0);
            if (BLOCKS > 1u) {
                for (var i = 0u; i < ROWS / 8u; i++) {
                    m[i] = wt4[(mine2[i] + t_row) / 4u];
                }
                dgrad_x2_tap(&lo2, &hi2, ds, cx0 - c_lo + 1u, m, kx00, t_row, ci0 + ROWS);
                dgrad_x2_tap(&lo2, &hi2, ds, cx0 - c_lo, m, kx00 + 2u, t_row, ci0 + ROWS);
                dgrad_x2_tap(&lo3, &hi3, ds, cx1 - c_lo + 1u, m, kx01, t_row, ci0 + ROWS);
                dgrad_x2_tap(&lo3, &hi3, ds, cx1 - c_lo, m, kx01 + 2u, t_row, ci0 + ROWS);
            }
        }
    }
    let iy = a * 2u + py;
    // the strip's outputs in column phases 0 and 1 (none for a lane past the last strip or a
    // phase row past the last row)
    let stores = valid && iy < IH;
    let count0 = select(0u, (IW + 1u) / 2u - b0, 2u * b0 < IW && stores);
    let count1 = select(0u, IW / 2u - b0, 2u * b0 + 1u < IW && stores);
    // outputs 4-7 of a strip: pixels 4-7 of the same row, or (pairs) 0-3 of row iy + 2
    let second = iy + 2u < IH;
    let h0 = select(select(0u, count0 - 4u, count0 > 4u), select(0u, count0, second), pairs);
    let h1 = select(select(0u, count1 - 4u, count1 > 4u), select(0u, count1, second), pairs);
    let oh = select(8u, 2u * IW, pairs);
    if (BN_STATS) {
        let k0 = kept(min(count0, 4u), h0);
        let k1 = kept(min(count1, 4u), h1);
        write_bn_partials(strip_stats2(lo0, hi0, k0, lo1, hi1, k1), ci0, CI, lane, LANE8, wid.z);
        if (BLOCKS > 1u) { write_bn_partials(strip_stats2(lo2, hi2, k0, lo3, hi3, k1), ci0 + ROWS, CI, lane, LANE8, wid.z); }
    }
    if (!stores) { return; }
    let o = ((n * CI + ci0) * IH + iy) * IW + b0 * 2u;
    store_halves(lo0, hi0, ci0, CI, min(count0, 4u), h0, o, o + oh, IH * IW, 2u);
    store_halves(lo1, hi1, ci0, CI, min(count1, 4u), h1, o + 1u, o + 1u + oh, IH * IW, 2u);
    if (BLOCKS > 1u) {
        let o2 = o + ROWS * IH * IW;
        store_halves(lo2, hi2, ci0 + ROWS, CI, min(count0, 4u), h0, o2, o2 + oh, IH * IW, 2u);
        store_halves(lo3, hi3, ci0 + ROWS, CI, min(count1, 4u), h1, o2 + 1u, o2 + 1u + oh, IH * IW, 2u);
    }
}

// The same for few input-gradient channels (CI <= 4, 4 x 4 kernels: D's first layer and G's
// last transposed convolution, 1 or 3 channels), where conv_dgrad_x2's 16 rows would hold 1 to 4
// live channels. An invocation instead covers 4 output rows (both row phases of phase rows a0,
// a0 + 1) x 16 columns (both column phases of a strip of 8) of every channel: 16 vec4
// accumulators per channel fed by 4 dy row segments shared by all channels and one 4 x 4 kernel
// per (dy channel, channel): 64 CI vec4 multiply-adds per 12 + CI vec4 loads.
// Grid: x over (n, pair of phase rows, strip of 8 b).
alias FewAcc = array<vec4<f32>, 16>; // [((a * 2 + py) * 2 + px) * 2 + half]

// Adds kernel row wk's taps for output rows (a, py): column phase px takes taps kx0(px) and
// kx0(px) + 2 from dy segment ds (as conv_dgrad_x2).
fn few_row(acc: ptr<function, FewAcc>, ap: u32, ds: Seg, wk: vec4<f32>) {
    let kx00 = PAD % 2u;
    let kx01 = (1u + PAD) % 2u;
    let cx0 = (PAD - kx00) / 2u;
    let cx1 = (1u + PAD - kx01) / 2u;
    let c_lo = min(cx0, cx1);
    for (var px = 0u; px < 2u; px++) {
        let kx = select(kx00, kx01, px == 1u);
        let j = select(cx0, cx1, px == 1u) - c_lo + 1u;
        let i = (ap * 2u + px) * 2u;
        (*acc)[i] = fma(vec4<f32>(wk[kx]), vec4<f32>(at(ds, j), at(ds, j + 1u), at(ds, j + 2u), at(ds, j + 3u)), (*acc)[i]);
        (*acc)[i + 1u] = fma(vec4<f32>(wk[kx]), vec4<f32>(at(ds, j + 4u), at(ds, j + 5u), at(ds, j + 6u), at(ds, j + 7u)), (*acc)[i + 1u]);
        (*acc)[i] = fma(vec4<f32>(wk[kx + 2u]), vec4<f32>(at(ds, j - 1u), at(ds, j), at(ds, j + 1u), at(ds, j + 2u)), (*acc)[i]);
        (*acc)[i + 1u] = fma(vec4<f32>(wk[kx + 2u]), vec4<f32>(at(ds, j + 3u), at(ds, j + 4u), at(ds, j + 5u), at(ds, j + 6u)), (*acc)[i + 1u]);
    }
}

// One channel's taps from the dy rows oy0 + d and its kernel rows wk[ky]: for output rows (a, py)
// and tap t, dy row d = a + cy(py) - t - cy(0) + 1 and kernel row ky0(py) + 2t.
fn few_channel(acc: ptr<function, FewAcc>, rows: array<Seg, 4>, wk: array<vec4<f32>, 4>) {
    let cy0 = PAD / 2u;
    let cy1 = (PAD + 1u) / 2u;
    let ky00 = PAD % 2u;
    let ky01 = (PAD + 1u) % 2u;
    few_row(acc, 0u, rows[1u], wk[ky00]);
    few_row(acc, 0u, rows[0u], wk[ky00 + 2u]);
    few_row(acc, 1u, rows[1u + cy1 - cy0], wk[ky01]);
    few_row(acc, 1u, rows[cy1 - cy0], wk[ky01 + 2u]);
    few_row(acc, 2u, rows[2u], wk[ky00]);
    few_row(acc, 2u, rows[1u], wk[ky00 + 2u]);
    few_row(acc, 3u, rows[2u + cy1 - cy0], wk[ky01]);
    few_row(acc, 3u, rows[1u + cy1 - cy0], wk[ky01 + 2u]);
}

// The 4 kernel rows of (co, ci) = vec4s 4 ci .. 4 ci + 3 of co's 4 CI: the subgroup's lane l loaded
// vec4s l (m0) and 8 + l (m1).
fn few_kernel(m0: vec4<f32>, m1: vec4<f32>, ci: u32, co: u32) -> array<vec4<f32>, 4> {
    return array<vec4<f32>, 4>(few_kernel_row(m0, m1, 4u * ci, co), few_kernel_row(m0, m1, 4u * ci + 1u, co),
                               few_kernel_row(m0, m1, 4u * ci + 2u, co), few_kernel_row(m0, m1, 4u * ci + 3u, co));
}

fn few_kernel_row(m0: vec4<f32>, m1: vec4<f32>, i: u32, co: u32) -> vec4<f32> {
    return share4(select(m0, m1, i >= 8u), i % 8u, wt4[co * 4u * CI + i]);
}

// dy[n, co, oy, ox0 ..] as a 10-value segment, zero outside the image.
fn few_dy_row(n: u32, co: u32, oy: i32, ox0: i32) -> Seg {
    return plane_row((n * CO + co) * OH, OH, OW, oy, ox0, 10u);
}

// Stores output rows (a, py) of channel ci: both column phases, pixels past the row's end dropped.
fn few_store(acc: FewAcc, ap: u32, n: u32, ci: u32, iy: u32, b0: u32) {
    if (iy >= IH) { return; }
    let o = ((n * CI + ci) * IH + iy) * IW + b0 * 2u;
    let count0 = select(0u, (IW + 1u) / 2u - b0, 2u * b0 < IW);
    let count1 = select(0u, IW / 2u - b0, 2u * b0 + 1u < IW);
    for (var q = 0u; q < 4u; q++) {
        if (q < count0) { store(o + 2u * q, acc[ap * 4u][q]); }
        if (q + 4u < count0) { store(o + 2u * (q + 4u), acc[ap * 4u + 1u][q]); }
        if (q < count1) { store(o + 2u * q + 1u, acc[ap * 4u + 2u][q]); }
        if (q + 4u < count1) { store(o + 2u * (q + 4u) + 1u, acc[ap * 4u + 3u][q]); }
    }
}

fn few_store_all(acc: FewAcc, n: u32, ci: u32, a0: u32, b0: u32) {
    few_store(acc, 0u, n, ci, 2u * a0, b0);
    few_store(acc, 1u, n, ci, 2u * a0 + 1u, b0);
    few_store(acc, 2u, n, ci, 2u * a0 + 2u, b0);
    few_store(acc, 3u, n, ci, 2u * a0 + 3u, b0);
}

@compute @workgroup_size(WG)
fn conv_dgrad_x2_few(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let st = strip_of(wid.x * WG + lid, ((IH + 1u) / 2u + 1u) / 2u, (IW + 1u) / 2u, false);
    let valid = st.valid;
    if (!any_lane(valid)) { return; }
    let n = st.n;
    let a0 = st.row * 2u;
    let b0 = st.x0;
    // the 4 dy rows oy0 + d: row phase py reads oy = a + cy(py) - t, cy(py) = (py + P) / 2
    let oy0 = i32(a0 + PAD / 2u) - 1;
    let ox0 = i32(b0) + i32(min(PAD / 2u, (PAD + 1u) / 2u)) - 1;
    var acc0: FewAcc;
    var acc1: FewAcc;
    var acc2: FewAcc;
    var acc3: FewAcc;
    let last = 4u * CI - 1u;
    for (var co = 0u; co < CO; co++) {
        // w[co, ci, ky, :] is vec4 4 (co CI + ci) + ky: 8 lanes load the first 8, again the next 8
        let m0 = wt4[co * 4u * CI + min(LANE8, last)];
        var m1 = m0;
        if (CI > 2u) { m1 = wt4[co * 4u * CI + min(8u + LANE8, last)]; }
        // written out, not looped: see `shifted`
        let rows = array<Seg, 4>(few_dy_row(n, co, oy0, ox0), few_dy_row(n, co, oy0 + 1, ox0), few_dy_row(n, co, oy0 + 2, ox0), few_dy_row(n, co, oy0 + 3, ox0));
        few_channel(&acc0, rows, few_kernel(m0, m1, 0u, co));
        if (CI > 1u) { few_channel(&acc1, rows, few_kernel(m0, m1, 1u, co)); }
        if (CI > 2u) { few_channel(&acc2, rows, few_kernel(m0, m1, 2u, co)); }
        if (CI > 3u) { few_channel(&acc3, rows, few_kernel(m0, m1, 3u, co)); }
    }
    if (!valid) { return; }
    few_store_all(acc0, n, 0u, a0, b0);
    if (CI > 1u) { few_store_all(acc1, n, 1u, a0, b0); }
    if (CI > 2u) { few_store_all(acc2, n, 2u, a0, b0); }
    if (CI > 3u) { few_store_all(acc3, n, 3u, a0, b0); }
}

// ------------------------------------------------------------------ weight gradient

// dw[co, ci, ky, kx] (+)= sum over n, oy, ox of dy[n, co, oy, ox] x[n, ci, oy*S - P + ky, ox*S - P + kx].

// The loaded channels' dy at the 8 pixels of a strip from flat index p (zero past the row's end):
// lo (pixels 0-3) and hi (4-7) of rows LANE8 + 8 j.
struct DyStrip {
    lo: array<vec4<f32>, ROWS / 8u>,
    hi: array<vec4<f32>, ROWS / 8u>,
}

// Pixel i of the strip is column c0 + i of a row `width` wide (c0 = ox0, width = OW; for a strip
// of two 4-pixel rows c0 = 0 and width = the number of pixels that exist, 8 or 4).
fn dy_strip(mine: Mine, p: u32, c0: u32, width: u32) -> DyStrip {
    var d: DyStrip;
    for (var j = 0u; j < ROWS / 8u; j++) {
        let s = masked_row(wt_segment8(i32(mine[j] + p)), 8u, i32(c0), width, true);
        d.lo[j] = s[0];
        d.hi[j] = s[1];
    }
    return d;
}

// x of image n, channel ci, row iy under taps 4kq..4kq+3 at the `px` (8 or 4) pixels from ox0.
fn x_strip(n: u32, ci: u32, iy: i32, ox0: u32, kq: u32, px: u32) -> Seg {
    let ix0 = i32(ox0 * STRIDE + kq * 4u) - i32(PAD);
    return plane_row((n * CI + ci) * IH, IH, IW, iy, ix0, (px - 1u) * STRIDE + 4u);
}

// acc[r][e] += sum over the strip's pixels q of dy[row r, q] x[q S + e] (taps 4kq + e): pixels
// 0-3 from xs.lo, 4-7 from xs.hi (as XRows); the dy strip as dy_strip's (c0, width).
fn wgrad_add(acc: ptr<function, Acc>, d: DyStrip, xs: XRows, co0: u32, p: u32, c0: u32, width: u32) {
    let x0 = px4(xs.lo, 0u, 0u); let x1 = px4(xs.lo, 1u, 0u); let x2 = px4(xs.lo, 2u, 0u); let x3 = px4(xs.lo, 3u, 0u);
    let y0 = px4(xs.hi, 0u, xs.hb); let y1 = px4(xs.hi, 1u, xs.hb); let y2 = px4(xs.hi, 2u, xs.hb); let y3 = px4(xs.hi, 3u, xs.hb);
    for (var r = 0u; r < ROWS; r++) {
        let i = min(co0 + r, CO - 1u) * OH * OW + p;
        let g = share4(d.lo[r / 8u], r % 8u, dy4(i, c0, width));
        let e = share4(d.hi[r / 8u], r % 8u, dy4(i + 4u, c0 + 4u, width));
        (*acc)[r] += vec4<f32>(dot(g, x0) + dot(e, y0), dot(g, x1) + dot(e, y1), dot(g, x2) + dot(e, y2), dot(g, x3) + dot(e, y3));
    }
}

// Writes (or adds) acc[r][e] to dw[co0 + r, ci, ky, 4kq + e].
fn wgrad_store(acc: Acc, co0: u32, ci: u32, ky: u32, kq: u32) {
    for (var r = 0u; r < ROWS; r++) {
        let co = co0 + r;
        if (co < CO) {
            let o = ((co * CI + ci) * KH + ky) * KW;
            for (var e = 0u; e < 4u; e++) {
                let kx = kq * 4u + e;
                if (kx < KW) { store(o + kx, acc[r][e]); }
            }
        }
    }
}

// The weight taps an invocation computes: input channel ci, kernel row ky (of `kys` per
// channel), quad kq of 4 kernel columns. Lanes past the last take it and store nothing.
struct Taps {
    ci: u32,
    ky: u32,
    kq: u32,
    valid: bool,
}

fn taps_of(lane: u32, kys: u32) -> Taps {
    let quads = (KW + 3u) / 4u;
    let lanes = CI * kys * quads;
    let l = min(lane, lanes - 1u);
    return Taps(l / (quads * kys), (l / quads) % kys, l % quads, lane < lanes);
}

// Grid: x over (ci, ky, quad of 4 kx), y over blocks of ROWS output channels; each invocation walks
// every output pixel in strips of 8 along ox.
@compute @workgroup_size(WG)
fn conv_wgrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let tp = taps_of(wid.x * WG + lid, KH);
    let valid = tp.valid;
    if (!any_lane(valid)) { return; }
    let ci = tp.ci;
    let ky = tp.ky;
    let kq = tp.kq;
    let co0 = wid.y * ROWS;
    let mine = mine_rows(LANE8, co0, CO, OH * OW);
    var acc: Acc;
    for (var n = 0u; n < BATCH; n++) {
        for (var oy = 0u; oy < OH; oy++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            for (var ox0 = 0u; ox0 < OW; ox0 += 8u) {
                let p = (n * CO * OH + oy) * OW + ox0;
                let xs = x_strip(n, ci, iy, ox0, kq, 8u);
                wgrad_add(&acc, dy_strip(mine, p, ox0, OW), XRows(xs, xs, 1u), co0, p, ox0, OW);
            }
        }
    }
    if (!valid) { return; }
    wgrad_store(acc, co0, ci, ky, kq);
}

// The same for KH = 2 S (DCGAN's 4x4 stride-2 layers): an invocation takes the kernel rows ky and
// ky + S. Tap ky + S of output row oy reads the x row that tap ky of row oy + 1 reads, so walking
// oy (strip by strip) it loads each x row once for both, and each dy strip serves both: half the
// loads per multiply-add. Up to 4 blocks of ROWS output channels share each x row: in this
// kernel the x rows (a segment shifted into place per lane, and masked) cost more than the dy
// strips. Grid: x over (ci, ky < S, quad of 4 kx).
@compute @workgroup_size(WG)
fn conv_wgrad_pair(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let tp = taps_of(wid.x * WG + lid, STRIDE);
    let valid = tp.valid;
    if (!any_lane(valid)) { return; }
    let ci = tp.ci;
    let ky = tp.ky;
    let kq = tp.kq;
    let co0 = wid.y * ROWS * BLOCKS;
    let mine = mine_rows(LANE8, co0, CO, OH * OW);
    let mine2 = mine_rows(LANE8, co0 + ROWS, CO, OH * OW);
    let mine3 = mine_rows(LANE8, co0 + 2u * ROWS, CO, OH * OW);
    let mine4 = mine_rows(LANE8, co0 + 3u * ROWS, CO, OH * OW);
    var near: Acc;   // tap ky
    var far: Acc;    // tap ky + S
    var near2: Acc;  // the second block of rows
    var far2: Acc;
    var near3: Acc;  // the third and fourth (BLOCKS 4)
    var far3: Acc;
    var near4: Acc;
    var far4: Acc;
    if (OW == 4u) {
        // rows of 4 pixels: a strip is rows oy and oy + 1 (8 consecutive dy values), whose taps
        // ky and ky + S read x rows r, r + S (oy) and r + S, r + 2 S (oy + 1)
        for (var n = 0u; n < BATCH; n++) {
            var prev = x_strip(n, ci, i32(ky) - i32(PAD), 0u, kq, 4u);
            for (var oy = 0u; oy < OH; oy += 2u) {
                let mid = x_strip(n, ci, i32((oy + 1u) * STRIDE + ky) - i32(PAD), 0u, kq, 4u);
                let next = x_strip(n, ci, i32((oy + 2u) * STRIDE + ky) - i32(PAD), 0u, kq, 4u);
                let p = (n * CO * OH + oy) * OW;
                let width = select(4u, 8u, oy + 1u < OH);
                let d = dy_strip(mine, p, 0u, width);
                wgrad_add(&near, d, XRows(prev, mid, 0u), co0, p, 0u, width);
                wgrad_add(&far, d, XRows(mid, next, 0u), co0, p, 0u, width);
                if (BLOCKS > 1u) {
                    let d2 = dy_strip(mine2, p, 0u, width);
                    wgrad_add(&near2, d2, XRows(prev, mid, 0u), co0 + ROWS, p, 0u, width);
                    wgrad_add(&far2, d2, XRows(mid, next, 0u), co0 + ROWS, p, 0u, width);
                }
                if (BLOCKS > 2u) {
                    let d3 = dy_strip(mine3, p, 0u, width);
                    wgrad_add(&near3, d3, XRows(prev, mid, 0u), co0 + 2u * ROWS, p, 0u, width);
                    wgrad_add(&far3, d3, XRows(mid, next, 0u), co0 + 2u * ROWS, p, 0u, width);
                    let d4 = dy_strip(mine4, p, 0u, width);
                    wgrad_add(&near4, d4, XRows(prev, mid, 0u), co0 + 3u * ROWS, p, 0u, width);
                    wgrad_add(&far4, d4, XRows(mid, next, 0u), co0 + 3u * ROWS, p, 0u, width);
                }
                prev = next;
            }
        }
    } else {
        for (var n = 0u; n < BATCH; n++) {
            for (var ox0 = 0u; ox0 < OW; ox0 += 8u) {
                var prev = x_strip(n, ci, i32(ky) - i32(PAD), ox0, kq, 8u);
                for (var oy = 0u; oy < OH; oy++) {
                    let next = x_strip(n, ci, i32((oy + 1u) * STRIDE + ky) - i32(PAD), ox0, kq, 8u);
                    let p = (n * CO * OH + oy) * OW + ox0;
                    let d = dy_strip(mine, p, ox0, OW);
                    wgrad_add(&near, d, XRows(prev, prev, 1u), co0, p, ox0, OW);
                    wgrad_add(&far, d, XRows(next, next, 1u), co0, p, ox0, OW);
                    if (BLOCKS > 1u) {
                        let d2 = dy_strip(mine2, p, ox0, OW);
                        wgrad_add(&near2, d2, XRows(prev, prev, 1u), co0 + ROWS, p, ox0, OW);
                        wgrad_add(&far2, d2, XRows(next, next, 1u), co0 + ROWS, p, ox0, OW);
                    }
                    if (BLOCKS > 2u) {
                        let d3 = dy_strip(mine3, p, ox0, OW);
                        wgrad_add(&near3, d3, XRows(prev, prev, 1u), co0 + 2u * ROWS, p, ox0, OW);
                        wgrad_add(&far3, d3, XRows(next, next, 1u), co0 + 2u * ROWS, p, ox0, OW);
                        let d4 = dy_strip(mine4, p, ox0, OW);
                        wgrad_add(&near4, d4, XRows(prev, prev, 1u), co0 + 3u * ROWS, p, ox0, OW);
                        wgrad_add(&far4, d4, XRows(next, next, 1u), co0 + 3u * ROWS, p, ox0, OW);
                    }
                    prev = next;
                }
            }
        }
    }
    if (!valid) { return; }
    wgrad_store(near, co0, ci, ky, kq);
    wgrad_store(far, co0, ci, ky + STRIDE, kq);
    if (BLOCKS > 1u) {
        wgrad_store(near2, co0 + ROWS, ci, ky, kq);
        wgrad_store(far2, co0 + ROWS, ci, ky + STRIDE, kq);
    }
    if (BLOCKS > 2u) {
        wgrad_store(near3, co0 + 2u * ROWS, ci, ky, kq);
        wgrad_store(far3, co0 + 2u * ROWS, ci, ky + STRIDE, kq);
        wgrad_store(near4, co0 + 3u * ROWS, ci, ky, kq);
        wgrad_store(far4, co0 + 3u * ROWS, ci, ky + STRIDE, kq);
    }
}

// dy of one channel at 4 pixels from flat index i, pixel q at column c0 + q of a row `width` wide
// (zero past its end): the direct load of the variant without subgroups.
fn dy4(i: u32, c0: u32, width: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var q = 0u; q < 4u; q++) {
        if (c0 + q < width) { v[q] = wt[i + q]; }
    }
    return v;
}

