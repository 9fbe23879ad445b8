#!/usr/bin/env python3
"""Paired batch-1 latency: autoshrink's exported binaries against onnxruntime, in one session.

    compare.py EXPORT_DIR [--binary NAME=PATH ...] [--rounds 3] [--runs 2000] [--cpu N] [--json]

Runs, in each round and in this order, every binary (default: EXPORT_DIR/model-int8 or model, and
EXPORT_DIR/model-float) with `--bench RUNS --cpu N --json`, then onnxruntime on EXPORT_DIR/model.onnx
(float32) and model.int8.onnx (QDQ) with one intra-op thread, pinned to the same core (sched_setaffinity),
timing RUNS session.run calls after 100 warm-up runs. Each entry is run --rounds times, alternating with
the others (A, B, C, A, B, C, ...), and reported as the median over rounds of each round's median, with
the rounds' spread (max - min of the per-round medians) and the minimum over all runs. Our binaries also
report the bench's estimate (10th percentile of 10-run round medians, docs/architecture.md "Latency
estimator"). See docs/benchmarks.md for how to read the figures.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_common as common  # noqa: E402
from onnx_common import np  # noqa: E402


def ours(path, runs, cpu):
    out = subprocess.run([path, "--bench", str(runs), "--cpu", str(cpu), "--json"], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    summary = json.loads(out)
    return {"median_ms": summary["median_ms"], "min_ms": summary["min_ms"], "estimate_ms": summary.get("estimate_ms")}


def onnxruntime(session, feed, runs):
    for _ in range(100):
        session.run(None, feed)
    times = np.empty(runs)
    for index in range(runs):
        start = time.perf_counter_ns()
        session.run(None, feed)
        times[index] = (time.perf_counter_ns() - start) / 1e6
    return {"median_ms": float(np.median(times)), "min_ms": float(np.min(times)), "estimate_ms": None}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export")
    parser.add_argument("--binary", action="append", default=[], metavar="NAME=PATH",
                        help="a binary to time (repeatable; default the export's int8 and float binaries)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--cpu", type=int, default=0, help="core every entry is pinned to (default 0)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.rounds < 1 or args.runs < 1 or args.cpu < 0:
        sys.exit("--rounds and --runs must be at least 1, --cpu not negative")

    binaries = []
    for item in args.binary:
        name, sep, path = item.partition("=")
        if not sep or not name or not os.access(path, os.X_OK):
            sys.exit(f"--binary {item}: expected NAME=PATH of an executable")
        binaries.append((name, path))
    if not binaries:
        for name, file in (("ours int8", "model-int8"), ("ours int8", "model"), ("ours fp32", "model-float")):
            path = os.path.join(args.export, file)
            if os.access(path, os.X_OK) and name not in [n for n, _ in binaries]:
                binaries.append((name, path))

    os.sched_setaffinity(0, {args.cpu})
    sessions = []
    for name, file in (("ORT fp32", "model.onnx"), ("ORT int8 (QDQ)", "model.int8.onnx")):
        path = os.path.join(args.export, file)
        if os.path.exists(path):
            session = common.make_session(path, threads=1)
            shape = common.input_shape(session, batch=1)
            feed = {session.get_inputs()[0].name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
            sessions.append((name, session, feed))

    results = {name: [] for name, _ in binaries}
    results.update({name: [] for name, _, _ in sessions})
    for _ in range(args.rounds):
        for name, path in binaries:
            results[name].append(ours(path, args.runs, args.cpu))
        for name, session, feed in sessions:
            results[name].append(onnxruntime(session, feed, args.runs))

    summary = {"export": args.export, "rounds": args.rounds, "runs": args.runs, "cpu": args.cpu,
               "onnxruntime": common.ort.__version__, "entries": {}}
    for name, rounds in results.items():
        medians = [r["median_ms"] for r in rounds]
        estimates = [r["estimate_ms"] for r in rounds if r["estimate_ms"] is not None]
        summary["entries"][name] = {
            "median_ms": statistics.median(medians),
            "spread_ms": max(medians) - min(medians),
            "round_medians_ms": medians,
            "min_ms": min(r["min_ms"] for r in rounds),
            "estimate_ms": statistics.median(estimates) if estimates else None,
        }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"{args.export}: {args.rounds} rounds x {args.runs} runs, core {args.cpu}, onnxruntime {common.ort.__version__}")
    print(f"{'':18} {'median ms':>10} {'spread':>8} {'min ms':>9} {'estimate':>9}  round medians")
    for name, entry in summary["entries"].items():
        estimate = f"{entry['estimate_ms']:.4f}" if entry["estimate_ms"] is not None else "-"
        rounds = " ".join(f"{m:.4f}" for m in entry["round_medians_ms"])
        print(f"{name:18} {entry['median_ms']:10.4f} {entry['spread_ms']:8.4f} {entry['min_ms']:9.4f} {estimate:>9}  {rounds}")


if __name__ == "__main__":
    main()
