#!/usr/bin/env python3
"""Copies the real photographs shipped in the scikit-image wheel into TRAIN and TEST folders for
the denoiser (`README.md`, "denoising your own PNGs"): 12 for training, and camera, coins and
chelsea held out for evaluation (the usual gray test images). Synthetic images (charts, logos,
phantoms, chessboards) are left out. Needs `pip install scikit-image`.

    python3 tools/prepare_photos.py runs/photos     # -> runs/photos/train, runs/photos/test
"""
import os
import shutil
import sys

TRAIN = ["astronaut", "brick", "clock_motion", "coffee", "grass", "gravel", "ihc", "moon",
         "motorcycle_left", "motorcycle_right", "page", "text"]
TEST = ["camera", "coins", "chelsea"]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        import skimage
    except ImportError:
        sys.exit("scikit-image is not installed: pip install scikit-image")
    source = os.path.join(os.path.dirname(skimage.__file__), "data")
    for split, names in (("train", TRAIN), ("test", TEST)):
        folder = os.path.join(sys.argv[1], split)
        os.makedirs(folder, exist_ok=True)
        for name in names:
            path = os.path.join(source, name + ".png")
            if not os.path.exists(path):
                sys.exit(f"{path}: not in this scikit-image version")
            shutil.copyfile(path, os.path.join(folder, name + ".png"))
        print(f"{folder}: {len(names)} images")


if __name__ == "__main__":
    main()
