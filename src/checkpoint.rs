//! Checkpoints in safetensors. Network tensors carry PyTorch `nn.Sequential` state_dict names
//! and layouts under `netG.` / `netD.` (e.g. `netG.main.0.weight`), so a checkpoint loads into
//! PyTorch (scripts/check_checkpoint.py, scripts/torch_trainer.py). Optimizer moments are stored
//! per parameter under the parameter's name (`optim.netG.main.0.weight.exp_avg`: torch.optim's
//! state of that parameter; checkpoints before 0.3 kept one flat buffer per moment,
//! `optim.netG.exp_avg`, still read); the step, the optimizers' step counts, RNG state and the
//! whole config go in the metadata (docs/torch.md has the whole mapping). Writes are atomic: a
//! temp file, fsync, rename.

use crate::nn::{Net, Which};
use anyhow::{anyhow, bail, ensure, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

pub const FORMAT: &str = "gangpu-checkpoint-1";

/// Host copy of a network's state.
/// The prefix of the moving average of G's tensors (`netG_ema.main.0.weight`, ...).
pub const EMA_PREFIX: &str = "netG_ema";

#[derive(Clone, Debug, PartialEq)]
pub struct NetState {
    pub params: Vec<f32>,
    pub bn_state: Vec<f32>,
    /// Spectral-norm vectors ([u | v | sigma] per weight), empty without spectral norm.
    pub sn_state: Vec<f32>,
    /// Optimizer slots (Adam: exp_avg, exp_avg_sq; RMSProp: square_avg), flat in the params layout.
    pub opt: Vec<Vec<f32>>,
    pub opt_names: Vec<String>,
    pub opt_steps: u64,
    pub bn_batches: u64,
}

/// Everything a run needs to continue exactly.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub step: u64,
    pub config_json: String,
    pub g: NetState,
    pub d: NetState,
    /// The moving average of G (`--ema-kimg`): parameters and statistics, saved as `netG_ema.*`.
    pub g_ema: Option<NetState>,
    pub extra_meta: HashMap<String, String>,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    bytemuck::cast_slice(v).to_vec()
}

fn net_tensors(prefix: &str, net: &Net, s: &NetState, out: &mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>) -> Result<()> {
    ensure!(s.params.len() == net.params.layout.len, "{prefix}: state does not match the network layout");
    for (name, which, offset, shape) in net.export_names() {
        let n: usize = shape.iter().product();
        let src = match which {
            Which::Params => &s.params,
            Which::BnState => &s.bn_state,
            Which::SnState => &s.sn_state,
        };
        out.push((format!("{prefix}.{name}"), Dtype::F32, shape, f32_bytes(&src[offset..offset + n])));
    }
    for bi in net.bn_module_indices() {
        out.push((format!("{prefix}.main.{bi}.num_batches_tracked"), Dtype::I64, vec![], (s.bn_batches as i64).to_le_bytes().to_vec()));
    }
    ensure!(s.opt.len() == s.opt_names.len(), "{prefix}: optimizer state and names disagree");
    for (slot_name, slot) in s.opt_names.iter().zip(&s.opt) {
        ensure!(slot.len() == net.params.layout.len, "{prefix}: optimizer state {slot_name} does not match the network layout");
        for (name, which, offset, shape) in net.export_names() {
            if which == Which::Params {
                let n: usize = shape.iter().product();
                out.push((format!("optim.{prefix}.{name}.{slot_name}"), Dtype::F32, shape, f32_bytes(&slot[offset..offset + n])));
            }
        }
    }
    Ok(())
}

/// Serialises and writes `ck` atomically to `path`.
pub fn save(path: &Path, ck: &Checkpoint, g: &Net, d: &Net) -> Result<()> {
    let mut tensors = Vec::new();
    net_tensors("netG", g, &ck.g, &mut tensors)?;
    net_tensors("netD", d, &ck.d, &mut tensors)?;
    if let Some(ema) = &ck.g_ema {
        net_tensors(EMA_PREFIX, g, ema, &mut tensors)?;
    }
    let mut meta = ck.extra_meta.clone();
    meta.insert("format".into(), FORMAT.into());
    meta.insert("step".into(), ck.step.to_string());
    meta.insert("config".into(), ck.config_json.clone());
    meta.insert("netG.opt_steps".into(), ck.g.opt_steps.to_string());
    meta.insert("netD.opt_steps".into(), ck.d.opt_steps.to_string());
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, dt, shape, bytes)| Ok((n.clone(), TensorView::new(*dt, shape.clone(), bytes)?)))
        .collect::<Result<_, safetensors::SafeTensorError>>()
        .map_err(|e| anyhow!("building checkpoint tensors: {e}"))?;
    let bytes = safetensors::serialize(views, &Some(meta)).map_err(|e| anyhow!("serialising checkpoint: {e}"))?;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let tmp = path.with_extension("safetensors.tmp");
    {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(&bytes).with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("moving {} into place as {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Parsed checkpoint file, before it is matched against a network.
pub struct RawCheckpoint {
    bytes: Vec<u8>,
    pub meta: HashMap<String, String>,
    pub path: String,
}

impl RawCheckpoint {
    pub fn read(path: &Path) -> Result<RawCheckpoint> {
        let bytes = std::fs::read(path).with_context(|| format!("reading checkpoint {}", path.display()))?;
        let what = path.display().to_string();
        let (_, md) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| anyhow!("{what} is not a valid safetensors checkpoint ({e}); it may be truncated or corrupt"))?;
        let meta = md.metadata().clone().unwrap_or_default();
        // validate the whole file now, so a truncated tail is caught before anything is used
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| anyhow!("{what} is corrupt: {e}"))?;
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            bail!("{what} is a safetensors file but not a gangpu checkpoint (no '{FORMAT}' format tag)");
        }
        Ok(RawCheckpoint { bytes, meta, path: what })
    }

    pub fn config_json(&self) -> Result<&str> {
        self.meta.get("config").map(String::as_str).ok_or_else(|| anyhow!("{}: checkpoint has no config", self.path))
    }

    pub fn step(&self) -> Result<u64> {
        self.meta.get("step").and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("{}: checkpoint has no step", self.path))
    }

    /// Rebuilds a network's state, checking every tensor's presence and shape against `net`.
    /// Whether the checkpoint holds tensors under `prefix` (e.g. a moving average of G).
    pub fn has(&self, prefix: &str) -> Result<bool> {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).map_err(|e| anyhow!("{}: {e}", self.path))?;
        let start = format!("{prefix}.");
        Ok(st.names().iter().any(|n| n.starts_with(&start)))
    }

    pub fn net_state(&self, prefix: &str, net: &Net, opt_names: &[String]) -> Result<NetState> {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).map_err(|e| anyhow!("{}: {e}", self.path))?;
        let mut params = vec![0f32; net.params.layout.len];
        let mut bn_state = vec![0f32; net.bn_state.layout.len];
        let mut sn_state = vec![0f32; net.sn.as_ref().map_or(0, |s| s.state.layout.len)];
        for (name, which, offset, shape) in net.export_names() {
            let full = format!("{prefix}.{name}");
            let t = st.tensor(&full).map_err(|_| anyhow!("{}: tensor {full} is missing: the checkpoint was made for a different architecture", self.path))?;
            if t.shape() != shape.as_slice() || t.dtype() != Dtype::F32 {
                bail!(
                    "{}: tensor {full} has shape {:?} ({:?}) but this model needs {:?} (f32): the checkpoint was made for a different architecture",
                    self.path,
                    t.shape(),
                    t.dtype(),
                    shape
                );
            }
            let vals: Vec<f32> = t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            let dst = match which {
                Which::Params => &mut params,
                Which::BnState => &mut bn_state,
                Which::SnState => &mut sn_state,
            };
            dst[offset..offset + vals.len()].copy_from_slice(&vals);
        }
        // optimizer moments: per parameter (torch.optim's layout), or one flat buffer (older
        // checkpoints); a checkpoint without them cannot continue a run exactly
        let floats =
            |t: &safetensors::tensor::TensorView| -> Vec<f32> { t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect() };
        let mut opt = Vec::new();
        for slot in opt_names {
            if let Ok(t) = st.tensor(&format!("optim.{prefix}.{slot}")) {
                ensure!(t.shape() == [net.params.layout.len], "{}: optimizer state optim.{prefix}.{slot} does not match this model", self.path);
                opt.push(floats(&t));
                continue;
            }
            let mut flat = vec![0f32; net.params.layout.len];
            for (name, which, offset, shape) in net.export_names() {
                if which != Which::Params {
                    continue;
                }
                let full = format!("optim.{prefix}.{name}.{slot}");
                let t = st.tensor(&full).map_err(|_| {
                    anyhow!(
                        "{}: optimizer state {full} is missing: the checkpoint cannot continue this run's optimizer (was it made with another --optimizer?)",
                        self.path
                    )
                })?;
                ensure!(
                    t.shape() == shape.as_slice() && t.dtype() == Dtype::F32,
                    "{}: optimizer state {full} has shape {:?}, the parameter {:?}",
                    self.path,
                    t.shape(),
                    shape
                );
                flat[offset..offset + shape.iter().product::<usize>()].copy_from_slice(&floats(&t));
            }
            opt.push(flat);
        }
        let bn_batches = net
            .bn_module_indices()
            .first()
            .and_then(|bi| st.tensor(&format!("{prefix}.main.{bi}.num_batches_tracked")).ok())
            .and_then(|t| t.data().try_into().ok().map(i64::from_le_bytes))
            .unwrap_or(0) as u64;
        let opt_steps = self.meta.get(&format!("{prefix}.opt_steps")).and_then(|s| s.parse().ok()).unwrap_or(0);
        for v in [&params, &bn_state] {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                bail!("{}: {prefix} holds a non-finite value at flat index {i}; the checkpoint is unusable", self.path);
            }
        }
        Ok(NetState { params, bn_state, sn_state, opt, opt_names: opt_names.to_vec(), opt_steps, bn_batches })
    }
}
