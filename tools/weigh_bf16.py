#!/usr/bin/env python3
"""What bf16 operands would cost the denoiser in PSNR: a trained checkpoint run in PyTorch (the twin in
tools/torch_denoiser.py) with its Winograd layers (3x3 'same', channel product above 256, as
Conv2D chooses) computed four ways, on the test photographs at one noise level:

    fp32 direct      F.conv2d, the reference
    fp32 Winograd    F(4x4, 3x3) with our transforms (Sources/CKernels/winograd.c), products in fp32
    bf16 Winograd    the same with the transformed weights U and tiles V rounded to bf16 (products of
                     bf16 values are exact in fp32; sums in fp32), as AVX512-BF16 dot products would
    bf16 direct      F.conv2d on x and w rounded to bf16 (what a bf16 direct convolution computes)

    tools/weigh_bf16.py --checkpoint runs/denoiser-s25/checkpoints/best.safetensors
    tools/weigh_bf16.py --checkpoint F --images runs/photos/test --sigma 25 --seed 0

Each image is denoised whole (mirror border of 8, padded to a multiple of 4, as `denoise` pads) with
noise drawn by numpy (default_rng(seed)), not clipped; PSNR of the output clamped to [0, 1] against
the clean image. The noise is not the tool's, so absolute figures differ a little from `evaluate`:
read the differences between the rows. Needs pip install torch numpy pillow safetensors.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_denoiser import Denoiser  # noqa: E402

# The 1-D maps of winograd.c: bt6 (B^T), g3 (G) and at6 (A^T).
BT = torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                   [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=torch.float32)
G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=torch.float32)
AT = torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                  dtype=torch.float32)


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def winograd_conv(x, weight, bias, round_bf16):
    n, c, h, w = x.shape
    ny, nx = -(-h // 4), -(-w // 4)
    padded = F.pad(x, (1, 4 * nx + 1 - w, 1, 4 * ny + 1 - h))
    d = padded.unfold(2, 6, 4).unfold(3, 6, 4)  # n, c, ny, nx, 6, 6
    v = torch.einsum("ai,ncyxij,bj->abcnyx", BT, d, BT).reshape(36, c, -1)
    u = torch.einsum("ai,ocij,bj->aboc", G, weight, G).reshape(36, weight.shape[0], c)
    if round_bf16:
        u, v = bf16(u), bf16(v)
    m = torch.bmm(u, v).reshape(6, 6, -1, n, ny, nx)  # 36 products, fp32 sums
    y = torch.einsum("ia,abonyx,jb->noyixj", AT, m, AT).reshape(n, -1, 4 * ny, 4 * nx)
    return y[:, :, :h, :w] + bias[None, :, None, None]


def set_mode(model, mode):
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d) and module.in_channels * module.out_channels > 256:
            module.mode = mode
            if not hasattr(module, "plain_forward"):
                module.plain_forward = module.forward

                def forward(x, conv=module):
                    if conv.mode == "fp32 Winograd":
                        return winograd_conv(x, conv.weight, conv.bias, False)
                    if conv.mode == "bf16 Winograd":
                        return winograd_conv(x, conv.weight, conv.bias, True)
                    if conv.mode == "bf16 direct":
                        return F.conv2d(bf16(x), bf16(conv.weight), conv.bias, padding=1)
                    return conv.plain_forward(x)
                module.forward = forward


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--images", default=os.path.join(HERE, "..", "runs", "photos", "test"))
    parser.add_argument("--sigma", type=float, default=25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from PIL import Image
    from safetensors.torch import load_file
    tensors = load_file(args.checkpoint)
    width = tensors["head.weight"].shape[1]
    depth = max(int(k.split(".")[1]) for k in tensors if k.startswith("down."))
    model = Denoiser(channels=1, depth=depth, width=width).eval()
    model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("optimizer.")})
    rng = np.random.default_rng(args.seed)
    images = []
    for name in sorted(n for n in os.listdir(args.images) if n.lower().endswith(".png")):
        clean = np.asarray(Image.open(os.path.join(args.images, name)).convert("L"), dtype=np.float32) / 255
        noisy = clean + rng.normal(0, args.sigma / 255, clean.shape).astype(np.float32)
        images.append((name, clean, noisy))
    modes = ["fp32 direct", "fp32 Winograd", "bf16 Winograd", "bf16 direct"]
    results, outputs = {}, {}
    border, multiple = 8, 1 << depth
    with torch.no_grad():
        for mode in modes:
            set_mode(model, mode)
            scores = []
            for name, clean, noisy in images:
                h, w = clean.shape
                ph, pw = -(-(h + 2 * border) // multiple) * multiple, -(-(w + 2 * border) // multiple) * multiple
                padded = np.pad(noisy, ((border, ph - h - border), (border, pw - w - border)), "reflect")
                out = model(torch.from_numpy(padded)[None, None])[0, 0, border:border + h, border:border + w]
                outputs[(mode, name)] = out
                mse = float(((out.clamp(0, 1) - torch.from_numpy(clean)) ** 2).mean())
                scores.append(10 * np.log10(1 / mse))
            results[mode] = scores
    names = [name for name, _, _ in images]
    print(f"sigma {args.sigma:g}, {len(images)} images ({', '.join(names)}), {args.checkpoint}")
    print("| layers | mean PSNR dB | vs fp32 direct | per image | largest output difference to fp32 direct |")
    print("|---|---|---|---|---|")
    base = float(np.mean(results["fp32 direct"]))
    for mode in modes:
        mean = float(np.mean(results[mode]))
        worst = max(float((outputs[(mode, n)] - outputs[("fp32 direct", n)]).abs().max()) for n in names)
        per = ", ".join(f"{s:.3f}" for s in results[mode])
        print(f"| {mode} | {mean:.3f} | {mean - base:+.3f} | {per} | {worst:.2g} |")


if __name__ == "__main__":
    main()
