#!/bin/bash
# Trains every --loss x --cond combination (and hinge with --spectral-norm) at the default widths
# on the built-in MNIST, each for a few hundred D steps, then summarises the runs with
# summarize_runs.py (NaN, D collapsing, accuracies, Earth Mover's estimate).
#
#   scripts/sweep_variants.sh [OUT=runs/sweep] [STEPS=200] [WGAN_STEPS=4]
#
# WGAN counts G steps and its default schedule gives each of the first 25 G steps 100 critic
# steps, so WGAN_STEPS=4 is 400 critic steps. Runs already finished in OUT are skipped, so an
# interrupted sweep continues where it stopped.
set -u
out=${1:-runs/sweep}; steps=${2:-200}; wsteps=${3:-4}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${GANGPU:-$here/target/release/gangpu}
[ -x "$bin" ] || (cd "$here" && cargo build --release) || exit 1
mkdir -p "$out"
run() { # name steps log_every args...
  local name=$1 n=$2 every=$3; shift 3
  [ -f "$out/$name/done" ] && return
  local start=$(date +%s)
  "$bin" train --steps "$n" --log-every "$every" --sample-every 100 --checkpoint-every 100000 \
    --out "$out/$name" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name exit=$rc seconds=$(( $(date +%s) - start ))" | tee -a "$out/times.txt"
  [ $rc -eq 0 ] && touch "$out/$name/done"
}
for cond in none cgan acgan; do
  for loss in bce lsgan hinge bgan; do
    run ${loss}_$cond "$steps" 10 --loss $loss --cond $cond
  done
  run hinge_sn_$cond "$steps" 10 --loss hinge --spectral-norm --cond $cond
  run wgan_$cond "$wsteps" 1 --loss wgan --cond $cond
done
python3 "$here/scripts/summarize_runs.py" "$out"/*/ | tee "$out/summary.md"
