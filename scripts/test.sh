#!/usr/bin/env bash
# README's test command: installs what the tests need when it is missing, then runs the suite.
# - a Vulkan driver: Mesa's lavapipe (a software adapter) when the machine has none;
# - headless Chromium (the report page's test renders it; its package also ships SwiftShader);
# - TensorBoard's event reader and Pillow (the TensorBoard test reads the events and decodes the
#   sample images with them);
# - PyTorch, safetensors and NumPy (the hand-over test continues a run in PyTorch DDP and back).
# Python is used by those tests only; gangpu itself needs none.
# Then `cargo test --release` on Vulkan (set WGPU_BACKEND to test another backend).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
need=()
if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1 && ! ls /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
    need+=(mesa-vulkan-drivers)
fi
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! python3 -c "import tensorboard, PIL" >/dev/null 2>&1; then
    echo "== installing TensorBoard's event reader and Pillow (Python, for tests/report.rs)"
    python3 -m pip install -q tensorboard pillow
fi
if ! python3 -c "import torch, safetensors, numpy" >/dev/null 2>&1; then
    echo "== installing PyTorch, safetensors and NumPy (Python, for tests/torch_handover.rs)"
    python3 -m pip install -q torch safetensors numpy
fi
# Headless GL over EGL needs no display; silence the harmless XDG_RUNTIME_DIR probe message.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
# decoded-folder caches of the tests go to a scratch folder, not the user's ~/.cache
export GANGPU_CACHE_DIR="${GANGPU_CACHE_DIR:-$(mktemp -d)}"

echo "== tests on ${WGPU_BACKEND:=vulkan}"
WGPU_BACKEND="$WGPU_BACKEND" cargo test --release "$@"
