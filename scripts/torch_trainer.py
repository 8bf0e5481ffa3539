"""gangpu's training recipe in PyTorch, to continue a gangpu run on many GPUs and hand it back.

    pip install torch safetensors numpy pillow
    python3 scripts/torch_trainer.py --from RUN/checkpoint.safetensors --steps N --out DIR
    torchrun --standalone --nproc_per_node K scripts/torch_trainer.py --from ... --steps N --out DIR

Reads a gangpu checkpoint (G, D, batch-norm and spectral-norm state, both optimizers' moments and
step counts, the run's settings), trains to step N (counted as `gangpu train --resume` counts) with
the same recipe (the model of docs/models.md at the checkpoint's size, its objective, conditioning,
spectral norm, optimizer, critic steps and clipping), and writes DIR/checkpoint.safetensors that
`gangpu train --resume DIR/checkpoint.safetensors --steps M` continues, optimizer state included.
Under torchrun the global batch is the run's batch, split over the processes (DDP averages the
gradients: the same update as one process up to float rounding; batch norm normalises each
process's share); gloo on CPU, NCCL on GPUs. DIR also gets the run's config.json and metrics.jsonl
with the new rows appended, as gangpu writes them. The mapping is docs/torch.md.

--check-update INPUTS OUT: no training; one iteration from the checkpoint on the real batch and
noise in INPUTS (safetensors: `real`, `z`), the weights after it written to OUT (the hand-over test
compares them with gangpu's iteration from the same checkpoint and inputs).
"""
import argparse
import gzip
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dcgan_torch as dc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMAT = "gangpu-checkpoint-1"


def read_checkpoint(path):
    tensors = {}
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        for k in f.keys():
            tensors[k] = f.get_tensor(k)
    if meta.get("format") != FORMAT:
        sys.exit(f"{path}: not a gangpu checkpoint (format {meta.get('format')!r}, expected {FORMAT})")
    return tensors, meta


def build(cfg):
    """G, D and their optimizers as gangpu builds them for this run's settings."""
    m = cfg["model"]
    k = m.get("classes", 0) if m.get("cond", "none") != "none" else 0
    G = dc.generator(m["image_size"], m["channels"], m["nz"], m["ngf"], classes=k)
    planes = k if m.get("cond") == "cgan" else 0
    outputs = 1 + k if m.get("cond") == "acgan" else 1
    D = dc.discriminator(m["image_size"], m["channels"], m["ndf"], in_planes=planes, outputs=outputs)
    if cfg.get("spectral_norm"):
        for i, layer in enumerate(D.main):
            if isinstance(layer, nn.Conv2d):
                D.main[i] = nn.utils.spectral_norm(layer)
    return G, D


def optimizer(cfg, net):
    if cfg.get("optimizer", "adam") == "rmsprop":
        # gangpu's RMSProp: torch.optim's defaults alpha 0.99, eps 1e-8
        return torch.optim.RMSprop(net.parameters(), lr=cfg["lr"], alpha=0.99, eps=1e-8)
    return torch.optim.Adam(net.parameters(), lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg.get("eps", 1e-8))


SLOTS = {"adam": ["exp_avg", "exp_avg_sq"], "rmsprop": ["square_avg"]}


def load_state(prefix, net, opt, tensors, meta, cfg):
    """Weights, buffers and optimizer moments of one network from a gangpu checkpoint."""
    sd = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"{prefix}: the checkpoint does not fit the model built from its settings: missing {missing}, unexpected {unexpected}")
    steps = int(meta.get(f"{prefix}.opt_steps", "0"))
    slots = SLOTS[cfg.get("optimizer", "adam")]
    state = {}
    for i, (name, p) in enumerate(net.named_parameters()):
        st = {"step": torch.tensor(float(steps))}
        for s in slots:
            key = f"optim.{prefix}.{name}.{s}"
            if key not in tensors:
                sys.exit(f"{key} is missing from the checkpoint: write it with gangpu 0.3 or later (per-parameter optimizer state)")
            st[s] = tensors[key].clone().reshape(p.shape)
        state[i] = st
    sd_opt = opt.state_dict()
    sd_opt["state"] = state
    opt.load_state_dict(sd_opt)


def state_tensors(prefix, net, opt, cfg):
    """gangpu's tensors of one network: state_dict under netG./netD., moments per parameter."""
    out = {f"{prefix}.{k}": v.detach().contiguous().clone() for k, v in net.state_dict().items()}
    slots = SLOTS[cfg.get("optimizer", "adam")]
    for name, p in net.named_parameters():
        st = opt.state.get(p, {})
        for s in slots:
            out[f"optim.{prefix}.{name}.{s}"] = st[s].detach().contiguous().clone() if s in st else torch.zeros_like(p)
    steps = max([int(st["step"]) for st in opt.state.values()] or [0])
    return out, steps


def load_images(cfg):
    """The run's data set as a float tensor in [-1, 1] and its labels (None when unlabelled)."""
    m = cfg["model"]
    src, size, nc = cfg["data"], m["image_size"], m["channels"]

    def idx(path):
        raw = open(path, "rb").read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        dims = raw[3]
        shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)

    if src == "mnist":
        x = idx(os.path.join(ROOT, "assets", "mnist-10k-images-idx3-ubyte.gz"))
        y = idx(os.path.join(ROOT, "assets", "mnist-10k-labels-idx1-ubyte.gz"))
    elif os.path.isfile(src):
        x = idx(src)
        lab = src.replace("images-idx3", "labels-idx1")
        y = idx(lab) if lab != src and os.path.exists(lab) else None
    else:
        from PIL import Image
        files, labels, classes = [], [], sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
        for root, _, names in sorted(os.walk(src)):
            for n in sorted(names):
                if n.lower().rsplit(".", 1)[-1] in ("png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff", "ppm", "pgm", "tga"):
                    files.append(os.path.join(root, n))
                    rel = os.path.relpath(root, src).split(os.sep)[0]
                    labels.append(classes.index(rel) if rel in classes else -1)
        ims = []
        for f in files:
            im = Image.open(f).convert("L" if nc == 1 else "RGB")
            s = min(im.size)
            im = im.crop(((im.width - s) // 2, (im.height - s) // 2, (im.width - s) // 2 + s, (im.height - s) // 2 + s)).resize((size, size), Image.BILINEAR)
            a = np.asarray(im)
            ims.append(a[None] if nc == 1 else a.transpose(2, 0, 1))
        x = np.stack(ims)
        y = np.array(labels) if classes and all(v >= 0 for v in labels) else None
    x = x.reshape(len(x), -1, x.shape[-2], x.shape[-1]) if x.ndim == 4 else x[:, None]
    if x.shape[-1] != size or x.shape[1] != nc:
        sys.exit(f"the data set {src} is {x.shape[1]}x{x.shape[-2]}x{x.shape[-1]}, the run's model {nc}x{size}x{size}: resize it as gangpu's loaders do, or use an image folder")
    real = torch.from_numpy(x.astype(np.float32) / 127.5 - 1.0)
    return real, (torch.from_numpy(y.astype(np.int64)) if y is not None else None)


def terms(cfg):
    """(D loss on real logits, D loss on fake logits, G loss on fake logits), gangpu's objectives."""
    loss, g_loss = cfg.get("loss", "bce"), cfg.get("g_loss", "nonsaturating")
    bce = F.binary_cross_entropy_with_logits
    ones, zeros = torch.ones_like, torch.zeros_like
    if loss in ("bce", "bgan"):
        d_real, d_fake = (lambda l: bce(l, ones(l))), (lambda l: bce(l, zeros(l)))
        if loss == "bgan":
            g = lambda l: 0.5 * (l * l).mean()  # noqa: E731
        elif g_loss == "minimax":
            g = lambda l: -bce(l, zeros(l))  # noqa: E731
        else:
            g = lambda l: bce(l, ones(l))  # noqa: E731
        return d_real, d_fake, g, True
    if loss == "wgan":
        return (lambda l: -l.mean()), (lambda l: l.mean()), (lambda l: -l.mean()), False
    if loss == "lsgan":
        return (lambda l: 0.5 * ((l - 1) ** 2).mean()), (lambda l: 0.5 * (l * l).mean()), (lambda l: 0.5 * ((l - 1) ** 2).mean()), False
    if loss == "hinge":
        return (lambda l: F.relu(1 - l).mean()), (lambda l: F.relu(1 + l).mean()), (lambda l: -l.mean()), False
    sys.exit(f"unknown --loss {loss} in the checkpoint's settings")


def critic_steps_at(cfg, g_step):
    if cfg.get("wgan_schedule") and (g_step < 25 or g_step % 500 == 0):
        return 100
    return cfg.get("critic_steps", 1)


class Recipe:
    """One gangpu iteration: critic step(s) with G frozen, then one G step with D frozen on the
    last fake batch. `Dm` is D itself (no DDP wrapper) for the G step: D is frozen there."""

    def __init__(self, cfg, G, D, Dm, opt_g, opt_d):
        self.cfg, self.G, self.D, self.Dm, self.opt_g, self.opt_d = cfg, G, D, Dm, opt_g, opt_d
        m = cfg["model"]
        self.cond = m.get("cond", "none")
        self.k = m.get("classes", 0) if self.cond != "none" else 0
        self.d_real, self.d_fake, self.g_loss, self.prob = terms(cfg)

    def g_input(self, z, labels):
        if self.k == 0:
            return z
        return torch.cat([z, F.one_hot(labels, self.k).float().view(-1, self.k, 1, 1)], 1)

    def d_input(self, x, labels):
        if self.cond != "cgan":
            return x
        planes = F.one_hot(labels, self.k).float()[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return torch.cat([x, planes], 1)

    def split(self, out):
        """D's adversarial logit and, for ACGAN, the class logits."""
        if self.cond == "acgan":
            out = out.view(-1, 1 + self.k)
            return out[:, 0], out[:, 1:]
        return out.view(-1), None

    def mean_out(self, l):
        return (torch.sigmoid(l) if self.prob else l).mean().item()

    def d_step(self, real, real_labels, z, fake_labels, for_g=True):
        """A critic step; `for_g`: G's step follows on this fake batch (else G runs without a
        graph: under DDP every forward with a graph must be followed by its backward)."""
        clip = self.cfg.get("clip")
        if clip:
            with torch.no_grad():
                for p in self.Dm.parameters():
                    p.clamp_(-clip, clip)
        self.opt_d.zero_grad()
        l, c = self.split(self.D(self.d_input(real, real_labels)))
        err_real = self.d_real(l)
        if c is not None:
            err_real = err_real + F.cross_entropy(c, real_labels)
        err_real.backward()
        d_x = self.mean_out(l)
        with torch.set_grad_enabled(for_g):
            fake = self.G(self.g_input(z, fake_labels))
        l, c = self.split(self.D(self.d_input(fake.detach(), fake_labels)))
        err_fake = self.d_fake(l)
        if c is not None:
            err_fake = err_fake + F.cross_entropy(c, fake_labels)
        err_fake.backward()
        self.opt_d.step()
        return fake, err_real.item() + err_fake.item(), d_x, self.mean_out(l)

    def g_step(self, fake, fake_labels):
        self.Dm.requires_grad_(False)
        self.opt_g.zero_grad()
        l, c = self.split(self.Dm(self.d_input(fake, fake_labels)))
        err = self.g_loss(l)
        if c is not None:
            err = err + F.cross_entropy(c, fake_labels)
        err.backward()
        self.opt_g.step()
        self.Dm.requires_grad_(True)
        return err.item(), self.mean_out(l)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="src", required=True, help="a gangpu checkpoint.safetensors")
    ap.add_argument("--steps", type=int, help="the step to reach (gangpu's count: the checkpoint is at some step already)")
    ap.add_argument("--out", help="the folder for the continued run (checkpoint.safetensors, config.json, metrics.jsonl)")
    ap.add_argument("--check-update", nargs=2, metavar=("INPUTS", "OUT"), help="one iteration on given inputs; write the weights after it")
    ap.add_argument("--seed", type=int, default=None, help="seed of PyTorch's own data order and noise [default: the run's seed + the step]")
    args = ap.parse_args()
    tensors, meta = read_checkpoint(args.src)
    cfg = json.loads(meta["config"])
    if cfg.get("loss") == "wgan-gp" or cfg.get("r1_gamma") or cfg.get("d_norm") == "none" or cfg.get("augment"):
        sys.exit("this run uses an input-gradient penalty (--loss wgan-gp or --r1-gamma), a D without batch norm "
                 "(--d-norm none) or --augment, which the hand-over to PyTorch does not carry yet; continue it with gangpu train --resume")
    start = int(meta["step"])

    ddp = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    dev = torch.device("cpu")
    if ddp:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if backend == "nccl":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(dev)
    elif torch.cuda.is_available():
        dev = torch.device("cuda")
    rank, world = (dist.get_rank(), dist.get_world_size()) if ddp else (0, 1)

    G, D = build(cfg)
    opt_g, opt_d = optimizer(cfg, G), optimizer(cfg, D)
    load_state("netG", G, opt_g, tensors, meta, cfg)
    load_state("netD", D, opt_d, tensors, meta, cfg)
    G.to(dev)
    D.to(dev)
    for opt in (opt_g, opt_d):  # moments follow the parameters to the device
        for st in opt.state.values():
            for k, v in st.items():
                if torch.is_tensor(v) and k != "step":
                    st[k] = v.to(dev)
    G.train()
    D.train()

    if args.check_update:
        inputs, out = args.check_update
        with safe_open(inputs, framework="pt") as f:
            real, z = f.get_tensor("real").to(dev), f.get_tensor("z").to(dev)
        r = Recipe(cfg, G, D, D, opt_g, opt_d)
        fake, loss_d, d_x, d_gz1 = r.d_step(real, None, z, None)
        loss_g, d_gz2 = r.g_step(fake, None)
        w, _ = state_tensors("netG", G, opt_g, cfg)
        wd, _ = state_tensors("netD", D, opt_d, cfg)
        w.update(wd)
        save_file({k: v.cpu() for k, v in w.items() if v.dtype == torch.float32}, out,
                  metadata={"loss_d": repr(loss_d), "loss_g": repr(loss_g), "d_x": repr(d_x), "d_g_z1": repr(d_gz1), "d_g_z2": repr(d_gz2)})
        print(f"one iteration from step {start}: Loss_D {loss_d:.6f} Loss_G {loss_g:.6f}; wrote {out}")
        return

    if args.steps is None or args.out is None:
        sys.exit("give --steps N and --out DIR (or --check-update INPUTS OUT)")
    if args.steps <= start:
        sys.exit(f"the checkpoint is at step {start}: --steps must be larger")
    m = cfg["model"]
    batch = m["batch"]
    if batch % world:
        sys.exit(f"the run's batch {batch} does not split over {world} processes: use a process count that divides it")
    local = batch // world
    Gd, Dd = G, D
    if ddp:
        ids = [dev.index] if dev.type == "cuda" else None
        Gd = nn.parallel.DistributedDataParallel(G, device_ids=ids)
        Dd = nn.parallel.DistributedDataParallel(D, device_ids=ids)
    images, labels = load_images(cfg)
    if m.get("cond", "none") != "none" and labels is None:
        sys.exit("a conditional run needs the labelled data set it was trained on")
    seed = args.seed if args.seed is not None else cfg.get("seed", 1) + start
    order = torch.Generator().manual_seed(seed)  # the same data order on every process
    noise = torch.Generator().manual_seed(seed * 1000 + rank + 1)  # each process its own noise
    k = m.get("classes", 0) if m.get("cond", "none") != "none" else 0
    r = Recipe(cfg, Gd, Dd, D, opt_g, opt_d)

    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        src_dir = os.path.dirname(os.path.abspath(args.src))
        if os.path.abspath(args.out) != src_dir:
            for f in ("config.json", "metrics.jsonl"):
                if os.path.exists(os.path.join(src_dir, f)):
                    shutil.copy(os.path.join(src_dir, f), os.path.join(args.out, f))
        # the copied history ends at the checkpoint's step
        mpath = os.path.join(args.out, "metrics.jsonl")
        if os.path.exists(mpath):
            rows = [line for line in open(mpath) if json.loads(line).get("step", 0) <= start]
            open(mpath, "w").writelines(rows)
    perm, pos = torch.randperm(len(images), generator=order), 0
    d_steps = int(meta.get("d_steps_done", start))
    log_every = cfg.get("log_every", 50)
    t0 = time.time()
    step = start
    while step < args.steps:
        n_critic = critic_steps_at(cfg, step)
        for i in range(n_critic):
            if pos + batch > len(perm):
                perm, pos = torch.randperm(len(images), generator=order), 0
            idx = perm[pos + rank * local: pos + (rank + 1) * local]
            pos += batch
            real = images[idx].to(dev)
            if cfg.get("hflip"):
                flip = torch.rand(local, generator=noise) < 0.5
                real[flip] = real[flip].flip(-1)
            real_labels = labels[idx].to(dev) if k else None
            fake_labels = torch.randint(0, k, (local,), generator=noise).to(dev) if k else None
            z = torch.randn(local, m["nz"], 1, 1, generator=noise).to(dev)
            fake, loss_d, d_x, d_gz1 = r.d_step(real, real_labels, z, fake_labels, for_g=i == n_critic - 1)
            d_steps += 1
        loss_g, d_gz2 = r.g_step(fake, fake_labels)
        step += 1
        if step % log_every == 0 or step == args.steps or step == start + 1:
            vals = torch.tensor([loss_d, loss_g, d_x, d_gz1, d_gz2])
            if ddp:
                dist.all_reduce(vals)
                vals /= world
            if rank == 0:
                row = {"step": step, "loss_d": vals[0].item(), "loss_g": vals[1].item(), "d_x": vals[2].item(), "d_g_z1": vals[3].item(),
                       "d_g_z2": vals[4].item(), "steps_per_s": (step - start) / max(time.time() - t0, 1e-9), "epoch": d_steps * batch / len(images)}
                with open(os.path.join(args.out, "metrics.jsonl"), "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"[{step}] Loss_D: {row['loss_d']:.4f} Loss_G: {row['loss_g']:.4f} D(x): {row['d_x']:.4f} D(G(z)): {row['d_g_z1']:.4f} / {row['d_g_z2']:.4f}", flush=True)

    if rank == 0:
        out, g_steps = state_tensors("netG", G, opt_g, cfg)
        od, d_opt_steps = state_tensors("netD", D, opt_d, cfg)
        out.update(od)
        meta_out = {
            "format": FORMAT, "step": str(step), "config": json.dumps(cfg), "netG.opt_steps": str(g_steps), "netD.opt_steps": str(d_opt_steps),
            "d_steps_done": str(d_steps), "rng": json.dumps({"seed": cfg.get("seed", 1), "counter": step}),
            "adapter": f"PyTorch {torch.__version__} on {dev.type} ({world} process{'es' if world > 1 else ''}, {dist.get_backend() if ddp else 'no DDP'})",
        }
        tmp = os.path.join(args.out, "checkpoint.safetensors.tmp")
        save_file({k2: v.cpu() for k2, v in out.items()}, tmp, metadata=meta_out)
        os.replace(tmp, os.path.join(args.out, "checkpoint.safetensors"))
        print(f"step {step}: wrote {os.path.join(args.out, 'checkpoint.safetensors')} ({meta_out['adapter']})")
    if ddp:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
