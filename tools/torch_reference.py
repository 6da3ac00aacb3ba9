#!/usr/bin/env python3
"""The PyTorch reference models M1-M7, written here to the definitions the project compares
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
    M6  adversarial AE (`--model aae`): 784-1000-1000-2, mirrored, BCE-with-logits(mean); a
        discriminator 2-500-500-1 on the code against N(0, I) draws; per step three Adam updates:
        reconstruction (encoder+decoder), discriminator, generator (encoder; it reuses the
        discriminator update's encoding, as the encoder has not changed); batch 128
    M7  split-latent disentangling AE (`--model disentangle`): encoder 784-512-(256)-(16 means |
        16 log-variances), z = mean + e^(logvar/2) eps; decoder stages (16+10)-256, (256+10)-512,
        (512+10)-784 with the label one-hot at every stage; adversary 16-256-10 on the mean; per
        step: adversary (cross-entropy against the label) then autoencoder (BCE-with-logits(mean)
        + 0.25 x KL / 784 + 0.05 x cross-entropy of the adversary against uniform, per-sample terms
        averaged over the batch) updates on one encoding of the batch; batch 128 (labels drawn at random: the speed
        does not depend on them)
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


def mlp(widths, last_activation=False):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2 or last_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class AAE(nn.Module):
    """M6: its own optimizers, one per phase, as `autoencoder train --model aae`."""

    def __init__(self):
        super().__init__()
        self.encoder = mlp([784, 1000, 1000, 2])
        self.decoder = mlp([2, 1000, 1000, 784])
        self.discriminator = mlp([2, 500, 500, 1])
        self.opt_ae = torch.optim.Adam(list(self.encoder.parameters()) + list(self.decoder.parameters()), lr=1e-3)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=1e-3)
        self.opt_g = torch.optim.Adam(self.encoder.parameters(), lr=1e-3)

    def forward(self, x):
        return torch.sigmoid(self.decoder(self.encoder(x)))

    def train_step(self, x):
        bce = F.binary_cross_entropy_with_logits
        self.opt_ae.zero_grad(set_to_none=True)
        bce(self.decoder(self.encoder(x)), x).backward()
        self.opt_ae.step()
        # One encoding serves the discriminator and generator updates: the discriminator's
        # update leaves the encoder as it was (as `autoencoder` does).
        self.opt_d.zero_grad(set_to_none=True)
        code = self.encoder(x)
        real = torch.randn_like(code)
        ones, zeros = torch.ones(len(x), 1), torch.zeros(len(x), 1)
        (bce(self.discriminator(real), ones) + bce(self.discriminator(code.detach()), zeros)).backward()
        self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        bce(self.discriminator(code), ones).backward()
        self.opt_g.step()


class SplitLatent(nn.Module):
    """M7: the label one-hot next to the code at every decoder stage; an adversary on the code."""

    def __init__(self, classes=10, code=16, weight=0.05):
        super().__init__()
        self.classes, self.weight = classes, weight
        self.code = code
        self.encoder = mlp([784, 512, 256, 2 * code])
        self.stages = nn.ModuleList([nn.Linear(code + classes, 256), nn.Linear(256 + classes, 512),
                                     nn.Linear(512 + classes, 784)])
        self.adversary = mlp([code, 256, classes])
        autoencoder = list(self.encoder.parameters()) + list(self.stages.parameters())
        self.opt_ae = torch.optim.Adam(autoencoder, lr=1e-3)
        self.opt_adv = torch.optim.Adam(self.adversary.parameters(), lr=1e-3)

    def decode(self, code, onehot):
        h = code
        for i, stage in enumerate(self.stages):
            h = stage(torch.cat([h, onehot], dim=1))
            if i < len(self.stages) - 1:
                h = F.relu(h)
        return h

    def forward(self, x):
        onehot = torch.zeros(len(x), self.classes)
        return torch.sigmoid(self.decode(self.encoder(x)[:, :self.code], onehot))

    def train_step(self, x):
        labels = torch.randint(0, self.classes, (len(x),))
        onehot = F.one_hot(labels, self.classes).float()
        # The adversary first, then the autoencoder on the same encoding (the adversary's update
        # leaves the encoder as it was), as `autoencoder` does.
        mean, logvar = self.encoder(x).split(self.code, dim=1)
        self.opt_adv.zero_grad(set_to_none=True)
        F.cross_entropy(self.adversary(mean.detach()), labels).backward()
        self.opt_adv.step()
        self.opt_ae.zero_grad(set_to_none=True)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()
        # The engine's units: per-pixel BCE plus per-sample terms divided by the pixels, as
        # `autoencoder` scales them (the adversary's term by lambda per sample).
        confusion = -F.log_softmax(self.adversary(mean), dim=1).mean(dim=1).mean()
        loss = F.binary_cross_entropy_with_logits(self.decode(z, onehot), x) + 0.25 * kl / 784 \
            + self.weight * confusion
        loss.backward()
        self.opt_ae.step()


def macs(name):
    if name == "M1":
        w = [784, 1000, 500, 250, 30]
        return 2 * sum(a * b for a, b in zip(w, w[1:]))
    if name == "M2":
        return 28 * 28 * 16 * 9 + 14 * 14 * 8 * 9 * 16 + 7 * 7 * 8 * 9 * 8 + 14 * 14 * 16 * 9 * 8 + 28 * 28 * 16 * 9
    if name in ("M3", "M4"):
        gates = 4 if name == "M3" else 3
        return 28 * gates * 128 * (28 + 128) + 28 * gates * 128 * 256 + 28 * 128 * 28
    if name == "M6":
        encoder = 784 * 1000 + 1000 * 1000 + 1000 * 2
        discriminator = 2 * 500 + 500 * 500 + 500
        return 2 * encoder + encoder + 3 * discriminator  # per step: encoder x2, decoder, discriminator x3
    if name == "M7":
        encoder = 784 * 512 + 512 * 256 + 256 * 32
        decoder = 26 * 256 + 266 * 512 + 522 * 784
        return encoder + decoder + 2 * (16 * 256 + 256 * 10)
    return 784 * 512 + 512 * 256 + 2 * 256 * 20 + 20 * 256 + 256 * 512 + 512 * 784


MODELS = {  # name: (batch, build, training loss, inference)
    "M1": (256, DenseAE, lambda m, x: F.mse_loss(m(x), x), lambda m, x: m(x)),
    "M2": (128, ConvAE, lambda m, x: F.binary_cross_entropy(m(x), x), lambda m, x: m(x)),
    "M3": (128, lambda: SeqAE("lstm"), lambda m, x: F.mse_loss(m(x), x), lambda m, x: m(x)),
    "M4": (128, lambda: SeqAE("gru"), lambda m, x: F.mse_loss(m(x), x), lambda m, x: m(x)),
    "M5": (128, VAE, vae_loss, lambda m, x: m.decode(m.encode(x)[0])),
    # Multi-phase models step their own optimizers (train_step).
    "M6": (128, AAE, None, lambda m, x: m(x)),
    "M7": (128, SplitLatent, None, lambda m, x: m(x)),
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
    ap.add_argument("--models", default="M1,M2,M3,M4,M5,M6,M7")
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
                    if loss_fn is None:
                        model.train_step(x)
                        return
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
