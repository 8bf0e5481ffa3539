#!/usr/bin/env bash
# Builds the GPU bundle: everything a GPU machine without a Rust toolchain or network needs to
# check and benchmark gangpu. DIR gets the stripped `gangpu` binary (the `dist` profile), run.sh,
# the PyTorch comparison script and, where this machine has one, Debian's Vulkan loader
# (lib/libvulkan.so.1, used only when the GPU machine has none). At most 25 MiB.
#
#     bash scripts/gpu_bundle.sh DIR        then, on the GPU machine:  DIR/run.sh
set -euo pipefail
dir="${1:?usage: scripts/gpu_bundle.sh DIR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --profile dist --bin gangpu
mkdir -p "$dir/lib"
cp target/dist/gangpu "$dir/gangpu"
cp scripts/gpu_run.sh "$dir/run.sh"
cp scripts/bench_pytorch.py scripts/dcgan_torch.py "$dir/"
chmod +x "$dir/run.sh" "$dir/gangpu"
loader=$(ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 /{print $NF; exit}')
if [ -n "$loader" ]; then
    cp -L "$loader" "$dir/lib/libvulkan.so.1"
else
    echo "gpu_bundle.sh: no Vulkan loader on this machine (apt-get install libvulkan1); the bundle relies on the GPU machine's" >&2
fi
bytes=$(du -sb "$dir" | cut -f1)
echo "bundle in $dir: $(( bytes / 1024 / 1024 )) MiB ($bytes bytes)"
ls -l "$dir" "$dir/lib"
if [ "$bytes" -gt $(( 25 * 1024 * 1024 )) ]; then
    echo "gpu_bundle.sh: the bundle is larger than 25 MiB" >&2
    exit 1
fi
