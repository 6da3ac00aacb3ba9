#!/usr/bin/env python3
"""PCA baselines for MNIST reconstruction: the test squared error per image of the first K
principal components of the training images (Hinton & Salakhutdinov 2006 give 13.87 for K=30).

Usage: python3 tools/pca_baseline.py [MNIST_FOLDER] [K ...]   (needs numpy; default data/mnist, K 2 30)
"""
import gzip
import os
import sys

import numpy as np


def images(folder, prefix):
    name = next(f for f in sorted(os.listdir(folder)) if f.startswith(prefix))
    opener = gzip.open if name.endswith(".gz") else open
    with opener(os.path.join(folder, name), "rb") as f:
        raw = f.read()
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(-1, 784).astype(np.float64) / 255


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "data/mnist"
    ks = [int(k) for k in sys.argv[2:]] or [2, 30]
    train, test = images(folder, "train-images"), images(folder, "t10k-images")
    mean = train.mean(0)
    _, vectors = np.linalg.eigh(np.cov((train - mean).T))
    for k in ks:
        basis = vectors[:, -k:]
        reconstruction = (test - mean) @ basis @ basis.T + mean
        error = ((reconstruction - test) ** 2).sum(1).mean()
        print(f"PCA, {k} components: test squared error per image {error:.2f}")


if __name__ == "__main__":
    main()
