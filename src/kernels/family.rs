//! The kernel families, by a typed key: one WGSL source each (`shaders/<family>.wgsl`, beside
//! one launcher module `src/kernels/<family>.rs`), and how each is compiled. One row of
//! `FAMILIES` registers a family (its `Family` key, shaders/ files, subgroup need, whether naga's
//! runtime checks are off, shared binding layout, and the named preprocessing step of a variant);
//! the engine knows families only through `KernelFamily`.

use crate::engine::KernelFamily;
use anyhow::{Context, Result};

/// Prepended to every family (after the codes of `super::wgsl_codes`, each owner's enum): the
/// workgroup size override, flat indexing, the counter-based hash, activations, reductions.
pub const COMMON_WGSL: &str = include_str!("../../shaders/common.wgsl");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Activation,
    /// Differentiable augmentation (DiffAugment) and ADA's probability.
    Augment,
    Batchnorm,
    Cond,
    /// Implicit-GEMM convolutions, each lane loading its own rows.
    Conv,
    /// The same kernels with lanes sharing loaded rows through subgroup shuffles.
    ConvSubgroups,
    /// Implicit-GEMM convolutions in shared-memory tiles (GPUs).
    ConvTiled,
    /// The classifier statistics of the quality scores.
    Eval,
    Gemm,
    /// The register-blocked GEMM with subgroup broadcasts of A.
    GemmSubgroups,
    Lab,
    Layout,
    Loss,
    Matmul,
    Optim,
    /// Input-gradient penalties (WGAN-GP, R1) and WGAN-GP's interpolates.
    Penalty,
    Random,
    Specnorm,
}

/// How one family is compiled: one row of `FAMILIES`.
pub struct FamilyRow {
    pub family: Family,
    /// Its name in logs and pipeline labels (a shaders/ stem, or a variant of one).
    pub name: &'static str,
    /// The shaders/ files (stems) it is built from, in order.
    pub files: &'static [&'static str],
    /// Only built on devices opened with subgroups.
    pub subgroups: bool,
    /// Compiled without naga's runtime checks (why that is safe: the comment on `FAMILIES`).
    pub trusted: bool,
    /// The storage bindings (binding, read-only) shared by every entry point, for families whose
    /// pipelines use one explicit layout; None: each pipeline's layout comes from its shader.
    pub storage: Option<&'static [(u32, bool)]>,
    /// The named preprocessing step that makes a variant of a shared source.
    pub variant: Variant,
}

/// The preprocessing step of a family that is a variant of another's source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The files as they are.
    None,
    /// conv.wgsl with lanes sharing the rows they load through subgroup shuffles.
    ConvSubgroupShuffles,
    /// conv.wgsl with each lane loading every row itself.
    ConvPerLaneLoads,
}

const fn row(family: Family, name: &'static str, files: &'static [&'static str]) -> FamilyRow {
    FamilyRow { family, name, files, subgroups: false, trusted: false, storage: None, variant: Variant::None }
}

// conv.wgsl: params, src, wt, dst, wt4, src4, batch-norm partials
const CONV_BINDINGS: &[(u32, bool)] = &[(1, true), (2, true), (3, false), (4, true), (5, true), (6, false)];
// both convolution families read the geometry overrides of conv_geometry.wgsl; conv_backward.wgsl
// uses conv.wgsl's bindings and helpers
const CONV_FILES: &[&str] = &["conv_geometry", "conv", "conv_backward"];

// Trusted families are compiled without naga's runtime checks (bounds checks on every storage access, a counter on
// every loop, guards on every integer division), because the host proves what the checks
// would guard. All their loops count to constants (pipeline overrides) and all their
// divisors are non-zero constants of a validated geometry.
// - gemm: A and B are read at rows clamped with min() to M-1 and N-1, inside buffers whose
//   sizes `gemm_nt` checks against (m, n, k, lda, ldb); C is written only where i < M and
//   j < N, and `gemm_nt` checks that C holds M x N.
// - conv: activation rows are read through `src_segment` / `wt_segment8`, which clamp every
//   index (scalar or vec4 chunk) into the binding; weight and dy rows are clamped to the last
//   channel and taps stay below KH x KW; outputs are written only for channels, pixels and
//   taps inside the shapes `conv_pass` checks; batch-norm partials (BN_STATS) only for rows
//   below the channel count, by lanes below BN_LANES, at slots below BN_SLOTS = grid z x
//   ceil(BN_LANES / 8), for which `conv_pass` checks the partials buffer.
// - layout: reads clamp into the source or stay below N x C x H x W of a checked shape,
//   writes stay below the thread count `layout()` checks against the destination.
// GANGPU_RUNTIME_CHECKS=on keeps the checks everywhere (to measure what they cost: README).
/// Every kernel family: adding one is one row here, its `Family` key, and its shaders/ file in `FILES`.
pub const FAMILIES: &[FamilyRow] = &[
    row(Family::Activation, "activation", &["activation"]),
    row(Family::Augment, "augment", &["augment"]),
    row(Family::Batchnorm, "batchnorm", &["batchnorm"]),
    row(Family::Cond, "cond", &["cond"]),
    FamilyRow { trusted: true, storage: Some(CONV_BINDINGS), variant: Variant::ConvPerLaneLoads, ..row(Family::Conv, "conv", CONV_FILES) },
    FamilyRow {
        subgroups: true,
        trusted: true,
        storage: Some(CONV_BINDINGS),
        variant: Variant::ConvSubgroupShuffles,
        ..row(Family::ConvSubgroups, "conv_sg", CONV_FILES)
    },
    // conv_tiled.wgsl: params, src, wt, dst, batch-norm partials
    FamilyRow { storage: Some(&[(1, true), (2, true), (3, false), (6, false)]), ..row(Family::ConvTiled, "conv_tiled", &["conv_geometry", "conv_tiled"]) },
    row(Family::Eval, "eval", &["eval"]),
    FamilyRow { trusted: true, ..row(Family::Gemm, "gemm", &["gemm"]) },
    // the subgroup GEMM reuses gemm.wgsl's overrides, bindings and helpers
    FamilyRow { subgroups: true, trusted: true, ..row(Family::GemmSubgroups, "gemm_sg", &["gemm", "gemm_sg"]) },
    row(Family::Lab, "lab", &["lab"]),
    FamilyRow { trusted: true, ..row(Family::Layout, "layout", &["layout"]) },
    row(Family::Loss, "loss", &["loss"]),
    row(Family::Matmul, "matmul", &["matmul"]),
    row(Family::Optim, "optim", &["optim"]),
    row(Family::Penalty, "penalty", &["penalty"]),
    row(Family::Random, "random", &["random"]),
    row(Family::Specnorm, "specnorm", &["specnorm"]),
];

impl Family {
    /// Every family, in table order.
    pub fn all() -> impl Iterator<Item = Family> {
        FAMILIES.iter().map(|r| r.family)
    }

    /// This family's row (a test checks that every key has exactly one).
    pub fn row(self) -> &'static FamilyRow {
        FAMILIES.iter().find(|r| r.family == self).unwrap_or(&FAMILIES[0])
    }

    pub fn name(self) -> &'static str {
        self.row().name
    }

    pub fn files(self) -> &'static [&'static str] {
        self.row().files
    }

    pub fn uses_subgroups(self) -> bool {
        self.row().subgroups
    }

    pub fn trusted(self) -> bool {
        self.row().trusted
    }

    /// The full source as compiled: the codes, common.wgsl, the family's files, its variant's step.
    pub fn source(self) -> String {
        self.assemble(&|stem| Ok(builtin_text(stem).to_string())).unwrap_or_default()
    }

    /// The source with each shaders/ file taken from `dir` where it holds `<stem>.wgsl` (kernel
    /// work without a rebuild: `GANGPU_SHADERS=DIR`), the built-in text otherwise.
    pub fn source_from(self, dir: Option<&std::path::Path>) -> Result<String> {
        let Some(dir) = dir else { return Ok(self.source()) };
        self.assemble(&|stem| {
            let path = dir.join(format!("{stem}.wgsl"));
            if path.exists() {
                std::fs::read_to_string(&path).with_context(|| format!("reading {} (GANGPU_SHADERS)", path.display()))
            } else {
                Ok(builtin_text(stem).to_string())
            }
        })
    }

    fn assemble(self, text: &dyn Fn(&str) -> Result<String>) -> Result<String> {
        // Subgroup kernels call subgroup operations in control flow that depends on the lane
        // index but is the same for every lane of a subgroup (the host runs them only where full
        // subgroups of at least 8 in-order lanes were probed; the kernels keep whole subgroups
        // active: `any_lane`, `subgroupAny`). Tint cannot prove that and rejects them; naga does
        // not check it. This directive says so to every compiler (tests/webgpu_shaders.rs).
        let directives = if self.uses_subgroups() { "diagnostic(off, subgroup_uniformity);\n" } else { "" };
        let mut src = format!("{directives}{}{}\n", super::wgsl_codes(), text("common")?);
        for f in self.files() {
            src.push_str(&text(f)?);
            src.push('\n');
        }
        Ok(match self.row().variant {
            Variant::ConvSubgroupShuffles => format!(
                "{directives}{CONV_PRELUDE_SUBGROUPS}\n{}",
                src.trim_start_matches(directives)
                    .replace("SG_LANE_PARAM", ", @builtin(subgroup_invocation_id) sg_lane: u32")
                    .replace("LANE8", "(sg_lane % 8u)")
            ),
            Variant::ConvPerLaneLoads => format!("{CONV_PRELUDE_PLAIN}\n{}", src.replace("SG_LANE_PARAM", "").replace("LANE8", "(lid % 8u)")),
            Variant::None => src,
        })
    }
}

impl KernelFamily for Family {
    fn name(self) -> &'static str {
        self.row().name
    }
    fn source(self, dir: Option<&std::path::Path>) -> Result<String> {
        self.source_from(dir)
    }
    fn trusted(self) -> bool {
        self.row().trusted
    }
    fn storage_bindings(self) -> Option<&'static [(u32, bool)]> {
        self.row().storage
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The built-in text of shaders/<stem>.wgsl (common included); empty for an unknown stem.
pub fn builtin_text(stem: &str) -> &'static str {
    if stem == "common" {
        return COMMON_WGSL;
    }
    FILES.iter().find(|(n, _)| *n == stem).map_or("", |(_, t)| t)
}

/// Every file of shaders/ but common.wgsl, by stem.
pub const FILES: &[(&str, &str)] = &[
    ("activation", include_str!("../../shaders/activation.wgsl")),
    ("augment", include_str!("../../shaders/augment.wgsl")),
    ("batchnorm", include_str!("../../shaders/batchnorm.wgsl")),
    ("cond", include_str!("../../shaders/cond.wgsl")),
    ("conv", include_str!("../../shaders/conv.wgsl")),
    ("conv_backward", include_str!("../../shaders/conv_backward.wgsl")),
    ("conv_geometry", include_str!("../../shaders/conv_geometry.wgsl")),
    ("conv_tiled", include_str!("../../shaders/conv_tiled.wgsl")),
    ("eval", include_str!("../../shaders/eval.wgsl")),
    ("gemm", include_str!("../../shaders/gemm.wgsl")),
    ("gemm_sg", include_str!("../../shaders/gemm_sg.wgsl")),
    ("lab", include_str!("../../shaders/lab.wgsl")),
    ("layout", include_str!("../../shaders/layout.wgsl")),
    ("loss", include_str!("../../shaders/loss.wgsl")),
    ("matmul", include_str!("../../shaders/matmul.wgsl")),
    ("optim", include_str!("../../shaders/optim.wgsl")),
    ("random", include_str!("../../shaders/random.wgsl")),
    ("specnorm", include_str!("../../shaders/specnorm.wgsl")),
    ("penalty", include_str!("../../shaders/penalty.wgsl")),
];

/// conv.wgsl's two variants: lanes share the rows they load through subgroup shuffles, or each
/// lane loads every row itself (see the file's header).
const CONV_PRELUDE_SUBGROUPS: &str = "
fn share1(mine: f32, r: u32, direct: f32) -> f32 { return subgroupShuffle(mine, r); }
fn share4(mine: vec4<f32>, r: u32, direct: vec4<f32>) -> vec4<f32> { return subgroupShuffle(mine, r); }
fn any_lane(b: bool) -> bool { return subgroupAny(b); }
fn lane_xor(v: f32, mask: u32) -> f32 { return subgroupShuffleXor(v, mask); }
";
const CONV_PRELUDE_PLAIN: &str = "
fn share1(mine: f32, r: u32, direct: f32) -> f32 { return direct; }
fn share4(mine: vec4<f32>, r: u32, direct: vec4<f32>) -> vec4<f32> { return direct; }
fn any_lane(b: bool) -> bool { return b; }
// (batch-norm partials need the subgroup variant: the host never sets BN_STATS here)
fn lane_xor(v: f32, mask: u32) -> f32 { return 0.0; }
";
