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
