"""What every exporter shares: the training record, library versions, the ONNX export call,
and the parity measure between PyTorch and ONNX Runtime."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

# ONNX opset of exported graphs: 23 has the fused ``Attention`` op, which the exporter emits for
# ``scaled_dot_product_attention``; with older opsets ONNX Runtime materialises the (B, heads, T, T)
# softmax (DATE at batch 4096: 12 s against 1.8 s with ``Attention``, 1 thread)
DEFAULT_OPSET = 23
# libraries besides bacuda_research.core.runtime.versions() that decide what a bundle computes
EXPORT_LIBRARIES = ("onnx", "onnxscript", "safetensors")


def export_versions() -> dict[str, str]:
    from bacuda_research.core.runtime import versions

    out = versions()
    for name in EXPORT_LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def training_record(ckpt: Path) -> dict[str, Any]:
    """Config, metrics, data sha256, seed and versions of the run that produced ``ckpt``.

    Read from the run's ``report.json`` (``<run>/checkpoints/x.ckpt`` -> ``<run>/report.json``);
    a checkpoint without a report is exported with ``report: null`` and an explicit note.
    """
    from bacuda_research.core.io import sha256_file

    ckpt = Path(ckpt)
    record: dict[str, Any] = {"checkpoint": {"file": ckpt.name, "sha256": sha256_file(ckpt)}}
    for cand in (ckpt.parent.parent / "report.json", ckpt.parent / "report.json"):
        if cand.is_file():
            report = json.loads(cand.read_text(encoding="utf-8"))
            record.update({
                "report": "report.json of the run folder",
                "config": report.get("config"), "metrics": report.get("metrics"),
                "data_sha256": report.get("data_sha256"), "seed": report.get("seed"),
                "git_sha": report.get("git_sha"), "versions": report.get("versions"),
                "hydra_choices": report.get("hydra_choices"),
            })
            if "data" in report:  # DATE: split sizes, illicit rates, date ranges
                record["data"] = report["data"]
            if isinstance(report.get("hs"), dict) and "counts" in report["hs"]:
                record["data"] = {"counts": report["hs"]["counts"]}
            return record
    record.update({"report": None, "config": None, "metrics": None, "data_sha256": None,
                   "note": "no report.json beside the checkpoint: training config, metrics and data hash unknown"})
    return record


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress lines and 'torchvision is not installed' warnings are noise here."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.onnx._internal.exporter._registration",
                                              "onnxscript", "torch.export", "torch._export")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)


def export_onnx(module: Any, args: tuple, path: Path, input_names: Sequence[str], output_names: Sequence[str],
                dynamic_shapes: Sequence[Mapping[int, Any]], opset: int | None = None,
                translations: Mapping[Any, Any] | None = None) -> int:
    """``torch.onnx.export`` (dynamo exporter, weights inside the file); returns the opset used.

    ``translations``: ONNX translations of our custom ops (op overload -> onnxscript function),
    passed as ``custom_translation_table``."""
    import onnx
    import torch

    module.eval()
    with _quiet(), torch.no_grad():
        torch.onnx.export(module, args, str(path), input_names=list(input_names), output_names=list(output_names),
                          dynamic_shapes=tuple(dynamic_shapes), opset_version=opset or DEFAULT_OPSET, external_data=False,
                          verbose=False, custom_translation_table=dict(translations or {}))
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    return int(next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")))


def max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray], names: Sequence[str]) -> dict[str, float]:
    return {n: float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) if np.size(x) else 0.0
            for n, x, y in zip(names, a, b)}
