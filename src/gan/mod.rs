//! What the image trainer and the lab share: the objectives (one descriptor per loss), one GAN
//! step (a D step with G frozen, a G step with D frozen) and the slots of the stats buffer its
//! loss kernels write. Above `nn`, below `train`, `lab` and `eval`.

pub mod augment;
mod objective;
pub mod step;

pub use objective::*;

// Slots of the stats buffer: [loss, mean D output] for the real pass, the fake pass (D step)
// and the fake pass (G step).
pub const SLOT_REAL: usize = 0;
pub const SLOT_FAKE: usize = 2;
pub const SLOT_GEN: usize = 4;
// ACGAN's class cross-entropy: [loss, accuracy] on real, fake (D step), fake (G step).
pub const SLOT_CE_REAL: usize = 8;
pub const SLOT_CE_FAKE: usize = 10;
pub const SLOT_CE_GEN: usize = 12;
// The input-gradient penalties: [penalty, mean |grad_x D|], WGAN-GP's and R1's.
pub const SLOT_GP: usize = 6;
pub const SLOT_R1: usize = 14;
// Augmentation: [p, ADA's r_t].
pub const SLOT_AUG: usize = 16;
/// Floats in the stats buffer.
pub const STATS_LEN: usize = 20;
