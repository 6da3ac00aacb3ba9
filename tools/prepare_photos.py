#!/usr/bin/env python3
"""Copies the real photographs shipped in the scikit-image wheel into TRAIN and TEST folders for
the denoiser (README quick start 2, "Denoise your photos"; docs/usage.md): 12 for training, and camera, coins and
chelsea held out for evaluation (the usual gray test images). Synthetic images (charts, logos,
phantoms, chessboards) are left out. Needs `pip install scikit-image`.

With --backgrounds, TRAIN also gets the 12 nature photographs of Debian's `mate-backgrounds`
package (GPL-2+; macro shots of plants, water, sand, wood), block-averaged down to at most ~640
pixels a side, which also averages away their JPEG artifacts and sensor noise. They are taken
from /usr/share/backgrounds/mate/nature when the package is installed, else from the package
file fetched with `apt-get download` (no install). Needs Pillow (a scikit-image dependency).

With --opencv, TRAIN also gets 21 photographs among the sample images of Debian's `opencv-doc`
package (examples/data: aerial views, a baboon, fruit, buildings, a dog, a squirrel, graffiti,
...; drawings, charts, text, paintings and motion-blurred shots left out), block-averaged 2x2 where
over 400 pixels wide (which also averages away their JPEG artifacts). Taken from the package file
fetched with `apt-get download` (no install); Apache-2.0 AND BSD-3-Clause, as the package's
copyright file gives for OpenCV's sources.

With --nature-test the same 12 photographs go to a second test folder, NATURE (DIR/nature), instead:
a held-out set of another source than the training photos (none of them is trained on then).

    python3 tools/prepare_photos.py runs/photos     # -> runs/photos/train, runs/photos/test
    python3 tools/prepare_photos.py runs/photos --backgrounds
    python3 tools/prepare_photos.py runs/photos --nature-test   # + runs/photos/nature
    python3 tools/prepare_photos.py runs/photos --opencv        # + 21 photographs in runs/photos/train
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

TRAIN = ["astronaut", "brick", "clock_motion", "coffee", "grass", "gravel", "ihc", "moon",
         "motorcycle_left", "motorcycle_right", "page", "text"]
TEST = ["camera", "coins", "chelsea"]


NATURE = "usr/share/backgrounds/mate/nature"


def unpack(package, scratch):
    """Fetches PACKAGE's .deb with `apt-get download` (no install) and unpacks it; returns its root."""
    subprocess.run(["apt-get", "download", package], cwd=scratch, check=True)
    debs = glob.glob(os.path.join(scratch, package + "_*.deb"))
    if not debs:
        sys.exit(f"apt-get download {package}: no {package}_*.deb in {scratch}")
    root = os.path.join(scratch, package)
    subprocess.run(["dpkg-deb", "-x", debs[0], root], check=True)
    return root


def add_backgrounds(dest, label="nature photographs from mate-backgrounds"):
    from PIL import Image
    with tempfile.TemporaryDirectory() as scratch:
        folder = "/" + NATURE
        if not os.path.isdir(folder):
            folder = os.path.join(unpack("mate-backgrounds", scratch), NATURE)
        files = sorted(glob.glob(os.path.join(folder, "*.jpg")))
        if len(files) != 12:
            sys.exit(f"{folder}: expected the 12 nature photographs, found {len(files)}")
        for path in files:
            image = Image.open(path).convert("RGB")
            factor = max(2, round(max(image.size) / 640))
            small = image.resize((image.width // factor, image.height // factor), Image.BOX)
            name = "mate-" + os.path.splitext(os.path.basename(path))[0].lower() + ".png"
            small.save(os.path.join(dest, name))
    print(f"{dest}: + {len(files)} {label}")


OPENCV = "usr/share/doc/opencv-doc/examples/data"
OPENCV_PHOTOS = ["aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png",
                 "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg", "chicky_512.png",
                 "fruits.jpg", "graf1.png", "home.jpg", "leuvenA.jpg", "messi5.jpg", "orange.jpg",
                 "rubberwhale1.png", "smarties.png", "squirrel_cls.jpg", "stuff.jpg"]


def add_opencv(dest):
    from PIL import Image
    with tempfile.TemporaryDirectory() as scratch:
        folder = os.path.join(unpack("opencv-doc", scratch), OPENCV)
        for name in OPENCV_PHOTOS:
            path = os.path.join(folder, name)
            if not os.path.exists(path):
                sys.exit(f"{path}: not in this opencv-doc version")
            image = Image.open(path).convert("RGB")
            if image.width > 400:
                image = image.resize((image.width // 2, image.height // 2), Image.BOX)
            image.save(os.path.join(dest, "opencv-" + os.path.splitext(name)[0].lower() + ".png"))
    print(f"{dest}: + {len(OPENCV_PHOTOS)} photographs from opencv-doc")


def main():
    flags = {"--backgrounds", "--nature-test", "--opencv"}
    args = [a for a in sys.argv[1:] if a not in flags]
    if len(args) != 1 or {"--backgrounds", "--nature-test"} <= set(sys.argv[1:]):
        sys.exit(__doc__)
    try:
        import skimage
    except ImportError:
        sys.exit("scikit-image is not installed: pip install scikit-image")
    source = os.path.join(os.path.dirname(skimage.__file__), "data")
    for split, names in (("train", TRAIN), ("test", TEST)):
        folder = os.path.join(args[0], split)
        os.makedirs(folder, exist_ok=True)
        for name in names:
            path = os.path.join(source, name + ".png")
            if not os.path.exists(path):
                sys.exit(f"{path}: not in this scikit-image version")
            shutil.copyfile(path, os.path.join(folder, name + ".png"))
        print(f"{folder}: {len(names)} images")
    if "--backgrounds" in sys.argv[1:]:
        add_backgrounds(os.path.join(args[0], "train"))
    if "--opencv" in sys.argv[1:]:
        add_opencv(os.path.join(args[0], "train"))
    if "--nature-test" in sys.argv[1:]:
        trained = glob.glob(os.path.join(args[0], "train", "mate-*.png"))
        if trained:
            sys.exit(f"{os.path.join(args[0], 'train')}: holds {len(trained)} mate-backgrounds photographs "
                     "from an earlier --backgrounds run; remove them (or use another DIR) so the "
                     "nature test set stays held out")
        nature = os.path.join(args[0], "nature")
        os.makedirs(nature, exist_ok=True)
        add_backgrounds(nature, "held-out nature photographs from mate-backgrounds")


if __name__ == "__main__":
    main()
