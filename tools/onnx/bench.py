#!/usr/bin/env python3
"""Batch-1 latency of an ONNX model with onnxruntime (CPU).

    bench.py MODEL.onnx [--threads 1] [--runs 2000] [--warmup 100] [--json]

Times each session.run on one random input and prints median, p90, mean and minimum in
milliseconds, plus the operators onnxruntime runs after its graph optimizations (for a QDQ
model, QLinearConv & co. show that it really runs int8 kernels).
"""

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_common as common  # noqa: E402
from onnx_common import np  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--runs", type=int, default=2000, help="timed runs (default 2000)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed runs first (default 100)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    args = parser.parse_args()
    if args.threads < 1 or args.runs < 1 or args.warmup < 0:
        sys.exit("--threads and --runs must be at least 1, --warmup not negative")

    session = common.make_session(args.model, threads=args.threads)
    shape = common.input_shape(session, batch=1)
    feed = {session.get_inputs()[0].name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    for _ in range(args.warmup):
        session.run(None, feed)
    times = np.empty(args.runs)
    for index in range(args.runs):
        start = time.perf_counter_ns()
        session.run(None, feed)
        times[index] = (time.perf_counter_ns() - start) / 1e6
    props = common.metadata(session)
    summary = {
        "model": args.model,
        "precision": props.get("precision", "unknown"),
        "input": shape,
        "threads": args.threads,
        "runs": args.runs,
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "mean_ms": float(np.mean(times)),
        "min_ms": float(np.min(times)),
        "onnxruntime": common.ort.__version__,
        "cpu": platform.processor() or platform.machine(),
        "operators": common.optimized_operator_counts(args.model, threads=args.threads),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.model} ({summary['precision']}, input {shape}, {args.threads} thread(s), {args.runs} runs, "
              f"onnxruntime {summary['onnxruntime']})")
        print(f"  median {summary['median_ms']:.4f} ms   p90 {summary['p90_ms']:.4f} ms   "
              f"mean {summary['mean_ms']:.4f} ms   min {summary['min_ms']:.4f} ms")
        print("  runs as: " + ", ".join(f"{op} x{count}" for op, count in summary["operators"].items()))


if __name__ == "__main__":
    main()
