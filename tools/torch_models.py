#!/usr/bin/env python3
"""Loads an `autoencoder` checkpoint into PyTorch: rebuilds the model as nn.Modules from the config
in the checkpoint's metadata, drops the optimizer tensors, loads the weights strictly, and checks
the rebuilt model against the tool itself on the bundled MNIST sample.

    python3 tools/torch_models.py runs/deep-.../checkpoints/last.safetensors [--binary B] [--no-check]

Families: dense (every dense variant: activations, dropout, tied weights, BCE logits, Gaussian NLL
heads), conv (pooled and strided), vae (dense and conv), denoiser (tools/torch_denoiser.py's
U-Net), lstm/gru (decoder fed the code, no bottleneck, one direction, image rows or sequence files).
The check: dense, conv and sequence models on image rows give the test split's MSE per pixel as
`autoencoder evaluate --noise none --json` does; a VAE's posterior means equal `autoencoder encode`.

Setup: pip install torch safetensors numpy
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors import safe_open

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))


def fail(message):
    sys.exit(f"error: {message}")


def activation(kind):
    return {"relu": nn.ReLU(), "leaky-relu": nn.LeakyReLU(0.01), "elu": nn.ELU(), "sigmoid": nn.Sigmoid(),
            "tanh": nn.Tanh(), "softplus": nn.Softplus(), "identity": nn.Identity()}[kind]


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

    def forward(self, x):
        y = self.decoder(self.encoder(x))
        if self.logits:
            return torch.sigmoid(y)
        return y[:, :self.width]


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

    def forward(self, x):
        y = self.decoder(self.encoder(x.view(-1, *self.shape))).reshape(x.shape[0], -1)
        return torch.sigmoid(y) if self.logits else y


class ConvReLU(nn.Conv2d):
    """A convolution with its ReLU fused, as the tool's Conv2D(fusedReLU:) is one layer."""

    def forward(self, x):
        return F.relu(super().forward(x))


class VAE(nn.Module):
    """VariationalAutoencoder: the encoder ends in one 2Z head (mean | log-variance)."""

    def __init__(self, c):
        super().__init__()
        z, act = c["widths"][-1], lambda: activation(c["activation"])
        learned = "gaussianLearned" in c["decoder"]
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
            self.shape = None
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
        self.encoder, self.decoder, self.z = nn.Sequential(*enc), nn.Sequential(*dec), z

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

    def mean(self, x):
        if self.shape:
            x = x.view(-1, *self.shape)
        return self.encoder(x)[:, :self.z]


class Sequence(nn.Module):
    """SequenceAutoencoder with the decoder fed the code at every step (no bottleneck)."""

    def __init__(self, c):
        super().__init__()
        for option, plain in (("bidirectional", False), ("reverse", False), ("code", 0), ("decoderInput", "code")):
            if c.get(option, plain) != plain:
                fail(f"the loader rebuilds sequence models with {option} = {plain!r}; this one has {c[option]!r}")
        rnn = nn.LSTM if c["cell"] == "lstm" else nn.GRU
        self.enc = rnn(c["features"], c["hidden"], num_layers=c["layers"], batch_first=True)
        self.dec = rnn(c["hidden"], c["hidden"], num_layers=c["layers"], batch_first=True)
        self.out = nn.Linear(c["hidden"], c["features"])
        self.steps, self.features, self.sigmoid = c["steps"], c["features"], c["output"] == "sigmoid"

    def forward(self, x):
        x = x.view(-1, self.steps, self.features)
        _, state = self.enc(x)
        h = (state[0] if isinstance(state, tuple) else state)[-1]
        y = self.out(self.dec(h.unsqueeze(1).expand(-1, self.steps, -1))[0])
        return (torch.sigmoid(y) if self.sigmoid else y).reshape(x.shape[0], -1)


def build(config):
    (kind, c), = config["model"].items()
    if kind == "dense":
        return Dense(c), {}
    if kind == "conv":
        return Conv(c), {}
    if kind == "vae":
        model = VAE(c)
        return model, model.names()
    if kind == "sequence":
        return Sequence(c), {}
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


def test_images(count=1000):
    with gzip.open(os.path.join(ROOT, "data", "mnist-sample", "t10k-images-idx3-ubyte.gz"), "rb") as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        pixels = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8)
    return torch.from_numpy(pixels.reshape(n, rows * cols)[:count].astype(np.float32) / 255)


def check(model, config, checkpoint, binary):
    (kind, _), = config["model"].items()
    if config.get("data") not in ("mnist-sample", os.path.join(ROOT, "data", "mnist-sample")):
        print(f"check skipped: the run trained on {config.get('data')}, the check uses mnist-sample")
        return
    x = test_images()
    if kind == "vae":
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "codes.npy")
            subprocess.run([binary, "encode", "--checkpoint", checkpoint, "--out", out], check=True,
                           stdout=subprocess.DEVNULL)
            theirs = np.load(out)
        with torch.no_grad():
            ours = model.mean(x).numpy()
        diff = float(np.abs(ours - theirs).max())
        print(f"check: posterior means of {len(x)} test digits, largest difference to `autoencoder encode` {diff:.2e}")
        if diff > 1e-3:
            fail("the rebuilt VAE disagrees with the tool")
        return
    if kind == "denoiser":
        print("check skipped: denoisers are scored on whole images (autoencoder evaluate)")
        return
    result = subprocess.run([binary, "evaluate", "--checkpoint", checkpoint, "--noise", "none", "--json"],
                            check=True, capture_output=True, text=True)
    theirs = json.loads(result.stdout)["mse_per_pixel"]
    with torch.no_grad():
        ours = torch.mean((model(x) - x) ** 2).item()
    relative = abs(ours - theirs) / max(theirs, 1e-12)
    print(f"check: test MSE per pixel {ours:.6f} in PyTorch, {theirs:.6f} by `autoencoder evaluate` "
          f"(relative difference {relative:.1e})")
    if relative > 1e-3:
        fail("the rebuilt model disagrees with the tool")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a .safetensors checkpoint or a run folder")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "autoencoder"))
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()
    path = args.checkpoint
    if os.path.isdir(path):
        path = os.path.join(path, "checkpoints", "last.safetensors")
    torch.set_num_threads(1)
    model, config = load(path)
    (kind, _), = config["model"].items()
    print(f"{path}: {config['family']} ({kind}) rebuilt in PyTorch, {sum(p.numel() for p in model.parameters()):,} "
          f"parameters, strict load")
    if not args.no_check:
        check(model, config, path, args.binary)


if __name__ == "__main__":
    main()
