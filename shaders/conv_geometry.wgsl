// A convolution's geometry and output epilogue as pipeline-override constants, shared by the
// barrier-free kernels (conv.wgsl, conv_backward.wgsl) and the shared-memory tiles
// (conv_tiled.wgsl): x (BATCH, CI, IH, IW) * w (CO, CI, KH, KW) -> y (BATCH, CO, OH, OW), stride
// STRIDE, padding PAD. The host sets them per layer (ConvGeom::constants).

override BATCH: u32 = 1u;
override CI: u32 = 1u;
override IH: u32 = 1u;
override IW: u32 = 1u;
override CO: u32 = 1u;
override OH: u32 = 1u;
override OW: u32 = 1u;
override KH: u32 = 1u;
override KW: u32 = 1u;
override STRIDE: u32 = 1u;
override PAD: u32 = 0u;
// Add into the output instead of overwriting it (gradients accumulated over several passes).
override ACCUMULATE: bool = false;
// Activation fused into the output (an ACT_* code; never with ACCUMULATE): a convolution followed
// by an activation without batch norm between them writes the activated values in one pass.
override ACT: u32 = ACT_IDENTITY;
override ACT_SLOPE: f32 = 0.0;

// Batch-norm partial statistics (a convolution whose output feeds batch norm): with BN_STATS the
// forward and input-gradient kernels also write, per output channel, BN_SLOTS records of count,
// mean and M2 (the sum of squared deviations from that mean) of groups of the values they store,
// which batch norm merges instead of reading the output once more (batchnorm.wgsl's `_parts`).
// Records merge by Chan et al.'s pairwise update (common.wgsl's merge_stats), which does not
// cancel when the mean is far from zero. Each kernel family groups values its own way (see
// write_bn_partials in conv.wgsl and in conv_tiled.wgsl).
override BN_STATS: bool = false;
override BN_SLOTS: u32 = 1u;
@group(0) @binding(6) var<storage, read_write> bn_parts: array<vec4<f32>>; // (channels, BN_SLOTS): count, mean, M2, 0
