//! gangpu's lab in the browser: the same engine, WGSL kernels and `lab::Lab` as `gangpu lab`,
//! on wgpu's WebGPU backend. The page (web/index.html, web/lab.js) asks for a configuration the
//! way the command line does (`resolve`: the same names, the same defaults, the same checks),
//! trains in batches of iterations (`WebLab::train`) and awaits a snapshot between them (the
//! evaluation samples, D on its grid and the metrics row of the native metrics.jsonl).

use anyhow::{anyhow, bail, Context, Result};
use clap::ValueEnum;
use gangpu::lab::{Dist, GLoss, GanLoss, Lab, LabConfig, LabOpt};
use gangpu::{Engine, GpuOptions};
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

fn js_err(e: anyhow::Error) -> JsValue {
    JsValue::from_str(&format!("{e:#}"))
}

fn names<T: ValueEnum>() -> Vec<String> {
    T::value_variants().iter().filter_map(|v| v.to_possible_value()).map(|p| p.get_name().to_string()).collect()
}

fn help<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value().and_then(|p| p.get_help().map(|h| h.to_string())).unwrap_or_default()
}

/// What the page offers in its menus: the command line's names (clap's), with their help.
#[wasm_bindgen]
pub fn choices() -> String {
    let dists: Vec<Value> =
        Dist::value_variants().iter().filter_map(|d| d.to_possible_value().map(|p| json!({"name": p.get_name(), "dim": d.dim(), "help": help(d)}))).collect();
    let losses: Vec<Value> = GanLoss::value_variants()
        .iter()
        .filter_map(|l| l.to_possible_value().map(|p| json!({"name": p.get_name(), "display": l.objective().display, "help": help(l)})))
        .collect();
    json!({"dists": dists, "losses": losses, "optimizers": names::<LabOpt>(), "g_losses": names::<GLoss>(), "keys": KEYS}).to_string()
}

/// The URL parameters the page reads: `gangpu lab`'s flags of the same name (underscores for
/// dashes), `compare` (the --compare experiment), `autostart` and `every` (a snapshot and a
/// metrics row every N iterations).
const KEYS: &[&str] = &[
    "dist",
    "loss",
    "g_loss",
    "optimizer",
    "lr",
    "steps",
    "d_steps",
    "g_steps",
    "d_warmup",
    "batch",
    "hidden",
    "depth",
    "nz",
    "clip",
    "seed",
    "compare",
    "autostart",
    "every",
];

fn parse<T: std::str::FromStr>(key: &str, v: &str, what: &str) -> Result<T> {
    v.trim().parse().map_err(|_| anyhow!("{key}={v:?} is not {what}"))
}

fn value<T: ValueEnum>(key: &str, v: &str) -> Result<T> {
    T::from_str(v.trim(), true).map_err(|_| anyhow!("{key}={v:?} is not one of {}", names::<T>().join(", ")))
}

fn flag(key: &str, v: &str) -> Result<bool> {
    match v.trim() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{key}={v:?}: use 1 or 0"),
    }
}

/// The page's run from its parameters (a JSON object of strings, e.g. the URL's query):
/// `{"config": LabConfig, "compare": bool, "autostart": bool, "every": N}`, with `gangpu lab`'s
/// defaults for everything not given. Unknown keys and bad values are errors naming them.
#[wasm_bindgen]
pub fn resolve(params: &str) -> Result<String, JsValue> {
    resolve_params(params).map(|v| v.to_string()).map_err(js_err)
}

fn resolve_params(params: &str) -> Result<Value> {
    let p: Map<String, Value> = serde_json::from_str(params).context("the page's parameters are not a JSON object")?;
    let mut s = std::collections::HashMap::new();
    for (k, v) in &p {
        if !KEYS.contains(&k.as_str()) {
            bail!("unknown parameter '{k}': the page reads {}", KEYS.join(", "));
        }
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        s.insert(k.as_str(), v);
    }
    let get = |k: &str| s.get(k).map(|v| v.as_str());
    let compare = get("compare").map(|v| flag("compare", v)).transpose()?.unwrap_or(false);
    let loss: GanLoss = get("loss").map(|v| value("loss", v)).transpose()?.unwrap_or(GanLoss::Bce);
    // as `gangpu lab`: the mixture by default, the disjoint supports for the comparison
    let dist: Dist = get("dist").map(|v| value("dist", v)).transpose()?.unwrap_or(if compare { Dist::Disjoint } else { Dist::Mixture });
    let d = if compare { LabConfig::compare_defaults(dist) } else { LabConfig::defaults(dist, loss) };
    let optimizer: LabOpt = get("optimizer").map(|v| value("optimizer", v)).transpose()?.unwrap_or(d.optimizer);
    let num = |k: &str, dflt: usize| -> Result<usize> { get(k).map(|v| parse(k, v, "a whole number")).transpose().map(|o| o.unwrap_or(dflt)) };
    let num64 = |k: &str, dflt: u64| -> Result<u64> { get(k).map(|v| parse(k, v, "a whole number")).transpose().map(|o| o.unwrap_or(dflt)) };
    let cfg = LabConfig {
        dist,
        loss,
        g_loss: get("g_loss").map(|v| value("g_loss", v)).transpose()?.unwrap_or(d.g_loss),
        nz: num("nz", d.nz)?,
        hidden: num("hidden", d.hidden)?,
        depth: num("depth", d.depth)?,
        batch: num("batch", d.batch)?,
        steps: num64("steps", d.steps)?,
        d_steps: num("d_steps", d.d_steps)?,
        g_steps: num("g_steps", d.g_steps)?,
        d_warmup: num64("d_warmup", d.d_warmup)?,
        optimizer,
        lr: get("lr").map(|v| parse("lr", v, "a number")).transpose()?.unwrap_or(optimizer.default_lr()),
        clip: get("clip").map(|v| parse("clip", v, "a number")).transpose()?.unwrap_or(d.clip),
        gp_weight: get("gp_weight").map(|v| parse("gp_weight", v, "a number")).transpose()?.unwrap_or(d.gp_weight),
        seed: get("seed").map(|v| parse("seed", v, "a whole number")).transpose()?.unwrap_or(d.seed),
        ..d
    };
    let every = num64("every", 25)?;
    if every == 0 {
        bail!("every=0: a snapshot every N iterations needs N of at least 1");
    }
    // the page logs at its snapshots; the native run's log and frame steps follow them
    let cfg = LabConfig { log_every: every, frame_every: every, ..cfg };
    let runs = if compare {
        let (b, w) = LabConfig::compare_pair(&cfg);
        vec![b, w]
    } else {
        vec![cfg.clone()]
    };
    for r in &runs {
        // the checks are `gangpu lab`'s, worded with its flags: name the page's parameters
        r.validate().map_err(|e| anyhow!("{}", KEYS.iter().fold(e.to_string(), |m, k| m.replace(&format!("--{}", k.replace('_', "-")), k))))?;
    }
    let autostart = get("autostart").map(|v| flag("autostart", v)).transpose()?.unwrap_or(false);
    Ok(json!({"config": cfg, "runs": runs, "compare": compare, "autostart": autostart, "every": every}))
}

/// The WebGPU device and the engine's pipeline cache, shared by the labs on the page.
#[wasm_bindgen]
pub struct WebEngine {
    e: Rc<Engine>,
}

/// Opens WebGPU on the page's adapter and plans the kernels for it.
#[wasm_bindgen]
pub async fn open_engine() -> Result<WebEngine, JsValue> {
    let e = Engine::open_async(&GpuOptions::default()).await.context("opening WebGPU").map_err(js_err)?;
    Ok(WebEngine { e: Rc::new(e) })
}

#[wasm_bindgen]
impl WebEngine {
    /// The adapter and the kernel plan, for the page's footer.
    pub fn describe(&self) -> String {
        let a = &self.e.gpu.adapter;
        format!("{} {}, kernels: {}", a.backend, a.device_type, self.e.describe())
    }
}

struct State {
    e: Rc<Engine>,
    lab: Lab,
    warmed: bool,
}

/// One lab run on the page.
#[wasm_bindgen]
pub struct WebLab {
    state: Rc<RefCell<State>>,
}

#[wasm_bindgen]
impl WebLab {
    /// A lab from one of `resolve`'s `runs` (its JSON).
    #[wasm_bindgen(constructor)]
    pub fn new(engine: &WebEngine, config: &str) -> Result<WebLab, JsValue> {
        let cfg: LabConfig = serde_json::from_str(config).context("reading the lab's configuration").map_err(js_err)?;
        let lab = Lab::new(&engine.e, cfg).context("building the lab").map_err(js_err)?;
        Ok(WebLab { state: Rc::new(RefCell::new(State { e: engine.e.clone(), lab, warmed: false })) })
    }

    /// The iterations done so far.
    pub fn step(&self) -> Result<f64, JsValue> {
        Ok(self.state.try_borrow().map_err(|_| JsValue::from_str("the lab is busy"))?.lab.step as f64)
    }

    /// Records and submits up to `n` iterations (D's warm-up first, at the first call); returns
    /// the step reached. The GPU runs them while the page awaits the next snapshot.
    pub fn train(&self, n: u32) -> Result<f64, JsValue> {
        let mut st = self.state.try_borrow_mut().map_err(|_| JsValue::from_str("the lab is busy (a snapshot is pending)"))?;
        let st = &mut *st;
        if !st.warmed {
            st.lab.warm_up(&st.e).map_err(js_err)?;
            st.warmed = true;
        }
        let end = (st.lab.step + n as u64).min(st.lab.cfg.steps);
        while st.lab.step < end {
            st.lab.iterate(&st.e).map_err(js_err)?;
        }
        Ok(st.lab.step as f64)
    }

    /// A promise of the run's state as JSON: `step`, `metrics` (the row `gangpu lab` writes to
    /// metrics.jsonl; null before the first iteration unless D was warmed up), the evaluation
    /// samples `fake` and `real`, D on its grid (`grid`, probabilities for the sigmoid objectives),
    /// and what drawing them needs.
    #[allow(clippy::await_holding_refcell_ref)]
    pub fn snapshot(&self) -> js_sys::Promise {
        let state = self.state.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            // held across the reads on purpose: `train` meanwhile fails ("busy") instead of
            // changing the weights under a pending snapshot
            let st = state.try_borrow().map_err(|_| JsValue::from_str("the lab is busy"))?;
            snapshot(&st).await.map(|v| JsValue::from_str(&v.to_string())).map_err(js_err)
        })
    }
}

async fn snapshot(st: &State) -> Result<Value> {
    let (lab, e) = (&st.lab, &*st.e);
    let (fake, real, grid) = lab.evaluate_async(e).await?;
    let metrics = if lab.step > 0 || (st.warmed && lab.cfg.d_warmup > 0) { Some(lab.metrics_async(e, &fake, &real).await?) } else { None };
    let objective = lab.cfg.loss.objective();
    let prob = objective.probabilities;
    let grid: Vec<f32> = if prob { grid.iter().map(|l| 1.0 / (1.0 + (-l).exp())).collect() } else { grid };
    let (lo, hi) = lab.cfg.dist.range();
    Ok(json!({
        "step": lab.step,
        "steps": lab.cfg.steps,
        "loss": objective.display,
        "dim": lab.cfg.dist.dim(),
        "range": [lo, hi],
        "modes": lab.cfg.dist.modes().map(|(m, _)| m),
        "prob": prob,
        "metrics": metrics,
        "fake": fake,
        "real": real,
        "grid": grid,
        "grid_n": lab.grid_n,
    }))
}
