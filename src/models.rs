//! DCGAN generator and discriminator layouts (../shared/docs/models.md): dcgan28 for 28x28
//! MNIST, and the general DCGAN for 16, 32, 64 and 128 pixels (one stride-2 layer per doubling
//! from 4x4).

use crate::cli_values::{count_usize, MODEL};
use crate::kernels::{Act, ConvGeom, ConvTGeom};
use crate::nn::{BlockSpec, LayerKind};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Class conditioning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Cond {
    /// Unconditional
    #[default]
    None,
    /// One-hot label concatenated to z for G and as extra input channels for D
    Cgan,
    /// Label concatenated to z for G; D has a second head with class logits (softmax cross-entropy)
    Acgan,
}

/// The model's shape: also the "Model" flags of `gangpu train` (kept on --resume).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
pub struct ModelConfig {
    /// Image size: 28 (dcgan28) or 16, 32, 64, 128
    #[arg(long, default_value_t = 28, allow_negative_numbers = true, value_parser = count_usize, help_heading = MODEL)]
    pub image_size: usize,
    /// Image channels: 1 or 3
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = count_usize, help_heading = MODEL)]
    pub channels: usize,
    /// Noise dimension
    #[arg(long, default_value_t = 100, allow_negative_numbers = true, value_parser = count_usize, help_heading = MODEL)]
    pub nz: usize,
    /// Generator width
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = count_usize, help_heading = MODEL)]
    pub ngf: usize,
    /// Discriminator width
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = count_usize, help_heading = MODEL)]
    pub ndf: usize,
    /// Batch size
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = count_usize, help_heading = MODEL)]
    pub batch: usize,
    /// Class conditioning on labelled data: cgan (one-hot label with z and as D input planes) or
    /// acgan (label with z; D predicts the class with a second head)
    #[arg(long, value_enum, default_value_t = Cond::None, help_heading = MODEL)]
    #[serde(default)]
    pub cond: Cond,
    /// Number of classes (conditional models): the data set's.
    #[arg(skip)]
    #[serde(default)]
    pub classes: usize,
}

pub const SUPPORTED_SIZES: &[usize] = &[16, 28, 32, 64, 128];

impl Default for ModelConfig {
    /// dcgan28 of models.md: 1x28x28, nz 100, ngf = ndf = 64, batch 64, unconditional.
    fn default() -> ModelConfig {
        ModelConfig { image_size: 28, channels: 1, nz: 100, ngf: 64, ndf: 64, batch: 64, cond: Cond::None, classes: 0 }
    }
}

impl ModelConfig {
    pub fn validate(&self) -> Result<()> {
        if !SUPPORTED_SIZES.contains(&self.image_size) {
            bail!(
                "--image-size {} cannot be made by a DCGAN: use 28 (the dcgan28 MNIST model) or a power of two from 16 to 128 (16, 32, 64, 128)",
                self.image_size
            );
        }
        if self.channels != 1 && self.channels != 3 {
            bail!("--channels must be 1 (grayscale) or 3 (RGB), got {}", self.channels);
        }
        if self.nz == 0 || self.ngf == 0 || self.ndf == 0 {
            bail!("--nz, --ngf and --ndf must be positive");
        }
        if self.cond != Cond::None && self.classes < 2 {
            bail!("a conditional model needs at least 2 classes, got {}", self.classes);
        }
        if self.batch < 2 {
            bail!("--batch must be at least 2 (batch norm needs more than one sample), got {}", self.batch);
        }
        Ok(())
    }

    pub fn name(&self) -> String {
        if self.image_size == 28 {
            "dcgan28".into()
        } else {
            format!("dcgan{}", self.image_size)
        }
    }

    fn convt(&self, cin: usize, h: usize, cout: usize, k: usize, s: usize, p: usize) -> LayerKind {
        LayerKind::ConvT(ConvTGeom { n: self.batch, cin, h, w: h, cout, kh: k, kw: k, stride: s, pad: p })
    }
    fn conv(&self, cin: usize, h: usize, cout: usize, k: usize, s: usize, p: usize) -> LayerKind {
        LayerKind::Conv(ConvGeom { n: self.batch, cin, h, w: h, cout, kh: k, kw: k, stride: s, pad: p })
    }

    /// Classes G sees next to z (one-hot), 0 when unconditional.
    pub fn g_label_channels(&self) -> usize {
        if self.cond == Cond::None {
            0
        } else {
            self.classes
        }
    }
    /// Label planes D sees next to the image (CGAN).
    pub fn d_label_channels(&self) -> usize {
        if self.cond == Cond::Cgan {
            self.classes
        } else {
            0
        }
    }
    /// Outputs of D per sample: the adversarial logit, plus class logits for ACGAN.
    pub fn d_outputs(&self) -> usize {
        if self.cond == Cond::Acgan {
            1 + self.classes
        } else {
            1
        }
    }

    /// Generator: z (B, nz [+ classes], 1, 1) -> image (B, C, S, S) in [-1, 1].
    pub fn generator(&self) -> Result<Vec<BlockSpec>> {
        self.validate()?;
        let b = |conv, bn, act| BlockSpec { layer: conv, batch_norm: bn, act };
        let (nz, ngf, nc) = (self.nz + self.g_label_channels(), self.ngf, self.channels);
        if self.image_size == 28 {
            return Ok(vec![
                b(self.convt(nz, 1, 4 * ngf, 7, 1, 0), true, Act::Relu),
                b(self.convt(4 * ngf, 7, 2 * ngf, 4, 2, 1), true, Act::Relu),
                b(self.convt(2 * ngf, 14, nc, 4, 2, 1), false, Act::Tanh),
            ]);
        }
        let ups = self.image_size.trailing_zeros() as usize - 2; // stride-2 layers after 4x4
        let mut mult = 1 << (ups - 1);
        let mut v = vec![b(self.convt(nz, 1, ngf * mult, 4, 1, 0), true, Act::Relu)];
        let mut size = 4;
        for _ in 0..ups - 1 {
            v.push(b(self.convt(ngf * mult, size, ngf * mult / 2, 4, 2, 1), true, Act::Relu));
            mult /= 2;
            size *= 2;
        }
        v.push(b(self.convt(ngf, size, nc, 4, 2, 1), false, Act::Tanh));
        Ok(v)
    }

    /// Discriminator: image (B, C [+ classes], S, S) -> (B, 1 [+ classes], 1, 1) logits.
    pub fn discriminator(&self) -> Result<Vec<BlockSpec>> {
        self.validate()?;
        let b = |conv, bn, act| BlockSpec { layer: conv, batch_norm: bn, act };
        let (ndf, nc, nout) = (self.ndf, self.channels + self.d_label_channels(), self.d_outputs());
        let lrelu = Act::LeakyRelu(0.2);
        if self.image_size == 28 {
            return Ok(vec![
                b(self.conv(nc, 28, ndf, 4, 2, 1), false, lrelu),
                b(self.conv(ndf, 14, 2 * ndf, 4, 2, 1), true, lrelu),
                b(self.conv(2 * ndf, 7, nout, 7, 1, 0), false, Act::Identity),
            ]);
        }
        let downs = self.image_size.trailing_zeros() as usize - 2;
        let mut size = self.image_size / 2;
        let mut v = vec![b(self.conv(nc, self.image_size, ndf, 4, 2, 1), false, lrelu)];
        let mut mult = 1;
        for _ in 0..downs - 1 {
            v.push(b(self.conv(ndf * mult, size, ndf * mult * 2, 4, 2, 1), true, lrelu));
            mult *= 2;
            size /= 2;
        }
        v.push(b(self.conv(ndf * mult, 4, nout, 4, 1, 0), false, Act::Identity));
        Ok(v)
    }
}
