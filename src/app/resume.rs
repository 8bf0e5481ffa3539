//! `--resume`: which settings a continued run may change. Each flag of `gangpu train` is in one
//! group (its help heading) and each group has one policy (`train::RESUME_POLICY`): settings that
//! define the model, the data and the objective are the checkpoint's (a flag asking for another
//! value is an error naming both); schedule and output settings may change, and the changes are
//! applied and reported. No setting is listed here: a new flag follows its group.

use crate::train::{Resume, TrainConfig, RESUME_POLICY};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// The `--resume` policy of a flag, by its help heading; an error for a flag in no group.
pub fn policy(arg: &clap::Arg) -> Result<Resume> {
    let heading = arg.get_help_heading().unwrap_or("");
    RESUME_POLICY
        .iter()
        .find(|(h, _)| *h == heading)
        .map(|(_, p)| *p)
        .ok_or_else(|| anyhow!("internal: --{} is in no --resume group (help heading '{heading}')", arg.get_long().unwrap_or(arg.get_id().as_str())))
}

/// A setting's value in a config's JSON, by its clap id (the field name; model fields sit under
/// "model").
fn slot<'a>(v: &'a mut Value, id: &str) -> Option<&'a mut Value> {
    if v.get(id).is_some() {
        return v.get_mut(id);
    }
    v.get_mut("model").and_then(|m| m.get_mut(id))
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The settings of the continued run: the checkpoint's, with the changeable ones the user passed
/// (`explicit(id)`: was that flag on the command line; `cmd`: the command whose flags they are).
/// `--out` is the caller's (a new --out continues in a copy). Returns the config and the changes
/// made (e.g. "--lr 0.0002 -> 0.0001").
pub fn merge(saved: &TrainConfig, requested: &TrainConfig, cmd: &clap::Command, explicit: &dyn Fn(&str) -> bool) -> Result<(TrainConfig, Vec<String>)> {
    let mut was = serde_json::to_value(saved).context("reading the checkpoint's settings")?;
    let mut asked = serde_json::to_value(requested).context("reading the requested settings")?;
    let mut changes = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if !explicit(id) || id == "out" {
            continue;
        }
        let policy = policy(arg)?;
        if policy == Resume::NotSaved {
            continue;
        }
        let flag = arg.get_long().map_or(id.to_string(), |l| format!("--{l}"));
        let new = slot(&mut asked, id).ok_or_else(|| anyhow!("internal: setting {flag} is not in the run's config"))?.clone();
        let old = slot(&mut was, id).ok_or_else(|| anyhow!("internal: setting {flag} is not in the checkpoint's config"))?;
        if *old == new {
            continue;
        }
        // --no-tensorboard and the like: the flag's value is the opposite of the setting's
        let (shown_old, shown_new) = if matches!(arg.get_action(), clap::ArgAction::SetFalse) {
            (show(&Value::Bool(*old == Value::Bool(false))), show(&Value::Bool(new == Value::Bool(false))))
        } else {
            (show(old), show(&new))
        };
        match policy {
            Resume::Fixed => bail!(
                "{flag} {shown_new} conflicts with the checkpoint, which was trained with {flag} {shown_old}: a resumed run keeps the \
                 settings that define its model and objective. Drop {flag} to continue the run, or start a new run in another --out"
            ),
            Resume::Changeable => {
                changes.push(format!("{flag} {shown_old} -> {shown_new}"));
                *old = new;
                if id == "steps" {
                    // a run length in steps replaces one given in epochs
                    was["epochs"] = Value::Null;
                }
            }
            Resume::NotSaved => {}
        }
    }
    let cfg = serde_json::from_value(was).context("applying the changed settings")?;
    Ok((cfg, changes))
}
