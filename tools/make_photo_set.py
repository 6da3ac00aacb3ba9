#!/usr/bin/env python3
"""Makes a folder of photograph-like RGB PNGs (smooth colour fields, soft shapes, fine grain).

Used to measure training on a PNG folder larger than memory (issue: streaming input pipeline).
A few distinct images are generated and hard-linked up to --count files, so disk use stays small.
"""
import argparse
import multiprocessing
import os
import shutil
import struct
import time
import zlib

import numpy as np


def axis_weights(n, m, smooth):
    """Indices and weights mapping m samples onto n coarse points."""
    t = np.linspace(0, n - 1, m, dtype=np.float32)
    i = np.minimum(t.astype(np.int64), n - 2)
    f = t - i
    return i, f * f * (3 - 2 * f) if smooth else f  # smoothstep hides the creases bilinear leaves


def upsample(g, h, w, smooth=True):
    i, f = axis_weights(g.shape[0], h, smooth)
    rows = g[i] * (1 - f)[:, None] + g[i + 1] * f[:, None]
    j, f = axis_weights(g.shape[1], w, smooth)
    return rows[:, j] * (1 - f) + rows[:, j + 1] * f


def smooth_field(rng, h, w, octaves, base=3):
    """Sum of upsampled Gaussian noise grids; amplitude halves as frequency doubles (1/f, like photos).
    Octaves are summed at quarter resolution (they are smooth anyway), then upsampled once: ~10x faster."""
    sh, sw, short = max(h // 4, 2), max(w // 4, 2), min(h, w)
    field = np.zeros((sh, sw), np.float32)
    for k in range(octaves):
        cells = base * 2 ** k
        gh, gw = round(cells * h / short) + 2, round(cells * w / short) + 2
        field += upsample(rng.standard_normal((gh, gw), dtype=np.float32), sh, sw) * 0.5 ** k
    return upsample(field, h, w, smooth=False)


def paint_shapes(rng, img, lum):
    h, w, _ = img.shape
    short = min(h, w)
    for _ in range(rng.integers(3, 9)):
        rx, ry = rng.uniform(0.04, 0.3, 2) * short
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        soft = rng.uniform(2, 25)  # edge width in pixels: anything from crisp to blurred
        y0, y1 = int(max(cy - ry - soft, 0)), int(min(cy + ry + soft, h))
        x0, x1 = int(max(cx - rx - soft, 0)), int(min(cx + rx + soft, w))
        if y1 <= y0 or x1 <= x0:
            continue
        y, x = (v.astype(np.float32) for v in np.ogrid[y0:y1, x0:x1])
        if rng.random() < 0.5:  # ellipse: signed distance approximated in pixels along the radius
            d = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
            inside = (1 - d) * min(rx, ry)
        else:  # rectangle: distance to the nearest edge
            inside = np.minimum(rx - np.abs(x - cx), ry - np.abs(y - cy))
        alpha = (np.clip(inside / soft + 0.5, 0, 1) * rng.uniform(0.6, 1.0))[..., None]
        # Shade the shape with the scene's luminance so it is not a flat fill.
        colour = rng.uniform(20, 235, 3).astype(np.float32) + 25 * lum[y0:y1, x0:x1, None]
        img[y0:y1, x0:x1] += alpha * (colour - img[y0:y1, x0:x1])


def make_image(seed, h, w):
    rng = np.random.default_rng(seed)
    lum = smooth_field(rng, h, w, octaves=5)
    lum /= lum.std() + 1e-6
    img = np.full((h, w, 3), rng.uniform(60, 190, 3), np.float32)
    img += 45 * lum[..., None]
    for _ in range(2):  # chroma: smaller, smoother fields along random colour directions
        c = smooth_field(rng, h, w, octaves=3)
        img += c[..., None] * (rng.standard_normal(3).astype(np.float32) * 12)
    paint_shapes(rng, img, lum)
    img += rng.standard_normal(img.shape, dtype=np.float32) * 3  # sensor grain, ~3/255
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def png_bytes(img):
    h, w, _ = img.shape
    rows = img.reshape(h, w * 3)
    up = np.empty((h, w * 3 + 1), np.uint8)
    up[:, 0] = 2  # filter Up on every row: vectorises and compresses like a real encoder would
    up[0, 1:] = rows[0]
    up[1:, 1:] = rows[1:] - rows[:-1]  # uint8 arithmetic wraps mod 256 as PNG requires

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(up.tobytes(), 6)) + chunk(b"IEND", b""))


def done(path):
    return os.path.exists(path) and os.path.getsize(path) > 0


def write_distinct(task):
    path, seed, h, w = task
    data = png_bytes(make_image(seed, h, w))
    with open(path + ".tmp", "wb") as f:  # write then rename, so a killed run leaves no half file
        f.write(data)
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out")
    for flag, default in [("count", 2000), ("distinct", 100), ("width", 2400), ("height", 1600),
                          ("seed", 0), ("jobs", os.cpu_count())]:
        p.add_argument("--" + flag, type=int, default=default)
    a = p.parse_args()
    distinct = max(1, min(a.distinct, a.count))
    os.makedirs(a.out, exist_ok=True)
    name = lambda i: os.path.join(a.out, f"img-{i:05d}.png")

    start = time.time()
    tasks = [(name(i), a.seed * 1_000_003 + i, a.height, a.width) for i in range(distinct) if not done(name(i))]
    print(f"{distinct - len(tasks)}/{distinct} distinct already present; generating {len(tasks)} with {a.jobs} jobs")
    with multiprocessing.Pool(a.jobs) as pool:
        for n, _ in enumerate(pool.imap_unordered(write_distinct, tasks), 1):
            if n % 10 == 0 or n == len(tasks):
                print(f"wrote {distinct - len(tasks) + n}/{distinct} distinct ({time.time() - start:.1f} s)", flush=True)

    copied = 0
    for i in range(distinct, a.count):
        if done(name(i)):
            continue
        if os.path.lexists(name(i)):
            os.remove(name(i))  # an empty leftover from an interrupted run
        try:
            os.link(name(i % distinct), name(i))
        except OSError:  # e.g. the file system does not support hard links
            shutil.copyfile(name(i % distinct), name(i))
            copied += 1

    disk = sum(os.path.getsize(name(i)) for i in range(distinct))
    raw = a.count * a.width * a.height * 3
    print(f"files: {a.count}  distinct: {distinct}  copied instead of linked: {copied}")
    print(f"distinct files on disk: {disk / 1e6:.1f} MB ({disk / (distinct * a.width * a.height * 3):.0%} of raw)")
    print(f"decoded 8-bit samples: {raw / 1e9:.2f} GB ({a.width}x{a.height}x3 x {a.count})")


if __name__ == "__main__":
    main()
