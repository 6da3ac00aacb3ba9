#!/usr/bin/env python3
"""Side by side: one model's training throughput under different splits of the same cores.

    tools/compare_splits.py                                   # M1, M2, M3: 2x1 and 1x2 in one process, 2 ranks
    tools/compare_splits.py --models M1 --splits 16x1,8x2,4x4,2x8 --ranks 2,4 --min-time 5

--splits SxT: one process, S shards of T threads each (`bench --shards S --threads-per-shard T`).
--ranks R: `mpirun -np R bench --shards S` with S = the first split's shard count, once with the
ordered reduction (bit-identical to one process) and once with --mpi-reduce allreduce; reports
the gradient exchange per step (milliseconds and bytes) that `bench` measures.
Every configuration runs once per repeat, interleaved, one at a time (this machine is shared:
compare medians of repeats, in one run). Release binary: `swift build -c release` first.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "M1": ["--model", "deep", "--layers", "784,1000,500,250,30", "--batch-size", "256"],
    "M2": ["--model", "conv", "--batch-size", "128"],
    "M3": ["--model", "lstm", "--hidden", "128", "--batch-size", "128"],
    "M4": ["--model", "gru", "--hidden", "128", "--batch-size", "128"],
}


def fail(message):
    print(f"compare_splits: {message}", file=sys.stderr)
    sys.exit(1)


def bench(binary, model, extra, min_time, ranks=None):
    command = [binary, "bench", *MODELS[model], "--data", "mnist-sample", "--min-time", str(min_time), "--json", *extra]
    if ranks:
        command = ["mpirun", "--oversubscribe", "-np", str(ranks), *command]
        if os.geteuid() == 0:
            command.insert(1, "--allow-run-as-root")
    r = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{' '.join(command)} exited with {r.returncode}: {r.stderr.strip()[-500:]}")
    start = r.stdout.find("[")
    try:
        rows = json.loads(r.stdout[start:])
    except (ValueError, IndexError) as e:
        fail(f"{' '.join(command)}: no JSON list in its output ({e})")
    return rows[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="M1,M2,M3")
    ap.add_argument("--splits", default="2x1,1x2", help="SxT list: shards x threads per shard, one process")
    ap.add_argument("--ranks", default="2", help="MPI rank counts (empty: none)")
    ap.add_argument("--min-time", type=float, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "autoencoder"))
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        fail(f"{args.binary} is not an executable: run swift build -c release first")
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            fail(f"unknown model {m} (known: {', '.join(MODELS)})")
    splits = []
    for text in args.splits.split(","):
        try:
            s, t = (int(x) for x in text.split("x"))
        except ValueError:
            fail(f"--splits {text}: expected SxT, e.g. 2x1")
        splits.append((s, t))
    ranks = [int(r) for r in args.ranks.split(",") if r]
    if ranks and not shutil.which("mpirun"):
        print("compare_splits: mpirun not found, skipping the MPI rows (apt-get install openmpi-bin)", file=sys.stderr)
        ranks = []
    shards = splits[0][0]
    configs = [(f"{s}x{t}", ["--shards", str(s), "--threads-per-shard", str(t)], None) for s, t in splits]
    for r in ranks:
        configs.append((f"{r} ranks x {shards // r} shard(s), ordered", ["--shards", str(shards)], r))
        configs.append((f"{r} ranks x {shards // r} shard(s), allreduce",
                        ["--shards", str(shards), "--mpi-reduce", "allreduce"], r))
    results = {(m, name): [] for m in models for name, _, _ in configs}
    for repeat in range(args.repeats):
        for m in models:
            for name, extra, r in configs:
                row = bench(args.binary, m, extra, args.min_time, r)
                results[(m, name)].append(row)
                print(f"repeat {repeat + 1} {m} {name}: train {row['train_samples_per_second']:.0f} samples/s",
                      file=sys.stderr)
    os.makedirs(os.path.join(ROOT, "runs", "compare"), exist_ok=True)
    raw = os.path.join(ROOT, "runs", "compare", "splits.json")
    with open(raw, "w") as f:
        json.dump([{"model": m, "configuration": name, "ranks": r, "rows": results[(m, name)]}
                   for m in models for name, _, r in configs], f, indent=1)
    print(f"raw rows: {raw} (tools/scaling_model.py --check reads them)")
    core = results[(models[0], configs[0][0])][0].get("blas_core", "?")
    print(f"medians of {args.repeats} interleaved repeats, {args.min_time:g} s each; blas_core {core}")
    print("| model | configuration | train samples/s | vs first | inference samples/s | exchange ms/step | MB/step |")
    print("|---|---|---|---|---|---|---|")
    for m in models:
        first = statistics.median(r["train_samples_per_second"] for r in results[(m, configs[0][0])])
        for name, _, _ in configs:
            rows = results[(m, name)]
            train = statistics.median(r["train_samples_per_second"] for r in rows)
            infer = statistics.median(r["infer_samples_per_second"] for r in rows)
            exchange = [r["mpi_exchange_ms_per_step"] for r in rows if "mpi_exchange_ms_per_step" in r]
            megabytes = [r["mpi_gradient_bytes_per_step"] / 1e6 for r in rows if "mpi_gradient_bytes_per_step" in r]
            print(f"| {m} | {name} | {train:,.0f} | {train / first:.2f}x | {infer:,.0f} | "
                  + (f"{statistics.median(exchange):.2f} | {statistics.median(megabytes):.1f} |" if exchange else "- | - |"))


if __name__ == "__main__":
    main()
