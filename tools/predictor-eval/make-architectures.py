#!/usr/bin/env python3
"""Writes the outside-space architecture set of tools/predictor-eval (docs/devices.md, "Predictor").

Every network here lies outside the quick and reference profile spaces (5/8-node cells, widths
16/32/64, a 32-channel stride-1 stem, 1x28x28 input): width-scaled refnets, 4- and 6-node cells,
stride-2 stems and other stage widths, so the profile's table lacks many of their operator shapes
and the predictor must interpolate. Run once; the .arch.json files are committed.
"""
import json, os, random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "architectures")
INPUT = {"channels": 1, "height": 28, "width": 28}


def stem(kind, channels, kernel, stride):
    return {"activation": "relu", "kernel": kernel, "kind": kind, "outputChannels": channels, "stride": stride}


def arch(name, stem_layers, cell=None, stages=()):
    doc = {"classes": 10, "format": "autoshrink.architecture", "head": {"dropout": 0}, "input": INPUT,
           "name": name, "stages": [{"cells": c, "pool": p, "width": w} for (w, p, c) in stages],
           "stem": stem_layers, "version": 1}
    if cell is not None:
        doc["cell"] = cell
    with open(os.path.join(OUT, name + ".arch.json"), "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")


def refnet(scale, first_stride=1):
    c = lambda n: max(4, int(round(n * scale / 4)) * 4)
    return [stem("conv", c(16), 3, first_stride), stem("conv", c(32), 3, 2), stem("depthwise", c(32), 3, 1),
            stem("conv", c(64), 1, 1), stem("depthwise", c(64), 3, 2), stem("conv", c(128), 1, 1)]


def cell(nodes, operations, edges=None):
    if edges is None:
        edges = [[a, b] for b in range(nodes) for a in range(b)]
    return {"edges": sorted(edges), "nodes": nodes, "operations": operations}


def random_subcell(nodes, operations, keep, seed):
    full = [[a, b] for b in range(nodes) for a in range(b)]
    rng = random.Random(seed)
    while True:
        edges = sorted(rng.sample(full, keep))
        # every compute node reachable from node 0 and feeding something or being a leaf is fine;
        # require node 0 to feed at least one node so the cell computes.
        if any(a == 0 for a, _ in edges):
            return cell(nodes, operations, edges)


os.makedirs(OUT, exist_ok=True)
for scale, label in [(0.5, "0.5x"), (0.75, "0.75x"), (1.5, "1.5x"), (2.0, "2x"), (3.0, "3x")]:
    arch("refnet-" + label, refnet(scale))
arch("refnet-s2stem", refnet(1.0, first_stride=2))
arch("refnet-2x-s2stem", refnet(2.0, first_stride=2))

ops4 = ["input", "sepconv3x3", "conv1x1", "sepconv3x3"]
ops6 = ["input", "conv1x1", "sepconv3x3", "sepconv3x3", "conv1x1", "sepconv3x3"]
ops5 = ["input", "sepconv3x3", "conv1x1", "conv1x1", "sepconv3x3"]
std = [(16, 1, 1), (32, 2, 1), (64, 2, 1)]
arch("cell4-full", [stem("conv", 32, 3, 1)], cell(4, ops4), std)
arch("cell6-full", [stem("conv", 32, 3, 1)], cell(6, ops6), std)
arch("cell6-sparse", [stem("conv", 32, 3, 1)], random_subcell(6, ops6, 8, 6), std)
arch("cell4-s2stem", [stem("conv", 24, 3, 2)], cell(4, ops4), [(16, 1, 1), (32, 1, 1), (64, 2, 1)])
arch("cell5-s2stem-w24", [stem("conv", 32, 3, 2)], cell(5, ops5), [(24, 1, 1), (48, 1, 1), (96, 2, 1)])
arch("cell5-w8", [stem("conv", 16, 3, 1)], cell(5, ops5), [(8, 1, 1), (16, 2, 1), (32, 2, 1)])
arch("cell5-w20-2cells", [stem("conv", 32, 3, 1)], random_subcell(5, ops5, 6, 5), [(20, 1, 2), (40, 2, 2), (80, 2, 1)])
arch("cell4-w48", [stem("conv", 32, 3, 1)], cell(4, ops4), [(48, 1, 1), (96, 2, 1)])
arch("cell6-4stages", [stem("conv", 16, 3, 1)], random_subcell(6, ops6, 10, 7), [(12, 1, 1), (24, 1, 1), (48, 2, 1), (96, 2, 1)])
