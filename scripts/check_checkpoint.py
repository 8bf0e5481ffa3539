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
    nn = torch.nn
    nz, ngf, nc, size = m["nz"] + label_channels(m), m["ngf"], m["channels"], m["image_size"]
    if size == 28:
        layers = [nn.ConvTranspose2d(nz, 4 * ngf, 7, 1, 0, bias=False), nn.BatchNorm2d(4 * ngf), nn.ReLU(True),
                  nn.ConvTranspose2d(4 * ngf, 2 * ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ngf), nn.ReLU(True),
                  nn.ConvTranspose2d(2 * ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    else:
        ups = int(np.log2(size)) - 2
        mult = 2 ** (ups - 1)
        layers = [nn.ConvTranspose2d(nz, ngf * mult, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * mult), nn.ReLU(True)]
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * mult // 2), nn.ReLU(True)]
            mult //= 2
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    g = nn.Module()
    g.main = nn.Sequential(*layers)
    g.forward = lambda x: g.main(x)
    return g


M32 = 0xFFFFFFFF


def pcg_hash(v):
    state = (v * 747796405 + 2891336453) & M32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & M32
    return (word >> 22) ^ word


def rng_u32(seed, stream, counter, index):
    key = pcg_hash(seed ^ pcg_hash((stream + 0x9E3779B9) & M32))
    return pcg_hash(pcg_hash((key + counter) & M32) ^ index)


def noise(seed, counter, n):
    """gangpu's `normal` kernel (stream 2 = training/sampling noise), value by value."""
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        u1 = ((rng_u32(seed, 2, counter, 2 * i) >> 8) + 1.0) / 16777216.0
        u2 = ((rng_u32(seed, 2, counter, 2 * i + 1) >> 8) + 1.0) / 16777216.0
        out[i] = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return out


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
