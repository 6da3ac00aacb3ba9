#!/usr/bin/env python3
"""Loads `autoencoder` checkpoints into PyTorch: rebuilds each model as nn.Modules from the config
in the checkpoint's metadata, drops the optimizer tensors, loads the weights strictly, and checks
the rebuilt model against the tool itself on the run's own data and on any --data given.

    python3 tools/torch_models.py RUN_OR_CHECKPOINT... [--data PATH]... [--binary B] [--no-check]
    python3 tools/torch_models.py runs/vae-1/checkpoints/best.safetensors --data /usr/share/datasets/fashion-mnist

A run folder means RUN/checkpoints/best.safetensors (last.safetensors where there is none), as
the tool's commands read it. Every family rebuilds: dense (every dense
variant: activations, dropout, tied weights, BCE logits, Gaussian NLL heads), conv (pooled and
strided), vae (dense and conv; Bernoulli, fixed and learned Gaussian decoders), aae (every prior,
label-conditioned, clustering), disentangle (split form and --form adain, images and sequences),
rbm (binary and Gaussian hidden units), lstm/gru (bidirectional, bottleneck, reversed, the decoder
fed the code or its previous output; image rows or sequence files) and the U-Net denoiser
(tools/torch_denoiser.py). The exit status is 1 when any check disagrees.

What the check compares (the tool is run with --noise none on the same data; the PyTorch side reads
the data itself, as the tool's data code does, see "Data" below):
- every family but the denoiser: the test split's MSE per value (sum of squared errors over the
  scored values / (samples x values per sample)) against `autoencoder evaluate --json`'s
  `mse_per_pixel`, relative difference at most 1e-5. A vae decodes a draw z = mean + e^(lv/2) eps
  in evaluation: the check draws the same eps (SplitMix64 keyed by seed, epoch 0, sample index);
- models with a code (dense, conv, vae, aae, disentangle, rbm): the codes against `autoencoder
  encode` (largest difference at most 1e-4 x max(1, largest |code|)), and the labels it writes
  against the labels read here (equal), which pins the sample order;
- vae, disentangle: the test split's KL per sample (`kl` of `evaluate --json`); rbm: the mean free
  energy (`free_energy`); each within 1e-5 relative;
- lstm/gru: `encode` is compared when the tool writes codes for them (final hidden state, or the
  bottleneck), and skipped with a line saying so when it refuses;
- denoiser: a few test images (with seeded Gaussian noise) written as 16-bit PNGs, denoised by
  `autoencoder denoise` and by the rebuilt U-Net on the same mirror-padded image: at most 1 of
  65535 levels apart (the tool rounds once to 16 bits; a tiled pass equals one pass within float
  rounding).

Checkpoint layout (safetensors, float32, little-endian). Metadata "config" holds the run's
TrainingConfig as JSON (formatVersion 2): "model" is {KEY: {...}} with KEY one of dense, conv,
denoiser, sequence, vae, aae, disentangle, rbm; "data", "seed", "binarize", "holdout",
"standardization", "validationImages", "validationSamples" say what the test split is. Tensors
named optimizer.* (moments, per phase) and state.* (e.g. a sparsity running average) are training
state, not the model. Weights are PyTorch's layouts: Linear (out, in), Conv2d (out, in, kh, kw),
ConvTranspose2d (in, out, kh, kw), Conv1d (out, in, k), LSTM/GRU weight_ih_l{k}[_reverse]
(gates x in, PyTorch gate order i,f,g,o / r,z,n) and bias_ih/bias_hh. Names per family:
- dense: encoder.N / decoder.N, N the position in an nn.Sequential that also counts the
  activation and dropout modules (identity activations are no module); tied decoder layers store
  only their bias (their weight is the encoder layer's, transposed). --loss gaussian-nll: the last
  layer gives (mean | log-variance), 2 x D values. --loss bce: logits out.
- conv: encoder.N / decoder.N as nn.Sequential positions of conv, activation, MaxPool2d(2)
  (pooled) / Upsample(2) (pooled) or ConvTranspose2d (strided); the code is the last encoder
  conv's (C, h, w) map after its activation.
- vae: encoder.N / decoder.N counting only layers with parameters or activations (a conv VAE's
  ReLU is fused into its conv, Flatten/Unflatten are not layers); the encoder's head gives 2Z
  values (mean | log-variance, clamped to [-30, 20] when used); the decoder gives logits
  (bernoulli), the mean (gaussian) or (mean | log-variance) (gaussian-learned, 2C planes for conv).
- aae: encoder.N, decoder.N, discriminator.N, cluster_discriminator.N (nn.Sequential positions,
  activations counted). The encoder's head is (cluster logits K | style Z); the decoder and
  `encode` read (softmax of the K logits | style); the style discriminator reads (style | label
  one-hot) when --conditional (K = mixture components); the cluster discriminator the K
  probabilities. --loss mse adds a sigmoid after the decoder.
- disentangle split: encoder.N (head (mean | log-variance) of the free code when kl > 0, else
  the code), decoder.{2s} the dense layer of stage s, which reads (stage s-1's output | label
  one-hot) (stage 0: (free code | one-hot)), adversary.N on the mean, critic.N (with
  --swap-weight: a classifier of images, not part of the reconstruction or the code). `encode` gives (mean |
  label one-hot, zeros for an unknown label). On sequences the encoder reads the whole row
  (T x F values, then the length) and the decoder gives T x F values.
- disentangle adain: content.0-2 and style.0-2 (conv 3x3, then two 4x4 stride-2 convs; 1-D
  sequence convs of --kernel, stride 1, 'same' zero padding), content.3 (1x1 conv to Cz, or 2Cz =
  (mean | log-variance) when kl > 0), style.3 (Linear of the style blocks' output averaged over
  positions), adain (Linear to 6H: block k's gamma at [2Hk, 2Hk+H), beta at [2Hk+H, 2Hk+2H)),
  decoder.0 (1x1 conv), decoder.1-2 (4x4 stride-2 transposed convs; 1-D convs for sequences),
  decoder.3 (3x3 conv to the data's channels). Each conv block is conv then activation; instance
  normalisation (no affine, eps 1e-5, biased variance) follows content blocks 0-2; decoder blocks
  0-2 end in AdaIN, norm x (1 + gamma) + beta, and blocks 1-3 start with the activation. Sequences:
  every mean and variance covers the row's own steps, values past them are zero. `encode` gives
  (content mean, Cz planes | style vector | length for sequences). critic.N (with --swap-weight):
  a classifier of data rows, not part of the reconstruction or the code.
- rbm: rbm.weight (H, V), rbm.visible_bias (V), rbm.hidden_bias (H); `encode` gives p(h|v) =
  sigmoid(v W^T + c) (Gaussian units: v W^T + c), the reconstruction is sigmoid(h W + b).
- lstm/gru: enc.*, dec.* (nn.LSTM / nn.GRU names, batch_first), out (Linear H -> F per step),
  bottleneck (Linear to --code), bridge (Linear code -> the decoder's initial hidden state, all
  layers, layer-major; LSTM cell state zero). The code is the encoder's last layer's final hidden
  state (forward | backward when bidirectional), taken at each row's own last step.
- denoiser: down.L.i, up.L.i, head as tools/torch_denoiser.py builds them.

Data (a row as the model reads it):
- images are planar C,H,W per row (channel after channel, each row-major), values stored 8-bit
  v/255 (16-bit v/65535), computed as float32 v * (1/255). IDX folders: train-*/t10k-* (the test
  split); PNG folders: train/ and test/ (or val/) split folders, class subfolders sorted by name,
  files sorted by relative path, gray or RGB. With no test split a seeded part is held out:
  EpochOrder(count, seed ^ 0x686F6C64) permutation of epoch 0, its first min(max(F, int(count x
  holdout)), count - 1) indices, sorted (F = 1; a denoiser's F = max(1, min(4, count // 4)); a
  holdout of 1 or more is that many samples). --binarize: each test value becomes 1 when SplitMix64(seed ^
  0x74657374, 0, sample, 0x62696E6172000000)'s next uniform (24 bits) is below it, else 0
  (targets too), the test split drawn once (epoch 0).
- sequences (lstm/gru, disentangle on .ts or CSV files): a row is T x F values step-major,
  standardized per feature with the config's "standardization" ((x - mean) / std, fitted on the
  training split), zero after the sequence's n steps, then n itself (T x F + 1 values). T is the
  longest sequence of the data (the config's steps for the split form, whose first layer is
  T x F + 1 wide). A sequence model reading image rows takes step = image row, F = C x W (its
  C planes' rows side by side). MSE per value of lstm/gru: each row's mean over its n x F values,
  averaged over rows; of disentangle: squared errors over valid steps / (rows x T x F).

Setup: pip install torch safetensors numpy (PNG folders are read without Pillow: 8/16-bit gray
or RGB, no alpha, no interlacing).
"""
import argparse
import csv
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors import safe_open

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

# Tolerances of the checks (float32 on both sides; the tool sums errors in double precision).
MSE_RELATIVE = 1e-5
CODE_RELATIVE = 1e-4
PART_RELATIVE = 1e-5
DENOISE_LEVELS = 1


class CheckError(Exception):
    """A check that could not run (data this script cannot read, a tool error)."""


def fail(message):
    sys.exit(f"error: {message}")


# ---------------------------------------------------------------------------------------------
# SplitMix64 as Sources/Kernels/SplitMix64.swift: a stream keyed by integers (each absorbed through
# the finaliser), next() adds the golden gamma and mixes. Scalar (Python ints) and vectorised
# (numpy uint64, one stream per element) forms.

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
KEY_START = 0x6A09E667F3BCC909
PURPOSE_ORDER = 0x6F72646572000000
PURPOSE_BINARIZE = 0x62696E6172000000
TEST_SEED = 0x74657374
HOLDOUT_SEED = 0x686F6C64
ROW_KEY = 0x64726F70
EPSILON_KEY = 0x65707369
# Swift's Float.pi is pi rounded toward zero (0x40490FDA), one ulp below np.float32(np.pi).
FLOAT_PI = np.frombuffer(struct.pack("<I", 0x40490FDA), dtype=np.float32)[0]
TWO_TO_MINUS_24 = np.float32(1.0 / 16777216.0)


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def stream_state(*parts):
    h = KEY_START
    for p in parts:
        h = mix(h ^ mix((p + GAMMA) & MASK64))
    return h


class Stream:
    def __init__(self, *key):
        self.state = stream_state(*key)

    def next(self):
        self.state = (self.state + GAMMA) & MASK64
        return mix(self.state)


def vmix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class Streams:
    """One SplitMix64 stream per element; key parts are scalars or arrays (broadcast)."""

    def __init__(self, *key):
        with np.errstate(over="ignore"):
            h = np.full(np.broadcast(*[np.asarray(k) for k in key]).shape, KEY_START, dtype=np.uint64)
            for k in key:
                h = vmix(h ^ vmix(np.asarray(k, dtype=np.uint64) + np.uint64(GAMMA)))
        self.state = h

    def next(self):
        with np.errstate(over="ignore"):
            self.state = self.state + np.uint64(GAMMA)
            return vmix(self.state)

    def uniform(self):
        return (self.next() >> np.uint64(40)).astype(np.float32) * TWO_TO_MINUS_24

    def open_uniform(self):
        return ((self.next() >> np.uint64(40)).astype(np.float32) + np.float32(1)) * TWO_TO_MINUS_24

    def gaussian_pair(self):
        u1 = self.open_uniform()
        u2 = self.uniform()
        r = np.sqrt(np.float32(-2) * np.log(u1))
        theta = np.float32(2) * FLOAT_PI * u2
        return r * np.cos(theta), r * np.sin(theta)

    def gaussians(self, count):
        """fillGaussian: `count` values per stream, a pair at a time (an odd count drops the last)."""
        out = np.zeros(self.state.shape + (count,), dtype=np.float32)
        for i in range(0, count, 2):
            a, b = self.gaussian_pair()
            out[..., i] = a
            if i + 1 < count:
                out[..., i + 1] = b
        return out


def permutation(count, seed, epoch=0):
    """EpochOrder(count, seed).permutation(epoch): Fisher-Yates from the top."""
    indices = list(range(count))
    rng = Stream(seed, epoch, PURPOSE_ORDER)
    for i in range(count - 1, 0, -1):
        j = rng.next() % (i + 1)
        indices[i], indices[j] = indices[j], indices[i]
    return indices


def holdout_split(count, config):
    """RunData.split for a source without a test split: (train, test) sample indices."""
    if count < 2:
        raise CheckError("need at least 2 samples to hold some out for testing")
    order = permutation(count, config.get("seed", 0) ^ HOLDOUT_SEED)
    holdout = config.get("holdout", 0.1)
    if holdout >= 1:  # a count of samples, taken as given
        held = min(int(holdout), count - 1)
    else:  # a fraction; a whole-image denoiser keeps at least 4 images, or a quarter of a small folder
        fewest = max(1, min(4, count // 4)) if config.get("family") == "denoiser" else 1
        held = min(max(int(count * holdout), fewest), count - 1)
    return sorted(order[held:]), sorted(order[:held])


# ---------------------------------------------------------------------------------------------
# Data readers: IDX, PNG (no Pillow), .ts and CSV sequences, as Sources/Datasets reads them.

def read_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def read_idx(path):
    data = read_bytes(path)
    magic = struct.unpack(">I", data[:4])[0]
    if magic == 0x803:
        n, rows, cols = struct.unpack(">III", data[4:16])
        return np.frombuffer(data, np.uint8, n * rows * cols, 16).reshape(n, rows * cols), (1, rows, cols)
    if magic == 0x801:
        n = struct.unpack(">I", data[4:8])[0]
        return np.frombuffer(data, np.uint8, n, 8).astype(np.int64), None
    raise CheckError(f"{path}: bad IDX magic {magic:#010x}")


def idx_find(folder, split, images):
    stem, dims = ("images", "idx3") if images else ("labels", "idx1")
    for name in (f"{split}-{stem}-{dims}-ubyte", f"{split}-{stem}.{dims}-ubyte"):
        for candidate in (name, name + ".gz"):
            if os.path.exists(os.path.join(folder, candidate)):
                return os.path.join(folder, candidate)
    return None


def idx_labels_for(path):
    folder, name = os.path.split(path)
    for a, b in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1")):
        if a in name:
            base = name.replace(a, b)
            stem = base[:-3] if base.endswith(".gz") else base
            for candidate in (stem, stem + ".gz"):
                if os.path.exists(os.path.join(folder, candidate)):
                    return os.path.join(folder, candidate)
    return None


class Images:
    """Samples of one split: raw values (n, C*H*W) planar, their scale, labels (or None)."""

    def __init__(self, raw, scale, shape, labels, classes=None):
        self.raw, self.scale, self.shape, self.labels, self.classes = raw, scale, shape, labels, classes

    def rows(self, ids):
        return self.raw[ids].astype(np.float32) * self.scale


def load_idx(images_path, labels_path):
    raw, shape = read_idx(images_path)
    labels = read_idx(labels_path)[0] if labels_path else None
    return Images(raw, np.float32(1.0 / 255.0), shape, labels)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    """(channels, height, width) samples and the bit depth of an 8/16-bit gray or RGB PNG."""
    data = open(path, "rb").read()
    if data[:8] != PNG_SIGNATURE:
        raise CheckError(f"{path}: not a PNG file")
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, color, _, _, interlace = header
    if color not in (0, 2) or depth not in (8, 16) or interlace:
        raise CheckError(f"{path}: the check reads 8/16-bit gray or RGB PNGs without alpha or interlacing "
                         f"(color type {color}, depth {depth}, interlace {interlace})")
    channels = 1 if color == 0 else 3
    bpp = channels * depth // 8
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = np.frombuffer(raw, np.uint8, stride, start + 1).astype(np.int64)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 255
        else:
            cur = line.copy()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = prev[i]
                if kind == 1:
                    p = a
                elif kind == 3:
                    p = (a + b) >> 1
                else:
                    c = prev[i - bpp] if i >= bpp else 0
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (cur[i] + p) & 255
        out[y] = cur
        prev = cur
    values = np.frombuffer(out.tobytes(), ">u2").astype(np.uint16) if depth == 16 else out.reshape(-1)
    return values.reshape(height, width, channels).transpose(2, 0, 1), depth


def write_png(path, planes, depth=16):
    """Planar (C, H, W) values in [0, 1] as an 8/16-bit gray or RGB PNG (filter 0)."""
    c, h, w = planes.shape
    top = 65535 if depth == 16 else 255
    samples = np.floor(np.clip(planes, 0, 1).astype(np.float64) * top + 0.5).astype(np.uint16)
    pixels = samples.transpose(1, 2, 0).astype(">u2" if depth == 16 else np.uint8).tobytes()
    stride = w * c * depth // 8
    raw = b"".join(b"\x00" + pixels[y * stride:(y + 1) * stride] for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0 if c == 1 else 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def files_under(folder, extension):
    found = []
    for base, _, names in os.walk(folder):
        for name in names:
            full = os.path.join(base, name)
            if name.lower().endswith(extension) and os.path.isfile(full):
                found.append(os.path.relpath(full, folder))
    return sorted(found)


def load_png_folder(folder, config, class_names=None):
    files = files_under(folder, ".png")
    if not files:
        raise CheckError(f"{folder}: no PNG files")
    if config.get("resize") or config.get("crop") or config.get("patch"):
        raise CheckError("the check reads PNG folders at their own size (no --resize, --crop or --patch)")
    decoded = [read_png(os.path.join(folder, f)) for f in files]
    channels = config.get("channels") or (3 if any(d[0].shape[0] == 3 for d in decoded) else 1)
    if any(d[0].shape[0] != channels for d in decoded) or len({d[0].shape for d in decoded}) != 1:
        raise CheckError(f"{folder}: the check needs every PNG in the model's {channels} channel(s) and one size")
    depth = 16 if any(d[1] == 16 for d in decoded) else 8
    raw = np.stack([d[0].reshape(-1).astype(np.uint16) * (257 if depth == 16 and d[1] == 8 else 1) for d in decoded])
    parts = [f.split(os.sep) for f in files]
    labels, classes = None, None
    if all(len(p) >= 2 for p in parts):
        found = sorted({p[0] for p in parts})
        classes = class_names or found
        index = {name: i for i, name in enumerate(classes)}
        labels = np.array([index[p[0]] for p in parts], dtype=np.int64)
    scale = np.float32(1.0 / 65535.0) if depth == 16 else np.float32(1.0 / 255.0)
    return Images(raw, scale, decoded[0][0].shape, labels, classes)


def split_folders(folder):
    entries = sorted(os.listdir(folder))
    folders = [e for e in entries if os.path.isdir(os.path.join(folder, e))]
    train = next((e for e in folders if e.lower() in ("train", "training")), None)
    if train is None:
        return None
    test = next((e for e in folders if e.lower() in ("test", "testing")), None) \
        or next((e for e in folders if e.lower() in ("val", "valid", "validation")), None)
    return os.path.join(folder, train), test and os.path.join(folder, test)


def resolve(path, bundled):
    if not os.path.exists(path) and path in bundled:
        return os.path.join(ROOT, "data", path)
    return path


def image_splits(path, config):
    """(train, test or None) as DataSource.load finds them."""
    resolved = resolve(path, ("mnist-sample",))
    if not os.path.exists(resolved):
        raise CheckError(f"{path}: no such file or folder")
    if os.path.isfile(resolved):
        return load_idx(resolved, idx_labels_for(resolved)), None
    train_images, test_images = idx_find(resolved, "train", True), idx_find(resolved, "t10k", True)
    if train_images or test_images:
        train = train_images and load_idx(train_images, idx_find(resolved, "train", False))
        test = test_images and load_idx(test_images, idx_find(resolved, "t10k", False))
        return (train, test) if train else (test, None)
    splits = split_folders(resolved)
    if splits:
        train = load_png_folder(splits[0], config)
        return train, splits[1] and load_png_folder(splits[1], config, class_names=train.classes)
    return load_png_folder(resolved, config), None


def test_ids(train_count, test_count, config):
    if test_count is not None:
        ids = list(range(test_count))
    else:
        ids = holdout_split(train_count, config)[1]
    if config.get("validationImages") is not None:
        ids = ids[:config["validationImages"]]
    if config.get("validationSamples") is not None:
        ids = ids[:config["validationSamples"]]
    return np.array(ids, dtype=np.int64)


class Split:
    """The test split as the model reads it: rows, targets, labels (-1: none), sample indices."""

    def __init__(self, rows, labels, ids, description, lengths=None, steps=None):
        self.rows, self.labels, self.ids, self.description = rows, labels, ids, description
        self.lengths, self.steps = lengths, steps


def image_test_split(path, config):
    train, test = image_splits(path, config)
    data = test or train
    ids = test_ids(len(train.raw), None if test is None else len(test.raw), config)
    rows = data.rows(ids)
    if config.get("binarize"):
        # BatchAssembler: SplitMix64(seed ^ "test", binarizeEpoch 0, sample, binarize), one uniform a value.
        rng = Streams(config.get("seed", 0) ^ TEST_SEED, 0, ids.astype(np.uint64), PURPOSE_BINARIZE)
        for i in range(rows.shape[1]):
            rows[:, i] = (rng.uniform() < rows[:, i]).astype(np.float32)
    labels = data.labels[ids] if data.labels is not None else np.full(len(ids), -1)
    binarized = ", binarized" if config.get("binarize") else ""
    return Split(rows, labels, ids, f"{path} ({len(ids)} test samples{binarized})")


class Sequences:
    def __init__(self, values, lengths, labels, classes):
        self.values, self.lengths, self.labels, self.classes = values, lengths, labels, classes


def number(text):
    return float(text.strip())


def load_ts(path):
    values, lengths, labels, classes, in_data = [], [], [], None, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                words = line.split()
                tag = words[0].lower()
                if tag == "@classlabel" and words[1].lower() == "true":
                    classes = words[2:]
                elif tag == "@timestamps" and words[1].lower() == "true":
                    raise CheckError(f"{path}: time stamps are not supported")
                elif tag == "@data":
                    in_data = True
                continue
            parts = line.split(":")
            if classes is not None:
                labels.append(classes.index(parts.pop().strip()))
            series = [[number(v) for v in part.split(",")] for part in parts]
            t = len(series[0])
            values.append(np.array(series, dtype=np.float32).T.reshape(t, len(series)))
            lengths.append(t)
    return Sequences(values, lengths, np.array(labels) if classes is not None else None, classes)


def read_table(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if any(field.strip() for field in r)]

    def numeric(field):
        try:
            float(field)
            return True
        except ValueError:
            return False
    header = None
    if not any(numeric(x) for x in rows[0]):
        header, rows = rows[0], rows[1:]
    return header, [[number(x) for x in r] for r in rows]


def load_csv_folder(folder):
    files = files_under(folder, ".csv")
    values, lengths = [], []
    for relative in files:
        _, rows = read_table(os.path.join(folder, relative))
        values.append(np.array(rows, dtype=np.float32))
        lengths.append(len(rows))
    parts = [f.split(os.sep) for f in files]
    labels, classes = None, None
    if all(len(p) >= 2 for p in parts):
        classes = sorted({p[0] for p in parts})
        labels = np.array([classes.index(p[0]) for p in parts])
    return Sequences(values, lengths, labels, classes)


def load_csv_file(path, id_column, label_column):
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if any(field.strip() for field in r)]
    header, rows = rows[0], rows[1:]
    at = header.index(id_column)
    label_at = header.index(label_column) if label_column else None
    features = [c for c in range(len(header)) if c not in (at, label_at)]
    order, groups, label_of = [], {}, {}
    for row in rows:
        if row[at] not in groups:
            order.append(row[at])
            groups[row[at]] = []
        groups[row[at]].append([number(row[c]) for c in features])
        if label_at is not None:
            label_of[row[at]] = row[label_at]
    labels, classes = None, None
    if label_at is not None:
        names = set(label_of.values())
        classes = sorted(names, key=int) if all(n.lstrip("-").isdigit() for n in names) else sorted(names)
        labels = np.array([classes.index(label_of[i]) for i in order])
    return Sequences([np.array(groups[i], dtype=np.float32) for i in order], [len(groups[i]) for i in order],
                     labels, classes)


SEQUENCE_BUNDLED = ("japanese-vowels", "japanese-vowels-csv")


def ts_files(folder):
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(".ts"))


def looks_like_sequences(path):
    resolved = resolve(path, SEQUENCE_BUNDLED)
    if not os.path.exists(resolved):
        return False
    if os.path.isfile(resolved):
        return resolved.lower().endswith((".ts", ".csv"))
    if idx_find(resolved, "train", True) or idx_find(resolved, "t10k", True) or files_under(resolved, ".png"):
        return False
    return bool(files_under(resolved, ".csv") or ts_files(resolved))


def sequence_splits(path, config):
    train_path = resolve(path, SEQUENCE_BUNDLED)
    if os.path.isdir(train_path) and not files_under(train_path, ".csv"):
        found = [f for f in ts_files(train_path) if f.upper().endswith("_TRAIN.TS")]
        if len(found) == 1:
            train_path = os.path.join(train_path, found[0])

    def load(p):
        if os.path.isdir(p):
            return load_csv_folder(p)
        if p.lower().endswith(".csv"):
            if not config.get("sequenceID"):
                raise CheckError(f"{p}: one CSV file needs the run's --sequence-id")
            return load_csv_file(p, config["sequenceID"], config.get("sequenceLabel"))
        return load_ts(p)
    train, test = load(train_path), None
    name = os.path.basename(train_path)
    if name.upper().endswith("_TRAIN.TS"):
        stem = name[:-len("_TRAIN.ts")]
        for suffix in ("_TEST.ts", "_TEST.TS", "_test.ts"):
            candidate = os.path.join(os.path.dirname(train_path), stem + suffix)
            if os.path.exists(candidate):
                test = load(candidate)
                break
    return train, test


def sequence_test_split(path, config, fixed_steps):
    """Rows of T x F standardized values, zero-padded, then the length (SequenceBatchSource)."""
    train, test = sequence_splits(path, config)
    data = test or train
    ids = test_ids(len(train.lengths), None if test is None else len(test.lengths), config)
    steps = fixed_steps or max(max(train.lengths), max(test.lengths) if test else 0)
    s = config.get("standardization")
    if s is None:
        raise CheckError("the checkpoint has no standardization for sequence files")
    mean, std = np.array(s["mean"], dtype=np.float32), np.array(s["std"], dtype=np.float32)
    features = len(mean)
    rows = np.zeros((len(ids), steps * features + 1), dtype=np.float32)
    for r, i in enumerate(ids):
        n = data.lengths[i]
        if n > steps:
            raise CheckError(f"{path}: a sequence has {n} steps, the model takes at most {steps}")
        rows[r, :n * features] = ((data.values[i] - mean) / std).reshape(-1)
        rows[r, -1] = n
    labels = data.labels[ids] if data.labels is not None else np.full(len(ids), -1)
    return Split(rows, labels, ids, f"{path} ({len(ids)} test sequences, {steps} steps)",
                 lengths=np.array([data.lengths[i] for i in ids]), steps=steps)


# ---------------------------------------------------------------------------------------------
# The models.

def activation(kind):
    return {"relu": nn.ReLU(), "leaky-relu": nn.LeakyReLU(0.01), "elu": nn.ELU(), "sigmoid": nn.Sigmoid(),
            "tanh": nn.Tanh(), "softplus": nn.Softplus(), "identity": nn.Identity()}[kind]


def clamp_log_variance(raw):
    return raw.clamp(-30, 20)


def kl_per_row(mean, raw):
    lv = clamp_log_variance(raw)
    return 0.5 * (mean * mean + torch.exp(lv) - 1 - lv)


class TiedLinear(nn.Module):
    """A decoder layer that uses an encoder layer's weight transposed and has its own bias."""

    def __init__(self, other, outputs):
        super().__init__()
        self.other = [other]  # not a submodule: the weight belongs to the encoder
        self.bias = nn.Parameter(torch.zeros(outputs))

    def forward(self, x):
        return x @ self.other[0].weight + self.bias


class Dense(nn.Module):
    """DenseAutoencoder: module positions as nn.Sequential numbers them (activations, dropout)."""

    def __init__(self, c):
        super().__init__()
        w = c["widths"]
        hidden = c.get("hiddenActivations") or []
        act = lambda i: hidden[i] if hidden else c["hiddenActivation"]
        dropout, layers_with = c.get("dropout", 0), c.get("dropoutLayers") or []
        count = [0]

        def wants(h):
            return dropout > 0 and (not layers_with or h in layers_with)
        enc, dense = [], []
        if c.get("inputDropout", 0) > 0:
            enc.append(nn.Dropout(c["inputDropout"]))
        for i in range(len(w) - 1):
            lin = nn.Linear(w[i], w[i + 1])
            dense.append(lin)
            enc.append(lin)
            code = i == len(w) - 2
            kind = c["codeActivation"] if code else act(i)
            if kind != "identity":
                enc.append(activation(kind))
            if not code:
                count[0] += 1
                if wants(count[0]):
                    enc.append(nn.Dropout(dropout))
        dec = []
        self.logits = c["loss"] == "bce"
        for i in range(len(w) - 1, 0, -1):
            outputs = 2 * w[0] if i == 1 and c["loss"] == "gaussian-nll" else w[i - 1]
            dec.append(TiedLinear(dense[i - 1], outputs) if c.get("tiedWeights") else nn.Linear(w[i], outputs))
            if i == 1:
                if c["outputActivation"] == "sigmoid" and c["loss"] != "bce":
                    dec.append(nn.Sigmoid())
            else:
                dec.append(activation(act(i - 2)))
                count[0] += 1
                if wants(count[0]):
                    dec.append(nn.Dropout(dropout))
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        self.width = w[0]

    def run(self, split):
        code = self.encoder(split.rows)
        y = self.decoder(code)
        recon = torch.sigmoid(y) if self.logits else y[:, :self.width]
        return {"recon": recon, "codes": code}


class Conv(nn.Module):
    """ConvAutoencoder, pooled (M2) or strided; positions count conv, ReLU, pool as Sequential."""

    def __init__(self, c):
        super().__init__()
        k, pad, f = c["kernel"], c["kernel"] // 2, c["filters"]
        enc, sizes = {}, [(c["height"], c["width"])]
        ch, h, w = c["channels"], c["height"], c["width"]
        pos = 0
        for level, out in enumerate(f):
            code = level == len(f) - 1
            stride = 2 if c["architecture"] == "strided" and not code else 1
            enc[str(pos)] = nn.Conv2d(ch, out, k, stride=stride, padding=pad)
            enc[str(pos + 1)] = activation(c["activation"])
            ch, h, w = out, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
            pos += 2
            if c["architecture"] == "pooled" and not code:
                enc[str(pos)] = nn.MaxPool2d(2)
                pos += 1
                h, w = h // 2, w // 2
            if not code:
                sizes.append((h, w))
        dec, pos = {}, 0
        for level in range(len(f) - 2, -1, -1):
            out = c["channels"] if level == 0 else f[level - 1]
            th, tw = sizes[level]
            if c["architecture"] == "pooled":
                dec[str(pos)] = nn.Upsample(scale_factor=2)
                pos += 1
                dec[str(pos)] = nn.Conv2d(ch, out, k, padding=pad)
            else:
                natural_h, natural_w = (h - 1) * 2 - 2 * pad + k, (w - 1) * 2 - 2 * pad + k
                dec[str(pos)] = nn.ConvTranspose2d(ch, out, k, stride=2, padding=pad,
                                                   output_padding=(th - natural_h, tw - natural_w))
            ch, h, w = out, th, tw
            pos += 1
            if level > 0:
                dec[str(pos)] = activation(c["activation"])
                pos += 1
            elif c["loss"] != "bce":
                dec[str(pos)] = nn.Sigmoid()
        self.encoder, self.decoder = nn.Sequential(), nn.Sequential()
        for name, m in enc.items():
            self.encoder.add_module(name, m)
        for name, m in dec.items():
            self.decoder.add_module(name, m)
        self.shape, self.logits = (c["channels"], c["height"], c["width"]), c["loss"] == "bce"

    def run(self, split):
        x = split.rows
        code = self.encoder(x.view(-1, *self.shape))
        y = self.decoder(code).reshape(x.shape[0], -1)
        return {"recon": torch.sigmoid(y) if self.logits else y, "codes": code.reshape(x.shape[0], -1)}


class ConvReLU(nn.Conv2d):
    """A convolution with its ReLU fused, as the tool's Conv2D(fusedReLU:) is one layer."""

    def forward(self, x):
        return F.relu(super().forward(x))


class VAE(nn.Module):
    """VariationalAutoencoder: the encoder ends in one 2Z head (mean | log-variance)."""

    def __init__(self, c, seed):
        super().__init__()
        z, act = c["widths"][-1], lambda: activation(c["activation"])
        decoder = c["decoder"]
        self.kind = next(iter(decoder)) if isinstance(decoder, dict) else decoder
        learned = self.kind == "gaussianLearned"
        enc, dec = [], []
        if c["architecture"] == "dense":
            w = c["widths"]
            for i in range(len(w) - 1):
                head = i == len(w) - 2
                enc += [nn.Linear(w[i], 2 * z if head else w[i + 1])] + ([] if head else [act()])
            d = w[0]
            for i in range(len(w) - 1, 0, -1):
                out = (2 * d if learned else d) if i == 1 else w[i - 1]
                dec += [nn.Linear(w[i], out)] + ([] if i == 1 else [act()])
            self.shape, self.width = None, d
        else:
            ch, h, wd, sizes = c["channels"], c["height"], c["width"], []
            for f in c["filters"]:
                sizes.append((h, wd))
                if c["activation"] == "relu":
                    enc.append(ConvReLU(ch, f, 3, stride=2, padding=1))
                else:
                    enc += [nn.Conv2d(ch, f, 3, stride=2, padding=1), act()]
                ch, h, wd = f, (h + 1) // 2, (wd + 1) // 2
            flat = ch * h * wd
            enc += [nn.Flatten(), nn.Linear(flat, 2 * z)]
            dec += [nn.Linear(z, flat), act(), nn.Unflatten(1, (ch, h, wd))]
            for level in range(len(c["filters"]) - 1, -1, -1):
                out = (2 * c["channels"] if learned else c["channels"]) if level == 0 else c["filters"][level - 1]
                th, tw = sizes[level]
                dec.append(nn.ConvTranspose2d(ch, out, 3, stride=2, padding=1,
                                              output_padding=(th - (2 * h - 1), tw - (2 * wd - 1))))
                if level > 0:
                    dec.append(act())
                ch, h, wd = out, th, tw
            self.shape = (c["channels"], c["height"], c["width"])
            self.width = c["channels"] * c["height"] * c["width"]
        self.encoder, self.decoder, self.z, self.seed = nn.Sequential(*enc), nn.Sequential(*dec), z, seed

    def names(self):
        """Swift numbers only layers with parameters or activations; Flatten/Unflatten are ours."""
        mapping = {}
        for part in ("encoder", "decoder"):
            index = 0
            for i, m in enumerate(getattr(self, part)):
                if isinstance(m, (nn.Flatten, nn.Unflatten)):
                    continue
                mapping[f"{part}.{index}"] = f"{part}.{i}"
                index += 1
        return mapping

    def run(self, split):
        x = split.rows
        head = self.encoder(x.view(-1, *self.shape) if self.shape else x)
        mean, raw = head[:, :self.z], head[:, self.z:]
        # Evaluation decodes a draw: eps from SplitMix64(rowKey, "epsi"), rowKey = (seed, epoch 0, sample, "drop").
        row_keys = Streams(self.seed, 0, split.ids.astype(np.uint64), ROW_KEY).state
        eps = torch.from_numpy(Streams(row_keys, EPSILON_KEY).gaussians(self.z))
        z = mean + torch.exp(0.5 * clamp_log_variance(raw)) * eps
        y = self.decoder(z).reshape(x.shape[0], -1)
        recon = torch.sigmoid(y) if self.kind == "bernoulli" else y[:, :self.width]
        return {"recon": recon, "codes": mean, "parts": {"kl": kl_per_row(mean, raw).sum(1)}}


def mlp(widths, act, outputs):
    """Linear, activation, ..., Linear(outputs): the tool's discriminator and adversary stacks."""
    layers, width = [], widths[0]
    for hidden in widths[1:]:
        layers += [nn.Linear(width, hidden), activation(act)]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, outputs))


class AAE(nn.Module):
    """AdversarialAutoencoder: encoder head (cluster logits | style), decoder from (softmax | style)."""

    def __init__(self, c):
        super().__init__()
        w, k, z, act = c["widths"], c.get("clusters", 0), c["widths"][-1], c["activation"]
        enc, dec = [], []
        for i in range(len(w) - 1):
            head = i == len(w) - 2
            enc.append(nn.Linear(w[i], k + z if head else w[i + 1]))
            if not head:
                enc.append(activation(act))
        for i in range(len(w) - 1, 0, -1):
            dec.append(nn.Linear(k + z if i == len(w) - 1 else w[i], w[0] if i == 1 else w[i - 1]))
            if i != 1:
                dec.append(activation(act))
        if c["loss"] == "mse":
            dec.append(nn.Sigmoid())
        prior = c.get("prior", "gaussian")
        components = prior["mixture"]["components"] if isinstance(prior, dict) and "mixture" in prior else 0
        label_columns = components if c.get("conditional") else 0
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        self.discriminator = mlp([z + label_columns] + c["discriminator"], act, 1)
        if k > 0:
            self.cluster_discriminator = mlp([k] + c["discriminator"], act, 1)
        self.k, self.logits = k, c["loss"] == "bce"

    def run(self, split):
        head = self.encoder(split.rows)
        code = torch.cat([torch.softmax(head[:, :self.k], dim=1), head[:, self.k:]], dim=1) if self.k else head
        y = self.decoder(code)
        return {"recon": torch.sigmoid(y) if self.logits else y, "codes": code}


def one_hot(labels, classes):
    out = torch.zeros(len(labels), classes)
    for r, y in enumerate(labels):
        if 0 <= y < classes:
            out[r, y] = 1
    return out


def valid_lengths(rows, at, steps):
    """min(max(Int(row[at]), 0), steps) per row (Swift's Int() truncates)."""
    return torch.trunc(rows[:, at]).clamp(0, steps).long()


class SplitDisentangler(nn.Module):
    """DisentanglingAutoencoder: every decoder stage reads the label one-hot next to its input."""

    def __init__(self, c):
        super().__init__()
        w, cw, k, act = c["widths"], c["widths"][-1], c["classes"], c["activation"]
        self.sequence = c.get("steps", 0) > 0
        self.steps, self.features = c.get("steps", 0), c.get("features", 0)
        d = self.steps * self.features if self.sequence else w[0]
        variational = c.get("kl", 0) > 0
        enc, dec = [], []
        for i in range(len(w) - 1):
            head = i == len(w) - 2
            enc.append(nn.Linear(w[i], 2 * w[i + 1] if head and variational else w[i + 1]))
            if not head:
                enc.append(activation(act))
        for i in range(len(w) - 1, 0, -1):
            dec.append(nn.Linear((cw if i == len(w) - 1 else w[i]) + k, d if i == 1 else w[i - 1]))
            if i != 1:
                dec.append(activation(act))
            elif c["loss"] == "mse" and not self.sequence:
                dec.append(nn.Sigmoid())
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        self.adversary = mlp([cw] + c["adversaryWidths"], act, k)
        if c.get("swapWeight", 0) > 0:
            # The swap critic: a classifier of images; it does not enter the reconstruction or the code.
            self.critic = mlp([d] + c.get("criticWidths", [256]), act, k)
        self.free, self.classes, self.variational, self.data_width = cw, k, variational, d
        self.logits = c["loss"] == "bce" and not self.sequence

    def run(self, split):
        head = self.encoder(split.rows)
        mean = head[:, :self.free]
        label = one_hot(split.labels, self.classes)
        x = mean
        for m in self.decoder:
            if isinstance(m, nn.Linear):
                x = m(torch.cat([x, label], dim=1))
            else:
                x = m(x)
        out = {"codes": torch.cat([mean, label], dim=1)}
        if self.variational:
            out["parts"] = {"kl": kl_per_row(mean, head[:, self.free:2 * self.free]).sum(1)}
        if self.sequence:
            out["recon"] = torch.cat([x, split.rows[:, -1:]], dim=1)
        else:
            out["recon"] = torch.sigmoid(x) if self.logits else x
        return out


class AdaIN(nn.Module):
    """AdaINAutoencoder: content and style encoders, instance norm, AdaIN decoder (images or sequences)."""

    def __init__(self, c):
        super().__init__()
        h, cz, s = c["channels"], c["contentChannels"], c["styleWidth"]
        self.sequence = c.get("steps", 0) > 0
        kernel = c.get("kernel", 5)
        inputs = c["features"] if self.sequence else c["imageChannels"]
        variational = c.get("kl", 0) > 0

        def conv(i, o, down=False, up=False, pointwise=False):
            if self.sequence:
                return nn.Conv1d(i, o, 1 if pointwise else kernel, padding=0 if pointwise else (kernel - 1) // 2)
            if up:
                return nn.ConvTranspose2d(i, o, 4, stride=2, padding=1)
            return nn.Conv2d(i, o, 4 if down else (1 if pointwise else 3), stride=2 if down else 1,
                             padding=1 if down or not pointwise else 0)
        self.content = nn.ModuleList([conv(inputs, h), conv(h, h, down=True), conv(h, h, down=True),
                                      conv(h, 2 * cz if variational else cz, pointwise=True)])
        self.style = nn.ModuleList([conv(inputs, h), conv(h, h, down=True), conv(h, h, down=True), nn.Linear(h, s)])
        self.adain = nn.Linear(s, 6 * h)
        self.decoder = nn.ModuleList([conv(cz, h, pointwise=True), conv(h, h, up=True), conv(h, h, up=True),
                                      conv(h, inputs)])
        self.act = activation(c["activation"])
        if c.get("swapWeight", 0) > 0:
            # The conversion critic: a classifier of data rows; it does not enter the reconstruction or the code.
            data = c["steps"] * c["features"] if self.sequence else c["imageChannels"] * c["imageHeight"] * c["imageWidth"]
            self.critic = mlp([data] + c.get("criticWidths", [256]), c["activation"], c["classes"])
        self.h, self.cz, self.variational = h, cz, variational
        self.steps, self.features = c.get("steps", 0), c.get("features", 0)
        self.image = (c.get("imageChannels", 0), c.get("imageHeight", 0), c.get("imageWidth", 0))
        self.loss = c["loss"]

    def run(self, split, style_from=None):
        """style_from (row indices): decode each row's content with that row's style (a conversion)."""
        rows, b = split.rows, split.rows.shape[0]
        if self.sequence:
            # Steps are the data's longest sequence (the tool resolves them again on other data).
            t, f = split.steps or self.steps, self.features
            n = valid_lengths(rows, t * f, t)
            x = rows[:, :t * f].reshape(b, t, f).transpose(1, 2)
            mask = (torch.arange(t)[None, :] < n[:, None]).float()[:, None, :]
            count = n.clamp(min=1).float()[:, None, None]
            spatial = (2,)
        else:
            x = rows.view(b, *self.image)
            mask, spatial = None, (2, 3)

        def masked(y):
            return y if mask is None else y * mask

        def mean_over(y):
            if mask is None:
                return y.mean(dim=spatial, keepdim=True)
            return torch.where(n[:, None, None] > 0, (y * mask).sum(dim=2, keepdim=True) / count, torch.zeros(()))

        def norm(y, k=None, params=None):
            mean = mean_over(y)
            centred = masked(y - mean)
            var = (centred * centred).mean(dim=spatial, keepdim=True) if mask is None \
                else (centred * centred).sum(dim=2, keepdim=True) / count
            scale = torch.rsqrt(var + 1e-5)
            shift = 0
            if params is not None:
                gamma = params[:, 2 * self.h * k:2 * self.h * k + self.h]
                beta = params[:, 2 * self.h * k + self.h:2 * self.h * (k + 1)]
                extra = (None,) * len(spatial)
                scale = scale * (1 + gamma[(...,) + extra])
                shift = beta[(...,) + extra]
            return masked((y - mean) * scale + shift)
        c = x
        for k in range(3):
            c = norm(self.act(self.content[k](c)))
        head = self.content[3](c)
        content = masked(head[:, :self.cz])
        s = x
        for k in range(3):
            s = self.act(self.style[k](s))
            if k < 2:
                s = masked(s)
        pooled = s.mean(dim=spatial) if mask is None else (s * mask).sum(dim=2) / count[:, :, 0]
        style = self.style[3](pooled)
        if style_from is not None:
            style = style[style_from]
        params = self.adain(style)
        d = self.decoder[0](content)
        for k in range(3):
            d = self.decoder[k + 1](self.act(norm(d, k, params)))
        out = {"codes": torch.cat([content.reshape(b, -1), style] + ([n[:, None].float()] if self.sequence else []),
                                  dim=1)}
        if self.variational:
            out["parts"] = {"kl": masked(kl_per_row(head[:, :self.cz], head[:, self.cz:])).reshape(b, -1).sum(1)}
        if self.sequence:
            out["recon"] = torch.cat([masked(d).transpose(1, 2).reshape(b, -1), n[:, None].float()], dim=1)
        else:
            # bce: logits -> probabilities; mse: the decoder ends in a sigmoid. Either way a sigmoid.
            out["recon"] = torch.sigmoid(d.reshape(b, -1))
        return out


class RBM(nn.Module):
    """RestrictedBoltzmannMachine: one mean-field up-down pass."""

    def __init__(self, c):
        super().__init__()
        self.rbm = nn.Module()
        self.rbm.weight = nn.Parameter(torch.zeros(c["hidden"], c["visible"]))
        self.rbm.visible_bias = nn.Parameter(torch.zeros(c["visible"]))
        self.rbm.hidden_bias = nn.Parameter(torch.zeros(c["hidden"]))
        self.binary = c.get("hiddenUnits", "binary") == "binary"

    def run(self, split):
        v = split.rows
        x = v @ self.rbm.weight.T + self.rbm.hidden_bias
        h = torch.sigmoid(x) if self.binary else x
        recon = torch.sigmoid(h @ self.rbm.weight + self.rbm.visible_bias)
        hidden = F.softplus(x) if self.binary else x * x / 2
        free_energy = -(v * self.rbm.visible_bias).sum(1) - hidden.sum(1)
        return {"recon": recon, "codes": h, "parts": {"free_energy": free_energy}}


class Sequence(nn.Module):
    """SequenceAutoencoder: encoder RNN, optional bottleneck, decoder fed the code or its own output."""

    def __init__(self, c):
        super().__init__()
        rnn = nn.LSTM if c["cell"] == "lstm" else nn.GRU
        h, layers, d = c["hidden"], c["layers"], c["features"]
        self.directions = 2 if c.get("bidirectional") else 1
        self.enc = rnn(d, h, num_layers=layers, batch_first=True, bidirectional=self.directions == 2)
        if c.get("code", 0) > 0:
            self.bottleneck = nn.Linear(h * self.directions, c["code"])
        z = c.get("code", 0) or h * self.directions
        self.previous = c.get("decoderInput", "code") == "previous"
        self.dec = rnn(d if self.previous else z, h, num_layers=layers, batch_first=True)
        if self.previous:
            self.bridge = nn.Linear(z, layers * h)
        self.out = nn.Linear(h, d)
        self.steps, self.features, self.hidden, self.layers = c["steps"], d, h, layers
        self.sigmoid, self.reverse = c["output"] == "sigmoid", c.get("reverse", False)
        self.variable, self.channels = c.get("variableLength", False), c.get("imageChannels", 1)
        self.lstm = c["cell"] == "lstm"

    def run(self, split):
        rows, b, d = split.rows, split.rows.shape[0], self.features
        t = split.steps or self.steps
        if self.variable:
            raw = rows[:, t * d]
            n = torch.where(torch.isfinite(raw), torch.floor(raw + 0.5), torch.ones(())).clamp(1, t).long()
        else:
            n = torch.full((b,), t, dtype=torch.long)
        x = rows[:, :t * d]
        if self.channels > 1:
            # Image rows: step s is image row s, its values the C planes' rows side by side.
            x = x.reshape(b, self.channels, t, d // self.channels).permute(0, 2, 1, 3)
        x = x.reshape(b, t, d)
        packed = nn.utils.rnn.pack_padded_sequence(x, n, batch_first=True, enforce_sorted=False) if self.variable else x
        _, state = self.enc(packed)
        final = state[0] if self.lstm else state
        last = torch.cat(list(final[-self.directions:]), dim=1)
        z = self.bottleneck(last) if hasattr(self, "bottleneck") else last
        act = torch.sigmoid if self.sigmoid else (lambda v: v)
        if self.previous:
            h0 = self.bridge(z).reshape(b, self.layers, self.hidden).transpose(0, 1).contiguous()
            state = (h0, torch.zeros_like(h0)) if self.lstm else h0
            step_in, outputs = torch.zeros(b, 1, d), []
            for _ in range(t):
                y, state = self.dec(step_in, state)
                step_in = act(self.out(y))
                outputs.append(step_in)
            values = torch.cat(outputs, dim=1)
        else:
            values = act(self.out(self.dec(z[:, None, :].expand(b, t, z.shape[1]))[0]))
        steps = torch.arange(t)[None, :]
        valid = steps < n[:, None]
        source = (n[:, None] - 1 - steps).clamp(min=0) if self.reverse else steps.expand(b, t)
        recon = torch.zeros(b, t, d)
        recon.scatter_(1, torch.where(valid, source, steps)[:, :, None].expand(b, t, d),
                       torch.where(valid[:, :, None], values, torch.zeros(())))
        if self.channels > 1:
            recon = recon.reshape(b, t, self.channels, d // self.channels).permute(0, 2, 1, 3)
        recon = recon.reshape(b, t * d)
        if self.variable:
            recon = torch.cat([recon, rows[:, t * d:]], dim=1)
        return {"recon": recon, "codes": z, "lengths": n}


def build(config):
    (kind, c), = config["model"].items()
    if kind == "dense":
        return Dense(c), {}
    if kind == "conv":
        return Conv(c), {}
    if kind == "vae":
        model = VAE(c, config.get("seed", 0))
        return model, model.names()
    if kind == "sequence":
        return Sequence(c), {}
    if kind == "aae":
        return AAE(c), {}
    if kind == "disentangle":
        return (AdaIN(c) if c.get("form", "split") == "adain" else SplitDisentangler(c)), {}
    if kind == "rbm":
        return RBM(c), {}
    if kind == "denoiser":
        from torch_denoiser import Denoiser
        if c["activation"] != "relu":
            fail("the loader's denoiser is the ReLU U-Net of tools/torch_denoiser.py")
        return Denoiser(channels=c["channels"], depth=c["depth"], width=c["width"], residual=c["residual"]), {}
    fail(f"no PyTorch rebuild for the {kind} family")


def load(path):
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
    if "config" not in metadata:
        fail(f"{path}: no config in the metadata (not a checkpoint of this tool)")
    config = json.loads(metadata["config"])
    if "formatVersion" not in config:
        fail(f"{path}: a version-1 config; resume or evaluate it once with the current tool to convert it")
    tensors = {k: v for k, v in load_file(path).items() if not k.startswith(("optimizer.", "state."))}
    model, rename = build(config)
    tensors = {next((new + k[len(old):] for old, new in rename.items() if k.startswith(old + ".")), k): v
               for k, v in tensors.items()}
    # Tied decoder layers hold only a bias here; their weight is the encoder's.
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        fail(f"strict load failed: missing {missing}, unexpected {unexpected}")
    model.eval()
    return model, config


# ---------------------------------------------------------------------------------------------
# The checks.

def tool(binary, *args):
    result = subprocess.run([binary, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise CheckError(f"`{os.path.basename(binary)} {' '.join(args)}` failed: "
                         f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return result.stdout


def test_split(config, data):
    (kind, c), = config["model"].items()
    reads_sequences = kind == "sequence" or kind == "disentangle"
    if reads_sequences and looks_like_sequences(data):
        # The split form's dense layers and the AdaIN form's conversion critic read whole rows.
        fixes = c.get("form", "split") == "split" or c.get("swapWeight", 0) > 0
        fixed = c["steps"] if kind == "disentangle" and fixes else None
        return sequence_test_split(data, config, fixed)
    return image_test_split(data, config)


def mse(config, split, out):
    """The tool's MSE per value of the test split (Evaluation.msePerPixel) from our reconstruction."""
    (kind, c), = config["model"].items()
    recon, target = out["recon"].double(), torch.from_numpy(split.rows).double()
    if split.lengths is None:
        return float(((recon - target) ** 2).mean())
    t, f = split.steps, len(config["standardization"]["mean"])
    e = (recon[:, :t * f] - target[:, :t * f]) ** 2
    valid = (torch.arange(t * f)[None, :] < torch.from_numpy(split.lengths)[:, None] * f).double()
    sums = (e * valid).sum(1)
    if kind == "sequence":
        # SequenceAutoencoder: each row's mean over its own values, then the mean over rows.
        return float((sums / (torch.from_numpy(split.lengths).double() * f)).mean())
    return float(sums.sum() / (len(sums) * t * f))


def relative(ours, theirs):
    return abs(ours - theirs) / max(abs(theirs), 1e-12)


def denoiser_inputs(data, config, count=4, largest=256):
    """The first `count` test images of `data` (any sizes; at most `largest` pixels a side, cut from
    the top left), planar floats."""
    resolved = resolve(data, ("mnist-sample",))
    splits = split_folders(resolved) if os.path.isdir(resolved) else None
    if splits or (os.path.isdir(resolved) and files_under(resolved, ".png")):
        folder = splits[1] or splits[0] if splits else resolved
        files = files_under(folder, ".png")
        ids = range(len(files)) if splits and splits[1] else holdout_split(len(files), config)[1]
        images = [read_png(os.path.join(folder, files[i])) for i in list(ids)[:count]]
        images = [(p.astype(np.float32) * np.float32(1 / 65535 if depth == 16 else 1 / 255)) for p, depth in images]
    else:
        train, test = image_splits(data, config)
        source = test or train
        ids = test_ids(len(train.raw), None if test is None else len(test.raw), {})[:count]
        images = [row.reshape(source.shape) for row in source.rows(ids)]
    return [image[:, :largest, :largest] for image in images]


def check_denoiser(model, config, checkpoint, binary, data, folder):
    """`autoencoder denoise` on a few noisy test images against the rebuilt U-Net."""
    c = config["model"]["denoiser"]
    rng = np.random.default_rng(0)
    inputs, outputs = os.path.join(folder, "in"), os.path.join(folder, "out")
    os.makedirs(inputs)
    images = denoiser_inputs(data, {**config, "patch": None})
    for i, image in enumerate(images):
        if image.shape[0] != c["channels"]:
            # Written in the model's channels: gray as three equal planes, colour as its mean.
            image = np.repeat(image, 3, axis=0) if c["channels"] == 3 else image.mean(axis=0, keepdims=True)
        noisy = image + rng.normal(0, 0.1, image.shape).astype(np.float32)
        write_png(os.path.join(inputs, f"{i:02d}.png"), noisy, depth=16)
    tool(binary, "denoise", "--checkpoint", checkpoint, "--input", inputs, "--output", outputs)
    worst, border, step = 0, 8, 1 << c["depth"]
    for name in sorted(os.listdir(inputs)):
        planes, _ = read_png(os.path.join(inputs, name))
        theirs, _ = read_png(os.path.join(outputs, name))
        x = planes.astype(np.float32) * np.float32(1.0 / 65535.0)
        _, h, w = x.shape
        ph, pw = -(-(h + 2 * border) // step) * step, -(-(w + 2 * border) // step) * step
        padded = np.pad(x, ((0, 0), (border, ph - h - border), (border, pw - w - border)), "reflect")
        with torch.no_grad():
            y = model(torch.from_numpy(padded)[None])[0, :, border:border + h, border:border + w].numpy()
        ours = np.floor(np.clip(y.astype(np.float64), 0, 1) * 65535 + 0.5)
        worst = max(worst, int(np.abs(ours - theirs.astype(np.float64)).max()))
    line = (f"  denoised {len(images)} noisy test images of {data}: largest difference to `autoencoder denoise` "
            f"{worst} of 65535 levels")
    return line, worst <= DENOISE_LEVELS


def check(model, config, checkpoint, binary, data):
    """Runs the tool on `data` and compares; returns (lines, passed)."""
    (kind, _), = config["model"].items()
    with tempfile.TemporaryDirectory() as folder:
        if kind == "denoiser":
            line, ok = check_denoiser(model, config, checkpoint, binary, data, folder)
            return [line], ok
        split = test_split(config, data)
        override = [] if data == config.get("data") else ["--data", data]
        report = json.loads(tool(binary, "evaluate", "--checkpoint", checkpoint, "--noise", "none", "--json",
                                 *override))
        x = torch.from_numpy(split.rows)
        with torch.no_grad():
            out = model.run(Split(x, split.labels, split.ids, split.description, split.lengths, split.steps))
        lines, ok = [f"  on {split.description}:"], True
        if report["samples"] != len(split.ids):
            return lines + [f"    the tool evaluated {report['samples']} samples, "
                            f"the check read {len(split.ids)}"], False
        ours, theirs = mse(config, split, out), report["mse_per_pixel"]
        r = relative(ours, theirs)
        ok &= r <= MSE_RELATIVE
        lines.append(f"    MSE per value {ours:.8f} in PyTorch, {theirs:.8f} by `autoencoder evaluate` "
                     f"(relative difference {r:.1e})")
        for name, values in out.get("parts", {}).items():
            ours, theirs = float(values.double().mean()), report[name]
            r = relative(ours, theirs)
            ok &= r <= PART_RELATIVE
            lines.append(f"    {name} per sample {ours:.6f} in PyTorch, {theirs:.6f} by `autoencoder evaluate` "
                         f"(relative difference {r:.1e})")
        codes_path = os.path.join(folder, "codes.npy")
        result = subprocess.run([binary, "encode", "--checkpoint", checkpoint, "--noise", "none", "--out", codes_path,
                                 *override], capture_output=True, text=True)
        if result.returncode != 0:
            if kind != "sequence":
                raise CheckError(f"`autoencoder encode` failed: {result.stderr.strip()}")
            lines.append("    codes: not compared (`autoencoder encode` refuses this family in this build)")
            return lines, ok
        theirs = np.load(codes_path)
        labels = np.load(os.path.join(folder, "codes-labels.npy"))
        ours = out["codes"].numpy()
        if ours.shape != theirs.shape:
            return lines + [f"    codes: {ours.shape} in PyTorch, {theirs.shape} by `autoencoder encode`"], False
        diff = float(np.abs(ours - theirs).max())
        scale = max(1.0, float(np.abs(theirs).max()))
        same_labels = np.array_equal(labels.astype(np.int64), np.asarray(split.labels).astype(np.int64))
        ok &= diff <= CODE_RELATIVE * scale and same_labels
        lines.append(f"    codes ({ours.shape[0]} x {ours.shape[1]}): largest difference to `autoencoder encode` "
                     f"{diff:.1e} (largest |code| {scale:.2f}); labels {'equal' if same_labels else 'DIFFER'}")
        return lines, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="a .safetensors checkpoint or a run folder")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "autoencoder"))
    ap.add_argument("--data", action="append", default=[], metavar="PATH",
                    help="also check on this data (same sample size as the run's; repeatable)")
    ap.add_argument("--no-check", action="store_true", help="only rebuild and load")
    args = ap.parse_args()
    torch.set_num_threads(1)
    failed = []
    for path in args.checkpoints:
        if os.path.isdir(path):
            best = os.path.join(path, "checkpoints", "best.safetensors")
            path = best if os.path.exists(best) else os.path.join(path, "checkpoints", "last.safetensors")
        model, config = load(path)
        (kind, _), = config["model"].items()
        print(f"{path}: {config['family']} ({kind}) rebuilt in PyTorch, "
              f"{sum(p.numel() for p in model.parameters()):,} parameters, strict load")
        if args.no_check:
            continue
        places = []
        for data in [config["data"]] + args.data:
            if os.path.realpath(resolve(data, ("mnist-sample",) + SEQUENCE_BUNDLED)) not in \
                    [os.path.realpath(resolve(d, ("mnist-sample",) + SEQUENCE_BUNDLED)) for d in places]:
                places.append(data)
        for data in places:
            try:
                lines, ok = check(model, config, path, args.binary, data)
            except CheckError as error:
                lines, ok = [f"  on {data}: {error}"], False
            print("\n".join(lines) + ("" if ok else "\n  MISMATCH"), flush=True)
            if not ok:
                failed.append(f"{path} on {data}")
    if failed:
        fail("the rebuilt model disagrees with the tool: " + "; ".join(failed))


if __name__ == "__main__":
    main()
