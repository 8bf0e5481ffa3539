"""Makes the PyTorch-interop test files: a small DCGAN (dcgan28 layout, nz 16, ngf = ndf = 8) is
trained for a few steps in PyTorch, exactly as the pytorch/examples dcgan script does, on built-in
digits; its weights are saved the way that example's users save them, as safetensors state_dicts:

    tests/vectors/torch_netG.safetensors   names main.0.weight, main.1.running_mean, ... (no prefix)
    tests/vectors/torch_netD.safetensors   names netD.main.0.weight, ... (with a prefix)
    tests/vectors/torch_interop.json       G(z) in training mode on gangpu's noise (seed 3, batch 8)

tests/torch_interop.rs loads both files with gangpu and checks G's forward pass against the JSON.

    pip install torch safetensors numpy
    python3 scripts/make_torch_interop.py
"""
import gzip
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
import dcgan_torch as dc  # noqa: E402
from dcgan_torch import noise, weights_init  # noqa: E402  (gangpu's noise, regenerated)

NZ, NGF, NDF, BATCH, STEPS, SEED = 16, 8, 8, 8, 5, 3


def main():
    torch.manual_seed(0)
    root = os.path.join(os.path.dirname(__file__), "..")
    with gzip.open(os.path.join(root, "assets", "mnist-10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    real_all = torch.from_numpy(images[:BATCH * STEPS].astype(np.float32) / 127.5 - 1.0)
    g = dc.generator(28, 1, NZ, NGF)
    d = dc.discriminator(28, 1, NDF)
    g.apply(weights_init)
    d.apply(weights_init)
    crit = nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for i in range(STEPS):
        real = real_all[i * BATCH:(i + 1) * BATCH]
        d.zero_grad()
        loss_real = crit(d(real), torch.ones(BATCH))
        fake = g(torch.randn(BATCH, NZ, 1, 1))
        loss_fake = crit(d(fake.detach()), torch.zeros(BATCH))
        (loss_real + loss_fake).backward()
        opt_d.step()
        g.zero_grad()
        crit(d(fake), torch.ones(BATCH)).backward()
        opt_g.step()
    out = os.path.join(root, "tests", "vectors")
    save_file({"main." + k: v.contiguous() for k, v in g.main.state_dict().items()}, os.path.join(out, "torch_netG.safetensors"))
    save_file({"netD.main." + k: v.contiguous() for k, v in d.main.state_dict().items()}, os.path.join(out, "torch_netD.safetensors"))
    z = torch.from_numpy(noise(SEED, 0, BATCH * NZ)).view(BATCH, NZ, 1, 1)
    g.train()  # gangpu samples with batch statistics, as the example does
    with torch.no_grad():
        x = g(z)
    with open(os.path.join(out, "torch_interop.json"), "w") as f:
        json.dump({"seed": SEED, "batch": BATCH, "nz": NZ, "ngf": NGF, "ndf": NDF, "steps_trained": STEPS,
                   "g_out": [round(float(v), 7) for v in x.flatten()]}, f)
    print("wrote", out)


if __name__ == "__main__":
    main()
