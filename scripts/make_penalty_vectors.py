"""Writes tests/vectors/penalty.json: WGAN-GP's and R1's penalties and their gradients with
respect to a critic's weights, by PyTorch's double backward (torch.autograd.grad with
create_graph=True), for tests/penalty.rs. Run once; commit the JSON, not torch.

    pip install torch && python3 scripts/make_penalty_vectors.py
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "vectors")
LAMBDA, GAMMA = 10.0, 2.0


def t(x):
    x = x.detach().to(torch.float32).contiguous()
    return {"shape": list(x.shape), "data": [float(v) for v in x.flatten().tolist()]}


def conv_critic(ws, x):
    # dcgan28's D without batch norm, at width 4: conv 4x4/2 -> lrelu -> conv 4x4/2 -> lrelu -> conv 7x7
    h = F.leaky_relu(F.conv2d(x, ws[0], stride=2, padding=1), 0.2)
    h = F.leaky_relu(F.conv2d(h, ws[1], stride=2, padding=1), 0.2)
    return F.conv2d(h, ws[2]).flatten()


def mlp_critic(ws, x):
    # the lab's critic: linear layers with biases, leaky ReLU between
    h = F.leaky_relu(F.linear(x, ws[0], ws[1]), 0.2)
    h = F.leaky_relu(F.linear(h, ws[2], ws[3]), 0.2)
    return F.linear(h, ws[4], ws[5]).flatten()


def case(critic, ws, x, kind, weight):
    x = x.clone().requires_grad_(True)
    out = critic(ws, x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    norms = g.flatten(1).norm(dim=1)
    if kind == "gp":
        p = weight * ((norms - 1) ** 2).mean()
    else:
        p = weight * 0.5 * (norms**2).mean()
    grads = torch.autograd.grad(p, ws, allow_unused=True)
    grads = [torch.zeros_like(w) if gw is None else gw for w, gw in zip(ws, grads)]
    return {"kind": kind, "weight": weight, "x": t(x), "out": t(out), "g": t(g), "penalty": float(p.detach()), "grads": [t(gw) for gw in grads]}


def main():
    n = 4
    conv_ws = [torch.randn(4, 1, 4, 4) * 0.3, torch.randn(8, 4, 4, 4) * 0.2, torch.randn(1, 8, 7, 7) * 0.1]
    for w in conv_ws:
        w.requires_grad_(True)
    real, fake = torch.rand(n, 1, 28, 28) * 2 - 1, torch.rand(n, 1, 28, 28) * 2 - 1
    eps = torch.rand(n, 1, 1, 1)
    x_hat = eps * real + (1 - eps) * fake
    mlp_ws = [torch.randn(16, 2) * 0.7, torch.randn(16) * 0.3, torch.randn(16, 16) * 0.3, torch.randn(16) * 0.3, torch.randn(1, 16) * 0.3, torch.randn(1) * 0.3]
    for w in mlp_ws:
        w.requires_grad_(True)
    pts = torch.randn(8, 2) * 2
    d = {
        "torch_version": torch.__version__,
        "conv": {"weights": [t(w) for w in conv_ws], "cases": [case(conv_critic, conv_ws, x_hat, "gp", LAMBDA), case(conv_critic, conv_ws, real, "r1", GAMMA)]},
        "mlp": {"weights": [t(w) for w in mlp_ws], "cases": [case(mlp_critic, mlp_ws, pts, "gp", LAMBDA), case(mlp_critic, mlp_ws, pts, "r1", GAMMA)]},
    }
    with open(os.path.join(OUT, "penalty.json"), "w") as f:
        json.dump(d, f)
    print("wrote tests/vectors/penalty.json:", {k: [c["penalty"] for c in d[k]["cases"]] for k in ("conv", "mlp")})


if __name__ == "__main__":
    main()
