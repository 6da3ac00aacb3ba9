#!/usr/bin/env python3
"""Measures training on a PNG folder streamed through a bounded cache against the same recipe on a
folder that fits in it: time to the first step, peak RSS, steps per second (median of per-step
times after a warm-up), data wait and cache hits. Runs alternate, so both see the same machine.

  tools/make_photo_set.py /data/big --count 2000 --distinct 200
  tools/measure_streaming.py --big /data/big --fits /data/fits --cache 2G --seconds 150 --pairs 2
(--fits: a folder whose decoded images fit in the cache, e.g. hard links of 150 of the big one's.)
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

RECIPE = ["--model", "denoiser", "--channels", "3", "--batch-size", "16", "--log-every", "1"]


def run(binary, data, cache, seconds, extra):
    folder = tempfile.mkdtemp(prefix="stream-run-")
    args = [binary, "train", *RECIPE, "--data", data, "--cache-memory", cache, "--time-limit", str(seconds / 60),
            "--run-dir", folder + "/run", *extra]
    start = time.monotonic()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = None
    tail = []
    for line in child.stdout:
        tail = (tail + [line.rstrip()])[-5:]
        if first is None and " step 1/" in line:
            first = time.monotonic() - start
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n" + "\n".join(tail))
    steps = [json.loads(l) for l in open(folder + "/run/log.jsonl") if '"type":"step"' in l]
    warm = steps[20:] or steps
    result = {"data": data, "first_step_s": first, "peak_rss_gb": usage.ru_maxrss * 1024 / 1e9,
              "steps": len(steps), "steps_per_s": 1000 / statistics.median(s["ms_per_step"] for s in warm)}
    if "cache_decodes" in warm[0]:
        # Steady state: after the decoders filled the first windows (the share of a core they
        # take over an epoch is small; at the start it is a burst).
        last = max(s["cache_decodes"] for s in steps)
        done = next(i for i, s in enumerate(steps) if s["cache_decodes"] == last)
        after = steps[max(done, 20):]
        result["prefetch_done_at_step"] = done
        result["steps_per_s_after_prefetch"] = 1000 / statistics.median(s["ms_per_step"] for s in after) if after else None
    if "data_wait" in warm[0]:
        result["data_wait"] = statistics.mean(s["data_wait"] for s in warm)
        hits = [s["cache_hit_rate"] for s in warm if s.get("cache_hit_rate") is not None]
        result["cache_hit_rate"] = statistics.mean(hits) if hits else None
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/release/autoencoder")
    parser.add_argument("--big", required=True)
    parser.add_argument("--fits", required=True)
    parser.add_argument("--cache", default="2G")
    parser.add_argument("--seconds", type=int, default=150)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="more train options for both runs")
    args = parser.parse_args()
    results = {"streamed": [], "fits": []}
    for pair in range(args.pairs):
        for name, data in (("streamed", args.big), ("fits", args.fits)):
            r = run(args.binary, data, args.cache, args.seconds, args.extra)
            results[name].append(r)
            print(json.dumps({"pair": pair + 1, "run": name, **r}), flush=True)
    ratios = [s["steps_per_s"] / f["steps_per_s"] for s, f in zip(results["streamed"], results["fits"])]
    print(json.dumps({"streamed_over_fits_steps_per_s": ratios, "median": statistics.median(ratios)}))


if __name__ == "__main__":
    main()
