#!/usr/bin/env python3
"""Checks a .safetensors checkpoint with the reference reader (safetensors + PyTorch).

    tools/check_safetensors.py CHECKPOINT                 # list tensors, metadata; check float32 + finite
    tools/check_safetensors.py CHECKPOINT --model-check   # also load an M1 checkpoint into PyTorch and
                                                          # print its reconstruction MSE on 1000 test digits
        [--data FOLDER]   IDX folder with t10k-images-idx3-ubyte.gz (default: the repository's data/mnist-sample)

Setup: pip install torch safetensors threadpoolctl
Prints each tensor's name, dtype and shape and the file's __metadata__. Exits 1 with a message if
the file cannot be read, any tensor is not float32 or holds NaN/Inf, or the model check fails.
--model-check expects the M1 architecture (784-1000-500-250-30 mirrored) named like
    encoder = Sequential(Linear, ReLU, Linear, ReLU, Linear, ReLU, Linear)                 encoder.{0,2,4,6}.*
    decoder = Sequential(Linear, ReLU, Linear, ReLU, Linear, ReLU, Linear, Sigmoid)        decoder.{0,2,4,6}.*
weights in PyTorch layout (out, in); tensors named optimizer.* are ignored for the load, which is strict.
"""
import argparse
import gzip
import json
import os
import struct
import sys

M1_DIMS = (784, 1000, 500, 250, 30)
DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist-sample")


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def build_m1():
    import torch.nn as nn
    d = M1_DIMS
    enc, dec = [], []
    for i in range(4):
        enc.append(nn.Linear(d[i], d[i + 1]))
        if i < 3:
            enc.append(nn.ReLU())
    r = d[::-1]
    for i in range(4):
        dec.append(nn.Linear(r[i], r[i + 1]))
        dec.append(nn.ReLU() if i < 3 else nn.Sigmoid())
    model = nn.Module()
    model.encoder = nn.Sequential(*enc)
    model.decoder = nn.Sequential(*dec)
    return model


def expected_m1_shapes():
    d, r = M1_DIMS, M1_DIMS[::-1]
    shapes = {}
    for i in range(4):
        shapes[f"encoder.{2 * i}.weight"] = (d[i + 1], d[i])
        shapes[f"encoder.{2 * i}.bias"] = (d[i + 1],)
        shapes[f"decoder.{2 * i}.weight"] = (r[i + 1], r[i])
        shapes[f"decoder.{2 * i}.bias"] = (r[i + 1],)
    return shapes


def read_idx_images(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 16 or data[:4] != b"\x00\x00\x08\x03":
        fail(f"{path}: not an IDX uint8 images file")
    n, h, w = struct.unpack(">III", data[4:16])
    if len(data) != 16 + n * h * w:
        fail(f"{path}: length does not match header ({n}x{h}x{w})")
    return n, h * w, data[16:]


def model_check(tensors, data_dir):
    import torch
    expected = expected_m1_shapes()
    model_tensors = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    for name, shape in expected.items():
        if name not in model_tensors:
            fail(f"--model-check: tensor {name} missing")
        if tuple(model_tensors[name].shape) != shape:
            fail(f"--model-check: {name} has shape {tuple(model_tensors[name].shape)}, M1 needs {shape}")
    model = build_m1()
    try:
        model.load_state_dict(model_tensors, strict=True)
    except RuntimeError as e:
        fail(f"--model-check: load_state_dict(strict=True) failed: {e}")
    path = os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")
    if not os.path.exists(path):
        fail(f"--model-check: {path} not found")
    n, pixels, raw = read_idx_images(path)
    if pixels != 784:
        fail(f"{path}: images have {pixels} pixels, M1 needs 784")
    count = min(1000, n)
    x = torch.frombuffer(bytearray(raw[:count * 784]), dtype=torch.uint8)
    x = x.reshape(count, 784).to(torch.float32) / 255.0
    model.eval()
    with torch.inference_mode():
        xhat = model.decoder(model.encoder(x))
        mse = torch.mean((xhat - x) ** 2).item()
    print(f"model check: M1 loaded (strict); reconstruction MSE on the first {count} test digits "
          f"of {data_dir}: {mse:.6f} (mean over pixels; x784 = {mse * 784:.3f} per image)")
    if not torch.isfinite(torch.tensor(mse)):
        fail("model check: reconstruction MSE is not finite")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--model-check", action="store_true",
                    help="load the M1 tensors into a PyTorch model and print test reconstruction MSE")
    ap.add_argument("--data", default=DEFAULT_DATA, help="IDX folder for --model-check")
    args = ap.parse_args()

    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not os.path.isfile(args.checkpoint):
        fail(f"{args.checkpoint}: no such file")
    try:
        tensors = load_file(args.checkpoint)
        with safe_open(args.checkpoint, "pt") as f:
            metadata = f.metadata()
    except Exception as e:  # safetensors raises its own error types
        fail(f"{args.checkpoint}: cannot read as safetensors: {e}")

    problems = []
    print(f"{args.checkpoint}: {len(tensors)} tensors")
    for name in sorted(tensors):
        t = tensors[name]
        note = ""
        if t.dtype != torch.float32:
            problems.append(f"{name}: dtype {t.dtype}, expected float32")
            note = "  <- not float32"
        elif not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            problems.append(f"{name}: {bad} non-finite values")
            note = f"  <- {bad} non-finite"
        print(f"  {name}  {str(t.dtype).replace('torch.', '')}  {list(t.shape)}{note}")
    print("__metadata__:", json.dumps(metadata, indent=1, sort_keys=True) if metadata else "(none)")
    if not tensors:
        problems.append("the file holds no tensors")
    if problems:
        fail(f"{len(problems)} problem(s): " + "; ".join(problems))
    print("ok: every tensor is float32 and finite")
    if args.model_check:
        model_check(tensors, args.data)


if __name__ == "__main__":
    main()
