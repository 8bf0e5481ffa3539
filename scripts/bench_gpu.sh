#!/usr/bin/env bash
# The GPU benchmark, one command on a machine with an NVIDIA GPU and its driver (which brings the
# Vulkan ICD gangpu uses): builds, runs the whole test suite on the GPU adapter, then prints
# gangpu against PyTorch (eager CUDA, and torch.compile with CUDA graphs where it works) in
# ms per DCGAN iteration, dcgan28 and dcgan64 at batch 64 and 256 (and gangpu's barrier-free
# convolution kernels at batch 64 beside its default shared-memory tiles). About 5-8 minutes.
#
#     bash scripts/bench_gpu.sh            (needs torch with CUDA for the PyTorch columns)
#
# Without an NVIDIA GPU, or when wgpu would pick a software adapter, it says so and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "bench_gpu.sh: no NVIDIA GPU here (nvidia-smi is missing or lists none). This benchmark needs one;" >&2
    echo "without a GPU, measure the software adapter with: cargo bench --bench train_step" >&2
    exit 2
fi
card=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)
echo "== GPU: $card"
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

echo "== build"
cargo build --release --all-targets 2>&1 | tail -n 2
target/release/gangpu devices
chosen=$(target/release/gangpu devices | sed -n 's/^would use: //p')
case "$chosen" in
    *Cpu*|*llvmpipe*|*lavapipe*|"")
        echo "bench_gpu.sh: wgpu would use '$chosen', not the GPU: install the NVIDIA Vulkan driver (libnvidia-gl / nvidia-vulkan-icd)" >&2
        exit 3 ;;
esac

echo "== tests on $chosen"
start=$(date +%s)
if ! cargo test --release -q 2>&1 | grep -E "^test result|FAILED|panicked" ; then
    echo "bench_gpu.sh: the tests did not run" >&2
    exit 4
fi
echo "tests took $(( $(date +%s) - start )) s"

echo "== gangpu"
out_g=$(mktemp)
GANGPU_BENCH_BATCHES=64,256 cargo bench --bench train_step 2>&1 | tee "$out_g" | grep -v '^result '

# the convolutions' other variant on the same GPU: barrier-free register tiles (the CPU adapters'
# kernels) against the default shared-memory tiles, batch 64
echo "== gangpu, barrier-free convolution kernels (GANGPU_CONV=implicit)"
out_i=$(mktemp)
GANGPU_CONV=implicit GANGPU_BENCH_BATCHES=64 GANGPU_BENCH_PROFILE=0 cargo bench --bench train_step 2>&1 | tee "$out_i" | grep -v '^result '

echo "== PyTorch"
out_t=$(mktemp)
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    python3 scripts/bench_pytorch.py --batch 64,256 --modes eager,compile 2>&1 | tee "$out_t" | grep -v '^result '
else
    echo "PyTorch with CUDA is not installed (pip install torch); PyTorch columns left empty"
fi

echo
echo "== ms per iteration on $card (lower is better)"
python3 - "$out_g" "$out_t" "$out_i" <<'EOF'
import sys
ours, theirs, lanes = {}, {}, {}
for table, path in ((ours, sys.argv[1]), (lanes, sys.argv[3])):
    for line in open(path):
        p = line.split()
        if len(p) == 4 and p[0] == "result":
            table[(p[1], int(p[2]))] = float(p[3])
for line in open(sys.argv[2]):
    p = line.split()
    if len(p) == 5 and p[0] == "result":
        theirs[(p[1], p[2], int(p[3]))] = float(p[4])
fmt = lambda v: f"{v:.2f}" if v is not None else "-"
print(f"| model | batch | gangpu | gangpu, barrier-free conv | PyTorch eager | PyTorch compile | gangpu / eager |")
print(f"|---|---|---|---|---|---|---|")
for (model, batch), ms in sorted(ours.items()):
    eager = theirs.get(("eager", model, batch))
    comp = theirs.get(("compile", model, batch))
    ratio = f"{ms / eager:.2f}x" if eager else "-"
    print(f"| {model} | {batch} | {fmt(ms)} | {fmt(lanes.get((model, batch)))} | {fmt(eager)} | {fmt(comp)} | {ratio} |")
EOF
