#!/usr/bin/env python3
"""Writes Tests/ImagesTests/Fixtures/pngsuite-reference.bin.gz: pixels of representative PngSuite
images decoded by pypng (a pure-Python decoder independent of libpng), for the Swift decoder tests.

Setup: pip install pypng==0.20220715.0
Each tensor is named after its file, shape (H, W, C) with C the file's channels after palette and
tRNS expansion; values are stored samples (sBIT ignored), with 1/2/4-bit samples scaled to 0..255 (v * 255 /
(2^d - 1)), 16-bit samples as 0..65535. Colour-management chunks are ignored, as in the project.
Format (tools/fixture_format.py): magic, version, then named float32 tensors, gzip-compressed.
"""
import gzip
import os
import sys

import png

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_format import write_fixture  # noqa: E402

FILES = """basn0g01 basn0g02 basn0g04 basn0g08 basn0g16 basn2c08 basn2c16 basn3p01 basn3p02 basn3p04
basn3p08 basn4a08 basn4a16 basn6a08 basn6a16 basi0g16 basi3p08 basi6a08 basi4a16 tbbn0g04 tbbn2c16
tbrn2c08 tp1n3p08 tm3n3p02 s05n3p02 s39i3p04 cdfn2c08 g04n0g16 g25n2c08 f99n0g04 z00n2c08 oi9n2c16
cs3n2c16 ps2n0g08""".split()


def decode(path):
    reader = png.Reader(filename=path)
    reader.preamble()
    reader.sbit = None  # keep stored values: pypng would otherwise shift down to sBIT precision
    width, height, rows, info = reader.asDirect()
    planes = info["planes"]
    depth = info["bitdepth"]
    values = []
    for row in rows:
        for v in row:
            if depth < 8:
                v = v * 255 // ((1 << depth) - 1)
            values.append(float(v))
    assert len(values) == width * height * planes
    return (height, width, planes), values


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    suite = os.path.join(root, "Tests", "ImagesTests", "Fixtures", "pngsuite")
    tensors = []
    for name in FILES:
        shape, values = decode(os.path.join(suite, name + ".png"))
        tensors.append((name, shape, values))
        print(name, shape)
    out = os.path.join(root, "Tests", "ImagesTests", "Fixtures", "pngsuite-reference.bin.gz")
    write_fixture(out, tensors)
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
