"""Writes the PyTorch reference vectors under tests/vectors/ (run once; commit the JSON, not torch).

    pip install torch && python3 scripts/make_torch_vectors.py
"""
import json
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "vectors")
os.makedirs(OUT, exist_ok=True)


def t(x):
    x = x.detach().to(torch.float32).contiguous()
    return {"shape": list(x.shape), "data": [float(v) for v in x.flatten().tolist()]}


def save(name, d):
    d["torch_version"] = torch.__version__
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(d, f)


def conv2d():
    x = torch.randn(2, 3, 7, 7, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    y = torch.nn.functional.conv2d(x, w, stride=2, padding=1)
    dy = torch.randn_like(y)
    y.backward(dy)
    save("conv2d", {"stride": 2, "pad": 1, "x": t(x), "w": t(w), "y": t(y), "dy": t(dy), "dx": t(x.grad), "dw": t(w.grad)})


def conv_transpose2d():
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    w = torch.randn(4, 3, 4, 4, requires_grad=True)  # (Cin, Cout, kh, kw)
    y = torch.nn.functional.conv_transpose2d(x, w, stride=2, padding=1)
    dy = torch.randn_like(y)
    y.backward(dy)
    save("conv_transpose2d", {"stride": 2, "pad": 1, "x": t(x), "w": t(w), "y": t(y), "dy": t(dy), "dx": t(x.grad), "dw": t(w.grad)})


def batchnorm():
    bn = torch.nn.BatchNorm2d(3, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(3) + 0.5)
        bn.bias.copy_(torch.randn(3) * 0.2)
        bn.running_mean.copy_(torch.randn(3) * 0.1)
        bn.running_var.copy_(torch.rand(3) + 0.5)
    rm0, rv0 = bn.running_mean.clone(), bn.running_var.clone()
    bn.train()
    x = (torch.randn(4, 3, 5, 5) * 2 + 1).requires_grad_(True)
    y = bn(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    save("batchnorm", {
        "eps": 1e-5, "momentum": 0.1, "x": t(x), "gamma": t(bn.weight), "beta": t(bn.bias),
        "running_mean_before": t(rm0), "running_var_before": t(rv0),
        "running_mean_after": t(bn.running_mean), "running_var_after": t(bn.running_var),
        "y": t(y), "dy": t(dy), "dx": t(x.grad), "dgamma": t(bn.weight.grad), "dbeta": t(bn.bias.grad),
    })


def bce():
    logits = (torch.randn(64) * 5).requires_grad_(True)
    targets = (torch.rand(64) > 0.5).float()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    loss.backward()
    save("bce_logits", {"logits": t(logits), "targets": t(targets), "loss": loss.item(), "grad": t(logits.grad),
                        "mean_sigmoid": float(torch.sigmoid(logits).mean())})


def adam():
    p = torch.randn(300, requires_grad=True)
    p0 = p.detach().clone()
    opt = torch.optim.Adam([p], lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    grads = []
    for _ in range(3):
        g = torch.randn(300)
        grads.append(t(g))
        p.grad = g.clone()
        opt.step()
    st = opt.state[p]
    save("adam", {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8, "p0": t(p0), "grads": grads,
                  "p": t(p), "m": t(st["exp_avg"]), "v": t(st["exp_avg_sq"])})


def dcgan_step():
    """One full DCGAN iteration of a small dcgan28 (ngf = ndf = 4, nz = 8, batch 4), exactly as
    the PyTorch DCGAN example runs it: D on real (label 1) + D on fake (label 0), optD.step();
    then G with the non-saturating loss on the same fake batch, optG.step()."""
    nz, ngf, ndf, nc, b = 8, 4, 4, 1, 4
    nn = torch.nn
    G = nn.Sequential(
        nn.ConvTranspose2d(nz, 4 * ngf, 7, 1, 0, bias=False), nn.BatchNorm2d(4 * ngf), nn.ReLU(True),
        nn.ConvTranspose2d(4 * ngf, 2 * ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ngf), nn.ReLU(True),
        nn.ConvTranspose2d(2 * ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ndf), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(2 * ndf, 1, 7, 1, 0, bias=False))
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
    init = {("netG.main." + k): t(v) for k, v in G.state_dict().items() if "num_batches" not in k}
    init.update({("netD.main." + k): t(v) for k, v in D.state_dict().items() if "num_batches" not in k})
    real = torch.rand(b, nc, 28, 28) * 2 - 1
    z = torch.randn(b, nz, 1, 1)
    crit = nn.BCEWithLogitsLoss()
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    D.zero_grad()
    out = D(real).view(-1)
    errD_real = crit(out, torch.ones(b))
    errD_real.backward()
    D_x = torch.sigmoid(out).mean().item()
    fake = G(z)
    out = D(fake.detach()).view(-1)
    errD_fake = crit(out, torch.zeros(b))
    errD_fake.backward()
    D_G_z1 = torch.sigmoid(out).mean().item()
    optD.step()
    G.zero_grad()
    out = D(fake).view(-1)
    errG = crit(out, torch.ones(b))
    errG.backward()
    D_G_z2 = torch.sigmoid(out).mean().item()
    optG.step()
    final = {("netG.main." + k): t(v) for k, v in G.state_dict().items() if "num_batches" not in k}
    final.update({("netD.main." + k): t(v) for k, v in D.state_dict().items() if "num_batches" not in k})
    save("dcgan_step", {
        "nz": nz, "ngf": ngf, "ndf": ndf, "batch": b, "real": t(real), "z": t(z), "init": init, "final": final,
        "errD_real": errD_real.item(), "errD_fake": errD_fake.item(), "errG": errG.item(),
        "D_x": D_x, "D_G_z1": D_G_z1, "D_G_z2": D_G_z2,
    })


conv2d()
conv_transpose2d()
batchnorm()
bce()
adam()
dcgan_step()
print("wrote", sorted(os.listdir(OUT)))
