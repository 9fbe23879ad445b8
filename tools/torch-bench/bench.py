#!/usr/bin/env python3
"""PyTorch side of `autoshrink bench train`: the same network, batch, optimizer and thread count.

Measures training images/s (SGD, Nesterov momentum 0.9, weight decay 5e-4, cross-entropy) and
inference images/s (eval mode, no autograd) on random data after warm-up, per wall-clock second and
per CPU-second of the process (comparable on a busy machine with --threads 1), and prints one JSON line
with the same keys as `autoshrink bench train --json`, so both can be run alternately in one
session and compared as ratios (see docs/benchmarks.md).

Networks: stem-only architectures (refnet, or an *.arch.json without a cell): each stem layer is
conv (groups 1) or depthwise (groups = channels), padding k/2, no bias, BN, ReLU; then global average
pooling and a linear classifier, as autoshrink lowers them (docs/architecture.md).

Needs torch (CPU build): pip install torch --index-url https://download.pytorch.org/whl/cpu
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn

REFNET = {
    "name": "refnet", "input": {"channels": 1, "height": 28, "width": 28}, "classes": 10,
    "stem": [
        {"op": "conv", "outputChannels": 16, "kernel": 3, "stride": 1},
        {"op": "conv", "outputChannels": 32, "kernel": 3, "stride": 2},
        {"op": "depthwise", "outputChannels": 32, "kernel": 3, "stride": 1},
        {"op": "conv", "outputChannels": 64, "kernel": 1, "stride": 1},
        {"op": "depthwise", "outputChannels": 64, "kernel": 3, "stride": 2},
        {"op": "conv", "outputChannels": 128, "kernel": 1, "stride": 1},
    ],
}


def build(arch):
    if arch.get("cell"):
        sys.exit("tools/torch-bench: only stem-only architectures are supported (this one has a cell)")
    layers, channels = [], arch["input"]["channels"]
    for layer in arch["stem"]:
        out, k, s = layer["outputChannels"], layer["kernel"], layer.get("stride", 1)
        groups = channels if layer["op"] == "depthwise" else 1
        layers += [nn.Conv2d(channels, out, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, arch["classes"])]
    return nn.Sequential(*layers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="refnet", help="refnet or a stem-only *.arch.json")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    arch = REFNET if args.arch == "refnet" else json.load(open(args.arch))
    model = build(arch)
    shape = arch["input"]
    count = args.batch_size * 8
    images = torch.randint(0, 256, (count, shape["channels"], shape["height"], shape["width"]), dtype=torch.uint8).float() / 255
    labels = torch.randint(0, arch["classes"], (count,))
    batches = [(images[i * args.batch_size:(i + 1) * args.batch_size], labels[i * args.batch_size:(i + 1) * args.batch_size]) for i in range(8)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_function = nn.CrossEntropyLoss()

    def step(i):
        x, y = batches[i % 8]
        optimizer.zero_grad(set_to_none=True)
        loss_function(model(x), y).backward()
        optimizer.step()

    model.train()
    for i in range(5):
        step(i)
    train_rates, train_cpu_rates = [], []
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for i in range(args.steps):
            step(i)
        train_rates.append(args.steps * args.batch_size / (time.perf_counter() - start))
        train_cpu_rates.append(args.steps * args.batch_size / (time.process_time() - cpu_start))
    model.eval()
    infer_rates, infer_cpu_rates = [], []
    with torch.inference_mode():
        x = batches[0][0]
        for _ in range(3):
            model(x)
        for _ in range(args.repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                model(x)
            infer_rates.append(args.steps * args.batch_size / (time.perf_counter() - start))
            infer_cpu_rates.append(args.steps * args.batch_size / (time.process_time() - cpu_start))
    print(json.dumps({"engine": f"pytorch {torch.__version__}", "architecture": arch["name"], "batch_size": args.batch_size,
                      "threads": args.threads, "train_images_per_second": statistics.median(train_rates),
                      "infer_images_per_second": statistics.median(infer_rates),
                      "train_images_per_cpu_second": statistics.median(train_cpu_rates),
                      "infer_images_per_cpu_second": statistics.median(infer_cpu_rates)}))


if __name__ == "__main__":
    main()
