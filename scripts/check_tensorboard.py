"""Reads a gangpu run's TensorBoard events with TensorBoard's own reader and compares them with
the run's metrics.jsonl: every logged row's losses and D outputs, every evaluation's scores, and
the sample grids (decoded as PNG, one per saved step).

    pip install tensorboard && python3 scripts/check_tensorboard.py RUN_FOLDER

Exits 0 when everything matches (float32 rounding allowed), 1 naming the first difference.
"""
import io
import json
import os
import sys

from PIL import Image  # pip install pillow (as .ci/run does): the sample images are decoded
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main():
    run = sys.argv[1]
    ea = EventAccumulator(os.path.join(run, "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    tags = ea.Tags()
    rows, evals = [], []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            (evals if r.get("kind") == "eval" else rows).append(r)
    checks = [("loss/D", "loss_d", rows), ("loss/G", "loss_g", rows), ("D/real", "d_x", rows),
              ("D/fake_before_D_step", "d_g_z1", rows), ("D/fake_after_D_step", "d_g_z2", rows),
              ("quality/fid", "fid", evals), ("quality/swd", "swd", evals)]
    compared = 0
    for tag, key, src in checks:
        want = {r["step"]: r[key] for r in src if r.get(key) is not None}
        if not want:
            continue
        if tag not in tags["scalars"]:
            sys.exit(f"tag {tag} missing from the event file (tags: {tags['scalars']})")
        got = {e.step: e.value for e in ea.Scalars(tag)}
        if sorted(got) != sorted(want):
            sys.exit(f"{tag}: steps {sorted(got)} in TensorBoard, {sorted(want)} in metrics.jsonl")
        for step, v in want.items():
            if abs(got[step] - v) > 1e-6 * max(1.0, abs(v)):
                sys.exit(f"{tag} at step {step}: {got[step]} in TensorBoard, {v} in metrics.jsonl")
            compared += 1
    images = ea.Images("samples") if "samples" in tags["images"] else []
    grids = sorted(int(n[5:-4]) for n in os.listdir(os.path.join(run, "samples")) if n.startswith("step_") and n.endswith(".png"))
    if sorted(i.step for i in images) != grids:
        sys.exit(f"sample images at steps {[i.step for i in images]} in TensorBoard, grids saved at {grids}")
    for i in images:
        im = Image.open(io.BytesIO(i.encoded_image_string))
        if (im.width, im.height) != (i.width, i.height):
            sys.exit(f"image at step {i.step}: header says {i.width}x{i.height}, PNG is {im.width}x{im.height}")
    if compared == 0 or not images:
        sys.exit(f"nothing to compare: {compared} scalars and {len(images)} images in {run}")
    print(f"ok: {compared} scalars and {len(images)} images match metrics.jsonl and samples/")


if __name__ == "__main__":
    main()
