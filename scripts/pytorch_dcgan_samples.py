"""An independent generator for checking gangpu's quality scores: PyTorch's DCGAN (dcgan28 of
models.md, the DCGAN example's recipe) trained on the same built-in 10,000 digits, with samples
written as PNG folders at chosen steps, then scored by `gangpu eval` like gangpu's own runs.

    pip install torch pillow numpy
    python3 scripts/pytorch_dcgan_samples.py --out /tmp/torch_dcgan --steps 100,200,1000,2000 \
        [--gangpu target/release/gangpu] [--threads N] [--seed 1]

Writes OUT/step_N/sample_0000.png ... (1,000 per step, G in training mode: batch statistics, as
gangpu samples) and, with --gangpu, one `gangpu eval --samples` JSON line per step into
OUT/scores.jsonl plus a table on stdout. Recipe: Adam lr 2e-4 betas (0.5, 0.999), batch 64, BCE on
logits with the non-saturating G loss, weights N(0, 0.02), BN gamma N(1, 0.02), epochs of shuffled
digits, one D step then one G step on the same fake batch.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dcgan_torch import dcgan, weights_init  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digits():
    raw = gzip.open(os.path.join(ROOT, "assets", "mnist-10k-images-idx3-ubyte.gz")).read()
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32)
    return torch.from_numpy(x / 127.5 - 1.0)


def save_samples(G, folder, n, nz, batch, seed):
    os.makedirs(folder, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    done = 0
    with torch.no_grad():
        while done < n:
            z = torch.randn(batch, nz, 1, 1, generator=gen)
            imgs = G(z)[: n - done]
            px = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
            for i, a in enumerate(px):
                Image.fromarray(a[0]).save(os.path.join(folder, f"sample_{done + i:04d}.png"))
            done += len(px)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", default="100,200,1000,2000", help="steps at which to write samples")
    ap.add_argument("--n", type=int, default=1000, help="samples per step")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--gangpu", help="gangpu binary: score every sample folder with `gangpu eval`")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    save_at = sorted(int(s) for s in args.steps.split(","))
    data = digits()
    nz, batch = 100, 64
    G, D = dcgan(28, 1, nz)
    G.apply(weights_init)
    D.apply(weights_init)
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    perm, pos = torch.randperm(len(data)), 0
    for step in range(1, save_at[-1] + 1):
        if pos + batch > len(perm):
            perm, pos = torch.randperm(len(data)), 0
        real = data[perm[pos: pos + batch]]
        pos += batch
        fake = G(torch.randn(batch, nz, 1, 1))
        optD.zero_grad()
        loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        loss_d.backward()
        optD.step()
        optG.zero_grad()
        loss_g = bce(D(fake), ones)
        loss_g.backward()
        optG.step()
        if step % 100 == 0:
            print(f"[{step}] Loss_D {loss_d.item():.4f} Loss_G {loss_g.item():.4f}", flush=True)
        if step in save_at:
            save_samples(G, os.path.join(args.out, f"step_{step}"), args.n, nz, batch, args.seed)
    if args.gangpu:
        rows = []
        with open(os.path.join(args.out, "scores.jsonl"), "w") as f:
            for s in save_at:
                line = subprocess.run([args.gangpu, "eval", "--samples", os.path.join(args.out, f"step_{s}")],
                                      check=True, capture_output=True, text=True).stdout.strip()
                f.write(line + "\n")
                r = json.loads(line)
                rows.append((s, r["fid"], r["coverage"], r["confidence"], r["swd"]))
        print("step  FID     coverage  confidence  SWD")
        for s, fid, cov, conf, swd in rows:
            print(f"{s:<5} {fid:<7.1f} {cov:<9} {conf:<11.3f} {swd:.1f}")


if __name__ == "__main__":
    main()
