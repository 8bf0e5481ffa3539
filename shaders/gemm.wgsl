// The hot kernel: C[i, j] (+)= sum_k A[i, k] * B[j, k], both operands K-contiguous ("NT" form).
// Every convolution pass is one of these between cheap layout kernels (layout.wgsl).
// An invocation computes an 8 x 4 block of C (grid: x over column blocks, y over row blocks): 8 independent vec4 accumulator chains, the sweet
// spot measured on CPU adapters (no barriers: they are very costly there), and plenty of
// parallelism for GPUs.
//
// Output placement (out_mode):
//   0: row-major, out[i * N + j]
//   1: channel-major image, i = channel, j = (image, pixel): out[(j / plane * M + i) * plane + j % plane]

// The shape arrives as pipeline-override constants (one pipeline per GEMM shape), so the k loop
// has a constant trip count and the output placement divides by a constant.
override G_M: u32 = 1u;
override G_N: u32 = 1u;
override G_K: u32 = 1u;
override G_LDA: u32 = 1u;
override G_LDB: u32 = 1u;
override G_ACCUMULATE: bool = false;
override G_OUT_MODE: u32 = 0u;
override G_PLANE: u32 = 1u;
@group(0) @binding(1) var<storage, read> a: array<f32>;         // (M, lda), first K of each row used
@group(0) @binding(2) var<storage, read> b: array<f32>;         // (N, ldb), first K of each row used
@group(0) @binding(3) var<storage, read_write> c: array<f32>;   // (M, N) placed by out_mode

fn out_index(i: u32, j: u32) -> u32 {
    if (G_OUT_MODE == 1u) {
        return ((j / G_PLANE) * G_M + i) * G_PLANE + (j % G_PLANE);
    }
    return i * G_N + j;
}

fn put(i: u32, j: u32, v: f32) {
    if (i < G_M && j < G_N) {
        let o = out_index(i, j);
        c[o] = select(0.0, c[o], G_ACCUMULATE) + v;
    }
}

@compute @workgroup_size(WG)
fn gemm_nt(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    // The 8 rows of A are uniform across the workgroup (y), so CPU adapters load them once
    // per SIMD batch instead of gathering per lane; invocations walk along B (x).
    let nb = (G_N + 3u) / 4u;
    let jb = wid.x * WG + lid;
    if (jb >= nb) { return; }
    let j0 = jb * 4u;
    let i0 = wid.y * 8u;
    let mm = G_M - 1u;
    let nn = G_N - 1u;
    let ra0 = min(i0, mm) * G_LDA;      let ra1 = min(i0 + 1u, mm) * G_LDA;
    let ra2 = min(i0 + 2u, mm) * G_LDA; let ra3 = min(i0 + 3u, mm) * G_LDA;
    let ra4 = min(i0 + 4u, mm) * G_LDA; let ra5 = min(i0 + 5u, mm) * G_LDA;
    let ra6 = min(i0 + 6u, mm) * G_LDA; let ra7 = min(i0 + 7u, mm) * G_LDA;
    let rb0 = min(j0, nn) * G_LDB;      let rb1 = min(j0 + 1u, nn) * G_LDB;
    let rb2 = min(j0 + 2u, nn) * G_LDB; let rb3 = min(j0 + 3u, nn) * G_LDB;
    var c0 = vec4<f32>(0.0); var c1 = vec4<f32>(0.0); var c2 = vec4<f32>(0.0); var c3 = vec4<f32>(0.0);
    var c4 = vec4<f32>(0.0); var c5 = vec4<f32>(0.0); var c6 = vec4<f32>(0.0); var c7 = vec4<f32>(0.0);
    for (var k = 0u; k < G_K; k++) {
        let bv = vec4<f32>(b[rb0 + k], b[rb1 + k], b[rb2 + k], b[rb3 + k]);
        c0 += a[ra0 + k] * bv;
        c1 += a[ra1 + k] * bv;
        c2 += a[ra2 + k] * bv;
        c3 += a[ra3 + k] * bv;
        c4 += a[ra4 + k] * bv;
        c5 += a[ra5 + k] * bv;
        c6 += a[ra6 + k] * bv;
        c7 += a[ra7 + k] * bv;
    }
    for (var q = 0u; q < 4u; q++) {
        let j = j0 + q;
        put(i0, j, c0[q]); put(i0 + 1u, j, c1[q]); put(i0 + 2u, j, c2[q]); put(i0 + 3u, j, c3[q]);
        put(i0 + 4u, j, c4[q]); put(i0 + 5u, j, c5[q]); put(i0 + 6u, j, c6[q]); put(i0 + 7u, j, c7[q]);
    }
}

// Same product with vec4 loads along k: needs K, lda and ldb multiples of 4 (the host checks).
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;  // (M, lda / 4)
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;  // (N, ldb / 4)

fn fma_block(acc: vec4<f32>, av: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
    // acc[q] += dot(a, b_q): four independent dot products, one per output column.
    return acc + vec4<f32>(dot(av, b0), dot(av, b1), dot(av, b2), dot(av, b3));
}

@compute @workgroup_size(WG)
fn gemm_nt_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    // The 8 rows of A are uniform across the workgroup (y), so CPU adapters load them once
    // per SIMD batch instead of gathering per lane; invocations walk along B (x).
    let nb = (G_N + 3u) / 4u;
    let jb = wid.x * WG + lid;
    if (jb >= nb) { return; }
    let j0 = jb * 4u;
    let i0 = wid.y * 8u;
    let mm = G_M - 1u;
    let nn = G_N - 1u;
    let la = G_LDA / 4u;
    let lb = G_LDB / 4u;
    let ra0 = min(i0, mm) * la;      let ra1 = min(i0 + 1u, mm) * la;
    let ra2 = min(i0 + 2u, mm) * la; let ra3 = min(i0 + 3u, mm) * la;
    let ra4 = min(i0 + 4u, mm) * la; let ra5 = min(i0 + 5u, mm) * la;
    let ra6 = min(i0 + 6u, mm) * la; let ra7 = min(i0 + 7u, mm) * la;
    let rb0 = min(j0, nn) * lb;      let rb1 = min(j0 + 1u, nn) * lb;
    let rb2 = min(j0 + 2u, nn) * lb; let rb3 = min(j0 + 3u, nn) * lb;
    var c0 = vec4<f32>(0.0); var c1 = vec4<f32>(0.0); var c2 = vec4<f32>(0.0); var c3 = vec4<f32>(0.0);
    var c4 = vec4<f32>(0.0); var c5 = vec4<f32>(0.0); var c6 = vec4<f32>(0.0); var c7 = vec4<f32>(0.0);
    let k4 = G_K / 4u;
    for (var k = 0u; k < k4; k++) {
        let b0 = b4[rb0 + k]; let b1 = b4[rb1 + k]; let b2 = b4[rb2 + k]; let b3 = b4[rb3 + k];
        c0 = fma_block(c0, a4[ra0 + k], b0, b1, b2, b3);
        c1 = fma_block(c1, a4[ra1 + k], b0, b1, b2, b3);
        c2 = fma_block(c2, a4[ra2 + k], b0, b1, b2, b3);
        c3 = fma_block(c3, a4[ra3 + k], b0, b1, b2, b3);
        c4 = fma_block(c4, a4[ra4 + k], b0, b1, b2, b3);
        c5 = fma_block(c5, a4[ra5 + k], b0, b1, b2, b3);
        c6 = fma_block(c6, a4[ra6 + k], b0, b1, b2, b3);
        c7 = fma_block(c7, a4[ra7 + k], b0, b1, b2, b3);
    }
    for (var q = 0u; q < 4u; q++) {
        let j = j0 + q;
        put(i0, j, c0[q]); put(i0 + 1u, j, c1[q]); put(i0 + 2u, j, c2[q]); put(i0 + 3u, j, c3[q]);
        put(i0 + 4u, j, c4[q]); put(i0 + 5u, j, c5[q]); put(i0 + 6u, j, c6[q]); put(i0 + 7u, j, c7[q]);
    }
}

// GPU variant: 64 x 64 tiles of C per workgroup of 16 x 16 invocations (4 x 4 each), operands
// staged through workgroup memory in K-slices of 16. Barriers are cheap on GPUs and tiling
// turns 64-fold reuse of each loaded value into on-chip reads. Same operands and output placement
// as gemm_nt_vec4 (K, lda, ldb multiples of 4). Grid: (ceil(N / 64), ceil(M / 64)).
const TILE: u32 = 64u;
const TK4: u32 = 4u;  // K-slice of 16 floats as 4 vec4
var<workgroup> tile_a: array<array<vec4<f32>, 16>, 16>;  // [k][row / 4] -> 4 rows' values at k
var<workgroup> tile_b: array<array<vec4<f32>, 16>, 16>;  // [k][col / 4]

@compute @workgroup_size(16, 16)
fn gemm_nt_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let tx = lid3.x;
    let ty = lid3.y;
    let la = G_LDA / 4u;
    let lb = G_LDB / 4u;
    let k4n = G_K / 4u;
    // loader mapping: 256 invocations load 64 rows x 4 vec4 of each operand per slice
    let lr = lid / 4u;      // 0..63: row of the tile
    let lk = lid % 4u;      // 0..3: vec4 within the K-slice
    let arow = min(row0 + lr, G_M - 1u) * la;
    let brow = min(col0 + lr, G_N - 1u) * lb;
    var acc: array<vec4<f32>, 4>;
    acc[0] = vec4<f32>(0.0); acc[1] = vec4<f32>(0.0); acc[2] = vec4<f32>(0.0); acc[3] = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < k4n; k0 += TK4) {
        let kk = k0 + lk;
        let ok = kk < k4n;
        let av = select(vec4<f32>(0.0), a4[arow + min(kk, k4n - 1u)], ok);
        let bv = select(vec4<f32>(0.0), b4[brow + min(kk, k4n - 1u)], ok);
        // transpose into k-major slices: element e of the vec4 is k = 4*lk + e
        tile_a[4u * lk][lr / 4u][lr % 4u] = av.x;
        tile_a[4u * lk + 1u][lr / 4u][lr % 4u] = av.y;
        tile_a[4u * lk + 2u][lr / 4u][lr % 4u] = av.z;
        tile_a[4u * lk + 3u][lr / 4u][lr % 4u] = av.w;
        tile_b[4u * lk][lr / 4u][lr % 4u] = bv.x;
        tile_b[4u * lk + 1u][lr / 4u][lr % 4u] = bv.y;
        tile_b[4u * lk + 2u][lr / 4u][lr % 4u] = bv.z;
        tile_b[4u * lk + 3u][lr / 4u][lr % 4u] = bv.w;
        workgroupBarrier();
        for (var k = 0u; k < 16u; k++) {
            let a = tile_a[k][ty];
            let b = tile_b[k][tx];
            acc[0] += a.x * b;
            acc[1] += a.y * b;
            acc[2] += a.z * b;
            acc[3] += a.w * b;
        }
        workgroupBarrier();
    }
    let i0 = row0 + ty * 4u;
    let j0 = col0 + tx * 4u;
    for (var r = 0u; r < 4u; r++) {
        for (var q = 0u; q < 4u; q++) { put(i0 + r, j0 + q, acc[r][q]); }
    }
}
