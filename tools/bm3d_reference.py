#!/usr/bin/env python3
"""BM3D (the classic non-learned denoiser) on a folder of clean PNGs, scored exactly as
`autoencoder evaluate` scores a denoiser: gray images (ITU-R BT.601 luma of RGB, values in [0, 1]),
additive Gaussian noise of sigma/255 (numpy, seeded; not clipped), PSNR with peak 1 of the clipped
result, SSIM as skimage's structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1). Prints per-image and mean figures per sigma.

    python3 tools/bm3d_reference.py runs/photos/test --sigmas 15,25,50 [--json out.json]
    python3 tools/bm3d_reference.py FOLDER --sigmas 25 --color    # CBM3D (bm3d_rgb) on RGB images

With --color the images stay RGB (alpha over black), noise is drawn per channel, `bm3d.bm3d_rgb`
denoises them (BM3D in an opponent color space), PSNR is over all values and SSIM the mean over the
channels, as `evaluate` scores a 3-channel model.

Setup: pip install bm3d scikit-image pillow
"""
import argparse
import glob
import json
import os
import time

import numpy as np
from PIL import Image


def load_gray(path):
    image = np.asarray(Image.open(path))
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    x = image.astype(np.float64) / scale
    if x.ndim == 3:
        if x.shape[2] in (2, 4):  # alpha over black, as our loader's default background
            x = x[..., :-1] * x[..., -1:]
        x = x @ np.array([0.299, 0.587, 0.114]) if x.shape[2] == 3 else x[..., 0]
    return x.astype(np.float32)


def load_rgb(path):
    image = np.asarray(Image.open(path).convert("RGBA"))
    x = image.astype(np.float64) / 255.0
    return (x[..., :3] * x[..., 3:]).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--sigmas", default="15,25,50")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--color", action="store_true", help="RGB images and CBM3D (bm3d_rgb)")
    args = ap.parse_args()
    import bm3d
    from skimage.metrics import structural_similarity

    files = sorted(glob.glob(os.path.join(args.folder, "*.png")))
    results = []
    for sigma in [float(s) for s in args.sigmas.split(",")]:
        rng = np.random.default_rng(args.seed)
        rows = []
        for path in files:
            clean = load_rgb(path) if args.color else load_gray(path)
            noisy = clean + rng.normal(0, sigma / 255, clean.shape).astype(np.float32)
            start = time.time()
            run = bm3d.bm3d_rgb if args.color else bm3d.bm3d
            denoised = np.clip(run(noisy, sigma_psd=sigma / 255), 0, 1).astype(np.float32)
            seconds = time.time() - start
            psnr = lambda a: 10 * np.log10(1 / np.mean((a.astype(np.float64) - clean) ** 2))
            ssim = lambda a: structural_similarity(clean, a, data_range=1, gaussian_weights=True, sigma=1.5,
                                                   use_sample_covariance=False, channel_axis=2 if args.color else None)
            row = {"file": os.path.basename(path), "sigma": sigma, "psnr_noisy": float(psnr(noisy)),
                   "psnr_bm3d": float(psnr(denoised)), "ssim_noisy": float(ssim(noisy)),
                   "ssim_bm3d": float(ssim(denoised)), "seconds": seconds}
            rows.append(row)
            print(f"sigma {sigma:g} {row['file']}: PSNR {row['psnr_noisy']:.2f} -> {row['psnr_bm3d']:.2f} dB, "
                  f"SSIM {row['ssim_noisy']:.4f} -> {row['ssim_bm3d']:.4f} ({seconds:.1f} s)", flush=True)
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr_noisy", "psnr_bm3d", "ssim_noisy", "ssim_bm3d")}
        print(f"sigma {sigma:g} mean over {len(rows)}: PSNR {mean['psnr_noisy']:.2f} -> {mean['psnr_bm3d']:.2f} dB, "
              f"SSIM {mean['ssim_noisy']:.4f} -> {mean['ssim_bm3d']:.4f}", flush=True)
        results.append({"sigma": sigma, "mean": mean, "images": rows})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
