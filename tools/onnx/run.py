#!/usr/bin/env python3
"""Runs an ONNX model with onnxruntime on raw float32 inputs and writes raw float32 logits.

    run.py MODEL.onnx --inputs IN.f32 --outputs OUT.f32 [--threads 1]

IN.f32 holds N model inputs back to back, each C*H*W little-endian float32 already normalised;
OUT.f32 receives N x classes float32 logits. Prints one JSON line: images, classes, the ONNX
checker's verdict, the model metadata and the operators onnxruntime runs after optimization.
Used by the Swift tests to compare onnxruntime with the training engine.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_common as common  # noqa: E402
from onnx_common import np  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--outputs", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import onnx

    model = onnx.load(args.model)
    onnx.checker.check_model(model, full_check=True)
    session = common.make_session(args.model, threads=args.threads)
    shape = common.input_shape(session)
    per_image = int(np.prod(shape[1:]))
    values = np.fromfile(args.inputs, dtype="<f4")
    if values.size == 0 or values.size % per_image:
        sys.exit(f"{args.inputs}: {values.size} floats is not a whole number of {shape[1:]} inputs")
    images = values.reshape([-1] + shape[1:])
    name = session.get_inputs()[0].name
    batch = shape[0]
    logits = [session.run(None, {name: images[i : i + batch]})[0] for i in range(0, len(images), batch)]
    result = np.concatenate(logits).astype("<f4")
    result.tofile(args.outputs)
    print(json.dumps({
        "images": len(images),
        "classes": int(result.shape[1]),
        "checker": "ok",
        "ir_version": model.ir_version,
        "opset": {entry.domain or "ai.onnx": entry.version for entry in model.opset_import},
        "producer": model.producer_name,
        "metadata": common.metadata(session),
        "operators": common.optimized_operator_counts(args.model, threads=args.threads),
    }))


if __name__ == "__main__":
    main()
