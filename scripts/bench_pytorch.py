"""The same DCGAN training iteration as `cargo bench --bench train_step`, in PyTorch eager.

    pip install torch && python3 scripts/bench_pytorch.py [--threads N] [--iters N] [--batch 64,256]
        [--modes eager,compile] [--models 28,64]

Same work on both sides: dcgan28 and dcgan64 of models.md at batch 64; one iteration is a D step
(real batch labelled 1, fake batch labelled 0, grads summed, Adam) then a G step on the same fake
batch (non-saturating BCE on logits, D frozen so its weight gradients are not computed, Adam).
Losses are read back every 50 iterations, as gangpu's trainer does. Uses CUDA when present.
Modes: eager (PyTorch's default), compile (torch.compile of G and D, mode "reduce-overhead", which
replays CUDA graphs on a GPU); a mode that fails on this machine is reported as such. Each
measurement also prints a `result <mode> <model> <batch> <ms>` line for the GPU bundle's run.sh.
"""
import argparse
import os
import resource
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dcgan_torch import dcgan  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    ap.add_argument("--iters", type=int, default=0, help="timed iterations (default: 20 on CPU, 200 on CUDA)")
    ap.add_argument("--batch", default="64", help="batch sizes, comma-separated")
    ap.add_argument("--modes", default="eager", help="eager and/or compile, comma-separated")
    ap.add_argument("--models", default="28,64", help="image sizes, comma-separated")
    args = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name() if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"PyTorch {torch.__version__} on {name}")
    print(f"{'mode':<8} {'model':<10} {'batch':>6} {'iters':>6} {'ms/iter':>12} {'iter/s':>10} {'GFLOP/iter':>12} {'GFLOP/s':>12} {'peak MiB':>10}")
    nz = 100
    sizes = [int(v) for v in args.models.split(",")]
    for mode in args.modes.split(","):
        for size, nc in [(s, 1 if s == 28 else 3) for s in sizes]:
            for b in [int(v) for v in args.batch.split(",")]:
                try:
                    measure(args, dev, mode, size, nc, b, nz)
                except Exception as e:  # a mode that does not work here (e.g. no compiler for torch.compile)
                    print(f"{mode:<8} {'dcgan%d' % size:<10} {b:>6}  failed: {type(e).__name__}: {str(e).splitlines()[0][:100]}")


def measure(args, dev, mode, size, nc, b, nz):
    if True:
        torch.manual_seed(0)
        G, D = dcgan(size, nc)
        G.to(dev)
        D.to(dev)
        Gf, Df = G, D
        if mode == "compile":
            Gf = torch.compile(G, mode="reduce-overhead")
            Df = torch.compile(D, mode="reduce-overhead")
        elif mode != "eager":
            raise ValueError(f"unknown mode {mode}")
        crit = nn.BCEWithLogitsLoss()
        optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        real = torch.rand(b, nc, size, size, device=dev) * 2 - 1
        ones = torch.ones(b, device=dev)
        zeros = torch.zeros(b, device=dev)

        def step(read):
            D.requires_grad_(True)
            D.zero_grad(set_to_none=True)
            errD_real = crit(Df(real).view(-1), ones)
            errD_real.backward()
            z = torch.randn(b, nz, 1, 1, device=dev)
            fake = Gf(z)
            errD_fake = crit(Df(fake.detach()).view(-1), zeros)
            errD_fake.backward()
            optD.step()
            D.requires_grad_(False)  # D frozen: no weight gradients in the G step (as gangpu)
            G.zero_grad(set_to_none=True)
            errG = crit(Df(fake).view(-1), ones)
            errG.backward()
            optG.step()
            if read:
                return (errD_real + errD_fake).item(), errG.item()
            return None

        from torch.utils.flop_counter import FlopCounterMode
        if mode == "eager":
            with FlopCounterMode(display=False) as fc:
                step(True)
            gflop = fc.get_total_flops() / 1e9
        else:
            gflop = float("nan")
        for _ in range(2 if mode == "eager" else 5):  # compile: tracing, autotuning and graph capture
            step(True)
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        iters = args.iters or (200 if dev.type == "cuda" else (20 if size == 28 else 4))
        t = time.perf_counter()
        for i in range(iters):
            step((i + 1) % 50 == 0 or i + 1 == iters)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        secs = (time.perf_counter() - t) / iters
        if dev.type == "cuda":
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS
        print(f"{mode:<8} {'dcgan%d' % size:<10} {b:>6} {iters:>6} {secs * 1e3:>12.1f} {1 / secs:>10.2f} {gflop:>12.2f} {gflop / secs:>12.2f} {peak:>10.1f}")
        print(f"result {mode} dcgan{size} {b} {secs * 1e3:.3f}")


if __name__ == "__main__":
    main()
