"""Score raw declarations with a trained DATE checkpoint, without Hydra or Lightning.

A DATE checkpoint describes itself: next to the network weights it carries the XGBoost boosters
(UBJSON bytes), the leaf numbering, the fitted features (risky categories, vocabularies), the
dense-input scaling, the revenue scale and the file schema (column mapping, date format, tariff
digits). It is read with ``torch.load(weights_only=True)``: no pickled code is ever executed.

    from bacuda_research.fraud.predictor import DATEPredictor
    p = DATEPredictor.from_checkpoint("outputs/.../checkpoints/best.ckpt")
    scores = p.score_file("new_declarations.csv")      # sgd.id, illicit_probability, ... rank
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from bacuda_research.core.checkpoints import load_checkpoint, resolve_model
from bacuda_research.declarations.features import DeclarationFeatures
from bacuda_research.declarations.schema import SchemaOptions
from bacuda_research.declarations.stored import features_from_dict, read_with, schema_from_stored
from bacuda_research.metrics.selection import rank_desc
from bacuda_research.fraud import xgb_stage
from bacuda_research.fraud.network import DATE
from bacuda_research.fraud.explain import explain_rows, global_leaf_rules

FORMAT = "bacuda-date/1"


def checkpoint_artifacts(features: DeclarationFeatures, stage: xgb_stage.TreeStage, encoder: xgb_stage.LeafEncoder,
                         revenue_scale: float, dense_scaler: Mapping | None, schema: Mapping[str, Any],
                         percents: tuple, revenue_given_illicit: Any = None) -> dict[str, Any]:
    """Everything besides the weights that scoring a raw file needs (all weights_only-loadable).

    ``revenue_given_illicit``: the booster of ``model.revenue_ranking=expected`` (E[revenue | illicit]),
    stored only when that ranking is on.
    """
    extra = {}
    if revenue_given_illicit is not None:
        raw = xgb_stage.TreeStage([revenue_given_illicit], list(features.columns)).to_raw()[0]
        extra["revenue_given_illicit_ubj"] = torch.frombuffer(bytearray(raw), dtype=torch.uint8).clone()
    return {**extra,
        "format": FORMAT,
        "features": json.dumps(features.to_dict()),
        "feature_columns": list(features.columns),
        "boosters_ubj": [torch.frombuffer(bytearray(raw), dtype=torch.uint8).clone() for raw in stage.to_raw()],
        "leaf_table": torch.from_numpy(encoder.table.copy()),
        "revenue_scale": float(revenue_scale),
        "dense_scaler": json.dumps(dense_scaler) if dense_scaler else "",
        "schema": json.dumps(dict(schema)),
        "percents": [float(p) for p in percents],
    }


def resolve_checkpoint(model: str | Path) -> Path:
    """The DATE checkpoint of a run folder (``checkpoints/best.ckpt``) or a ``.ckpt`` file
    (``core.checkpoints.resolve_model``); anything else, an HS model included, is an error."""
    return resolve_model(model, expect="date", bundles=False).path


class DATEPredictor:
    """A trained DATE model plus everything needed to go from a raw file to ranked scores."""

    def __init__(self, net: DATE, features: DeclarationFeatures, stage: xgb_stage.TreeStage, encoder: xgb_stage.LeafEncoder,
                 revenue_scale: float, dense_scaler: Mapping | None, schema: SchemaOptions,
                 feature_columns: list[str], percents: tuple = (1, 2, 5, 10)) -> None:
        self.net, self.features, self.stage, self.encoder = net.eval(), features, stage, encoder
        self.revenue_scale, self.dense_scaler, self.schema = revenue_scale, dense_scaler, schema
        self.feature_columns, self.percents = feature_columns, percents
        self._rules: dict[int, dict] | None = None
        #: the ``model.revenue_ranking=expected`` booster (E[revenue | illicit]); None = rank by the head
        self.revenue_given_illicit: Any = None

    @classmethod
    def from_run(cls, model: str | Path, map_location: str = "cpu") -> "DATEPredictor":
        """Load a DATE run folder or checkpoint file (read with ``weights_only=True``)."""
        ckpt = load_checkpoint(resolve_checkpoint(model), map_location=map_location)
        art = ckpt.get("bacuda")
        if not art or art.get("format") != FORMAT:
            raise ValueError(f"{model}: not a bacuda DATE checkpoint (format {art and art.get('format')!r})")
        hp = ckpt["hyper_parameters"]
        # checkpoints from before model.net.attention_kernel existed were trained with PyTorch's attention
        net = DATE(**{"attention_kernel": "sdpa", **hp["net"]})
        net.load_state_dict({k[len("net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")})
        raws = [t.numpy().tobytes() for t in art["boosters_ubj"]]
        stage = xgb_stage.TreeStage.from_raw(raws, list(art["feature_columns"]),
                                             [f"{model}: booster {i}" for i in range(len(raws))])
        encoder = xgb_stage.LeafEncoder(art["leaf_table"].numpy().astype(np.int32))
        stage.check_leaf_table(encoder.table, hp["net"].get("n_leaves"), f"{model}: leaf table")
        predictor = cls(
            net=net, features=features_from_dict(json.loads(art["features"])), stage=stage,
            encoder=encoder,
            revenue_scale=float(art["revenue_scale"]),
            dense_scaler=json.loads(art["dense_scaler"]) if art["dense_scaler"] else None,
            schema=schema_from_stored(json.loads(art["schema"])),  # DATE layout or declared schema
            feature_columns=list(art["feature_columns"]), percents=tuple(art.get("percents", (1, 2, 5, 10))),
        )
        if "revenue_given_illicit_ubj" in art:
            predictor.revenue_given_illicit = xgb_stage.TreeStage.from_raw(
                [art["revenue_given_illicit_ubj"].numpy().tobytes()], list(art["feature_columns"]),
                [f"{model}: revenue_given_illicit booster"]).boosters[0]
        return predictor

    @classmethod
    def from_checkpoint(cls, model: str | Path, map_location: str = "cpu") -> "DATEPredictor":
        """Deprecated name of :meth:`from_run` (kept for one release)."""
        import warnings

        warnings.warn("DATEPredictor.from_checkpoint is deprecated: use DATEPredictor.from_run",
                      DeprecationWarning, stacklevel=2)
        return cls.from_run(model, map_location)

    # -- scoring ---------------------------------------------------------------------------
    def inputs(self, df: pd.DataFrame) -> dict[str, torch.Tensor]:
        """Model inputs for validated, canonical declarations (see ``load_declarations``)."""
        from bacuda_research.fraud.inputs import model_inputs

        x = model_inputs(df, self.features, self.stage, self.encoder, self.dense_scaler,
                         matrix=self.revenue_given_illicit is not None)
        # pandas copy-on-write hands out read-only views (the importer/item indices when every code
        # is known): torch.from_numpy warns on those, so only they are copied (8 bytes a row)
        return {k: torch.from_numpy(np.require(v, requirements="W")) for k, v in x.items()}

    @torch.no_grad()
    def predict(self, df: pd.DataFrame, batch_size: int = 4096) -> dict[str, np.ndarray]:
        """Illicit probability and logit (rank by the logit: no float saturation ties), predicted
        revenue, revenue score (what DATE_REV ranks by) and leaf weights per row.

        With ``model.revenue_ranking=expected`` the revenue score and the predicted revenue are the
        expected recoverable revenue, P(illicit) x E[revenue | illicit]; ``rev_head`` is always the
        network's revenue output.
        """
        x = self.inputs(df)
        X = x.pop("X", None)
        logits, revs, weights = [], [], []
        for start in range(0, len(df), batch_size):
            sl = {k: v[start:start + batch_size] for k, v in x.items()}
            logit, rev, w = self.net(sl["leaves"], sl["importer"], sl["item"], sl.get("dense"))
            logits.append(logit.double())
            revs.append(rev.double())
            weights.append(w.float())
        rev_head = torch.cat(revs).numpy()
        logit = torch.cat(logits)
        prob = torch.sigmoid(logit).numpy()
        from bacuda_research.fraud.inputs import revenue_outputs

        given = (None if self.revenue_given_illicit is None
                 else xgb_stage.predict(self.revenue_given_illicit, X.numpy(), self.feature_columns))
        rev_score, revenue = revenue_outputs(prob, rev_head, self.revenue_scale, given)
        return {"prob": prob, "logit": logit.numpy(), "rev_score": rev_score, "rev_head": rev_head,
                "revenue": revenue, "weights": torch.cat(weights).numpy(), "leaves": x["leaves"].numpy()}

    def score(self, df: pd.DataFrame) -> pd.DataFrame:
        """Ranked scores: sgd.id, illicit_probability, predicted_revenue, rank, revenue_rank."""
        out = self.predict(df)
        return pd.DataFrame({
            "sgd.id": df["sgd.id"].to_numpy(), "illicit_probability": out["prob"],
            "predicted_revenue": out["revenue"], "rank": rank_desc(out["logit"]),
            "revenue_rank": rank_desc(out["rev_score"]),
        })

    def read(self, path: str | Path) -> pd.DataFrame:
        """Read and validate a file with the training schema (DATE layout or declared; labels optional)."""
        return read_with(self.schema, path)

    def score_file(self, path: str | Path) -> pd.DataFrame:
        return self.score(self.read(path))

    # -- explanations ----------------------------------------------------------------------
    @property
    def rules(self) -> dict[int, dict]:
        if self._rules is None:
            self._rules = global_leaf_rules(self.stage, self.encoder.table, self.features.flag_columns)
        return self._rules

    def explain(self, df: pd.DataFrame, top_k: int = 5) -> list[dict[str, Any]]:
        """Per declaration: its scores and its top-k leaves by attention weight, as rules."""
        out = self.predict(df)
        expl = explain_rows(out["weights"], out["leaves"], self.rules, top_k)
        ranks = rank_desc(out["logit"])
        return [{"sgd.id": sid, "illicit_probability": round(float(p), 6), "rank": int(r), "leaves": e}
                for sid, p, r, e in zip(df["sgd.id"].tolist(), out["prob"], ranks, expl)]

