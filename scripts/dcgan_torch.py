"""gangpu's DCGAN in PyTorch, once, for every script that needs it (vectors, interop, checkpoint
checks, the PyTorch baselines): the networks of docs/models.md under the PyTorch DCGAN example's
state_dict names (`main.N.weight`), the example's initialisation, its training iteration, and
gangpu's counter-based noise, value by value.

    import sys, os; sys.path.insert(0, os.path.dirname(__file__)); import dcgan_torch as dc
"""
import math

import numpy as np
import torch
import torch.nn as nn


class Net(nn.Module):
    """A `main` Sequential, as the DCGAN example names its modules (state_dict `main.N....`)."""

    def __init__(self, layers, flatten=False):
        super().__init__()
        self.main = nn.Sequential(*layers)
        self.flatten = flatten

    def forward(self, x):
        y = self.main(x)
        return y.view(-1) if self.flatten else y


def generator(size=28, nc=1, nz=100, ngf=64, classes=0):
    """G of docs/models.md: z (+ one-hot classes) of shape (B, nz + classes, 1, 1) -> (B, nc, size, size)."""
    zin = nz + classes
    if size == 28:
        layers = [nn.ConvTranspose2d(zin, 4 * ngf, 7, 1, 0, bias=False), nn.BatchNorm2d(4 * ngf), nn.ReLU(True),
                  nn.ConvTranspose2d(4 * ngf, 2 * ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ngf), nn.ReLU(True),
                  nn.ConvTranspose2d(2 * ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    else:
        ups = int(math.log2(size)) - 2
        mult = 2 ** (ups - 1)
        layers = [nn.ConvTranspose2d(zin, ngf * mult, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * mult), nn.ReLU(True)]
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * mult // 2), nn.ReLU(True)]
            mult //= 2
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return Net(layers)


def discriminator(size=28, nc=1, ndf=64, in_planes=0, outputs=1):
    """D of docs/models.md: (B, nc + in_planes, size, size) -> logits (B * outputs) (no sigmoid: BCE on logits)."""
    cin = nc + in_planes
    if size == 28:
        layers = [nn.Conv2d(cin, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
                  nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ndf), nn.LeakyReLU(0.2, inplace=True),
                  nn.Conv2d(2 * ndf, outputs, 7, 1, 0, bias=False)]
    else:
        downs = int(math.log2(size)) - 2
        layers = [nn.Conv2d(cin, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        mult = 1
        for _ in range(downs - 1):
            layers += [nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult * 2), nn.LeakyReLU(0.2, inplace=True)]
            mult *= 2
        layers += [nn.Conv2d(ndf * mult, outputs, 4, 1, 0, bias=False)]
    return Net(layers, flatten=True)


def dcgan(size=28, nc=1, nz=100, ngf=64, ndf=64):
    """(G, D) of one model."""
    return generator(size, nc, nz, ngf), discriminator(size, nc, ndf)


def weights_init(m):
    """The DCGAN example's initialisation: conv weights N(0, 0.02), batch-norm gamma N(1, 0.02), beta 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def adam(net, lr=2e-4, betas=(0.5, 0.999)):
    return torch.optim.Adam(net.parameters(), lr=lr, betas=betas)


def iteration(G, D, opt_g, opt_d, real, z):
    """One iteration of the DCGAN example: D on real (label 1) and on G(z) (label 0), optD.step();
    then G with the non-saturating loss on the same fake batch (D frozen), optG.step().
    Returns (errD_real, errD_fake, errG, D(x), D(G(z)) before, D(G(z)) after) as floats."""
    crit = nn.BCEWithLogitsLoss()
    b = real.shape[0]
    D.zero_grad()
    out = D(real)
    err_real = crit(out, torch.ones(b))
    err_real.backward()
    d_x = torch.sigmoid(out).mean().item()
    fake = G(z)
    out = D(fake.detach())
    err_fake = crit(out, torch.zeros(b))
    err_fake.backward()
    d_gz1 = torch.sigmoid(out).mean().item()
    opt_d.step()
    D.requires_grad_(False)
    G.zero_grad()
    out = D(fake)
    err_g = crit(out, torch.ones(b))
    err_g.backward()
    d_gz2 = torch.sigmoid(out).mean().item()
    opt_g.step()
    D.requires_grad_(True)
    return err_real.item(), err_fake.item(), err_g.item(), d_x, d_gz1, d_gz2


M32 = 0xFFFFFFFF


def pcg_hash(v):
    state = (v * 747796405 + 2891336453) & M32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & M32
    return (word >> 22) ^ word


def rng_u32(seed, stream, counter, index):
    key = pcg_hash(seed ^ pcg_hash((stream + 0x9E3779B9) & M32))
    return pcg_hash(pcg_hash((key + counter) & M32) ^ index)


def noise(seed, counter, n, stream=2):
    """gangpu's `normal` kernel (stream 2: training and sampling noise), value by value."""
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        u1 = ((rng_u32(seed, stream, counter, 2 * i) >> 8) + 1.0) / 16777216.0
        u2 = ((rng_u32(seed, stream, counter, 2 * i + 1) >> 8) + 1.0) / 16777216.0
        out[i] = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return out
