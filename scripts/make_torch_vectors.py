"""Writes the PyTorch reference vectors under tests/vectors/ (run once; commit the JSON, not torch).

    pip install torch && python3 scripts/make_torch_vectors.py
"""
import json
import os

import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dcgan_torch as dc  # noqa: E402

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


def dcgan_iterations(steps=5):
    """Five whole DCGAN iterations of a small dcgan28 (ngf = ndf = 4, nz = 8, batch 4), exactly as
    the PyTorch DCGAN example runs them (dcgan_torch.iteration): per step the real batch, the
    noise and both losses; after the last, every weight, running statistic and Adam moment."""
    nz, ngf, ndf, nc, b = 8, 4, 4, 1, 4
    G, D = dc.dcgan(28, nc, nz, ngf, ndf)
    G.apply(dc.weights_init)
    D.apply(dc.weights_init)
    state = lambda: {**{("netG." + k): t(v) for k, v in G.state_dict().items() if "num_batches" not in k},
                     **{("netD." + k): t(v) for k, v in D.state_dict().items() if "num_batches" not in k}}
    init = state()
    opt_g, opt_d = dc.adam(G), dc.adam(D)
    rows = []
    for _ in range(steps):
        real = torch.rand(b, nc, 28, 28) * 2 - 1
        z = torch.randn(b, nz, 1, 1)
        err_real, err_fake, err_g, d_x, d_gz1, d_gz2 = dc.iteration(G, D, opt_g, opt_d, real, z)
        rows.append({"real": t(real), "z": t(z), "errD_real": err_real, "errD_fake": err_fake, "errG": err_g,
                     "D_x": d_x, "D_G_z1": d_gz1, "D_G_z2": d_gz2})
    moments = {}
    for prefix, net, opt in (("netG", G, opt_g), ("netD", D, opt_d)):
        for name, p in net.named_parameters():
            st = opt.state[p]
            moments[f"{prefix}.{name}.exp_avg"] = t(st["exp_avg"])
            moments[f"{prefix}.{name}.exp_avg_sq"] = t(st["exp_avg_sq"])
    save("dcgan_iterations", {"nz": nz, "ngf": ngf, "ndf": ndf, "batch": b, "lr": 2e-4, "betas": [0.5, 0.999],
                              "init": init, "steps": rows, "final": state(), "adam": moments})


conv2d()
conv_transpose2d()
batchnorm()
bce()
adam()
dcgan_iterations()
print("wrote", sorted(os.listdir(OUT)))
