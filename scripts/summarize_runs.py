#!/usr/bin/env python3
"""Summarise `gangpu train` run folders (their metrics.jsonl) as a Markdown table.

    python3 scripts/summarize_runs.py runs/sweep/*/

Per run: logged steps, whether any logged value was non-finite, mean D loss over the first and the
last quarter of the logs and its smallest logged value, mean G loss over the last quarter, D's mean
output on real and fake in the last quarter (sigmoid for bce/bgan, raw otherwise), ACGAN accuracies,
WGAN's Earth Mover's estimate, and a verdict: "NaN" if any value is non-finite; "D collapsed" if,
over the last quarter, D wins outright so that its adversarial loss is near 0 and G's signal
vanishes: the mean adversarial D loss (loss_d less ACGAN's class_loss_d) below 0.05 for bce, bgan,
lsgan and hinge; "ok" otherwise. WGAN's critic loss is signed and has no 0 to collapse to: its
verdict checks finiteness and that the critic's Earth Mover's estimate stays positive (it still
tells real from fake).
"""
import json, math, sys, pathlib

def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")

def summarise(folder):
    folder = pathlib.Path(folder)
    rows = []
    if not (folder / "metrics.jsonl").exists():
        return dict(run=folder.name, verdict="no metrics (running, or failed: see its log)")
    with open(folder / "metrics.jsonl") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    cfg = json.loads((folder / "config.json").read_text()) if (folder / "config.json").exists() else {}
    if not rows:
        return dict(run=folder.name, verdict="no metrics")
    q = max(1, len(rows) // 4)
    first, last = rows[:q], rows[-q:]
    nonfinite = any(isinstance(v, float) and not math.isfinite(v) for r in rows for v in r.values())
    s = dict(run=folder.name, steps=rows[-1]["step"], logs=len(rows),
             d_first=mean([r["loss_d"] for r in first]), d_last=mean([r["loss_d"] for r in last]),
             d_min=min(r["loss_d"] for r in rows),
             g_last=mean([r["loss_g"] for r in last]),
             dx=mean([r["d_x"] for r in last]), dgz=mean([r["d_g_z1"] for r in last]),
             acc_r=mean([r.get("acc_real", float("nan")) for r in last]),
             acc_f=mean([r.get("acc_fake", float("nan")) for r in last]),
             em=mean([r.get("em_estimate", float("nan")) for r in last]),
             sps=mean([r["steps_per_s"] for r in rows]))
    loss = str(cfg.get("config", {}).get("loss", "bce"))
    s["d_adv_last"] = mean([r["loss_d"] - r.get("class_loss_d", 0.0) for r in last])
    collapsed = s["d_adv_last"] < 0.05
    s["loss"] = loss
    if nonfinite:
        s["verdict"] = "NaN"
    elif loss == "wgan":
        s["verdict"] = "ok" if s["em"] > 0 else "critic lost real/fake separation"
    elif collapsed:
        s["verdict"] = "D collapsed"
    else:
        s["verdict"] = "ok"
    return s

def fmt(v):
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.3f}"
    return str(v)

cols = ["run", "steps", "d_first", "d_min", "d_last", "d_adv_last", "g_last", "dx", "dgz", "acc_r", "acc_f", "em", "sps", "verdict"]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
bad = 0
for folder in sys.argv[1:]:
    s = summarise(folder)
    bad += s["verdict"] != "ok"
    print("| " + " | ".join(fmt(s.get(c, "")) for c in cols) + " |")
sys.exit(1 if bad else 0)
