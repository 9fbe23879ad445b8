#!/usr/bin/env python3
"""Accuracy of an autoshrink ONNX model with onnxruntime on IDX test images.

    check.py MODEL.onnx --idx t10k-images-idx3-ubyte.gz --labels t10k-labels-idx1-ubyte.gz [--limit N] [--json]

Validates the model with the ONNX checker, normalises the images with the mean/std stored in
the model's metadata, runs them through onnxruntime one batch at a time and prints top-1 accuracy.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_common as common  # noqa: E402
from onnx_common import np  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--idx", required=True, help="IDX images file (N x H x W or N x C x H x W, .gz or plain)")
    parser.add_argument("--labels", required=True, help="IDX labels file (N)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    args = parser.parse_args()

    import onnx

    onnx.checker.check_model(onnx.load(args.model), full_check=True)
    session = common.make_session(args.model, threads=args.threads)
    mean, std = common.normalization(session)
    pixels = common.read_idx(args.idx)
    if pixels.ndim not in (3, 4):
        sys.exit(f"{args.idx}: images must be N x H x W or N x C x H x W, found shape {list(pixels.shape)}")
    labels = common.read_idx(args.labels).astype(np.int64)
    if len(pixels) != len(labels):
        sys.exit(f"{len(pixels)} images but {len(labels)} labels")
    if args.limit > 0:
        pixels, labels = pixels[: args.limit], labels[: args.limit]
    images = common.normalize(pixels, mean, std)
    expected = common.input_shape(session)
    if list(images.shape[1:]) != expected[1:]:
        sys.exit(f"images are {list(images.shape[1:])}, the model expects {expected[1:]}")

    input_name = session.get_inputs()[0].name
    batch = expected[0]
    start = time.perf_counter()
    predictions = []
    for first in range(0, len(images) - len(images) % batch, batch):
        logits = session.run(None, {input_name: images[first : first + batch]})[0]
        predictions.append(np.argmax(logits, axis=1))
    seconds = time.perf_counter() - start
    predicted = np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)
    evaluated = len(predicted)
    correct = int(np.sum(predicted == labels[:evaluated]))
    accuracy = correct / max(evaluated, 1)
    props = common.metadata(session)
    summary = {
        "model": args.model,
        "precision": props.get("precision", "unknown"),
        "architecture_hash": props.get("architecture_hash", ""),
        "images": evaluated,
        "correct": correct,
        "accuracy": accuracy,
        "seconds": seconds,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.model}: accuracy {accuracy:.4f} ({correct}/{evaluated}) "
              f"precision {summary['precision']}, {seconds:.2f} s with onnxruntime {common.ort.__version__}")


if __name__ == "__main__":
    main()
