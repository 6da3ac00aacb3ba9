#!/usr/bin/env python3
"""Writes Tests/ModelsTests/Fixtures/tiny-dense-ae.bin.gz: a tiny dense autoencoder computed by
PyTorch (float32, CPU, one thread), for the Swift model tests to match exactly.

Setup: pip install torch safetensors threadpoolctl

Model (torch.manual_seed(0), PyTorch default init, weights stored in PyTorch layout (out, in)):
    encoder = Sequential(Linear(12, 8), ReLU, Linear(8, 5), ReLU, Linear(5, 3))        # linear 3-d code
    decoder = Sequential(Linear(3, 5), ReLU, Linear(5, 8), ReLU, Linear(8, 12), Sigmoid)
Input x: (6, 12) = torch.rand with a generator seeded 1 (values in [0, 1)).

Tensors (format: tools/fixture_format.py, gzip-compressed):
    <param>               every initial parameter under its state_dict name
                          (encoder.0.weight, encoder.0.bias, encoder.2.*, encoder.4.*,
                           decoder.0.*, decoder.2.*, decoder.4.*)
    input (6,12)          x
    output (6,12)         model(x)
    loss (1,)             MSELoss(reduction='mean')(model(x), x)
    grad.<param>          gradient of that loss at the initial weights
    adam_losses (10,)     loss at each of 10 Adam(lr=1e-2, betas=(0.9, 0.999), eps=1e-8) steps on x,
                          computed before that step's update (adam_losses[0] == loss)
    after.<param>         every parameter after the 10 steps
  BCE case (same initial weights; the decoder's last Linear gives logits, no Sigmoid):
    bce.output_logits (6,12)
    bce.loss (1,)         BCEWithLogitsLoss(reduction='mean')(logits, x)
    bce.grad.<param>      gradient of that loss at the initial weights
"""
import copy
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_format import write_fixture  # noqa: E402

OUT = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures", "tiny-dense-ae.bin.gz")


class TinyAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 5), nn.ReLU(),
                                     nn.Linear(5, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 8), nn.ReLU(),
                                     nn.Linear(8, 12), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def logits(self, x):
        """Decoder output before the final Sigmoid."""
        return self.decoder[:-1](self.encoder(x))


def entry(name, t):
    t = t.detach().to(torch.float32).contiguous()
    return (name, tuple(t.shape), [float(v) for v in t.reshape(-1).tolist()])


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TinyAE()
    initial = copy.deepcopy(model.state_dict())
    x = torch.rand((6, 12), generator=torch.Generator().manual_seed(1), dtype=torch.float32)

    tensors = [entry(name, t) for name, t in initial.items()]
    tensors.append(entry("input", x))

    # MSE: forward, loss, gradients at the initial weights.
    mse = nn.MSELoss(reduction="mean")
    model.zero_grad(set_to_none=True)
    out = model(x)
    loss = mse(out, x)
    loss.backward()
    tensors.append(entry("output", out))
    tensors.append(entry("loss", loss.reshape(1)))
    tensors += [entry(f"grad.{n}", p.grad) for n, p in model.named_parameters()]

    # 10 Adam steps from the initial weights.
    model.load_state_dict(initial)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        step_loss = mse(model(x), x)
        step_loss.backward()
        opt.step()
        losses.append(step_loss.detach().reshape(1))
    assert torch.equal(losses[0], loss.detach().reshape(1))
    tensors.append(entry("adam_losses", torch.cat(losses)))
    tensors += [entry(f"after.{n}", p) for n, p in model.named_parameters()]

    # BCE with logits, same initial weights.
    model.load_state_dict(initial)
    model.zero_grad(set_to_none=True)
    logits = model.logits(x)
    bce = nn.BCEWithLogitsLoss(reduction="mean")(logits, x)
    bce.backward()
    tensors.append(entry("bce.output_logits", logits))
    tensors.append(entry("bce.loss", bce.reshape(1)))
    tensors += [entry(f"bce.grad.{n}", p.grad) for n, p in model.named_parameters()]

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_fixture(OUT, tensors)
    print(f"wrote {os.path.relpath(OUT)}: {len(tensors)} tensors, {os.path.getsize(OUT)} bytes; "
          f"torch {torch.__version__}, loss {loss.item():.6f}, adam final {losses[-1].item():.6f}, "
          f"bce {bce.item():.6f}")


if __name__ == "__main__":
    main()
