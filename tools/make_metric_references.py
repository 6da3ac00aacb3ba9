#!/usr/bin/env python3
"""Writes Tests/ImagesTests/Fixtures/metrics-reference.bin.gz: small clean/noisy image pairs and
their PSNR and SSIM as computed by scikit-image, for the Swift ImageMetrics tests.

Setup: pip install scikit-image   (numpy and scipy come with it; made with scikit-image 0.26.0)
Cases: crops of skimage.data.camera() (gray, 1x37x53) and astronaut() (RGB, 3x24x31) scaled to
[0, 1], plus a gray 1x11x16 crop (the smallest size an 11x11 window allows), each paired with a
copy plus Gaussian noise (fixed numpy seed) clipped to [0, 1]. All images are
quantised to k/255, as an 8-bit PNG would hold them, which also keeps the file small.
SSIM is Wang et al. 2004 as skimage computes it with gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1. Metrics are computed in float64 from the stored
float32 values, so the only rounding left in the reference is the final float32 store.
Per case NAME: NAME.clean and NAME.noisy (C, H, W), NAME.psnr and NAME.ssim (1).
Format (tools/fixture_format.py): magic, version, then named float32 tensors, gzip-compressed.
"""
import os
import sys

import numpy as np
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_format import write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ImagesTests",
                   "Fixtures", "metrics-reference.bin.gz")


def quantise(x):
    return (np.round(np.clip(x, 0, 1) * 255) / 255).astype(np.float32)


def case(name, clean_chw, noise_std, seed):
    clean = quantise(clean_chw)
    rng = np.random.default_rng(seed)
    noisy = quantise(clean + rng.normal(0, noise_std, clean.shape))
    a, b = clean.astype(np.float64), noisy.astype(np.float64)
    psnr = peak_signal_noise_ratio(a, b, data_range=1.0)
    ssim = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=0)
    print(f"{name}: shape {clean.shape}, noise {noise_std}, psnr {psnr:.6f} dB, ssim {ssim:.8f}")
    return [(f"{name}.clean", clean.shape, clean.ravel().tolist()),
            (f"{name}.noisy", noisy.shape, noisy.ravel().tolist()),
            (f"{name}.psnr", (1,), [psnr]),
            (f"{name}.ssim", (1,), [ssim])]


def main():
    camera = data.camera()[200:237, 220:273].astype(np.float64) / 255      # (37, 53)
    astronaut = data.astronaut()[80:104, 200:231].astype(np.float64) / 255  # (24, 31, 3)
    tensors = []
    tensors += case("gray", camera[None], noise_std=0.1, seed=1)
    tensors += case("rgb", astronaut.transpose(2, 0, 1), noise_std=0.05, seed=2)
    # The smallest image skimage accepts for an 11x11 window: one row of SSIM values survives.
    tensors += case("smallest", camera[None, 5:16, 10:26], noise_std=0.2, seed=3)
    write_fixture(OUT, tensors)
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
