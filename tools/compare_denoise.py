#!/usr/bin/env python3
"""Whole-image denoising speed, side by side: `autoencoder denoise` against tools/torch_denoiser.py
denoise (the same tiled pass with the same weights) on a folder of gray photographs.

    tools/compare_denoise.py                                  # threads 1,2, 3 interleaved repeats
    tools/compare_denoise.py --threads 1,2,4 --repeats 5 --checkpoint runs/denoiser-s25

The photographs are those of tools/prepare_photos.py (runs/photos, train and test: 15 images, made
when missing; needs pip install scikit-image), as gray copies in runs/compare/denoise/gray. Without
--checkpoint a one-epoch denoiser is trained first (runs/compare/denoise/model): speed does not
depend on the weights. Ours is timed from the outside (process start, checkpoint load, PNG decode
and encode included), PyTorch's inside its script (decode, denoise, encode; not Python's start-up).
Both write 8-bit gray PNGs; the PSNR between the two outputs shows they computed the same thing.
Needs a release build (swift build -c release) and pip install torch threadpoolctl numpy pillow
safetensors.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
WORK = os.path.join(ROOT, "runs", "compare", "denoise")


def run(command, **kwargs):
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(command, check=True, **kwargs)


def prepare(binary, checkpoint):
    import numpy as np
    from PIL import Image
    photos = os.path.join(ROOT, "runs", "photos")
    if not os.path.isdir(os.path.join(photos, "train")):
        run([sys.executable, os.path.join(ROOT, "tools", "prepare_photos.py"), photos])
    gray = os.path.join(WORK, "gray")
    os.makedirs(gray, exist_ok=True)
    for part in ("train", "test"):
        for name in sorted(os.listdir(os.path.join(photos, part))):
            if name.endswith(".png"):
                image = Image.open(os.path.join(photos, part, name)).convert("L")
                image.save(os.path.join(gray, name))
    if checkpoint is None:
        model = os.path.join(WORK, "model")
        if not os.path.exists(os.path.join(model, "checkpoints", "best.safetensors")):
            run([binary, "train", "--model", "denoiser", "--data", os.path.join(photos, "train"), "--channels", "1",
                 "--noise", "gaussian:25/255", "--epochs", "1", "--run-dir", model, "--overwrite"],
                stdout=subprocess.DEVNULL)
        checkpoint = os.path.join(model, "checkpoints", "best.safetensors")
    elif os.path.isdir(checkpoint):
        checkpoint = os.path.join(checkpoint, "checkpoints", "best.safetensors")
    return gray, checkpoint


def psnr(folder_a, folder_b):
    import numpy as np
    from PIL import Image
    errors = []
    for name in sorted(os.listdir(folder_a)):
        a = np.asarray(Image.open(os.path.join(folder_a, name)).convert("L"), dtype=np.float64)
        b = np.asarray(Image.open(os.path.join(folder_b, name)).convert("L"), dtype=np.float64)
        errors.append(np.mean((a - b) ** 2))
    mse = np.mean(errors)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "autoencoder"))
    ap.add_argument("--checkpoint", help="a denoiser run folder or .safetensors file (default: a 1-epoch model)")
    args = ap.parse_args()
    gray, checkpoint = prepare(args.binary, args.checkpoint)
    pixels = 0
    times = {}
    for repeat in range(args.repeats):
        for threads in [int(t) for t in args.threads.split(",")]:
            out = os.path.join(WORK, f"torch-{threads}")
            result = run([sys.executable, os.path.join(ROOT, "tools", "torch_denoiser.py"), "denoise", "--input", gray,
                          "--output", out, "--checkpoint", checkpoint, "--threads", str(threads)],
                         capture_output=True, text=True)
            row = json.loads(result.stdout.strip().splitlines()[-1])
            pixels = row["pixels"]
            times.setdefault(("torch", threads), []).append(row["seconds"])
            ours = os.path.join(WORK, f"swift-{threads}")
            start = time.perf_counter()
            run([args.binary, "denoise", "--checkpoint", checkpoint, "--input", gray, "--output", ours,
                 "--threads", str(threads)], stdout=subprocess.DEVNULL)
            times.setdefault(("swift", threads), []).append(time.perf_counter() - start)
    print(f"\n# {len(os.listdir(gray))} gray photographs, {pixels / 1e6:.2f} megapixels; seconds, median of "
          f"{args.repeats} interleaved runs")
    print("| threads | PyTorch s | `autoencoder` s | PyTorch MP/s | `autoencoder` MP/s | speed-up | speed-up per run |")
    print("|---|---|---|---|---|---|---|")
    for threads in [int(t) for t in args.threads.split(",")]:
        t, s = statistics.median(times[("torch", threads)]), statistics.median(times[("swift", threads)])
        runs = ", ".join(f"{b / a:.2f}x" for a, b in zip(times[("swift", threads)], times[("torch", threads)]))
        print(f"| {threads} | {t:.2f} | {s:.2f} | {pixels / t / 1e6:.2f} | {pixels / s / 1e6:.2f} | {t / s:.2f}x | {runs} |")
        print(f"  outputs agree: PSNR {psnr(os.path.join(WORK, f'torch-{threads}'), os.path.join(WORK, f'swift-{threads}')):.1f} dB "
              "between the two 8-bit results")


if __name__ == "__main__":
    main()
