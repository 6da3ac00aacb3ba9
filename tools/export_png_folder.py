#!/usr/bin/env python3
"""Writes MNIST-format IDX digits as a folder of PNG files, one subfolder per label.

Usage: tools/export_png_folder.py IMAGES_IDX[.gz] LABELS_IDX[.gz] OUT_FOLDER [COUNT]
Used to measure PNG-folder decoding on real images and to try the PNG path on known data.
Setup: pip install pypng
"""
import gzip
import os
import struct
import sys

import png


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def main():
    images, labels, out = read(sys.argv[1]), read(sys.argv[2]), sys.argv[3]
    magic, count, rows, cols = struct.unpack(">IIII", images[:16])
    assert magic == 0x803 and struct.unpack(">I", labels[:4])[0] == 0x801
    count = min(count, int(sys.argv[4])) if len(sys.argv) > 4 else count
    for i in range(count):
        folder = os.path.join(out, str(labels[8 + i]))
        os.makedirs(folder, exist_ok=True)
        start = 16 + i * rows * cols
        pixels = images[start:start + rows * cols]
        grid = [pixels[r * cols:(r + 1) * cols] for r in range(rows)]
        with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
            png.Writer(cols, rows, greyscale=True, bitdepth=8).write(f, grid)
    print(f"wrote {count} PNGs to {out}")


if __name__ == "__main__":
    main()
