"""ONNX Runtime sessions for bundles (CPU; the thread count is explicit, for honest benchmarks)."""

from __future__ import annotations

from typing import Any


def session(model: bytes, threads: int | None = None) -> Any:
    """An ``InferenceSession`` on the CPU provider from the model's bytes.

    ``threads`` sets the intra-op thread pool (default: ONNX Runtime's, one per physical core);
    inter-op parallelism stays at 1 (the graphs are sequential).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # warnings such as unused initializers are noise for users
    opts.inter_op_num_threads = 1
    if threads:
        opts.intra_op_num_threads = int(threads)
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
