"""Writes tests/vectors/augment.json: DiffAugment's color, translation and cutout on given
draws, forward and backward (autograd), for tests/augment.rs. The transforms are
DiffAugment_pytorch.py's (mit-han-lab/data-efficient-gans) with the random draws passed in, so
the test checks gangpu's kernels against DiffAugment's own indexing conventions. Run once; commit
the JSON, not torch.

    pip install torch && python3 scripts/make_augment_vectors.py
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "vectors")


def t(x):
    x = x.detach().to(torch.float32).contiguous()
    return {"shape": list(x.shape), "data": [float("%.9g" % v) for v in x.flatten().tolist()]}


# DiffAugment_pytorch.py with each torch.rand / torch.randint replaced by the given draw.
def rand_brightness(x, r):
    return x + (r.view(-1, 1, 1, 1) - 0.5)


def rand_saturation(x, r):
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) * 2) + x_mean


def rand_contrast(x, r):
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) + 0.5) + x_mean


def rand_translation(x, translation_x, translation_y):
    translation_x = translation_x.view(-1, 1, 1)
    translation_y = translation_y.view(-1, 1, 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long),
        torch.arange(x.size(2), dtype=torch.long),
        torch.arange(x.size(3), dtype=torch.long),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def rand_cutout(x, offset_x, offset_y, ratio=0.5):
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = offset_x.view(-1, 1, 1)
    offset_y = offset_y.view(-1, 1, 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long),
        torch.arange(cutout_size[0], dtype=torch.long),
        torch.arange(cutout_size[1], dtype=torch.long),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


def case(n, c, h, w):
    x = torch.rand(n, c, h, w, dtype=torch.float64) * 2 - 1
    dy = torch.randn(n, c, h, w, dtype=torch.float64)
    rb, rs, rc = torch.rand(n, dtype=torch.float64), torch.rand(n, dtype=torch.float64), torch.rand(n, dtype=torch.float64)
    shift_h, shift_w = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
    cut_h, cut_w = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    tx = torch.randint(-shift_h, shift_h + 1, (n,))
    ty = torch.randint(-shift_w, shift_w + 1, (n,))
    ox = torch.randint(0, h + (1 - cut_h % 2), (n,))
    oy = torch.randint(0, w + (1 - cut_w % 2), (n,))
    xr = x.clone().requires_grad_(True)
    y = rand_cutout(rand_translation(rand_contrast(rand_saturation(rand_brightness(xr, rb), rs), rc), tx, ty), ox, oy)
    (dx,) = torch.autograd.grad(y, xr, dy)
    # gangpu's draws: (b, s, c, dh, dw, top, left, 0)
    draws = torch.stack(
        [rb - 0.5, rs * 2, rc + 0.5, tx.double(), ty.double(), (ox - cut_h // 2).double(), (oy - cut_w // 2).double(), torch.zeros(n, dtype=torch.float64)],
        dim=1,
    )
    return {"x": t(x), "dy": t(dy), "draws": t(draws), "y": t(y), "dx": t(dx)}


os.makedirs(OUT, exist_ok=True)
cases = {"mnist_like": case(3, 1, 28, 28), "rgb_odd": case(3, 3, 9, 9), "rgb_even": case(2, 3, 12, 12)}
with open(os.path.join(OUT, "augment.json"), "w") as f:
    json.dump(cases, f)
print("wrote", os.path.join(OUT, "augment.json"))
