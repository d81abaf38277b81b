"""Export a DATE checkpoint to a bundle (see ``bacuda_research.bundle.date_runtime`` for the file layout).

The network is exported to ONNX with a dynamic batch dimension and checked against PyTorch on
random inputs before the bundle is written (ONNX Runtime within ``PARITY_TOL``, else the export is
refused); the boosters as XGBoost JSON; features, vocabularies, leaf table and leaf rules as JSON;
the weights also as safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bacuda_research.bundle import format as B
from bacuda_research.bundle.card import date_card
from bacuda_research.declarations.stored import stored_from_schema
from bacuda_research.bundle.common import (export_onnx, export_versions, max_abs_diff, now_utc,
                                           training_record)
from bacuda_research.bundle import date_runtime as S

PARITY_TOL = 1e-5


def leaf_self_attention_onnx(pre: Any, heads: int) -> tuple[Any, Any, Any]:
    """ONNX translation of ``bacuda::leaf_self_attention`` (``fraud/attention_op.py``): ReLU, split
    into q, k, v, then the opset-23 ``Attention`` op (no materialised (B, heads, T, T) softmax). The
    row max and 1/sum outputs are written too, as the op defines them; the exporter's optimiser drops
    them from the graph when nothing reads them (DATE reads only the attention output)."""
    from onnxscript import opset23 as op

    d3 = pre.shape[2]  # static: the model's 3 * dim
    dh = int(d3) // 3 // heads
    qkv = op.Transpose(op.Reshape(op.Relu(pre), op.Constant(value_ints=[0, 0, 3, heads, dh])), perm=[2, 0, 3, 1, 4])
    q, k, v = (op.Gather(qkv, op.Constant(value_int=i), axis=0) for i in range(3))  # (B, heads, T, dh) each
    y, _, _, _ = op.Attention(q, k, v)  # as torch.onnx translates F.scaled_dot_product_attention
    out = op.Reshape(op.Transpose(y, perm=[0, 2, 1, 3]), op.Constant(value_ints=[0, 0, heads * dh]))
    scores = op.MatMul(q, op.Transpose(k, perm=[0, 1, 3, 2])) * op.Constant(value_float=dh ** -0.5)
    row_max = op.ReduceMax(scores, op.Constant(value_ints=[-1]), keepdims=1)
    inv = op.Reciprocal(op.ReduceSum(op.Exp(scores - row_max), op.Constant(value_ints=[-1]), keepdims=0))
    return out, op.Squeeze(row_max, op.Constant(value_ints=[-1])), inv


def onnx_translations() -> dict[Any, Any]:
    """Our custom ops a DATE network may call, with their ONNX translations (for ``export_onnx``)."""
    import bacuda_research.fraud.attention_op  # noqa: F401  (registers torch.ops.bacuda.*)

    return {torch.ops.bacuda.leaf_self_attention.default: leaf_self_attention_onnx}


class _ONNXDate(nn.Module):
    """DATE with a fixed signature for export (``dense`` only when the network has that branch)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, leaves: torch.Tensor, importer: torch.Tensor, item: torch.Tensor,
                dense: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.net(leaves, importer, item, dense)


def random_inputs(net: Any, n_trees: int, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random valid inputs for a DATE network; the first n/8 rows have every index 0 (unseen)."""
    rng = np.random.default_rng(seed)
    x = {
        "leaves": rng.integers(0, net.leaf_embedding.num_embeddings, (n, n_trees)).astype(np.int64),
        "importer": rng.integers(0, net.importer_embedding.num_embeddings, n).astype(np.int64),
        "item": rng.integers(0, net.item_embedding.num_embeddings, n).astype(np.int64),
    }
    x["leaves"][: max(1, n // 8)] = 0  # a row of leaves, importer and item all unseen in training
    x["importer"][: max(1, n // 8)] = 0
    x["item"][: max(1, n // 8)] = 0
    if net.dense is not None:
        x["dense"] = rng.standard_normal((n, net.dense.in_features)).astype(np.float32)
    return x


@torch.no_grad()
def torch_outputs(net: nn.Module, x: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    net.eval()
    t = {k: torch.from_numpy(v) for k, v in x.items()}
    logit, rev, w = net(t["leaves"], t["importer"], t["item"], t.get("dense"))
    return logit.numpy(), rev.numpy(), w.numpy()


def export_date(ckpt: str | Path, outdir: str | Path, overwrite: bool = False, opset: int | None = None,
                parity_rows: int = 512) -> dict[str, Any]:
    """Write the bundle of a DATE checkpoint to ``outdir`` (atomically); returns the manifest."""
    from safetensors.torch import save_file

    from bacuda_research.fraud.predictor import DATEPredictor, resolve_checkpoint
    from bacuda_research.fraud.explain import global_leaf_rules
    from bacuda_research.bundle.onnx import session

    ckpt = resolve_checkpoint(ckpt)
    predictor = DATEPredictor.from_run(ckpt)
    net_cfg = dict(torch.load(ckpt, map_location="cpu", weights_only=True)["hyper_parameters"]["net"])
    net = predictor.net.eval()
    feats = predictor.features.to_dict()
    training = training_record(ckpt)

    def write(tmp: Path) -> dict[str, Any]:
        # the network: ONNX (dynamic batch) and safetensors
        example = random_inputs(net, int(net_cfg["n_trees"]), 5, seed=1)
        names = [n for n in S.INPUTS if n in example]
        batch = torch.export.Dim("batch")
        opset_used = export_onnx(_ONNXDate(net), tuple(torch.from_numpy(example[n]) for n in names), tmp / S.MODEL,
                                 names, S.OUTPUTS, [{0: batch}] * len(names), opset, onnx_translations())
        state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
        save_file(state, str(tmp / S.WEIGHTS), metadata={"format": "bacuda-date-net/1", "net": json.dumps(net_cfg)})
        # the tree stage and everything the features need
        for i, b in enumerate(predictor.stage.boosters):
            (tmp / S.booster_file(i)).write_bytes(bytes(b.save_raw("json")))
        expected = predictor.revenue_given_illicit is not None
        if expected:  # model.revenue_ranking=expected: E[revenue | illicit], currency units
            (tmp / S.REVENUE_GIVEN_ILLICIT).write_bytes(bytes(predictor.revenue_given_illicit.save_raw("json")))
        B.write_json_file(tmp, S.FEATURES, {
            **{k: v for k, v in feats.items() if k not in ("importer_vocab", "item_vocab")},
            "feature_columns": list(predictor.feature_columns)})
        B.write_json_file(tmp, S.VOCABULARIES, {
            "importer_vocab": feats["importer_vocab"], "item_vocab": feats["item_vocab"],
            "leaf_table": predictor.encoder.table.tolist()})
        B.write_json_file(tmp, S.SCORING, {
            "schema": stored_from_schema(predictor.schema),  # DATE layout or declared schema
            "revenue_scale": float(predictor.revenue_scale), "dense_scaler": predictor.dense_scaler,
            "percents": list(predictor.percents), "n_boosters": len(predictor.stage.boosters), "net": net_cfg,
            "onnx": {"inputs": names, "outputs": list(S.OUTPUTS), "opset": opset_used},
            "revenue_ranking": "expected" if expected else "head",
            "outputs": {"illicit_probability": "sigmoid(logit)",
                        "predicted_revenue": (f"sigmoid(logit) * max({S.REVENUE_GIVEN_ILLICIT} prediction, 0)"
                                              if expected else "expm1(max(revenue_score, 0) * revenue_scale)"),
                        "rank": "1 = highest logit",
                        "revenue_rank": "1 = highest predicted_revenue" if expected else "1 = highest revenue_score"}})
        rules = global_leaf_rules(predictor.stage, predictor.encoder.table, predictor.features.flag_columns)
        B.write_json_file(tmp, S.LEAF_RULES, {str(k): v for k, v in sorted(rules.items())})
        # parity: ONNX Runtime on the written file vs PyTorch, random inputs with unseen indices
        x = random_inputs(net, int(net_cfg["n_trees"]), parity_rows, seed=0)
        sess = session((tmp / S.MODEL).read_bytes(), threads=1)
        got = sess.run(list(S.OUTPUTS), {n: x[n] for n in names})
        diffs = max_abs_diff(got, torch_outputs(net, x), S.OUTPUTS)
        if max(diffs.values()) > PARITY_TOL:
            raise RuntimeError(f"ONNX export of {ckpt} does not match PyTorch: max abs differences {diffs} "
                               f"(tolerance {PARITY_TOL})")
        fields = {
            "created": now_utc(), "model": {"family": "date", "net": net_cfg,
                                            "trees": predictor.encoder.n_trees, "leaves": predictor.encoder.n_leaves},
            "versions": export_versions(), "training": training,
            "parity": {"inputs": f"{parity_rows} random rows (1/8 with every index unseen)",
                       "max_abs_diff": diffs, "tolerance": PARITY_TOL, "runtime": "onnxruntime CPU, 1 thread"},
            "scoring": {"command": "bacuda-score BUNDLE declarations.csv scores.csv",
                        "install": "pip install bacuda_research[score]"},
        }
        (tmp / B.CARD).write_text(date_card(fields, feats, predictor), encoding="utf-8")
        return fields

    return B.write_bundle(outdir, "date", write, overwrite=overwrite)
