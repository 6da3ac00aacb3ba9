#!/usr/bin/env python3
"""The PyTorch reference models M1-M5, written here to the definitions the project compares
against, and their training/inference throughput on real digits (so the comparison needs nothing
outside this repository):

    M1  dense 784-1000-500-250-30, mirrored; ReLU hidden, linear code, sigmoid out; MSE(mean); batch 256
    M2  conv: Conv(1->16, 3x3 same)+ReLU, MaxPool2, Conv(16->8)+ReLU, MaxPool2, Conv(8->8)+ReLU,
        Up2, Conv(8->16)+ReLU, Up2, Conv(16->1)+sigmoid; BCE(mean); batch 128
    M3  LSTM seq2seq over image rows (28 steps x 28): hidden 128, code = final h, decoder LSTM fed
        the code at every step, Linear(128->28)+sigmoid per step; MSE(mean); batch 128
    M4  M3 with GRU
    M5  VAE 784-512-256-(z=20)-256-512-784, ReLU, sigmoid out; BCE(sum)+KL per sample; batch 128;
        inference decodes z = mean
All: PyTorch default init, Adam(lr=1e-3). FLOPs are the analytic multiply-adds x 2 of the
GEMM/conv/recurrent products per sample, training taken as 3 x forward.

    python3 tools/torch_reference.py --models M1,M5 --threads 1,2 --min-time 10 --json runs/torch.json

Rows (printed and, with --json, written as a list): impl, model, batch, threads, train_sps,
infer_sps, train_gflops, step_ms (median). Data: Fashion-MNIST from Debian's dataset-fashion-mnist
when installed, else the bundled MNIST sample (the speed does not depend on which digits).

Setup: pip install torch threadpoolctl numpy
"""
import argparse
import gzip
import json
import os
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA_FOLDERS = ["/usr/share/datasets/fashion-mnist", os.path.join(ROOT, "data", "mnist-sample")]


def load_images():
    for folder in DATA_FOLDERS:
        path = os.path.join(folder, "train-images-idx3-ubyte.gz")
        if os.path.exists(path):
            with gzip.open(path, "rb") as f:
                _, count, rows, cols = struct.unpack(">IIII", f.read(16))
                pixels = np.frombuffer(f.read(count * rows * cols), dtype=np.uint8)
            return torch.from_numpy(pixels.reshape(count, rows * cols).astype(np.float32) / 255), folder
    raise SystemExit("no training images found in " + ", ".join(DATA_FOLDERS))


class DenseAE(nn.Module):
    def __init__(self, widths=(784, 1000, 500, 250, 30)):
        super().__init__()
        enc, dec = [], []
        for i in range(len(widths) - 1):
            enc += [nn.Linear(widths[i], widths[i + 1])] + ([nn.ReLU()] if i < len(widths) - 2 else [])
        back = widths[::-1]
        for i in range(len(back) - 1):
            dec += [nn.Linear(back[i], back[i + 1]), nn.ReLU() if i < len(back) - 2 else nn.Sigmoid()]
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class ConvAE(nn.Module):
    def __init__(self):
        super().__init__()
        c = lambda i, o: nn.Conv2d(i, o, 3, padding=1)
        self.encoder = nn.Sequential(c(1, 16), nn.ReLU(), nn.MaxPool2d(2), c(16, 8), nn.ReLU(), nn.MaxPool2d(2),
                                     c(8, 8), nn.ReLU())
        self.decoder = nn.Sequential(nn.Upsample(scale_factor=2), c(8, 16), nn.ReLU(), nn.Upsample(scale_factor=2),
                                     c(16, 1), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x.view(-1, 1, 28, 28))).view(-1, 784)


class SeqAE(nn.Module):
    def __init__(self, cell):
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.encoder, self.decoder = rnn(28, 128, batch_first=True), rnn(128, 128, batch_first=True)
        self.out = nn.Linear(128, 28)

    def forward(self, x):
        _, state = self.encoder(x.view(-1, 28, 28))
        h = (state[0] if isinstance(state, tuple) else state)[-1]
        y, _ = self.decoder(h.unsqueeze(1).expand(-1, 28, -1))
        return torch.sigmoid(self.out(y)).reshape(-1, 784)


class VAE(nn.Module):
    def __init__(self, z=20):
        super().__init__()
        self.e1, self.e2, self.mean, self.logvar = nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, z), nn.Linear(256, z)
        self.d1, self.d2, self.d3 = nn.Linear(z, 256), nn.Linear(256, 512), nn.Linear(512, 784)

    def encode(self, x):
        h = F.relu(self.e2(F.relu(self.e1(x))))
        return self.mean(h), self.logvar(h)

    def decode(self, z):
        return torch.sigmoid(self.d3(F.relu(self.d2(F.relu(self.d1(z))))))


def vae_loss(model, x):
    mean, logvar = model.encode(x)
    recon = model.decode(mean + torch.randn_like(mean) * torch.exp(0.5 * logvar))
    kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
    return (F.binary_cross_entropy(recon, x, reduction="sum") + kl) / x.shape[0]


def macs(name):
    if name == "M1":
        w = [784, 1000, 500, 250, 30]
        return 2 * sum(a * b for a, b in zip(w, w[1:]))
    if name == "M2":
        return 28 * 28 * 16 * 9 + 14 * 14 * 8 * 9 * 16 + 7 * 7 * 8 * 9 * 8 + 14 * 14 * 16 * 9 * 8 + 28 * 28 * 16 * 9
    if name in ("M3", "M4"):
        gates = 4 if name == "M3" else 3
        return 28 * gates * 128 * (28 + 128) + 28 * gates * 128 * 256 + 28 * 128 * 28
    return 784 * 512 + 512 * 256 + 2 * 256 * 20 + 20 * 256 + 256 * 512 + 512 * 784


MODELS = {  # name: (batch, build, training loss, inference)
    "M1": (256, DenseAE, lambda m, x: F.mse_loss(m(x), x), lambda m, x: m(x)),
    "M2": (128, ConvAE, lambda m, x: F.binary_cross_entropy(m(x), x), lambda m, x: m(x)),
    "M3": (128, lambda: SeqAE("lstm"), lambda m, x: F.mse_loss(m(x), x), lambda m, x: m(x)),
    "M4": (128, lambda: SeqAE("gru"), lambda m, x: F.mse_loss(m(x), x), lambda m, x: m(x)),
    "M5": (128, VAE, vae_loss, lambda m, x: m.decode(m.encode(x)[0])),
}


def measure(fn, batch, min_time, warmup=5):
    for _ in range(warmup):
        fn()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 10:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return batch * len(times) / sum(times), statistics.median(times) * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="M1,M2,M3,M4,M5")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--min-time", type=float, default=10)
    ap.add_argument("--json")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits
    images, source = load_images()
    print(f"data: {source} ({len(images)} images)", flush=True)
    rows = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        if name not in MODELS:
            raise SystemExit(f"unknown model {name} (choose from {', '.join(MODELS)})")
        batch, build, loss_fn, infer_fn = MODELS[name]
        for threads in [int(t) for t in args.threads.split(",")]:
            with threadpool_limits(threads):
                torch.set_num_threads(threads)
                torch.manual_seed(0)
                model = build()
                opt = torch.optim.Adam(model.parameters(), lr=1e-3)
                order = torch.randperm(len(images))
                at = [0]

                def next_batch():
                    if at[0] + batch > len(order):
                        at[0] = 0
                    x = images[order[at[0]:at[0] + batch]]
                    at[0] += batch
                    return x

                def step():
                    x = next_batch()
                    opt.zero_grad(set_to_none=True)
                    loss_fn(model, x).backward()
                    opt.step()

                def infer():
                    with torch.no_grad():
                        infer_fn(model, next_batch())

                train, step_ms = measure(step, batch, args.min_time)
                inference, _ = measure(infer, batch, args.min_time / 2)
            row = {"impl": f"torch-{torch.__version__}", "model": name, "batch": batch, "threads": threads,
                   "train_sps": train, "infer_sps": inference, "step_ms": step_ms,
                   "train_gflops": 6 * macs(name) * train / 1e9}
            print(f"torch {name} batch {batch} threads {threads}: train {train:,.1f} samples/s "
                  f"({row['train_gflops']:.1f} GFLOP/s, step {step_ms:.2f} ms), inference {inference:,.1f} samples/s",
                  flush=True)
            rows.append(row)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
