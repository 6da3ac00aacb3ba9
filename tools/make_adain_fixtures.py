#!/usr/bin/env python3
"""Writes Tests/ModelsTests/Fixtures/tiny-adain.bin.gz: the AdaIN two-encoder disentangling model
(`train --model disentangle --form adain`) computed by PyTorch (float32, CPU, one thread) with
fixed weights, for the Swift model to match in loss and every parameter's gradient.

Setup: pip install torch

Model (hidden channels H = 3, content channels Z = 2, style width S = 3, tanh, a variational
content code with KL weight 0.5, evaluated at its mean), parameters named as the Swift model
names them:
    content.0  conv(in -> H) tanh, instance norm (no affine)
    content.1  conv(H -> H)  tanh, instance norm         images: 4x4 stride 2 (and content.2)
    content.2  conv(H -> H)  tanh, instance norm
    content.3  pointwise conv(H -> 2Z): mean | log-variance channels; the code is the mean
    style.0-2  as content.0-2 without the norms; average over positions; style.3 Linear(H, S)
    adain      Linear(S, 2H x 3): (gamma | beta) of each decoder norm in turn
    decoder.0  pointwise conv(Z -> H), AdaIN 0: instance norm, * (1 + gamma) + beta
    decoder.1  tanh, up (H -> H), AdaIN 1            images: ConvTranspose2d 4x4 stride 2
    decoder.2  tanh, up (H -> H), AdaIN 2
    decoder.3  tanh, conv(H -> out)
Images: 2x8x4, 3x3 convolutions padded 1, BCE with logits. Sequences: 3 features, 6 steps,
Conv1d kernel 3 'same', rows of lengths 6, 4, 5: every norm, average and loss covers the valid
steps only and positions past them are zero after each block; squared error.
Objective = (reconstruction sum + 0.5 * KL sum) / (rows x values per row), values per row =
C*H*W or steps x features.

Tensors (format: tools/fixture_format.py, gzip-compressed), for K in images, sequences:
    K.<param>           every parameter
    K.input             (rows, values) as the Swift model's rows (sequences: step-major, zero-
                        padded, then the length)
    K.reconstruction, K.kl, K.objective (1,)
    K.grad.<param>      gradient of K.objective
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_format import write_fixture  # noqa: E402

OUT = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures", "tiny-adain.bin.gz")
H, Z, S, KL = 3, 2, 3, 0.5


def entry(name, t):
    t = t.detach().to(torch.float32).contiguous()
    return (name, tuple(t.shape), [float(v) for v in t.reshape(-1).tolist()])


def norm(x, mask, gamma=None, beta=None):
    """Instance norm over the masked positions (biased variance, eps 1e-5), zero elsewhere."""
    n = mask.sum(-1, keepdim=True)
    mean = (x * mask).sum(-1, keepdim=True) / n
    var = (((x - mean) * mask) ** 2).sum(-1, keepdim=True) / n
    y = (x - mean) / torch.sqrt(var + 1e-5)
    if gamma is not None:
        y = y * (1 + gamma.unsqueeze(-1)) + beta.unsqueeze(-1)
    return y * mask


def build(sequence):
    torch.manual_seed(0)
    c_in = 3 if sequence else 2
    p = {}

    def conv(name, i, o, k):
        shape = (o, i, k) if sequence else (o, i, k, k)
        bound = 1 / (i * (k if sequence else k * k)) ** 0.5
        p[name + ".weight"] = torch.empty(shape).uniform_(-bound, bound)
        p[name + ".bias"] = torch.empty(o).uniform_(-bound, bound)

    def transposed(name, i, o):
        bound = 1 / (o * 16) ** 0.5  # PyTorch's ConvTranspose2d fan-in: weight.size(1) * k * k
        p[name + ".weight"] = torch.empty(i, o, 4, 4).uniform_(-bound, bound)
        p[name + ".bias"] = torch.empty(o).uniform_(-bound, bound)

    def linear(name, i, o):
        bound = 1 / i ** 0.5
        p[name + ".weight"] = torch.empty(o, i).uniform_(-bound, bound)
        p[name + ".bias"] = torch.empty(o).uniform_(-bound, bound)

    k = 3 if sequence else 4
    for name in ["content", "style"]:
        conv(name + ".0", c_in, H, 3)
        conv(name + ".1", H, H, k)
        conv(name + ".2", H, H, k)
        if name == "content":
            conv("content.3", H, 2 * Z, 1)
    linear("style.3", H, S)
    linear("adain", S, 6 * H)
    conv("decoder.0", Z, H, 1)
    if sequence:
        conv("decoder.1", H, H, 3)
        conv("decoder.2", H, H, 3)
    else:
        transposed("decoder.1", H, H)
        transposed("decoder.2", H, H)
    conv("decoder.3", H, c_in, 3)
    for t in p.values():
        t.requires_grad_(True)
    return p


def run(sequence):
    p = build(sequence)
    gen = torch.Generator().manual_seed(1)
    if sequence:
        steps, feats, lengths = 6, 3, [6, 4, 5]
        values = steps * feats
        x = torch.rand(3, steps, feats, generator=gen)
        for r, n in enumerate(lengths):
            x[r, n:] = 0
        rows = torch.cat([x.reshape(3, values), torch.tensor(lengths, dtype=torch.float32).unsqueeze(1)], 1)
        inp = x.transpose(1, 2)  # (rows, features, steps)
        full = torch.stack([(torch.arange(steps) < n).float() for n in lengths]).unsqueeze(1)
        masks = [full] * 3

        def c(name, t, k=3, stride=False, up=False):
            return F.conv1d(t, p[name + ".weight"], p[name + ".bias"], padding=(k - 1) // 2)
        flat = lambda t: t  # noqa: E731
    else:
        values = 2 * 8 * 4
        x = 0.1 + 0.8 * torch.rand(3, 2, 8, 4, generator=gen)
        rows = x.reshape(3, values)
        inp = x
        masks = [torch.ones(1, 1, 32), torch.ones(1, 1, 8), torch.ones(1, 1, 2)]

        def c(name, t, k=3, stride=False, up=False):
            if up:
                return F.conv_transpose2d(t, p[name + ".weight"], p[name + ".bias"], stride=2, padding=1)
            if stride:
                return F.conv2d(t, p[name + ".weight"], p[name + ".bias"], stride=2, padding=1)
            return F.conv2d(t, p[name + ".weight"], p[name + ".bias"], padding=(k - 1) // 2)
        flat = lambda t: t.reshape(t.shape[0], t.shape[1], -1)  # noqa: E731

    def shaped(t, like):
        return t.reshape(like.shape)

    # Content encoder.
    h = inp
    for i in range(3):
        pre = torch.tanh(c(f"content.{i}", h, stride=i > 0))
        h = shaped(norm(flat(pre), masks[i]), pre)
    head = flat(c("content.3", h, k=1))
    mean, logvar = head[:, :Z] * masks[2], torch.clamp(head[:, Z:], -30, 20)
    kl = (0.5 * (mean ** 2 + torch.exp(logvar) - 1 - logvar) * masks[2]).sum()
    # Style encoder.
    s = inp
    for i in range(3):
        pre = torch.tanh(c(f"style.{i}", s, stride=i > 0))
        s = shaped(flat(pre) * masks[i], pre)
    pooled = flat(s).sum(-1) / masks[2].sum(-1)
    style = F.linear(pooled, p["style.3.weight"], p["style.3.bias"])
    gb = F.linear(style, p["adain.weight"], p["adain.bias"])
    # Decoder from the content mean.
    d = mean if sequence else mean.reshape(3, Z, 2, 1)
    for i in range(3):
        pre = c(f"decoder.{i}", d if i == 0 else torch.tanh(d), k=1 if i == 0 else 3, up=i > 0)
        gamma, beta = gb[:, 2 * H * i:2 * H * i + H], gb[:, 2 * H * i + H:2 * H * (i + 1)]
        d = shaped(norm(flat(pre), masks[2 - i], gamma, beta), pre)
    out = c("decoder.3", torch.tanh(d))
    if sequence:
        out = out.transpose(1, 2) * full.transpose(1, 2)
        recon = ((out - x) ** 2).sum()
    else:
        recon = F.binary_cross_entropy_with_logits(out, x, reduction="sum")
    objective = (recon + KL * kl) / (3 * values)
    objective.backward()
    kind = "sequences" if sequence else "images"
    tensors = [entry(f"{kind}.input", rows), entry(f"{kind}.reconstruction", recon.reshape(1)),
               entry(f"{kind}.kl", kl.reshape(1)), entry(f"{kind}.objective", objective.reshape(1))]
    for name, t in p.items():
        tensors += [entry(f"{kind}.{name}", t), entry(f"{kind}.grad.{name}", t.grad)]
    return tensors


def main():
    torch.set_num_threads(1)
    write_fixture(OUT, run(False) + run(True))
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
