#!/usr/bin/env python3
"""Puts the sample grid of one step from several run folders side by side, each under its name.

    python3 scripts/montage_runs.py runs/sweep 200 docs/variants.png [run ...]

Reads <folder>/<run>/samples/step_<step>.png (the grids `gangpu train` writes); the runs default to
every sub-folder that has that grid, in name order. Needs Pillow.
"""
import sys, pathlib
from PIL import Image, ImageDraw

root, step, out = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
names = sys.argv[4:] or sorted(p.name for p in root.iterdir() if (p / "samples" / f"step_{step:06d}.png").exists())
grids = [Image.open(root / n / "samples" / f"step_{step:06d}.png").convert("RGB") for n in names]
if not grids:
    sys.exit(f"no samples/step_{step:06d}.png under {root}")
w = max(g.width for g in grids); h = max(g.height for g in grids)
cols = min(5, len(grids)); rows = (len(grids) + cols - 1) // cols
pad, label = 6, 14
sheet = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + label + pad) + pad), "white")
draw = ImageDraw.Draw(sheet)
for i, (n, g) in enumerate(zip(names, grids)):
    x = pad + (i % cols) * (w + pad); y = pad + (i // cols) * (h + label + pad)
    draw.text((x, y), n, fill="black")
    sheet.paste(g, (x, y + label))
sheet.convert("L").save(out, optimize=True)
print(f"{out}: {len(grids)} runs at step {step}")
