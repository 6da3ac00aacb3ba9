#!/usr/bin/env python3
"""The pytorch/examples VAE (vae/main.py) on full MNIST, timed: the reference for `autoencoder train
--model vae` (784-400-20, ReLU, Bernoulli decoder, Adam 1e-3, batch 128, z sampled in test too).

    python3 tools/torch_vae.py --data ../shared/data/mnist --epochs 7 --threads 2

Prints per epoch the mean training loss and the test loss (BCE(sum) + KL per image, as that
example logs it), and the wall seconds of training; --json PATH writes them.

Setup: pip install torch numpy
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        magic, = struct.unpack(">I", f.read(4))
        dims = struct.unpack(">" + "I" * (magic & 0xFF), f.read(4 * (magic & 0xFF)))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)


def load(folder, split):
    for suffix in (".gz", ""):
        path = os.path.join(folder, f"{split}-images-idx3-ubyte{suffix}")
        if os.path.exists(path):
            return torch.from_numpy(read_idx(path).reshape(-1, 784).astype(np.float32) / 255.0)
    raise SystemExit(f"{folder}: no {split}-images-idx3-ubyte[.gz]")


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def loss_function(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    return bce + -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/mnist")
    ap.add_argument("--epochs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, test = load(args.data, "train"), load(args.data, "t10k")
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    history, train_seconds = [], 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        total = 0.0
        for idx in torch.randperm(len(train)).split(128):
            x = train[idx]
            opt.zero_grad()
            recon, mu, logvar = model(x)
            loss = loss_function(recon, x, mu, logvar)
            loss.backward()
            total += loss.item()
            opt.step()
        train_seconds += time.perf_counter() - start
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for x in test.split(128):
                recon, mu, logvar = model(x)
                test_loss += loss_function(recon, x, mu, logvar).item()
        test_loss /= len(test)
        history.append({"epoch": epoch, "train_loss": total / len(train), "test_loss": test_loss,
                        "train_seconds": train_seconds})
        print(f"epoch {epoch}: train {total / len(train):.4f} test {test_loss:.4f} ({train_seconds:.1f} s training)",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "history": history}, f, indent=1)


if __name__ == "__main__":
    main()
