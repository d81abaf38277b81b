"""The DATE training recipe, ``fit_date``: XGBoost stage -> leaf tensors -> Lightning fit -> best
epoch -> predictions, metrics and explanations.

Loss = BCE(illicit) + alpha * MSE(revenue_norm) with revenue_norm = log1p(revenue) / max over
training rows of log1p(revenue), the same normalisation on every split. The epoch kept is the one
with the best illicit-head ``val/f1@mean``; DATE_CLS ranks by the illicit head and DATE_REV is the
same checkpoint ranked by ``model.revenue_ranking`` (``test/rev/...`` keys). An interrupted run
resumes from ``last.ckpt`` only when its ``run_key`` (``core.identity``) is the same.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from bacuda_research.core.identity import run_key
from bacuda_research.fraud.declared_data import checkpoint_schema, revenue_free_model
# the dense scaling is NumPy-only (shared with the torch-free scoring runtime)
from bacuda_research.fraud.inputs import dense_inputs, dense_scaler
from bacuda_research.fraud.module import DATEModule

log = logging.getLogger("bacuda_research")


def split_tensors(leaves: np.ndarray, importer: np.ndarray, item: np.ndarray, illicit: np.ndarray,
                  revenue: np.ndarray, revenue_scale: float, dense: np.ndarray | None = None
                  ) -> dict[str, torch.Tensor]:
    """Whole-split tensors, built once (batches are slices of them)."""
    out = {
        # kept in the encoder's dtype (int16/int32): int64 would take 8 GB at 10M rows x 100 trees
        "leaves": torch.from_numpy(np.ascontiguousarray(leaves)),
        "importer": torch.from_numpy(importer.astype(np.int64)),
        "item": torch.from_numpy(item.astype(np.int64)),
        "illicit": torch.from_numpy(illicit.astype(np.float32)),
        "revenue": torch.from_numpy(revenue.astype(np.float32)),
        "revenue_norm": torch.from_numpy((np.log1p(revenue) / revenue_scale).astype(np.float32)),
        "row": torch.arange(len(illicit), dtype=torch.int64),
    }
    if dense is not None:
        out["dense"] = torch.from_numpy(dense)
    return out


def fit_date(cfg: DictConfig, dm, run_dir: Path, loggers: list[Any], callbacks: tuple = ()) -> dict[str, Any]:
    """XGBoost stage -> leaf tensors -> Lightning fit -> best epoch -> predictions and metrics."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from bacuda_research.core.training import build_trainer, compile_network, loader_settings
    from bacuda_research.fraud import inputs as date_inputs
    from bacuda_research.fraud import xgb_stage
    from bacuda_research.fraud.evaluation import date_metrics, prediction_frame, score_frame
    from bacuda_research.fraud.explain import global_leaf_rules
    from bacuda_research.fraud.predictor import checkpoint_artifacts

    mcfg = OmegaConf.to_container(cfg.model, resolve=True)
    if not getattr(dm, "has_revenue", True):  # a declared schema without revenue: the illicit task alone
        mcfg = revenue_free_model(mcfg)
    train = dm.splits["train"]
    params, rounds = xgb_stage.xgb_params(mcfg["xgb"], "binary:logistic", int(cfg.seed), cfg.get("threads"))
    boosters = [xgb_stage.fit_booster(train.X, train.illicit, params, rounds, dm.features.columns, cfg.cache_dir)]
    if (mcfg.get("xgb_revenue") or {}).get("n_estimators"):
        rparams, rrounds = xgb_stage.xgb_params(mcfg["xgb_revenue"], "reg:squarederror", int(cfg.seed), cfg.get("threads"))
        boosters.append(xgb_stage.fit_booster(train.X, np.log1p(train.revenue), rparams, rrounds,
                                              dm.features.columns, cfg.cache_dir))
    stage = xgb_stage.TreeStage(boosters, dm.features.columns)
    ranking = mcfg.get("revenue_ranking", "head")
    if ranking not in ("head", "expected"):
        raise ValueError(f"model.revenue_ranking={ranking!r}: expected head or expected")
    given_illicit = None
    if ranking == "expected":  # E[revenue | illicit] in currency units, fitted on the illicit training rows
        gparams, grounds = xgb_stage.xgb_params(mcfg["revenue_given_illicit"], "reg:squarederror", int(cfg.seed),
                                                cfg.get("threads"))
        pos = train.illicit == 1
        given_illicit = xgb_stage.fit_booster(train.X[pos], train.revenue[pos].astype(np.float64), gparams, grounds,
                                              dm.features.columns, cfg.cache_dir)
    node_ids = {s: stage.leaves(dm.splits[s].X) for s in dm.splits}
    encoder = xgb_stage.LeafEncoder().fit(node_ids["train"])
    revenue_scale = float(np.log1p(train.revenue).max()) or 1.0
    use_dense = bool(mcfg["net"].pop("dense", False))
    scaler = dense_scaler(train.X) if use_dense else None
    for s, split in dm.splits.items():
        dm.set_tensors(s, split_tensors(
            encoder.transform(node_ids[s]), dm.features.importer_index(split.frame),
            dm.features.item_index(split.frame), split.illicit, split.revenue, revenue_scale,
            dense_inputs(split.X, scaler) if use_dense else None))

    net = dict(mcfg["net"], n_leaves=encoder.n_leaves, n_trees=encoder.n_trees,
               n_importers=len(dm.features.importer_vocab) + 1, n_items=len(dm.features.item_vocab) + 1,
               dense_features=train.X.shape[1] if use_dense else 0)
    percents = tuple(mcfg.get("percents", (1, 2, 5, 10)))
    module = DATEModule(net=net, alpha=mcfg["alpha"], optimizer=mcfg["optimizer"], percents=percents,
                        revenue_scale=revenue_scale, grad_clip=mcfg.get("grad_clip"))
    schema = checkpoint_schema(cfg.data, getattr(dm, "schema", None))
    if mcfg.get("tree_init"):
        module.net.init_from_trees(*tree_init_values(stage, encoder, train.X, revenue_scale))
    module.artifacts = checkpoint_artifacts(dm.features, stage, encoder, revenue_scale, scaler, schema, percents,
                                            revenue_given_illicit=given_illicit)
    ckpt_dir = Path(run_dir) / "checkpoints"
    best_cb = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/f1@mean", mode="max",
                              save_top_k=1, save_last=True, save_weights_only=False)
    trainer = build_trainer(cfg, run_dir, loggers, callbacks=[best_cb, *callbacks])
    dm.loader_cfg = loader_settings(cfg)
    compile_network(module.net, cfg)  # trainer.compile (no-op by default)
    module.artifacts["run_key"] = run_key(OmegaConf.to_container(cfg, resolve=True), dm.data_sha256)
    trainer.fit(module, datamodule=dm, ckpt_path=resume_path(ckpt_dir / "last.ckpt", cfg, dm.data_sha256))

    best = torch.load(best_cb.best_model_path, map_location="cpu", weights_only=True)
    module.load_state_dict(best["state_dict"])
    best_epoch = int(best["epoch"])
    outputs = {s: predict_split(module, dm.tensors[s], int(cfg.data.batch_size)) for s in ("valid", "test")}
    splits = dm.splits
    for s, o in outputs.items():  # o["rev"]: what DATE_REV ranks by; o["revenue"]: currency units
        o["rev_head"] = o["rev"]  # the revenue head's own score, kept for comparisons (``score_frame``)
        given = None if given_illicit is None else xgb_stage.predict(given_illicit, splits[s].X, dm.features.columns)
        o["rev"], o["revenue"] = date_inputs.revenue_outputs(o["prob"], o["rev"], revenue_scale, given)
    # rank by logit (the probability's order without saturation ties); threshold F1 on probabilities
    metrics = date_metrics(outputs, splits, percents)
    preds = [prediction_frame(s, splits[s], outputs[s]["prob"], outputs[s]["revenue"], rank_by=outputs[s]["logit"])
             for s in ("valid", "test")]
    explanations = None
    top_k = int(mcfg.get("explain_top_k", 0) or 0)
    if top_k:
        explanations = explain_top(outputs["test"], preds[1]["rank"].to_numpy(), splits["test"].ids,
                                   dm.tensors["test"]["leaves"].numpy(),
                                   global_leaf_rules(stage, encoder.table, dm.features.flag_columns),
                                   top_k, float(mcfg.get("explain_percent", 10)))
    test = outputs["test"]
    return {"metrics": metrics, "predictions": preds, "explanations": explanations, "module": module,
            "scores": score_frame(test["logit"], test["rev"], revenue_head=test["rev_head"]),
            "extra": {"best_epoch": best_epoch, "best_checkpoint": str(best_cb.best_model_path),
                      "n_leaves": encoder.n_leaves, **attention_kernel_report(module.net)}}


def attention_kernel_report(net: torch.nn.Module) -> dict[str, Any]:
    """Report entries: which leaf self-attention ran (``attention_kernel``: native | sdpa, None without
    self-attention) and, for native, the compiler that built it (``attention_kernel_build``)."""
    from bacuda_research.fraud import kernels

    att = getattr(net, "self_att", None)
    if att is None:
        return {"attention_kernel": None}
    w = att.out.weight
    if not att.uses_native(torch.zeros(1, 1, 3 * att.out.in_features, device=w.device, dtype=w.dtype)):
        return {"attention_kernel": "sdpa"}
    return {"attention_kernel": "native", "attention_kernel_build": kernels.build_info("leaf_attention")}


def tree_init_values(stage, encoder, X: np.ndarray, revenue_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Wide-part start values (``model.tree_init``): classifier margins in column 0, the revenue
    regressor's log1p(revenue) predictions divided by ``revenue_scale`` (the revenue head's units) in
    column 1; without a revenue tree stage the revenue column starts at 0."""
    values, base = stage.leaf_values(encoder.table, X)
    out, b = np.zeros((values.shape[0], 2), dtype=np.float32), np.zeros(2)
    out[:, 0], b[0] = values[:, 0], base[0]
    if values.shape[1] > 1:
        out[:, 1], b[1] = values[:, 1] / revenue_scale, base[1] / revenue_scale
    return torch.from_numpy(out), torch.from_numpy(b)


def explain_top(out: Mapping[str, np.ndarray], rank: np.ndarray, ids: np.ndarray, leaves: np.ndarray,
                rules: dict[int, dict], top_k: int, percent: float) -> list[dict[str, Any]]:
    """Explanations for the rows ranked in the top ``percent`` % (what officers look at), best first."""
    from bacuda_research.fraud.explain import explain_rows

    keep = np.argsort(rank, kind="stable")[: max(1, int(len(rank) * percent / 100))]
    rows = explain_rows(out["weights"][keep], leaves[keep], rules, top_k)
    return [{"sgd.id": str(i), "split": "test", "rank": int(r), "illicit_probability": round(float(p), 6),
             "leaves": e} for i, r, p, e in zip(ids[keep], rank[keep], out["prob"][keep], rows)]


def resume_path(last: Path, cfg: DictConfig, data_sha256: str | None) -> str | None:
    """Resume an interrupted run from ``last.ckpt``, but only with the very same config and data."""
    if not last.exists() or not cfg.get("resume", True):
        return None
    from bacuda_research.core.checkpoints import load_checkpoint

    saved = load_checkpoint(last).get("bacuda", {}).get("run_key")  # truncated/foreign: one clear error
    if saved != run_key(OmegaConf.to_container(cfg, resolve=True), data_sha256):
        raise ValueError(f"{last}: this run folder holds a run with another config or data; "
                         "choose a new hydra.run.dir, or set resume=false to start over in it")
    log.info("resuming from %s", last)
    return str(last)


@torch.no_grad()
def predict_split(module: DATEModule, tensors: Mapping[str, torch.Tensor], batch_size: int) -> dict[str, np.ndarray]:
    """Illicit probability, normalised revenue and leaf weights for a whole split (eval mode)."""
    module.eval()
    probs, logits, revs, weights = [], [], [], []
    n = len(tensors["illicit"])
    device = next(module.parameters()).device
    for start in range(0, n, max(batch_size, 1024)):
        batch = {k: v[start:start + max(batch_size, 1024)].to(device) for k, v in tensors.items()}
        out = module.predict_step(batch, 0)
        probs.append(out["prob"].double().cpu())
        logits.append(out["logit"].double().cpu())
        revs.append(out["rev"].double().cpu())
        weights.append(out["weights"].float().cpu())
    out = {"prob": torch.cat(probs).numpy(), "logit": torch.cat(logits).numpy(), "rev": torch.cat(revs).numpy(),
           "weights": torch.cat(weights).numpy()}
    if not np.isfinite(out["logit"]).all() or not np.isfinite(out["rev"]).all():
        raise FloatingPointError("DATE produced non-finite scores; the model diverged")
    return out
