#!/usr/bin/env python3
"""Writes Tests/ModelsTests/Fixtures/conv-models.bin.gz: the convolutional autoencoders computed by
PyTorch (float32, CPU, one thread), for the Swift model tests to match.

Setup: pip install torch threadpoolctl

Models (torch.manual_seed(0), PyTorch default init, nn.Sequential so state_dict names equal ours):
  m2       the seed's network as in ../shared/bench (M2), on (2, 1, 28, 28):
           encoder = Sequential(Conv2d(1,16,3,p=1), ReLU, MaxPool2d(2), Conv2d(16,8,3,p=1), ReLU,
                                MaxPool2d(2), Conv2d(8,8,3,p=1), ReLU)
           decoder = Sequential(Upsample(2, nearest), Conv2d(8,16,3,p=1), ReLU, Upsample(2), Conv2d(16,1,3,p=1))
           loss BCEWithLogitsLoss(mean) (= M2's sigmoid + BCELoss without its log clamp)
  strided  the strided variant on an odd size, (3, 2, 7, 9), filters 3,2,2, sigmoid output, MSE(mean):
           encoder = Sequential(Conv2d(2,3,3,s=2,p=1), ReLU, Conv2d(3,2,3,s=2,p=1), ReLU, Conv2d(2,2,3,p=1), ReLU)
           decoder = Sequential(ConvTranspose2d(2,3,3,s=2,p=1,output_padding=(1,0)), ReLU,
                                ConvTranspose2d(3,2,3,s=2,p=1), Sigmoid)
Inputs: torch.rand with a generator seeded 1.

Tensors (tools/fixture_format.py, gzip-compressed), per model prefix P (m2, strided):
    P.<param>        initial parameters by state_dict name (encoder.0.weight, ...)
    P.input          x, flattened per sample (NCHW)
    P.output         the reconstruction in [0, 1] (sigmoid of the logits for m2)
    P.loss (1,)      the loss at the initial weights
    P.grad.<param>   its gradient
    m2.adam_losses (5,)  loss at each of 5 Adam(lr=1e-3) steps on x, before that step's update
"""
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_format import write_fixture  # noqa: E402

OUT = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures", "conv-models.bin.gz")


class AE(nn.Module):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x):
        return self.decoder(self.encoder(x))


def m2():
    return AE(nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()),
              nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(16, 1, 3, padding=1)))


def strided():
    return AE(nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ReLU(),
                            nn.Conv2d(3, 2, 3, stride=2, padding=1), nn.ReLU(),
                            nn.Conv2d(2, 2, 3, padding=1), nn.ReLU()),
              nn.Sequential(nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=(1, 0)), nn.ReLU(),
                            nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), nn.Sigmoid()))


def flat(t):
    return t.detach().reshape(-1).tolist()


def case(prefix, model, x, loss_fn, to_output, adam_steps=0):
    tensors = []
    for name, p in model.state_dict().items():
        tensors.append((f"{prefix}.{name}", tuple(p.shape), flat(p)))
    tensors.append((f"{prefix}.input", (x.shape[0], x[0].numel()), flat(x)))
    out = model(x)
    loss = loss_fn(out, x)
    model.zero_grad()
    loss.backward()
    tensors.append((f"{prefix}.output", (x.shape[0], x[0].numel()), flat(to_output(out))))
    tensors.append((f"{prefix}.loss", (1,), [loss.item()]))
    for name, p in model.named_parameters():
        tensors.append((f"{prefix}.grad.{name}", tuple(p.shape), flat(p.grad)))
    if adam_steps:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses = []
        for _ in range(adam_steps):
            opt.zero_grad()
            step_loss = loss_fn(model(x), x)
            losses.append(step_loss.item())
            step_loss.backward()
            opt.step()
        tensors.append((f"{prefix}.adam_losses", (adam_steps,), losses))
    return tensors


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    tensors = case("m2", m2(), torch.rand(2, 1, 28, 28, generator=generator), nn.BCEWithLogitsLoss(),
                   torch.sigmoid, adam_steps=5)
    torch.manual_seed(0)
    tensors += case("strided", strided(), torch.rand(3, 2, 7, 9, generator=generator), nn.MSELoss(), lambda t: t)
    write_fixture(OUT, tensors)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
