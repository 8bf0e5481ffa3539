//! PyTorch weights in: a safetensors file holding a DCGAN generator or discriminator with the
//! state_dict names of the PyTorch DCGAN example (`main.0.weight`, `main.1.running_mean`, ...),
//! with or without a `netG.` / `netD.` (or DataParallel's `module.`) prefix. The architecture is
//! read from the tensor shapes; every tensor is then checked against the network gangpu builds,
//! and the first one that does not fit is named.

use crate::engine::Engine;
use crate::models::ModelConfig;
use crate::nn::Net;
use anyhow::{anyhow, bail, Context, Result};
use safetensors::tensor::Dtype;
use std::collections::BTreeMap;
use std::path::Path;

/// Which network a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Generator,
    Discriminator,
}

impl Role {
    fn prefix(self) -> &'static str {
        match self {
            Role::Generator => "netG.",
            Role::Discriminator => "netD.",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Role::Generator => "generator",
            Role::Discriminator => "discriminator",
        }
    }
}

/// The architecture a file's shapes describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inferred {
    pub image_size: usize,
    pub channels: usize,
    /// G: the noise dimension; D: 0.
    pub nz: usize,
    /// G: ngf; D: ndf.
    pub width: usize,
}

/// A network's tensors from a PyTorch safetensors file, names without prefixes.
pub struct TorchWeights {
    pub path: String,
    pub role: Role,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl TorchWeights {
    pub fn read(path: &Path, role: Role) -> Result<TorchWeights> {
        let bytes = std::fs::read(path).with_context(|| format!("reading PyTorch weights {}", path.display()))?;
        let what = path.display().to_string();
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
            anyhow!("{what} is not a valid safetensors file ({e}); save PyTorch weights with safetensors.torch.save_file(model.state_dict(), path)")
        })?;
        let names: Vec<String> = st.names().into_iter().cloned().collect();
        // A file with both networks (a gangpu checkpoint) gives the one asked for.
        let own = names.iter().any(|n| n.starts_with(role.prefix()));
        let mut tensors = BTreeMap::new();
        for name in names {
            let mut short = name.as_str();
            if own {
                match short.strip_prefix(role.prefix()) {
                    Some(rest) => short = rest,
                    None => continue,
                }
            }
            if let Some(rest) = short.strip_prefix("module.") {
                short = rest;
            }
            if short.ends_with("num_batches_tracked") || name.starts_with("optim.") {
                continue;
            }
            let t = st.tensor(&name).map_err(|e| anyhow!("{what}: tensor {name}: {e}"))?;
            let values: Vec<f32> = match t.dtype() {
                Dtype::F32 => t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
                Dtype::F64 => t.data().chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect(),
                other => bail!("{what}: tensor {name} is {other:?}; gangpu reads f32 (or f64) weights: convert with model.float()"),
            };
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                bail!("{what}: tensor {name} holds a non-finite value at index {i}");
            }
            tensors.insert(short.to_string(), (t.shape().to_vec(), values));
        }
        if tensors.is_empty() {
            bail!("{what} holds no tensors of a {}", role.name());
        }
        Ok(TorchWeights { path: what, role, tensors })
    }

    /// The 4-D weights of the `main` Sequential, in module order.
    fn conv_weights(&self) -> Vec<(usize, &Vec<usize>)> {
        let mut v: Vec<(usize, &Vec<usize>)> = self
            .tensors
            .iter()
            .filter_map(|(n, (shape, _))| {
                let idx = n.strip_prefix("main.")?.strip_suffix(".weight")?.parse().ok()?;
                (shape.len() == 4).then_some((idx, shape))
            })
            .collect();
        v.sort_by_key(|(i, _)| *i);
        v
    }

    /// Reads the architecture from the shapes (dcgan28 when the first G layer, or the last D
    /// layer, has a 7x7 kernel; otherwise the general DCGAN with one stride-2 layer per doubling).
    pub fn infer(&self) -> Result<Inferred> {
        let convs = self.conv_weights();
        let (Some(first), Some(last)) = (convs.first(), convs.last()) else {
            bail!("{}: no convolution weights named main.N.weight: not a DCGAN {} in the PyTorch example's layout", self.path, self.role.name());
        };
        let layers = convs.len();
        if layers < 3 {
            bail!("{}: {} convolution layers; a DCGAN {} has at least 3", self.path, layers, self.role.name());
        }
        let (s0, sl) = (first.1, last.1);
        let size_for = |k: usize| if k == 7 && layers == 3 { 28 } else { 4 << (layers - 1) };
        Ok(match self.role {
            Role::Generator => Inferred { image_size: size_for(s0[2]), channels: sl[1], nz: s0[0], width: if s0[2] == 7 { s0[1] / 4 } else { sl[0] } },
            Role::Discriminator => {
                if sl[0] != 1 {
                    bail!(
                        "{}: the last convolution, main.{}.weight, has shape {:?}: a DCGAN discriminator ends in 1 output (is this a generator?)",
                        self.path,
                        last.0,
                        sl
                    );
                }
                Inferred { image_size: size_for(sl[2]), channels: s0[1], nz: 0, width: s0[0] }
            }
        })
    }

    /// Writes every tensor of `net` from this file, checking names and shapes first.
    pub fn load_into(&self, e: &Engine, net: &Net) -> Result<()> {
        let expected = net.export_names();
        for (name, _, _, shape) in &expected {
            match self.tensors.get(name) {
                None => bail!("{}: tensor {name} is missing; the model built from the shapes needs it (a file for another architecture?)", self.path),
                Some((got, _)) if got != shape => bail!(
                    "{}: tensor {name} has shape {got:?} but the {} gangpu builds needs {shape:?}: the file is for another architecture or width",
                    self.path,
                    self.role.name()
                ),
                Some(_) => {}
            }
        }
        if let Some(extra) = self.tensors.keys().find(|n| !expected.iter().any(|(e, ..)| e == *n)) {
            bail!("{}: tensor {extra} is not part of a DCGAN {} of this shape", self.path, self.role.name());
        }
        for (name, ..) in &expected {
            if let Some((_, values)) = self.tensors.get(name) {
                net.write_named(e, name, values)?;
            }
        }
        Ok(())
    }
}

/// Makes the model and objective flags agree with PyTorch weights given by --netG / --netD: the
/// shapes decide what was not given; an explicit flag that disagrees is an error.
pub fn adopt_shapes(model: &mut ModelConfig, w: &TorchWeights, explicit: &dyn Fn(&str) -> bool) -> Result<()> {
    let inf = w.infer()?;
    let width_flag = if w.role == Role::Generator { ("--ngf", "ngf") } else { ("--ndf", "ndf") };
    let mut checks = vec![("--image-size", "image_size", inf.image_size, &mut model.image_size), ("--channels", "channels", inf.channels, &mut model.channels)];
    let (width_slot, nz_slot) = if w.role == Role::Generator { (&mut model.ngf, Some(&mut model.nz)) } else { (&mut model.ndf, None) };
    checks.push((width_flag.0, width_flag.1, inf.width, width_slot));
    if let Some(nz) = nz_slot {
        checks.push(("--nz", "nz", inf.nz, nz));
    }
    for (flag, id, found, slot) in checks {
        if explicit(id) && *slot != found {
            bail!("{flag} {} does not match {}, whose tensor shapes give {flag} {found}", *slot, w.path);
        }
        *slot = found;
    }
    Ok(())
}
