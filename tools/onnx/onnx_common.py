"""Shared helpers of the tools/onnx scripts: onnxruntime sessions, model metadata, IDX files.

An autoshrink ONNX model takes "input" [N, C, H, W] float32 normalised per channel as
x = (pixel / 255 - mean[c]) / std[c] (mean and std are in the model's metadata) and returns
"logits" [N, classes].
"""

import collections
import gzip
import os
import struct
import sys
import tempfile

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as error:  # pragma: no cover - message for the user
    sys.exit(f"{error}: pip install -r {os.path.join(os.path.dirname(__file__), 'requirements.txt')}")


def make_session(model_path, threads=1, optimized_path=None, optimization="all"):
    """An onnxruntime CPU session with `threads` intra-op threads, run sequentially."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    if optimized_path:
        options.optimized_model_filepath = optimized_path
        options.log_severity_level = 3  # no warning that the saved graph is hardware-specific
    return ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])


def optimized_operator_counts(model_path, threads=1):
    """Operator type -> count in the graph onnxruntime actually runs (after its optimizations).

    A QDQ model runs as int8 when QLinearConv / QGemm / QLinearAdd ... appear here instead of
    DequantizeLinear -> Conv -> QuantizeLinear."""
    import onnx

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "optimized.onnx")
        make_session(model_path, threads=threads, optimized_path=path)
        graph = onnx.load(path).graph
    return dict(sorted(collections.Counter(node.op_type for node in graph.node).items()))


def metadata(session):
    """The model's metadata_props as a dict."""
    return dict(session.get_modelmeta().custom_metadata_map)


def normalization(session):
    """(mean, std) per channel from the model metadata, as float32 arrays of shape (C,)."""
    props = metadata(session)
    if "mean" not in props or "std" not in props:
        sys.exit("model metadata has no mean/std: was it written by autoshrink?")
    mean = np.array([float(v) for v in props["mean"].split(",")], dtype=np.float32)
    std = np.array([float(v) for v in props["std"].split(",")], dtype=np.float32)
    return mean, std


def input_shape(session, batch=1):
    """The model input's shape with symbolic dimensions replaced by `batch`."""
    shape = session.get_inputs()[0].shape
    return [d if isinstance(d, int) else batch for d in shape]


def _open(path):
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path):
    """An IDX file (optionally gzip-compressed) of unsigned bytes as a numpy array."""
    with _open(path) as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        sys.exit(f"{path}: not an IDX file")
    if data[2] != 0x08:
        sys.exit(f"{path}: IDX element type 0x{data[2]:02x} is not unsigned byte")
    dimensions = data[3]
    header = 4 + 4 * dimensions
    if len(data) < header:
        sys.exit(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{dimensions}I", data[4:header])
    count = int(np.prod(shape)) if shape else 0
    if len(data) - header < count:
        sys.exit(f"{path}: truncated IDX file ({len(data) - header} of {count} bytes)")
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=header).reshape(shape)


def normalize(pixels, mean, std):
    """Raw images (N, H, W) or (N, C, H, W) uint8 -> (N, C, H, W) float32 model input."""
    images = pixels.astype(np.float32) / 255.0
    if images.ndim == 3:
        images = images[:, None, :, :]
    return (images - mean[None, :, None, None]) / std[None, :, None, None]
