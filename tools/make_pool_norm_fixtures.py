#!/usr/bin/env python3
"""Writes Tests/LayersTests/Fixtures/pool-norm-layers.bin.gz: pooling, upsampling and instance
normalisation computed by PyTorch (float32, CPU, one thread) for the Swift layer tests to match.

Setup: pip install torch

Per case <name> (format: tools/fixture_format.py, gzip-compressed), all NCHW:
    <name>.x            input (B, C, H, W), torch.randn with a generator seeded per case
    <name>.dy           upstream gradient, the shape of the output
    <name>.y            layer(x)
    <name>.dx           d(sum(y * dy))/dx
  affine InstanceNorm2d also:
    <name>.weight, <name>.bias              the (non-default) parameters used
    <name>.grad.weight, <name>.grad.bias    their gradients

Cases:
    maxpool_k2          MaxPool2d(2) on (2, 2, 4, 5)
    maxpool_k3s2        MaxPool2d(3, stride=2) on (2, 2, 7, 9)
    avgpool_k2          AvgPool2d(2) on (2, 2, 5, 4)
    upsample_nearest2   F.interpolate(scale_factor=2, mode='nearest') on (2, 2, 2, 3)
    upsample_bilinear2  F.interpolate(scale_factor=2, mode='bilinear', align_corners=False) on (2, 2, 3, 3)
    upsample_bilinear3  the same with scale_factor=3 on (2, 2, 3, 2)
    instnorm_affine     InstanceNorm2d(3, affine=True), weight 1 + 0.5 randn, bias 0.3 randn, on (2, 3, 3, 4)
    instnorm_plain      InstanceNorm2d(2) (not affine) on 2 randn + 0.5, (2, 2, 3, 5)
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_format import write_fixture  # noqa: E402

OUT = os.path.join(HERE, "..", "Tests", "LayersTests", "Fixtures", "pool-norm-layers.bin.gz")


def entry(name, t):
    t = t.detach().to(torch.float32).contiguous()
    return (name, tuple(t.shape), [float(v) for v in t.reshape(-1).tolist()])


def case(tensors, name, seed, shape, fn, scale=1.0, offset=0.0, params=()):
    """Runs fn(x) and its backward with a random upstream gradient; records x, dy, y, dx and
    every tensor in params (with its gradient)."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g) * scale + offset).requires_grad_(True)
    y = fn(x)
    dy = torch.randn(y.shape, generator=g)
    y.backward(dy)
    tensors += [entry(f"{name}.x", x), entry(f"{name}.dy", dy), entry(f"{name}.y", y),
                entry(f"{name}.dx", x.grad)]
    for pname, p in params:
        tensors += [entry(f"{name}.{pname}", p), entry(f"{name}.grad.{pname}", p.grad)]


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tensors = []
    case(tensors, "maxpool_k2", 1, (2, 2, 4, 5), nn.MaxPool2d(2))
    case(tensors, "maxpool_k3s2", 2, (2, 2, 7, 9), nn.MaxPool2d(3, stride=2))
    case(tensors, "avgpool_k2", 3, (2, 2, 5, 4), nn.AvgPool2d(2))
    case(tensors, "upsample_nearest2", 4, (2, 2, 2, 3),
         lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))
    case(tensors, "upsample_bilinear2", 5, (2, 2, 3, 3),
         lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
    case(tensors, "upsample_bilinear3", 6, (2, 2, 3, 2),
         lambda x: F.interpolate(x, scale_factor=3, mode="bilinear", align_corners=False))

    norm = nn.InstanceNorm2d(3, affine=True)
    with torch.no_grad():
        g = torch.Generator().manual_seed(7)
        norm.weight.copy_(1 + 0.5 * torch.randn(3, generator=g))
        norm.bias.copy_(0.3 * torch.randn(3, generator=g))
    case(tensors, "instnorm_affine", 8, (2, 3, 3, 4), norm,
         params=[("weight", norm.weight), ("bias", norm.bias)])
    case(tensors, "instnorm_plain", 9, (2, 2, 3, 5), nn.InstanceNorm2d(2), scale=2.0, offset=0.5)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_fixture(OUT, tensors)
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
