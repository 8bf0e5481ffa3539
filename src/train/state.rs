//! The whole training state of a `Gan` to and from a checkpoint: both networks with their
//! optimizer, batch-norm and spectral-norm state, the moving average of G, ADA's probability.

use super::Gan;
use crate::checkpoint::{self, Checkpoint, NetState, RawCheckpoint};
use crate::engine::Engine;
use crate::nn::{Net, NetOptimizer};
use anyhow::{bail, Context, Result};
use std::path::Path;

impl Gan {
    fn net_state(&self, e: &Engine, net: &Net, opt: &NetOptimizer, bn_batches: u64) -> Result<NetState> {
        Ok(NetState {
            params: net.params.all().read(&e.gpu)?,
            bn_state: net.bn_state.all().read(&e.gpu)?,
            sn_state: match &net.sn {
                Some(sn) => sn.state.all().read(&e.gpu)?,
                None => vec![],
            },
            opt: opt.state.iter().map(|(_, t)| t.read(&e.gpu)).collect::<Result<_>>()?,
            opt_names: opt.names(),
            opt_steps: opt.steps,
            bn_batches,
        })
    }

    /// Reads the whole training state back (blocking).
    pub fn checkpoint(&self, e: &Engine) -> Result<Checkpoint> {
        e.gpu.wait()?;
        let mut extra = std::collections::HashMap::new();
        extra.insert("rng".into(), format!("{{\"seed\": {}, \"counter\": {}}}", self.cfg.seed, self.step));
        extra.insert("adapter".into(), e.gpu.adapter.to_string());
        extra.insert("d_steps_done".into(), self.d_count.to_string());
        if let Some(a) = &self.augmenter {
            // ADA's probability and its running sums, so a resumed run continues bit for bit
            extra.insert("ada".into(), serde_json::to_string(&a.ada.read(&e.gpu)?)?);
        }
        Ok(Checkpoint {
            step: self.step,
            config_json: serde_json::to_string(&self.cfg)?,
            g: self.net_state(e, &self.g, &self.adam_g, self.bn_batches_g)?,
            d: self.net_state(e, &self.d, &self.adam_d, self.bn_batches_d)?,
            g_ema: match &self.ema {
                Some(ema) => Some(NetState {
                    params: ema.net.params.all().read(&e.gpu)?,
                    bn_state: ema.net.bn_state.all().read(&e.gpu)?,
                    sn_state: vec![],
                    opt: vec![],
                    opt_names: vec![],
                    opt_steps: 0,
                    bn_batches: self.bn_batches_g,
                }),
                None => None,
            },
            extra_meta: extra,
        })
    }

    /// Saves a checkpoint atomically, refusing to overwrite a good one with non-finite state.
    pub fn save_checkpoint(&self, e: &Engine, path: &Path) -> Result<()> {
        let ck = self.checkpoint(e)?;
        for (name, v) in [("G", &ck.g.params), ("D", &ck.d.params)] {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                bail!(
                    "training diverged: {name}'s parameters hold a non-finite value (flat index {i}) at step {}; {} was not \
                     overwritten and holds the last good state. Try a lower --lr (e.g. half) or a different --seed.",
                    self.step,
                    path.display()
                );
            }
        }
        checkpoint::save(path, &ck, &self.g, &self.d)
    }

    /// Restores state from a checkpoint made with the same architecture.
    pub fn load_checkpoint(&mut self, e: &Engine, raw: &RawCheckpoint) -> Result<()> {
        let g = raw.net_state("netG", &self.g, &self.adam_g.names())?;
        let d = raw.net_state("netD", &self.d, &self.adam_d.names())?;
        self.g.params.all().write(&e.gpu, &g.params)?;
        self.g.bn_state.all().write(&e.gpu, &g.bn_state)?;
        self.d.params.all().write(&e.gpu, &d.params)?;
        self.d.bn_state.all().write(&e.gpu, &d.bn_state)?;
        if let Some(sn) = &self.d.sn {
            sn.state.all().write(&e.gpu, &d.sn_state)?;
        }
        for (opt, st) in [(&mut self.adam_g, &g), (&mut self.adam_d, &d)] {
            if st.opt.len() == opt.state.len() {
                for ((_, t), v) in opt.state.iter().zip(&st.opt) {
                    t.write(&e.gpu, v)?;
                }
            }
            opt.steps = st.opt_steps;
        }
        if let Some(ema) = &self.ema {
            if raw.has(crate::checkpoint::EMA_PREFIX)? {
                let st = raw.net_state(crate::checkpoint::EMA_PREFIX, &ema.net, &[])?;
                ema.net.params.all().write(&e.gpu, &st.params)?;
                ema.net.bn_state.all().write(&e.gpu, &st.bn_state)?;
            } else {
                // a run without an average continued with one: it starts at the resumed G
                ema.restart(e, &self.g)?;
            }
        }
        if let Some(a) = &self.augmenter {
            match raw.meta.get("ada") {
                Some(v) => {
                    let state: Vec<f32> = serde_json::from_str(v).with_context(|| format!("the checkpoint's ADA state '{v}'"))?;
                    a.ada.write(&e.gpu, &state).context("restoring ADA's state")?;
                }
                None => bail!("the checkpoint was saved without --augment's state (by an older gangpu?); resume it without --augment"),
            }
        }
        self.bn_batches_g = g.bn_batches;
        self.bn_batches_d = d.bn_batches;
        self.step = raw.step()?;
        self.d_count = raw.meta.get("d_steps_done").and_then(|v| v.parse().ok()).unwrap_or(self.step);
        e.gpu.wait()
    }
}
