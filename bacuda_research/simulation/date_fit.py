"""``WeeklyDATE``: one DATE fit per week, shared by every DATE-based strategy of the run.

Each week (at the first ``ctx.date()`` call): the XGBoost stage on the labeled training window,
its leaves numbered (``LeafEncoder``), importer and item indices from vocabularies that only grow
(an id keeps its index across weeks), the network trained with early stopping on the validation
window's mean(Pre@5%, Rev@5%) (the reference criterion), then the batch scored once: illicit
probability, the revenue head and the hidden vector ``h`` (``DATEOutputs``).

Warm start (``date_fit.warm_start``, SIMULATION.md 6.3): the network is kept across weeks, its
importer/item tables grow (known rows copied, new rows start at zero like "unseen"); XGBoost is
refitted only every ``xgb_refresh_every`` weeks (then only the leaf table restarts); warm weeks
train ``warm_epochs`` epochs on the newly labeled rows plus a ``replay_fraction`` sample of the
older ones; every ``scratch_every`` weeks everything restarts. Its state is saved as safetensors +
XGBoost UBJSON + JSON for resume (no pickle).
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from bacuda_research.fraud import xgb_stage
from bacuda_research.fraud.datamodule import TensorBatches
from bacuda_research.fraud.declared_data import revenue_free_model
from bacuda_research.fraud.module import DATEModule
from bacuda_research.fraud.recipe import split_tensors

log = logging.getLogger("bacuda_research")


def unsupported_options(m: Mapping[str, Any]) -> list[str]:
    """Options of ``date`` the weekly fit does not implement (set away from their defaults)."""
    out = []
    if int((m.get("xgb_revenue") or {}).get("n_estimators", 0) or 0):
        out.append("xgb_revenue.n_estimators")
    if m.get("revenue_ranking", "head") != "head":
        out.append("revenue_ranking")
    if (m.get("net") or {}).get("dense"):
        out.append("net.dense")
    return out


@dataclass
class DATEOutputs:
    """The week's DATE scores of the batch and its validation quality."""

    prob: np.ndarray        # (n,) illicit probability
    logit: np.ndarray       # (n,) illicit logit (ranks without saturation ties)
    revenue: np.ndarray     # (n,) predicted normalised log revenue, relu(head) (0 without revenue)
    hidden: np.ndarray      # (n, dim) the hidden vector both heads read
    valid_precision5: float  # Pre@5% on the validation window (NaN when it is empty)
    valid_revenue5: float    # Rev@5% on the validation window (NaN without revenue)


def top5(score: np.ndarray, illicit: np.ndarray, revenue: np.ndarray) -> tuple[float, float]:
    """(Pre@5%, Rev@5%) of ranking by ``score``; NaN where undefined."""
    n = len(score)
    if n == 0:
        return float("nan"), float("nan")
    k = max(1, int(n * 0.05))
    top = np.argsort(-score, kind="stable")[:k]
    total = float(revenue.sum())
    return float(illicit[top].mean()), (float(revenue[top].sum()) / total if total > 0 else float("nan"))


class Vocab:
    """An id -> index table that only grows (0 = unseen)."""

    def __init__(self, table: Mapping[str, int] | None = None) -> None:
        self.table = dict(table or {})

    def grow(self, keys: pd.Series) -> None:
        for k in sorted(set(keys.astype(str)) - set(self.table)):
            self.table[k] = len(self.table) + 1

    def index(self, keys: pd.Series) -> np.ndarray:
        return keys.astype(str).map(self.table).fillna(0).to_numpy(np.int64)

    def __len__(self) -> int:
        return len(self.table) + 1


class WeeklyDATE:
    """Fits DATE once per week (scratch or warm) and serves its batch outputs."""

    def __init__(self, model_cfg: Mapping[str, Any], fit_cfg: Mapping[str, Any], threads: int | None = None) -> None:
        unsupported = unsupported_options(model_cfg)
        if unsupported:
            raise ValueError(f"the simulation's weekly DATE fit does not support date.{unsupported}: leave them at "
                             "their defaults (xgb_revenue.n_estimators=0, revenue_ranking=head, net.dense=false)")
        self.mcfg, self.fit_cfg, self.threads = dict(model_cfg), dict(fit_cfg), threads
        self.week, self.out = None, None
        self.module: DATEModule | None = None
        self.booster, self.encoder = None, None
        self.vocabs = {"importer.id": Vocab(), "tariff.code": Vocab()}
        self.stage_week = self.scratch_week = -10**9
        self.trained_rows = np.zeros(0, dtype=np.int64)
        self.has_revenue = True

    def outputs(self, ctx) -> DATEOutputs:
        """The week's outputs (fits at the first call of a week, then reuses the fit)."""
        if self.week != ctx.week:
            self.out, self.week = self._fit_predict(ctx), ctx.week
        return self.out

    # -- one week -------------------------------------------------------------------------------
    def _fit_predict(self, ctx) -> DATEOutputs:
        f = self.fit_cfg
        mcfg = self.mcfg if ctx.has_revenue else revenue_free_model(self.mcfg)
        self.has_revenue = bool(ctx.has_revenue)
        torch.manual_seed(ctx.seed)
        warm = bool(f.get("warm_start")) and self.module is not None and \
            ctx.week - self.scratch_week < int(f.get("scratch_every", 10))
        refresh = not warm or ctx.week - self.stage_week >= int(f.get("xgb_refresh_every", 4))
        train, valid, batch, cols = ctx.train, ctx.valid, ctx.batch, ctx.features.columns
        if refresh:
            params, rounds = xgb_stage.xgb_params(mcfg["xgb"], "binary:logistic", ctx.seed, self.threads)
            self.booster = xgb_stage.fit_booster(train.X, train.illicit, params, rounds, cols, None)
            self.encoder = xgb_stage.LeafEncoder().fit(xgb_stage.leaves(self.booster, train.X, cols))
            self.stage_week = ctx.week
        for col, vocab in self.vocabs.items():
            if col in train.frame:
                vocab.grow(train.frame[col])
        scale = float(np.log1p(train.revenue).max()) or 1.0
        tensors = {name: self._tensors(split, cols, scale) for name, split in (("train", train), ("valid", valid))}
        tensors["batch"] = self._tensors(batch, cols, scale)
        if not warm:
            self.module = self._new_module(mcfg, scale)
            self.scratch_week = ctx.week
        else:
            self._grow(refresh)
            self.module.revenue_scale = scale
        if mcfg.get("tree_init") and refresh:  # the wide part starts at the tree stage's predictions
            from bacuda_research.fraud.recipe import tree_init_values

            stage = xgb_stage.TreeStage([self.booster], cols)
            self.module.net.init_from_trees(*tree_init_values(stage, self.encoder, train.X, scale))
        rows = train.frame.index.to_numpy(np.int64)
        epochs = int(f.get("warm_epochs", 2) if warm else f.get("epochs", 5))
        use = self._replay(rows, ctx) if warm else np.arange(len(rows))
        fit_tensors = {k: v[torch.from_numpy(use)] for k, v in tensors["train"].items()}
        best = self._train(fit_tensors, tensors["valid"], valid, epochs, ctx.seed)
        self.trained_rows = rows
        out = self._predict(tensors["batch"])
        return DATEOutputs(prob=out["prob"], logit=out["logit"], revenue=np.maximum(out["rev"], 0.0),
                           hidden=out["hidden"], valid_precision5=best[0], valid_revenue5=best[1])

    def _tensors(self, split, cols, scale: float) -> dict[str, torch.Tensor]:
        frame, n = split.frame, len(split.frame)
        idx = {c: (v.index(frame[c]) if c in frame else np.zeros(n, np.int64)) for c, v in self.vocabs.items()}
        leaves = self.encoder.transform(xgb_stage.leaves(self.booster, split.X, cols))
        illicit = getattr(split, "illicit", None)
        revenue = getattr(split, "revenue", None)
        # the batch carries no labels: zeros fill the tensors the network never reads for scoring
        return split_tensors(leaves, idx["importer.id"], idx["tariff.code"],
                             np.zeros(n) if illicit is None else illicit,
                             np.zeros(n) if revenue is None else revenue, scale)

    def _new_module(self, mcfg: Mapping[str, Any], scale: float) -> DATEModule:
        net = {k: v for k, v in dict(mcfg["net"]).items() if k != "dense"}
        net.update(n_leaves=self.encoder.n_leaves, n_trees=self.encoder.n_trees,
                   n_importers=len(self.vocabs["importer.id"]), n_items=len(self.vocabs["tariff.code"]))
        return DATEModule(net=net, alpha=mcfg["alpha"], optimizer=mcfg["optimizer"],
                          percents=tuple(mcfg.get("percents", (1, 2, 5, 10))), revenue_scale=scale,
                          grad_clip=mcfg.get("grad_clip"))

    def _grow(self, new_leaves: bool) -> None:
        """Warm start: embedding tables sized to the grown vocabularies (known rows kept, new rows 0);
        a fresh leaf table (and wide part) when the XGBoost stage was refitted."""
        net = self.module.net
        sizes = {"importer_embedding": len(self.vocabs["importer.id"]), "item_embedding": len(self.vocabs["tariff.code"])}
        if new_leaves:
            sizes["leaf_embedding"] = self.encoder.n_leaves
        for name, n in sizes.items():
            old = getattr(net, name)
            emb = torch.nn.Embedding(n, old.embedding_dim, padding_idx=0)
            with torch.no_grad():
                emb.weight.zero_()
                if name == "leaf_embedding":
                    torch.nn.init.xavier_uniform_(emb.weight[1:])
                else:
                    emb.weight[: min(n, old.num_embeddings)] = old.weight[: min(n, old.num_embeddings)]
            setattr(net, name, emb)
        if new_leaves and net.leaf_bias is not None:
            net.leaf_bias = torch.nn.Embedding(self.encoder.n_leaves, 2, padding_idx=0)
            torch.nn.init.zeros_(net.leaf_bias.weight)

    def _replay(self, rows: np.ndarray, ctx) -> np.ndarray:
        """Positions (in this week's train split) to train on warm: new rows + a replay sample."""
        new = ~np.isin(rows, self.trained_rows)
        old = np.flatnonzero(~new)
        frac = float(self.fit_cfg.get("replay_fraction", 0.2))
        keep = ctx.rng("date/replay").choice(len(old), size=int(round(frac * len(old))), replace=False)
        return np.sort(np.concatenate([np.flatnonzero(new), old[keep]])).astype(np.int64)

    def _train(self, train: dict, valid: dict, valid_split, epochs: int, seed: int) -> tuple[float, float]:
        """Epochs with early stopping on the validation mean(Pre@5%, Rev@5%); keeps the best epoch."""
        module, patience = self.module, int(self.fit_cfg.get("patience", 3))
        opt = module.configure_optimizers()
        batches = TensorBatches(train, int(self.fit_cfg.get("batch_size", 512)), shuffle=True, seed=seed)
        best, best_state, bad = None, None, 0
        for _ in range(max(epochs, 1)):
            module.train()
            for batch in batches:
                loss = module.loss(batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError("DATE diverged in the weekly fit (non-finite loss)")
                opt.zero_grad()
                loss.backward()
                if module.grad_clip:
                    torch.nn.utils.clip_grad_norm_(module.parameters(), float(module.grad_clip))
                opt.step()
            out = self._predict(valid)
            pre, rev = top5(out["logit"], valid_split.illicit, valid_split.revenue)
            score = np.nanmean([pre, rev]) if np.isfinite([pre, rev]).any() else -np.inf
            if best is None or score > best[2]:
                best, best_state, bad = (pre, rev, score), copy.deepcopy(module.state_dict()), 0
            else:
                bad += 1
                if bad >= patience:
                    break
        module.load_state_dict(best_state)
        return best[0], best[1]

    @torch.no_grad()
    def _predict(self, tensors: Mapping[str, torch.Tensor], chunk: int = 4096) -> dict[str, np.ndarray]:
        self.module.eval()
        n = len(tensors["illicit"])
        parts: dict[str, list] = {"prob": [], "logit": [], "rev": [], "hidden": []}
        for s in range(0, n, chunk):
            out = self.module.predict_with_hidden({k: v[s:s + chunk] for k, v in tensors.items()})
            for k in parts:
                parts[k].append(out[k].double().numpy())
        dim = self.module.net.hidden.out_features
        return {k: (np.concatenate(v) if v else np.zeros((0, dim) if k == "hidden" else 0)) for k, v in parts.items()}

    # -- resume (warm start only; a scratch fit depends on the week's seed alone) ----------------
    def save(self, folder: str | Path, week: int) -> dict[str, Any] | None:
        if not self.fit_cfg.get("warm_start") or self.module is None:
            return None
        from safetensors.torch import save_file

        from bacuda_research.core.io import atomic_path

        d = Path(folder) / "model"
        d.mkdir(exist_ok=True)
        names = {"weights": f"date-w{week}.safetensors", "booster": f"xgb-w{week}.ubj"}
        tensors = {f"net.{k}": v.contiguous() for k, v in self.module.state_dict().items()}
        tensors["encoder"] = torch.from_numpy(self.encoder.table.astype(np.int64))
        tensors["trained_rows"] = torch.from_numpy(np.array(self.trained_rows, dtype=np.int64))
        with atomic_path(d / names["weights"]) as tmp:
            save_file(tensors, str(tmp))
        with atomic_path(d / names["booster"]) as tmp:
            self.booster.save_model(str(tmp))
        for old in d.iterdir():  # earlier weeks' files are no longer referenced once state.json commits
            if old.name not in names.values() and not old.name.startswith("."):
                old.unlink()
        return {**names, "stage_week": self.stage_week, "scratch_week": self.scratch_week,
                "revenue_scale": self.module.revenue_scale, "revenue": self.has_revenue,
                "vocabs": {k: v.table for k, v in self.vocabs.items()}}

    def load(self, folder: str | Path, ref: Mapping[str, Any] | None) -> None:
        if not ref:
            return
        import xgboost as xgb
        from safetensors.torch import load_file

        d = Path(folder) / "model"
        tensors = load_file(str(d / ref["weights"]))
        self.booster = xgb.Booster()
        self.booster.load_model(str(d / ref["booster"]))
        self.encoder = xgb_stage.LeafEncoder(tensors.pop("encoder").numpy().astype(np.int32))
        self.trained_rows = tensors.pop("trained_rows").numpy()
        self.vocabs = {k: Vocab(v) for k, v in ref["vocabs"].items()}
        self.stage_week, self.scratch_week = int(ref["stage_week"]), int(ref["scratch_week"])
        state = {k[4:]: v for k, v in tensors.items()}
        mcfg = self.mcfg if ref.get("revenue", True) else revenue_free_model(self.mcfg)
        self.module = self._new_module(mcfg, float(ref["revenue_scale"]))  # sized as the saved state
        self.module.load_state_dict(state)
        log.info("warm-start DATE state restored (%s)", json.dumps({"week": ref["weights"]}))
