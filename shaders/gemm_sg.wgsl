// gemm_nt_vec4 (gemm.wgsl) for CPU adapters with subgroups of at least 8 lanes: the 8 rows of A
// an invocation multiplies are the same for every lane of a workgroup, so instead of each lane
// loading all 8 (on llvmpipe a storage load costs about as much as 10 FMAs, per lane), lane i of
// each subgroup loads row i and the others read it with subgroupBroadcast (a register move).
// Broadcasts need every lane of the subgroup active, so a lane past the last column still runs the
// loop (on clamped columns) unless its whole subgroup is past it.
// Compiled after gemm.wgsl (the host concatenates them): its overrides, bindings and helpers.

@compute @workgroup_size(WG)
fn gemm_nt_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(subgroup_invocation_id) sg_lane: u32) {
    let nb = (G_N + 3u) / 4u;
    let jb = wid.x * WG + lid;
    let j0 = min(jb, nb - 1u) * 4u;
    let i0 = wid.y * 8u;
    let la = G_LDA / 4u;
    let lb = G_LDB / 4u;
    let nn = G_N - 1u;
    // this lane's share of A: row i0 + (lane % 8)
    let ra = min(i0 + sg_lane % 8u, G_M - 1u) * la;
    let rb0 = min(j0, nn) * lb;      let rb1 = min(j0 + 1u, nn) * lb;
    let rb2 = min(j0 + 2u, nn) * lb; let rb3 = min(j0 + 3u, nn) * lb;
    var c0 = vec4<f32>(0.0); var c1 = vec4<f32>(0.0); var c2 = vec4<f32>(0.0); var c3 = vec4<f32>(0.0);
    var c4 = vec4<f32>(0.0); var c5 = vec4<f32>(0.0); var c6 = vec4<f32>(0.0); var c7 = vec4<f32>(0.0);
    // a subgroup entirely past the last column skips the loop (the same trip count for all its lanes)
    let k4 = select(0u, G_K / 4u, subgroupAny(jb < nb));
    for (var k = 0u; k < k4; k++) {
        let mine = a4[ra + k];
        let b0 = b4[rb0 + k]; let b1 = b4[rb1 + k]; let b2 = b4[rb2 + k]; let b3 = b4[rb3 + k];
        c0 = fma_block(c0, subgroupBroadcast(mine, 0u), b0, b1, b2, b3);
        c1 = fma_block(c1, subgroupBroadcast(mine, 1u), b0, b1, b2, b3);
        c2 = fma_block(c2, subgroupBroadcast(mine, 2u), b0, b1, b2, b3);
        c3 = fma_block(c3, subgroupBroadcast(mine, 3u), b0, b1, b2, b3);
        c4 = fma_block(c4, subgroupBroadcast(mine, 4u), b0, b1, b2, b3);
        c5 = fma_block(c5, subgroupBroadcast(mine, 5u), b0, b1, b2, b3);
        c6 = fma_block(c6, subgroupBroadcast(mine, 6u), b0, b1, b2, b3);
        c7 = fma_block(c7, subgroupBroadcast(mine, 7u), b0, b1, b2, b3);
    }
    if (jb >= nb) { return; }
    for (var q = 0u; q < 4u; q++) {
        let j = j0 + q;
        put(i0, j, c0[q]); put(i0 + 1u, j, c1[q]); put(i0 + 2u, j, c2[q]); put(i0 + 3u, j, c3[q]);
        put(i0 + 4u, j, c4[q]); put(i0 + 5u, j, c5[q]); put(i0 + 6u, j, c6[q]); put(i0 + 7u, j, c7[q]);
    }
}
