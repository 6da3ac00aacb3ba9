#!/usr/bin/env python3
"""Writes Tests/LayersTests/Fixtures/conv-layers.bin.gz: nn.Conv2d (zeros and reflect padding) and
nn.ConvTranspose2d cases computed by PyTorch, for Tests/LayersTests/ConvTransposeAndPaddingTests.swift.

Setup: pip install torch

Inputs, weights, biases and upstream gradients are float32 (torch.manual_seed(0), PyTorch default
init for the layers, torch.rand*2-1 for x and dy); the layer then runs in float64 on exactly those
values, and results are rounded to float32, so the reference carries no float32 summation error.

Tensors per case <c> (format: tools/fixture_format.py, gzip-compressed):
    <c>.geometry (10,)   inC, outC, H, W, kernel, stride, padding, dilation, output_padding,
                         reflect (1 for padding_mode='reflect'; output_padding is 0 for Conv2d)
    <c>.x (B,inC,H,W)    input
    <c>.weight, <c>.bias the layer's parameters (Conv2d (outC,inC,k,k), ConvTranspose2d (inC,outC,k,k))
    <c>.dy               upstream gradient, shaped like the output
    <c>.y                layer(x)
    <c>.dx, <c>.dweight, <c>.dbias   gradients of sum(y * dy)
"""
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_format import write_fixture  # noqa: E402

OUT = os.path.join(HERE, "..", "Tests", "LayersTests", "Fixtures", "conv-layers.bin.gz")

# name, transposed, inC, outC, H, W, kernel, stride, padding, dilation, output_padding, padding_mode
CASES = [
    ("conv_zeros_s2", False, 2, 2, 5, 7, 3, 2, 1, 1, 0, "zeros"),
    ("conv_reflect", False, 2, 2, 5, 7, 3, 1, 1, 1, 0, "reflect"),
    ("conv_reflect_s2_d2", False, 2, 1, 5, 7, 3, 2, 2, 2, 0, "reflect"),
    ("convt_s2_p1_op1", True, 2, 2, 3, 4, 3, 2, 1, 1, 1, "zeros"),
    ("convt_s3_p1_op2_d2", True, 2, 1, 3, 2, 3, 3, 1, 2, 2, "zeros"),
]
BATCH = 2


def entry(name, t):
    t = t.detach().to(torch.float32).contiguous()
    return (name, tuple(t.shape), [float(v) for v in t.reshape(-1).tolist()])


def main():
    torch.manual_seed(0)
    tensors = []
    for name, transposed, c, o, h, w, k, s, p, d, op, mode in CASES:
        if transposed:
            layer = nn.ConvTranspose2d(c, o, k, stride=s, padding=p, output_padding=op, dilation=d)
        else:
            layer = nn.Conv2d(c, o, k, stride=s, padding=p, dilation=d, padding_mode=mode)
        x = torch.rand(BATCH, c, h, w) * 2 - 1
        layer64 = layer.double()  # parameters were drawn in float32; converting is exact
        x64 = x.double().requires_grad_(True)
        y64 = layer64(x64)
        dy = torch.rand(y64.shape) * 2 - 1
        (y64 * dy.double()).sum().backward()
        geometry = torch.tensor([c, o, h, w, k, s, p, d, op, 1 if mode == "reflect" else 0])
        tensors += [
            entry(name + ".geometry", geometry),
            entry(name + ".x", x),
            entry(name + ".weight", layer64.weight),
            entry(name + ".bias", layer64.bias),
            entry(name + ".dy", dy),
            entry(name + ".y", y64),
            entry(name + ".dx", x64.grad),
            entry(name + ".dweight", layer64.weight.grad),
            entry(name + ".dbias", layer64.bias.grad),
        ]
    write_fixture(OUT, tensors)
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
