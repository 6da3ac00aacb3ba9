#!/usr/bin/env python3
"""Side-by-side training/inference throughput: the PyTorch reference models vs our `autoencoder bench`.

    tools/compare_torch.py                                  # M1, threads 1,2, 20 s per measurement
    tools/compare_torch.py --models M1 --threads 2 --min-time 5
    tools/compare_torch.py --repeats 6                      # interleaved torch/swift runs, medians + ratios
    tools/compare_torch.py --only torch --min-time 2        # just the PyTorch half (no binary needed)
    tools/compare_torch.py --models M2,denoiser --repeats 3 # conv AE and the shipped denoiser
    tools/compare_torch.py --models M3,M4 --repeats 3       # LSTM and GRU seq2seq (hidden 128, batch 128)
    tools/compare_torch.py --models M5 --repeats 3          # MLP VAE 784-512-256-(z=20), batch 128
    tools/compare_torch.py --models M6,M7 --repeats 3       # adversarial and disentangling AEs, batch 128
    tools/compare_torch.py --threads 1,2,4,8,16 --binary B --bench-dir D   # e.g. on a lent 16-core machine

"denoiser" is our U-Net denoiser (1 channel, depth 2, width 32, batch 32 of 48x48 patches): its PyTorch
twin is tools/torch_denoiser.py (same layers and sizes); our side trains on runs/photos/train
(made by tools/prepare_photos.py when missing; needs pip install scikit-image).

PyTorch's side is tools/torch_reference.py (the reference models M1-M7, written here); --bench-dir
DIR runs DIR/throughput.py instead (same options and rows).

Setup:
    apt-get install -y dataset-fashion-mnist
    pip install torch safetensors threadpoolctl numpy
    swift build -c release                                  # gives .build/release/autoencoder

Per repeat, in this order (never two benchmarks at once; use an idle machine):
  1. torch: python3 tools/torch_reference.py --models M --threads T --min-time S --json runs/compare/torch.json
     with MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 in its environment
     (the bench README's setting for PyTorch's best figure).
  2. swift: BINARY bench ... --shards T --min-time S --json, per model (table SWIFT_COMMANDS below);
     its stdout is a JSON list of rows ({"impl": "swift", "model", "batch", "threads", "train_sps",
     "infer_sps", ...}), saved to runs/compare/swift.json as one list for all models.
  3. the merged table of both files, with ratios
With --repeats N > 1 each run's files are also kept as torch.runK.json / swift.runK.json (torch.json and
swift.json hold the last run), and final tables give per-row medians of train and inference samples/s and
swift/torch ratios. Paths are relative to the repository root (the folder above tools/).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# Our command line per reference model, without the binary, --shards, --min-time and --json (added here).
SWIFT_COMMANDS = {
    "M1": ["bench", "--model", "deep", "--layers", "784,1000,500,250,30", "--batch-size", "256"],
    "M2": ["bench", "--model", "conv", "--batch-size", "128"],
    "denoiser": ["bench", "--model", "denoiser", "--data", os.path.join(ROOT, "runs", "photos", "train"),
                 "--channels", "1", "--batch-size", "32"],
    "M3": ["bench", "--model", "lstm", "--hidden", "128", "--batch-size", "128"],
    "M4": ["bench", "--model", "gru", "--hidden", "128", "--batch-size", "128"],
    "M5": ["bench", "--model", "vae", "--layers", "784,512,256,20", "--batch-size", "128"],
    "M6": ["bench", "--model", "aae", "--batch-size", "128"],
    "M7": ["bench", "--model", "disentangle", "--batch-size", "128"],
}

TORCH_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1073741824"}


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def run_torch(args, out_path):
    rows = []
    env = dict(os.environ, **TORCH_ENV)
    reference = [m for m in args.models if m != "denoiser"]
    jobs = []
    if reference:
        # The project's own reference models (tools/torch_reference.py), or another bench's
        # throughput.py when --bench-dir names one.
        script = (os.path.join(args.bench_dir, "throughput.py") if args.bench_dir
                  else os.path.join(ROOT, "tools", "torch_reference.py"))
        jobs.append([sys.executable, script,
                     "--models", ",".join(reference), "--threads", ",".join(map(str, args.threads)),
                     "--min-time", str(args.min_time), "--json", out_path])
    if "denoiser" in args.models:
        jobs.append([sys.executable, os.path.join(ROOT, "tools", "torch_denoiser.py"), "bench",
                     "--threads", ",".join(map(str, args.threads)), "--min-time", str(args.min_time),
                     "--json", out_path])
    for cmd in jobs:
        print("$ " + " ".join(f"{k}={v}" for k, v in TORCH_ENV.items()) + " " + " ".join(cmd), flush=True)
        r = subprocess.run(cmd, env=env)
        if r.returncode != 0:
            fail(f"{os.path.basename(cmd[1])} exited with status {r.returncode}")
        with open(out_path) as f:
            data = json.load(f)
        rows += data["rows"] if isinstance(data, dict) else data
    with open(out_path, "w") as f:
        json.dump(rows, f, indent=1)
    return rows


def parse_json_list(text):
    """The bench's stdout is a JSON list; tolerate log lines printed before it."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("["):
            try:
                return json.loads("\n".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON list found in its output")


def run_swift(args, out_path):
    rows = []
    for model in args.models:
        cmd = [args.binary] + SWIFT_COMMANDS[model] + [
            "--shards", ",".join(map(str, args.threads)), "--min-time", str(args.min_time), "--json"]
        # The allocation counter is a preloaded library beside the binary, not part of it.
        env = dict(os.environ)
        counter = os.path.join(os.path.dirname(args.binary), "libAllocationCounter.so")
        if os.path.isfile(counter):
            env["LD_PRELOAD"] = counter
        print("$ " + " ".join(cmd), flush=True)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
        if r.returncode != 0:
            fail(f"{args.binary} bench exited with status {r.returncode} for {model} "
                 f"(command: {' '.join(cmd)})")
        try:
            got = parse_json_list(r.stdout)
        except ValueError as e:
            fail(f"{args.binary} bench for {model}: {e}; stdout was:\n{r.stdout[-2000:]}")
        if not isinstance(got, list) or not all(isinstance(x, dict) for x in got):
            fail(f"{args.binary} bench for {model}: expected a JSON list of objects")
        for row in got:
            row.setdefault("impl", "swift")
            row.setdefault("model", model)
            if "batch" not in row and "batch_size" in row:
                row["batch"] = row["batch_size"]
            if "threads" not in row and "shards" in row:
                row["threads"] = row["shards"]
            if "train_sps" not in row and "train_samples_per_second" in row:
                row["train_sps"] = row["train_samples_per_second"]
            if "infer_sps" not in row and "infer_samples_per_second" in row:
                row["infer_sps"] = row["infer_samples_per_second"]
            missing = [k for k in ("model", "batch", "threads", "train_sps") if row.get(k) is None]
            if missing:
                fail(f"{args.binary} bench for {model}: a row lacks {', '.join(missing)}: {row}")
            if row["model"] != model:
                fail(f"{args.binary} bench for {model}: row says model {row['model']!r}")
            rows.append(row)
    with open(out_path, "w") as f:
        json.dump(rows, f, indent=1)
    return rows


def compare_only(args, paths):
    """The rows of both sides in one table, with our train / inference ratios to PyTorch's."""
    rows = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        rows += data["rows"] if isinstance(data, dict) else data
    torch_rows = {key(r): r for r in rows if str(r.get("impl", "")).startswith("torch")}
    print("| impl | model | batch | threads | train samples/s | infer samples/s | vs torch (train / infer) |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (key(r), str(r.get("impl")))):
        ratio = ""
        t = torch_rows.get(key(r))
        if t and not str(r.get("impl", "")).startswith("torch"):
            parts = [f"{r[k] / t[k]:.2f}x" if r.get(k) and t.get(k) else "-" for k in ("train_sps", "infer_sps")]
            ratio = " / ".join(parts)
        infer = f"{r['infer_sps']:,.1f}" if r.get("infer_sps") else "-"
        print(f"| {r.get('impl')} | {r['model']} | {r['batch']} | {r['threads']} | {r['train_sps']:,.1f} | {infer} | {ratio} |")


def key(row):
    return (row["model"], row["batch"], row["threads"])


def print_medians(torch_runs, swift_runs):
    def medians(runs, field):
        by = {}
        for rows in runs:
            for row in rows:
                if row.get(field) is not None:
                    by.setdefault(key(row), []).append(row[field])
        return {k: (statistics.median(v), len(v)) for k, v in by.items()}

    f = lambda m: "-" if m is None else f"{m[0]:,.1f} ({m[1]})"
    for field, name in (("train_sps", "train"), ("infer_sps", "inference")):
        t, s = medians(torch_runs, field), medians(swift_runs, field)
        if not t and not s:
            continue
        print(f"\n# {name} samples/s, median over runs (number of runs)")
        print("| model | batch | threads | torch | swift | swift / torch |")
        print("|---|---|---|---|---|---|")
        for k in sorted(set(t) | set(s)):
            a, b = t.get(k), s.get(k)
            ratio = f"{b[0] / a[0]:.2f}x" if a and b and a[0] else "-"
            print(f"| {k[0]} | {k[1]} | {k[2]} | {f(a)} | {f(b)} | {ratio} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="M1", help="comma-separated, from M1..M7 and denoiser (default M1)")
    ap.add_argument("--threads", default="1,2", help="thread counts for torch = shard counts for swift")
    ap.add_argument("--min-time", type=float, default=20.0,
                    help="timed seconds per measurement, passed to both (default 20)")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved torch/swift runs (default 1)")
    ap.add_argument("--bench-dir", default=None,
                    help="use another bench's throughput.py (same options and rows) instead of tools/torch_reference.py")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "autoencoder"),
                    help="our binary (default .build/release/autoencoder)")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "runs", "compare"),
                    help="where the JSON files go (default runs/compare)")
    ap.add_argument("--only", choices=("torch", "swift"), help="run just one side")
    args = ap.parse_args()

    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        args.threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        fail(f"--threads: expected comma-separated integers, got {args.threads!r}")
    if not args.models or not args.threads or min(args.threads) < 1:
        fail("--models and --threads must name at least one model and positive thread counts")
    if args.repeats < 1:
        fail("--repeats must be at least 1")
    if args.bench_dir:
        args.bench_dir = os.path.normpath(os.path.abspath(args.bench_dir))
    do_torch, do_swift = args.only != "swift", args.only != "torch"

    # Check everything before spending minutes on the first benchmark.
    if args.bench_dir and not os.path.isfile(os.path.join(args.bench_dir, "throughput.py")):
        fail(f"{os.path.join(args.bench_dir, 'throughput.py')} not found (--bench-dir)")
    if do_swift:
        unknown = [m for m in args.models if m not in SWIFT_COMMANDS]
        if unknown:
            fail(f"no Swift bench command for {', '.join(unknown)} yet (SWIFT_COMMANDS in "
                 f"{os.path.relpath(__file__)}); use --only torch or --models "
                 f"{','.join(SWIFT_COMMANDS)}")
        resolved = shutil.which(args.binary) if os.sep not in args.binary else args.binary
        if not resolved or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
            fail(f"binary {args.binary} not found or not executable: build it with "
                 f"`swift build -c release` in {ROOT}, pass --binary PATH, or use --only torch")
        args.binary = resolved
    photos = os.path.join(ROOT, "runs", "photos", "train")
    if do_swift and "denoiser" in args.models and not os.path.isdir(photos):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "prepare_photos.py"),
                            os.path.join(ROOT, "runs", "photos")])
        if r.returncode != 0:
            fail("tools/prepare_photos.py failed; the denoiser bench needs runs/photos/train")
    try:
        load = os.getloadavg()[0]
        if load > 0.5:
            print(f"warning: load average {load:.2f}; timings want an idle machine", file=sys.stderr)
    except OSError:
        pass

    os.makedirs(args.out_dir, exist_ok=True)
    torch_json = os.path.join(args.out_dir, "torch.json")
    swift_json = os.path.join(args.out_dir, "swift.json")
    torch_runs, swift_runs = [], []
    for k in range(1, args.repeats + 1):
        if args.repeats > 1:
            print(f"\n## run {k} of {args.repeats}", flush=True)
        paths = []
        if do_torch:
            torch_runs.append(run_torch(args, torch_json))
            paths.append(torch_json)
        if do_swift:
            swift_runs.append(run_swift(args, swift_json))
            paths.append(swift_json)
        if args.repeats > 1:
            for p in paths:
                shutil.copyfile(p, p.replace(".json", f".run{k}.json"))
        print(f"\n# merged table, run {k}", flush=True)
        compare_only(args, paths)
    if args.repeats > 1:
        print_medians(torch_runs, swift_runs)


if __name__ == "__main__":
    main()
