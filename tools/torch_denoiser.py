#!/usr/bin/env python3
"""Our fully convolutional denoiser (Sources/Models/ConvDenoiser.swift) in PyTorch, for two jobs:

    tools/torch_denoiser.py fixture     # writes Tests/ModelsTests/Fixtures/denoiser.bin.gz
    tools/torch_denoiser.py bench [--threads 1,2] [--min-time 10] [--json out.json]
    tools/torch_denoiser.py denoise --input DIR --output DIR [--checkpoint F.safetensors] [--threads 1]

The network: per level l (0 = full resolution), [MaxPool2d(2) if l > 0], Conv3x3(->width*2^l), ReLU,
Conv3x3, ReLU; the deepest level ends with nearest Upsample(2); each decoder level l < depth takes
cat([from below, encoder level l], dim=1), Conv3x3, ReLU, Conv3x3, ReLU, then Upsample(2) (l > 0);
a final Conv3x3(width -> channels) predicts the noise and the output is input - prediction. Module
names equal our checkpoint names (down.L.i, up.L.i, head).

fixture: two tiny networks (torch.manual_seed(0), default init; 1 channel 8x12 depth 2 width 4;
3 channels 6x4 depth 1 width 2), batch 2, input = clean + N(0, 0.1), loss MSE(mean) against clean.
Tensors per prefix P (d2, d1rgb): P.<param>, P.input, P.target, P.output, P.loss, P.grad.<param>.

bench: training (Adam 1e-3, MSE) and inference samples/s of the shipped size (1 channel, depth 2,
width 32) on batches of 32 random 48x48 patches, the same workload as
`autoencoder bench --model denoiser --batch-size 32`. Rows as ../shared/bench/throughput.py writes
them ({"impl": "torch", "model": "denoiser", "batch", "threads", "train_sps", "infer_sps"}).
denoise: the tiled pass of `autoencoder denoise` (Sources/Denoising/ImageDenoiser.swift) on every PNG of
--input as gray: mirror border of 8 pixels, padded to a multiple of 4, tiles of 192 output pixels, each
run with a margin of 32 (the receptive radius 29, rounded up to the pooling grid), one tile at a time on
--threads intra-op threads. Weights from our checkpoint (--checkpoint), else random. Writes 8-bit gray
PNGs of the same names and prints {"images", "pixels", "seconds"} (decode, denoise and encode; not
Python's start-up) as JSON. tools/compare_denoise.py times it against `autoencoder denoise`.
Setup: pip install torch threadpoolctl (denoise: also numpy, pillow, safetensors)
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class Denoiser(nn.Module):
    def __init__(self, channels=1, depth=2, width=32, residual=True):
        super().__init__()
        self.depth, self.residual = depth, residual

        def stage(pool, in_c, out_c, upsample):
            layers = [nn.MaxPool2d(2)] if pool else []
            layers += [nn.Conv2d(in_c, out_c, 3, padding=1), nn.ReLU(), nn.Conv2d(out_c, out_c, 3, padding=1), nn.ReLU()]
            if upsample:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            return nn.Sequential(*layers)

        self.down = nn.ModuleList(
            stage(level > 0, channels if level == 0 else width << (level - 1), width << level, level == depth > 0)
            for level in range(depth + 1))
        self.up = nn.ModuleList(
            stage(False, (width << (level + 1)) + (width << level), width << level, level > 0) for level in range(depth))
        self.head = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x):
        skips, h = [], x
        for stage in self.down:
            h = stage(h)
            skips.append(h)
        below = skips[-1]
        for level in reversed(range(self.depth)):
            below = self.up[level](torch.cat([below, skips[level]], dim=1))
        prediction = self.head(below)
        return x - prediction if self.residual else prediction


def fixture():
    from fixture_format import write_fixture
    torch.set_num_threads(1)
    tensors = []
    flat = lambda t: t.detach().reshape(-1).tolist()
    for prefix, channels, h, w, depth, width in (("d2", 1, 8, 12, 2, 4), ("d1rgb", 3, 6, 4, 1, 2)):
        torch.manual_seed(0)
        model = Denoiser(channels, depth, width)
        generator = torch.Generator().manual_seed(1)
        clean = torch.rand(2, channels, h, w, generator=generator)
        noisy = clean + 0.1 * torch.randn(2, channels, h, w, generator=generator)
        out = model(noisy)
        loss = nn.functional.mse_loss(out, clean)
        loss.backward()
        for name, p in model.state_dict().items():
            tensors.append((f"{prefix}.{name}", tuple(p.shape), flat(p)))
        row = channels * h * w
        tensors += [(f"{prefix}.input", (2, row), flat(noisy)), (f"{prefix}.target", (2, row), flat(clean)),
                    (f"{prefix}.output", (2, row), flat(out)), (f"{prefix}.loss", (1,), [loss.item()])]
        for name, p in model.named_parameters():
            tensors.append((f"{prefix}.grad.{name}", tuple(p.shape), flat(p.grad)))
    out_path = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures", "denoiser.bin.gz")
    write_fixture(out_path, tensors)
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


def bench(args):
    from threadpoolctl import threadpool_limits
    rows = []
    for threads in args.threads:
        with threadpool_limits(threads):
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            model = Denoiser()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            clean = torch.rand(args.batch, 1, 48, 48)
            noisy = clean + 25 / 255 * torch.randn_like(clean)

            def step():
                opt.zero_grad(set_to_none=True)
                nn.functional.mse_loss(model(noisy), clean).backward()
                opt.step()

            def rate(fn):
                for _ in range(3):
                    fn()
                n, start = 0, time.perf_counter()
                while time.perf_counter() - start < args.min_time or n < 5:
                    fn()
                    n += 1
                return n * args.batch / (time.perf_counter() - start)

            train = rate(step)
            with torch.no_grad():
                infer = rate(lambda: model(noisy))
            row = {"impl": "torch", "model": "denoiser", "batch": args.batch, "threads": threads,
                   "train_sps": train, "infer_sps": infer}
            print(f"torch denoiser batch {args.batch} threads {threads}: train {train:.1f} samples/s, "
                  f"inference {infer:.1f} samples/s", flush=True)
            rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


def denoise(args):
    import numpy as np
    from PIL import Image
    from threadpoolctl import threadpool_limits
    threads = args.threads[0]
    model = Denoiser().eval()
    if args.checkpoint:
        from safetensors.torch import load_file
        model.load_state_dict({k: v for k, v in load_file(args.checkpoint).items() if not k.startswith("optimizer.")})
    border, step, tile, margin = 8, 4, 192, 32
    names = sorted(n for n in os.listdir(args.input) if n.lower().endswith(".png"))
    os.makedirs(args.output, exist_ok=True)
    pixels = 0
    with threadpool_limits(threads), torch.no_grad():
        torch.set_num_threads(threads)
        model(torch.zeros(1, 1, 64, 64))
        start = time.perf_counter()
        for name in names:
            image = np.asarray(Image.open(os.path.join(args.input, name)).convert("L"), dtype=np.float32) / 255
            h, w = image.shape
            pixels += h * w
            ph, pw = -(-(h + 2 * border) // step) * step, -(-(w + 2 * border) // step) * step
            padded = torch.from_numpy(np.pad(image, ((border, ph - h - border), (border, pw - w - border)), "reflect"))
            out = torch.empty_like(padded)
            for y in range(0, ph, tile):
                for x in range(0, pw, tile):
                    th, tw = min(tile, ph - y), min(tile, pw - x)
                    top, left = max(0, y - margin), max(0, x - margin)
                    bottom, right = min(ph, y + th + margin), min(pw, x + tw + margin)
                    window = model(padded[top:bottom, left:right][None, None])[0, 0]
                    out[y:y + th, x:x + tw] = window[y - top:y - top + th, x - left:x - left + tw]
            result = out[border:border + h, border:border + w].clamp(0, 1).mul(255).round().to(torch.uint8)
            Image.fromarray(result.numpy(), mode="L").save(os.path.join(args.output, name))
        seconds = time.perf_counter() - start
    print(json.dumps({"impl": "torch", "threads": threads, "images": len(names), "pixels": pixels,
                      "seconds": seconds}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("job", choices=["fixture", "bench", "denoise"])
    ap.add_argument("--input")
    ap.add_argument("--output")
    ap.add_argument("--checkpoint")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--min-time", type=float, default=10)
    ap.add_argument("--json")
    args = ap.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    {"fixture": lambda _: fixture(), "bench": bench, "denoise": denoise}[args.job](args)


if __name__ == "__main__":
    main()
