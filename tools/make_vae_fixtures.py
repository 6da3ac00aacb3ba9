#!/usr/bin/env python3
"""Writes Tests/ModelsTests/Fixtures/tiny-vae.bin.gz: a tiny VAE computed by PyTorch (float32, CPU,
one thread) with fixed weights and a fixed epsilon, for the Swift VAE tests to match.

Setup: pip install torch

Model (torch.manual_seed(0), PyTorch default init, weights in PyTorch layout (out, in)), named as
the Swift model names them (one head of 2Z outputs: mean | log-variance):
    encoder = Sequential(Linear(10, 6), ReLU, Linear(6, 2 * 3))
    decoder = Sequential(Linear(3, 6), ReLU, Linear(6, 10 or 20))     # logits / mean (| log-variance)
    z = mean + exp(logvar / 2) * eps
Input x: (5, 10) = torch.rand (generator seeded 1), eps: (5, 3) = torch.randn (generator seeded 2).
Per sample: KL = -0.5 * sum(1 + logvar - mean^2 - exp(logvar)).

Tensors (format: tools/fixture_format.py, gzip-compressed), for each decoder D in
bernoulli, gaussian (fixed variance 0.5), gaussian_learned:
    D.<param>            every parameter under its state_dict name
    input (5,10), epsilon (5,3)
    D.reconstruction (1,) sum over samples of -log p(x|z): BCE-with-logits(sum) for bernoulli,
                          Gaussian NLL(sum) with variance 0.5, or with the decoder's log-variance half
    D.kl (1,)             sum over samples of KL
    D.loss (1,)           (reconstruction + kl) / batch: the per-sample negative ELBO
    D.grad.<param>        gradient of D.loss
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_format import write_fixture  # noqa: E402

OUT = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures", "tiny-vae.bin.gz")
D, H, Z, B = 10, 6, 3, 5
VARIANCE = 0.5


def entry(name, t):
    t = t.detach().to(torch.float32).contiguous()
    return (name, tuple(t.shape), [float(v) for v in t.reshape(-1).tolist()])


def main():
    torch.set_num_threads(1)
    x = torch.rand(B, D, generator=torch.Generator().manual_seed(1))
    eps = torch.randn(B, Z, generator=torch.Generator().manual_seed(2))
    tensors = [entry("input", x), entry("epsilon", eps)]
    for kind in ["bernoulli", "gaussian", "gaussian_learned"]:
        torch.manual_seed(0)
        outputs = 2 * D if kind == "gaussian_learned" else D
        model = nn.ModuleDict({
            "encoder": nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, 2 * Z)),
            "decoder": nn.Sequential(nn.Linear(Z, H), nn.ReLU(), nn.Linear(H, outputs)),
        })
        stats = model["encoder"](x)
        mean, logvar = stats[:, :Z], stats[:, Z:]
        z = mean + torch.exp(0.5 * logvar) * eps
        out = model["decoder"](z)
        if kind == "bernoulli":
            recon = F.binary_cross_entropy_with_logits(out, x, reduction="sum")
        elif kind == "gaussian":
            recon = (0.5 * math.log(2 * math.pi * VARIANCE) + (x - out) ** 2 / (2 * VARIANCE)).sum()
        else:
            mu, lv = out[:, :D], out[:, D:]
            recon = (0.5 * (math.log(2 * math.pi) + lv + (x - mu) ** 2 / torch.exp(lv))).sum()
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
        loss = (recon + kl) / B
        loss.backward()
        for name, p in model.named_parameters():
            tensors.append(entry(f"{kind}.{name}", p))
            tensors.append(entry(f"{kind}.grad.{name}", p.grad))
        tensors += [entry(f"{kind}.reconstruction", recon.reshape(1)), entry(f"{kind}.kl", kl.reshape(1)),
                    entry(f"{kind}.loss", loss.reshape(1))]
    write_fixture(OUT, tensors)
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
