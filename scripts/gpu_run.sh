#!/usr/bin/env bash
# gangpu on a GPU machine, from the bundle alone (scripts/gpu_bundle.sh): no Rust toolchain, no
# network. Runs gangpu devices, gangpu check (dcgan28 and dcgan64, the gpu and cpu kernel plans),
# gangpu bench (dcgan28 and dcgan64 at batch 64 and 256 on both convolution families, with the
# dispatch listing), PyTorch eager and torch.compile on CUDA where torch is installed, and prints
# one table. A failing step is reported and the rest still run. Results go to $OUT (or
# ./gangpu-results). About 5-8 minutes on one H100.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$PWD/gangpu-results}"
mkdir -p "$out"
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
failed=()

if ! (ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 ') && [ ! -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ]; then
    if [ -e "$here/lib/libvulkan.so.1" ]; then
        echo "== no Vulkan loader on this system: using the bundle's lib/libvulkan.so.1 (Debian's libvulkan1)"
        export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    else
        echo "== no Vulkan loader on this system and none in the bundle: install libvulkan1" >&2
    fi
fi

step() { # step NAME TIMEOUT_S COMMAND...: runs, logs to $out/NAME.log, notes a failure
    local name="$1" limit="$2"; shift 2
    echo "== $name: $*"
    local start=$(date +%s)
    timeout "$limit" "$@" > >(tee "$out/$name.log") 2> >(tee "$out/$name.err" >&2)
    local rc=$?
    echo "   ($name: exit $rc, $(( $(date +%s) - start )) s)"
    [ $rc -eq 0 ] || failed+=("$name (exit $rc)")
    return 0
}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/card.txt"
step devices 60 "$here/gangpu" devices
step check-gpu-28 120 "$here/gangpu" check --kernels gpu --model dcgan28 --batch 64
step check-gpu-64 120 "$here/gangpu" check --kernels gpu --model dcgan64 --batch 16
step check-cpu-28 120 "$here/gangpu" check --kernels cpu --model dcgan28 --batch 64
step bench-gpu 240 "$here/gangpu" bench --json --kernels gpu --model dcgan28,dcgan64 --batch 64,256 --dispatches
step bench-cpu 180 "$here/gangpu" bench --json --kernels cpu --model dcgan28,dcgan64 --batch 64,256 --no-profile
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    step pytorch 300 python3 "$here/bench_pytorch.py" --batch 64,256 --modes eager,compile
else
    echo "== PyTorch with CUDA is not installed here: PyTorch columns left empty"
fi

echo
echo "== ms per iteration (lower is better) on $(cat "$out/card.txt" 2>/dev/null || echo 'this machine')"
python3 - "$out" <<'PY' || echo "(python3 is needed for the table; raw results are in $out)"
import json, os, sys
out = sys.argv[1]
def jsonl(name):
    p = os.path.join(out, name + ".log")
    rows = {}
    if os.path.exists(p):
        for line in open(p):
            if line.startswith("{"):
                r = json.loads(line)
                rows[(r["model"], r["batch"])] = r
    return rows
gpu, cpu, torch = jsonl("bench-gpu"), jsonl("bench-cpu"), {}
p = os.path.join(out, "pytorch.log")
if os.path.exists(p):
    for line in open(p):
        f = line.split()
        if len(f) == 5 and f[0] == "result":
            torch[(f[1], f[2], int(f[3]))] = float(f[4])
fmt = lambda v: f"{v:.2f}" if v is not None else "-"
print("| model | batch | gangpu (gpu plan) | gangpu (cpu plan: barrier-free conv) | dispatches | PyTorch eager | torch.compile | gangpu / eager |")
print("|---|---|---|---|---|---|---|---|")
for key in sorted(set(gpu) | set(cpu)):
    g, c = gpu.get(key), cpu.get(key)
    e, k = torch.get(("eager",) + key), torch.get(("compile",) + key)
    ms = g["ms_per_iter"] if g else None
    ratio = f"{ms / e:.2f}x" if ms and e else "-"
    print(f"| {key[0]} | {key[1]} | {fmt(ms)} | {fmt(c['ms_per_iter'] if c else None)} | {g['dispatches'] if g else '-'} | {fmt(e)} | {fmt(k)} | {ratio} |")
PY
echo
for f in check-gpu-28 check-gpu-64 check-cpu-28; do
    [ -f "$out/$f.err" ] && grep -h "comparisons" "$out/$f.err" | sed "s/^/$f: /"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed steps: ${failed[*]}"
    exit 1
fi
echo "all steps passed; results in $out"
