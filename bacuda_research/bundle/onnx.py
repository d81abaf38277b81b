"""ONNX Runtime sessions for bundles (CPU; the thread count is explicit, for honest benchmarks)."""

from __future__ import annotations

from typing import Any


def session(model: bytes, threads: int | None = None, source: str = "model.onnx") -> Any:
    """An ``InferenceSession`` on the CPU provider from the model's bytes.

    ``threads`` sets the intra-op thread pool (default: ONNX Runtime's, one per physical core);
    inter-op parallelism stays at 1 (the graphs are sequential). A model ONNX Runtime cannot load
    (one that references external data files, which bundles never do, a damaged or foreign graph)
    is a ``BundleError`` naming ``source``, not a runtime traceback.
    """
    from bacuda_research.bundle.format import BundleError

    import onnxruntime as ort

    opts = ort.SessionOptions()
    # warnings (unused initializers) are noise; errors reach the caller as exceptions, turned into one line
    opts.log_severity_level = 4
    opts.inter_op_num_threads = 1
    if threads:
        opts.intra_op_num_threads = int(threads)
    try:
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own Fail/InvalidGraph/... types
        if _external_data(model):
            raise BundleError(f"{source}: the ONNX model references external data files; a bundle's model "
                              "must be self-contained") from None
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BundleError(f"{source}: ONNX Runtime cannot load this model (a damaged or foreign graph, or one "
                          f"with external data): ...{detail[-60:]}") from None


def _external_data(model: bytes) -> bool:
    """Whether the model has initializers stored outside it (needs the ``onnx`` package; False without)."""
    try:
        import onnx
        from onnx.external_data_helper import uses_external_data

        proto = onnx.load_model_from_string(model)
        return any(uses_external_data(t) for t in proto.graph.initializer)
    except Exception:  # noqa: BLE001 - no onnx package or not even a protobuf: no more to say
        return False
