#!/usr/bin/env python3
"""Trains a small fixed-seed run of every family with two builds of `autoencoder` and compares what
they wrote: checkpoint tensors (bytes), the reconstruction grid (bytes) and the logged losses. A
refactoring that keeps behaviour leaves every row "same".

  tools/compare_builds.py OLD_BINARY NEW_BINARY [--only dense,conv] [--keep DIR]
(e.g. build the old commit in a worktree: git worktree add /tmp/old HEAD~1 && swift build -c release
--package-path /tmp/old; both binaries run on this machine, one after the other, same data.)
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

COMMON = ["--data", "mnist-sample", "--epochs", "1", "--seed", "3", "--shards", "2", "--log-every", "5"]
RECIPES = {
    "dense": ["--model", "dense", "--batch-size", "100"],
    "deep": ["--model", "deep", "--layers", "784,64,16", "--batch-size", "100"],
    "sparse": ["--model", "sparse", "--batch-size", "100"],
    "denoising": ["--model", "denoising", "--batch-size", "100"],
    "dropout": ["--model", "dropout", "--batch-size", "100"],
    "contractive": ["--model", "contractive", "--batch-size", "100"],
    "conv": ["--model", "conv", "--batch-size", "100"],
    "denoiser": ["--model", "denoiser", "--patch", "16", "--patches-per-image", "1", "--depth", "1",
                 "--width", "8", "--batch-size", "100"],
    "lstm": ["--model", "lstm", "--hidden", "32", "--batch-size", "100"],
    "gru": ["--model", "gru", "--hidden", "32", "--batch-size", "100"],
    "vae": ["--model", "vae", "--batch-size", "100"],
    "aae": ["--model", "aae", "--layers", "784,128,2", "--batch-size", "100"],
    "disentangle": ["--model", "disentangle", "--layers", "784,128,64,8", "--batch-size", "100"],
    "adain": ["--model", "disentangle", "--form", "adain", "--batch-size", "100"],
    "conv-vae": ["--model", "vae", "--architecture", "conv", "--batch-size", "100"],
    "rbm": ["--model", "rbm", "--layers", "784,64", "--batch-size", "100"],
    "pretrain": ["--model", "deep", "--layers", "784,64,16", "--pretrain", "rbm", "--pretrain-epochs", "1",
                 "--batch-size", "100"],
}
TIMING = {"ms_per_step", "samples_per_second", "seconds", "wall_seconds", "data_wait"}


def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    return {k: body[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}


def losses(path):
    out = []
    for line in open(path):
        entry = json.loads(line)
        out.append({k: v for k, v in entry.items() if k not in TIMING})
    return out


def files(folder, parent, suffix):
    """Files ending in `suffix` in every folder named `parent` under `folder` (any: None), sorted
    by their path inside `folder` (a staged run has one run folder per stage)."""
    found = []
    for root, _, names in os.walk(folder):
        if parent is None or os.path.basename(root) == parent:
            found += [os.path.relpath(os.path.join(root, n), folder) for n in names if n.endswith(suffix)]
    return [os.path.join(folder, f) for f in sorted(found)]


def run(binary, name, folder):
    args = [binary, "train", *COMMON, *RECIPES[name], "--run-dir", folder]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--only", help="comma-separated recipes (default: all)")
    parser.add_argument("--keep", help="keep the run folders here")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(RECIPES)
    scratch = args.keep or tempfile.mkdtemp(prefix="compare-builds-")
    differing = 0
    print(f"{'recipe':12} {'tensors':8} {'grids':8} {'logs':8}")
    for name in names:
        folders = [os.path.join(scratch, f"{name}-{side}") for side in ("old", "new")]
        for binary, folder in zip((args.old, args.new), folders):
            shutil.rmtree(folder, ignore_errors=True)
            run(binary, name, folder)
        checkpoints = [files(f, "checkpoints", "last.safetensors") for f in folders]
        grids = [files(f, "grids", ".png") for f in folders]
        logs = [files(f, None, "log.jsonl") for f in folders]
        same_tensors = len(checkpoints[0]) == len(checkpoints[1]) > 0 and all(
            tensors(a) == tensors(b) for a, b in zip(*checkpoints))
        same_grids = [os.path.basename(g) for g in grids[0]] == [os.path.basename(g) for g in grids[1]] and all(
            open(a, "rb").read() == open(b, "rb").read() for a, b in zip(*grids))
        same_logs = bool(logs[0]) and [losses(p) for p in logs[0]] == [losses(p) for p in logs[1]]
        row = ["same" if ok else "DIFFER" for ok in (same_tensors, same_grids, same_logs)]
        differing += row.count("DIFFER")
        print(f"{name:12} {row[0]:8} {row[1]:8} {row[2]:8}", flush=True)
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
