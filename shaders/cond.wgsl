// Class conditioning (CGAN, ACGAN): drawing labels for a batch, attaching one-hot labels to the
// noise (G's input) and to images as constant planes (D's input in CGAN), and slicing the image
// channels back out of D's input gradient.

struct CondParams {
    batch: u32, classes: u32, width: u32, plane: u32,
    seed: u32, stream: u32, counter: u32, _p: u32,
};

@group(0) @binding(0) var<uniform> P: CondParams;
@group(0) @binding(1) var<storage, read> picked: array<u32>;        // (B) image indices drawn for the real batch
@group(0) @binding(2) var<storage, read> labels: array<u32>;        // (count) label of every image in the data set
@group(0) @binding(3) var<storage, read_write> lab_real: array<u32>; // (B)
@group(0) @binding(4) var<storage, read_write> lab_fake: array<u32>; // (B) uniform over the classes

@compute @workgroup_size(64)
fn draw_labels(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= P.batch) { return; }
    lab_real[b] = labels[picked[b]];
    lab_fake[b] = rng_u32(P.seed, P.stream, P.counter, b) % P.classes;
}

@group(0) @binding(5) var<storage, read> src: array<f32>;          // concat: (B, width, plane); slice: (B, width + classes, plane)
@group(0) @binding(6) var<storage, read> lab: array<u32>;          // (B)
@group(0) @binding(7) var<storage, read_write> dst: array<f32>;    // concat: (B, width + classes, plane); slice: (B, width, plane)

// dst[b, c, p] = src[b, c, p] for c < width, else one-hot(lab[b]) at channel c - width.
@compute @workgroup_size(WG)
fn concat_onehot(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let ch = P.width + P.classes;
    let i = flat_id(wid, nwg, lid);
    if (i >= P.batch * ch * P.plane) { return; }
    let p = i % P.plane;
    let c = (i / P.plane) % ch;
    let b = i / (P.plane * ch);
    if (c < P.width) {
        dst[i] = src[(b * P.width + c) * P.plane + p];
    } else {
        dst[i] = select(0.0, 1.0, c - P.width == lab[b]);
    }
}

// dst[b, c, p] = src[b, c, p] for c < width: the image part of a gradient w.r.t. [image | labels].
@compute @workgroup_size(WG)
fn slice_channels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.batch * P.width * P.plane) { return; }
    let p = i % P.plane;
    let c = (i / P.plane) % P.width;
    let b = i / (P.plane * P.width);
    dst[i] = src[(b * (P.width + P.classes) + c) * P.plane + p];
}
