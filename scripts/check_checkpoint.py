"""Loads a gangpu checkpoint into a PyTorch DCGAN generator and checks one forward pass against
`gangpu sample` (same noise, regenerated here from gangpu's counter-based generator).

    pip install torch numpy pillow safetensors
    python3 scripts/check_checkpoint.py runs/dcgan/checkpoint.safetensors [--gangpu target/release/gangpu] [--seed 0]

Tensor names are PyTorch's: netG.main.0.weight, netG.main.1.running_mean, ... (netD.* likewise),
so `G.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("netG.")})` works.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dcgan_torch as dc  # noqa: E402
from dcgan_torch import noise  # noqa: E402,F401  (gangpu's noise, also used by make_torch_interop.py)

def read_safetensors(path):
    """Tensors and metadata with the safetensors library (`pip install safetensors`)."""
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return tensors, meta


def label_channels(m):
    """One-hot classes G sees next to z (CGAN and ACGAN), 0 when unconditional."""
    return m.get("classes", 0) if m.get("cond", "none") != "none" else 0


def generator(m):
    """G of the checkpoint's model (one-hot classes beside z for CGAN and ACGAN)."""
    return dc.generator(m["image_size"], m["channels"], m["nz"], m["ngf"], label_channels(m))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--gangpu", default="target/release/gangpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    tensors, meta = read_safetensors(args.checkpoint)
    cfg = json.loads(meta["config"])
    m = cfg["model"]
    g = generator(m)
    state = {k[len("netG."):]: v for k, v in tensors.items() if k.startswith("netG.")}
    g.load_state_dict(state, strict=True)
    g.train()  # gangpu samples with batch statistics, as the PyTorch DCGAN example does
    b, nz, nc, size = m["batch"], m["nz"], m["channels"], m["image_size"]
    z = torch.from_numpy(noise(args.seed, 0, b * nz)).view(b, nz, 1, 1)
    k = label_channels(m)
    if k:
        # gangpu's sample labels without --label: class-ordered, one row of batch // k per class
        per_row = max(b // k, 1)
        labels = torch.tensor([min(i // per_row, k - 1) for i in range(b)])
        onehot = torch.nn.functional.one_hot(labels, k).float().view(b, k, 1, 1)
        z = torch.cat([z, onehot], dim=1)
    with torch.no_grad():
        x = g(z)
    ours = np.clip(np.round((x.numpy() + 1.0) * 127.5), 0, 255).astype(np.int32)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([args.gangpu, "sample", "--checkpoint", args.checkpoint, "--n", str(b), "--seed", str(args.seed), "--out", d], check=True)
        worst = 0
        for i in range(b):
            img = np.asarray(Image.open(os.path.join(d, f"sample_{i:04}.png")).convert("RGB")).astype(np.int32)
            ref = ours[i].transpose(1, 2, 0)
            if nc == 1:
                ref = np.repeat(ref, 3, axis=2)
            worst = max(worst, int(np.abs(img - ref).max()))
    kind = f"conditional ({m.get('cond')}, {k} classes)" if k else "unconditional"
    print(f"PyTorch generator vs gangpu sample ({kind}): {b} images of {nc}x{size}x{size}, max difference {worst}/255")
    if worst > 2:
        sys.exit(f"mismatch: {worst} grey levels")
    print("OK")


if __name__ == "__main__":
    main()
