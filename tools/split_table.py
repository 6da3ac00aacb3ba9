#!/usr/bin/env python3
"""The automatic split of the cores (what `train` picks: shards x threads per shard) against every
fixed split, per model and batch size: training samples/s of each split, interleaved, medians of
repeats, and whether the automatic choice is the fastest (and by how much it falls short if not).

    tools/split_table.py                                       # M1-M7 and the denoiser, batch 8, 32, 256
    tools/split_table.py --models M1,M2 --batches 8,32 --repeats 3 --min-time 2

The fixed splits are S x T with S * T = the machine's cores (on 2 cores: 2x1 and 1x2). Each
configuration runs `BINARY bench ... --shards S --threads-per-shard T --json`, one at a time;
bench's rows also say what `train` would choose (auto_shards, auto_threads_per_shard). Release
binary: `swift build -c release` first. Prints a Markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "M1": ["--model", "deep", "--layers", "784,1000,500,250,30"],
    "M2": ["--model", "conv"],
    "M3": ["--model", "lstm", "--hidden", "128"],
    "M4": ["--model", "gru", "--hidden", "128"],
    "M5": ["--model", "vae", "--layers", "784,512,256,20"],
    "M6": ["--model", "aae"],
    "M7": ["--model", "disentangle"],
    # The U-Net denoiser at the shipped size, on 24x24 patches of the bundled digits.
    "denoiser": ["--model", "denoiser", "--patch", "24"],
}


def splits(cores):
    out, threads = [], 1
    while threads <= cores:
        if cores % threads == 0:
            out.append((cores // threads, threads))
        threads *= 2
    return out


def bench(binary, model, batch, shards, threads, min_time):
    command = [binary, "bench", *MODELS[model], "--data", "mnist-sample", "--batch-size", str(batch),
               "--shards", str(shards), "--threads-per-shard", str(threads), "--min-time", str(min_time), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"split_table: {' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="M1,M2,M3,M4,M5,M6,M7,denoiser")
    ap.add_argument("--batches", default="8,32,256")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "autoencoder"))
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"split_table: no binary at {args.binary} (swift build -c release)")
    fixed = splits(args.cores)
    names = [f"{s}x{t}" for s, t in fixed]
    print(f"| model | batch | {' | '.join(names)} | automatic | automatic / best |")
    print("|---|---|" + "---|" * len(names) + "---|---|")
    for model in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            rates = {name: [] for name in names}
            chosen = None
            for _ in range(args.repeats):
                for (s, t), name in zip(fixed, names):
                    row = bench(args.binary, model, batch, s, t, args.min_time)
                    rates[name].append(row["train_sps"])
                    chosen = f"{row['auto_shards']}x{row['auto_threads_per_shard']}"
            medians = {name: statistics.median(v) for name, v in rates.items()}
            best = max(medians.values())
            cells = [f"{medians[n]:,.0f}" + (" **best**" if medians[n] == best else "") for n in names]
            ratio = medians.get(chosen, float("nan")) / best
            print(f"| {model} | {batch} | {' | '.join(cells)} | {chosen} | {ratio:.2f} |", flush=True)


if __name__ == "__main__":
    main()
