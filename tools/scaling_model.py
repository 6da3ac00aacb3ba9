#!/usr/bin/env python3
"""A scaling model for data-parallel training over cores and machines, and its check.

    tools/scaling_model.py                        # the prediction table (docs/performance.md, "Scaling model")
    tools/scaling_model.py --check runs/compare/splits.json   # against tools/compare_splits.py's rows

Step time = compute + gradient exchange, no overlap (the engine exchanges after the backward pass):
  compute   B / rate(c): B samples per machine per step, rate(c) = one machine's measured
            samples/s with c shards (docs/performance.md, table "On 16 cores"; past 16 cores per machine, the
            8 -> 16 speed-up is applied again per doubling).
  exchange  of N float gradients (4N bytes) between R machines, one rank each, at bandwidth bw and
            latency a per message:
    ordered   (rank after rank in messages of M = N / (4 (R - 1)) floats, at least 16,384 and at most
              262,144, all in flight; the totals travel back
              rank by rank): two ranks overlap both directions, 4N / bw + 4 min(M, N) / bw + 2a (the
              last message comes back after it went); more ranks relay the totals back after their
              forward part, 2 * 4N / bw + 2 * (R - 2) * 4 min(M, N) / bw + 2 * (R - 1) * a;
    allreduce (ring): 2 * (R - 1) / R * 4N / bw + 2 * (R - 1) * a.
  samples/s = R * B / step time (the global batch grows with the machines: each machine's shards
  see as many rows as on one machine).
--check fits bw and a of this machine's shared memory to two models' measured exchange times and
predicts the third's, and each model's 2-rank samples/s from its 1-process rate.
"""
import argparse
import json
import statistics
import sys

# Parameters (the run's first line) and batch of the reference models.
MODELS = {"M1": (2_837_314, 256), "M2": (3_217, 128), "M3": (216_604, 128), "M4": (163_356, 128)}
# Training samples/s with 8 and 16 shards on one 16-core Xeon (docs/performance.md, "On 16 cores"; measured there).
RATES = {"M1": (16_350, 19_238), "M2": (38_226, 58_356), "M3": (10_012, 15_081), "M4": (12_526, 18_125)}
MESSAGE = (16_384, 262_144)  # floats per message: N / (4 (R - 1)) within these bounds
# Links: effective bandwidth (bytes/s, 90% of line rate) and per-message latency (s).
LINKS = {"10 Gbit/s": (0.9 * 10e9 / 8, 25e-6), "25 Gbit/s": (0.9 * 25e9 / 8, 15e-6),
         "100 Gbit/s": (0.9 * 100e9 / 8, 5e-6)}


def exchange(n, ranks, bw, latency, reduction):
    if ranks <= 1:
        return 0.0
    if reduction == "ordered":
        message = 4 * min(max(-(-n // (4 * (ranks - 1))), MESSAGE[0]), MESSAGE[1], n) / bw
        if ranks == 2:
            return 4 * n / bw + message + 2 * latency
        return 2 * 4 * n / bw + 2 * (ranks - 2) * message + 2 * (ranks - 1) * latency
    return 2 * (ranks - 1) / ranks * 4 * n / bw + 2 * (ranks - 1) * latency


def machine_rate(model, cores):
    r8, r16 = RATES[model]
    rate, c = r16, 16
    while c < cores:
        rate *= r16 / r8
        c *= 2
    return rate


def table():
    print("Predicted training samples/s (ordered / allreduce), machines of 16, 32 or 64 cores, one rank each:")
    for cores in (16, 32, 64):
        print(f"\n{cores} cores per machine")
        print("| model | link | " + " | ".join(f"{m} machine(s)" for m in (1, 2, 4, 8)) + " |")
        print("|---|---|" + "---|" * 4)
        for model, (n, batch) in MODELS.items():
            rate = machine_rate(model, cores)
            for link, (bw, latency) in LINKS.items():
                cells = []
                for machines in (1, 2, 4, 8):
                    compute = batch / rate
                    o = machines * batch / (compute + exchange(n, machines, bw, latency, "ordered"))
                    a = machines * batch / (compute + exchange(n, machines, bw, latency, "allreduce"))
                    cells.append(f"{o:,.0f}" if machines == 1 else f"{o:,.0f} / {a:,.0f}")
                print(f"| {model} | {link} | " + " | ".join(cells) + " |")


def check(path):
    rows = json.load(open(path))
    by = {(r["model"], r["configuration"]): r for r in rows}
    models = sorted({r["model"] for r in rows})
    single = {m: next(r for r in rows if r["model"] == m and not r["ranks"]) for m in models}

    def median(r, key):
        return statistics.median(x[key] for x in r["rows"])

    print("model | configuration | measured exchange ms | predicted | measured samples/s | predicted")
    for reduction in ("ordered", "allreduce"):
        points = []
        for m in models:
            rank_rows = [r for r in rows if r["model"] == m and r["ranks"] and r["configuration"].endswith(reduction)]
            for r in rank_rows:
                points.append((m, r, MODELS[m][0], median(r, "mpi_exchange_ms_per_step") / 1e3))
        if len(points) < 2:
            continue
        # Fit bw and latency on the largest and smallest gradient; predict all.
        big = max(points, key=lambda p: p[2])
        small = min(points, key=lambda p: p[2])
        ranks = big[1]["ranks"]
        unit_big = exchange(big[2], ranks, 1.0, 0.0, reduction)
        unit_small = exchange(small[2], ranks, 1.0, 0.0, reduction)
        lat_big = exchange(big[2], ranks, float("inf"), 1.0, reduction)
        # t = unit / bw + lat * a, two equations in 1/bw and a.
        inv_bw = (big[3] - small[3]) / (unit_big - unit_small) if unit_big != unit_small else big[3] / unit_big
        latency = max((small[3] - unit_small * inv_bw) / lat_big, 0.0)
        bw = 1 / inv_bw
        print(f"# {reduction}: fitted shared-memory bandwidth {bw / 1e9:.2f} GB/s, latency {latency * 1e6:.0f} us "
              f"(from {big[0]} and {small[0]})")
        for m, r, n, measured in points:
            predicted = exchange(n, r["ranks"], bw, latency, reduction)
            one = median(single[m], "train_samples_per_second")
            batch = MODELS[m][1]
            predicted_rate = batch / (batch / one + predicted)
            print(f"{m} | {r['configuration']} | {measured * 1e3:.2f} | {predicted * 1e3:.2f} | "
                  f"{median(r, 'train_samples_per_second'):,.0f} | {predicted_rate:,.0f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", help="tools/compare_splits.py's runs/compare/splits.json")
    args = ap.parse_args()
    if args.check:
        check(args.check)
    else:
        table()


if __name__ == "__main__":
    main()
