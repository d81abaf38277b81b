"""``DATEBundle``: raw declarations -> scores, revenue predictions, ranks and explanations.

The bundle's files (written by ``bacuda_research.bundle.date_export``):

- ``model.onnx``: the DATE network; inputs ``leaves`` (B, T) int64, ``importer`` (B,) int64,
  ``item`` (B,) int64 [, ``dense`` (B, F) float32]; outputs ``logit``, ``revenue_score`` (B,),
  ``leaf_weights`` (B, T); the batch dimension is dynamic;
- ``booster_<i>.json``: the XGBoost tree stage (XGBoost JSON, one file per booster);
- ``features.json``: feature settings and fitted risky categories; ``vocabularies.json``: importer
  and item vocabularies (index 0 = unseen) and the leaf table (0 = a leaf unseen in training);
- ``scoring.json``: file schema (column mapping, date format, tariff digits), revenue scale,
  dense-input scaling, network config; ``leaf_rules.json``: the decision rule of every leaf;
- ``weights.safetensors``: the same network weights, for PyTorch users (not read here).

Inputs go through the training code (``load_declarations`` validation, ``DeclarationFeatures``,
``TreeStage``/``LeafEncoder``, ``models.date_inputs``), so errors and features are the training ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODEL = "model.onnx"
WEIGHTS = "weights.safetensors"
FEATURES = "features.json"
VOCABULARIES = "vocabularies.json"
SCORING = "scoring.json"
LEAF_RULES = "leaf_rules.json"
#: the booster of ``model.revenue_ranking=expected`` (E[revenue | illicit], currency units)
REVENUE_GIVEN_ILLICIT = "revenue_given_illicit.json"
INPUTS = ("leaves", "importer", "item", "dense")
OUTPUTS = ("logit", "revenue_score", "leaf_weights")
SCORE_COLUMNS = ("sgd.id", "illicit_probability", "predicted_revenue", "rank", "revenue_rank")


def booster_file(i: int) -> str:
    return f"booster_{i}.json"


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function in float64."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class DATEBundle:
    """A verified DATE bundle loaded for scoring (ONNX Runtime + XGBoost; no torch)."""

    kind = "date"

    def __init__(self, folder: Path, manifest: dict[str, Any], session: Any, features: Any, stage: Any,
                 encoder: Any, scoring: dict[str, Any], rules: dict[int, dict]) -> None:
        from bacuda_research.declarations.stored import schema_from_stored

        self.folder, self.manifest, self.session = folder, manifest, session
        self.features, self.stage, self.encoder = features, stage, encoder
        self.scoring, self.rules = scoring, rules
        self.revenue_scale = float(scoring["revenue_scale"])
        self.dense_scaler = scoring.get("dense_scaler") or None
        self.schema = schema_from_stored(scoring["schema"])  # DATE layout or declared schema
        self.input_names = [i.name for i in session.get_inputs()]
        #: set by ``from_verified`` for ``revenue_ranking: expected`` bundles
        self.revenue_given_illicit: Any = None

    @classmethod
    def load(cls, folder: str | os.PathLike, threads: int | None = None) -> "DATEBundle":
        from bacuda_research.bundle.format import verify_bundle

        return cls.from_verified(Path(folder), verify_bundle(folder, kind="date"), threads)

    @classmethod
    def from_verified(cls, folder: Path, manifest: dict[str, Any], threads: int | None = None) -> "DATEBundle":
        from bacuda_research.declarations.stored import features_from_dict
        from bacuda_research.bundle.format import read_bytes, read_json
        from bacuda_research.fraud import xgb_stage
        from bacuda_research.bundle.onnx import session

        scoring = read_json(folder, manifest, SCORING)
        feats = read_json(folder, manifest, FEATURES)
        vocab = read_json(folder, manifest, VOCABULARIES)
        columns = list(feats.pop("feature_columns"))
        features = features_from_dict({**feats, "importer_vocab": vocab["importer_vocab"],
                                                  "item_vocab": vocab["item_vocab"]})
        if features.columns != columns:
            raise ValueError(f"{folder}/{FEATURES}: feature columns differ from this code's "
                             f"({len(columns)} vs {len(features.columns)}): bundle from another version")
        names = [booster_file(i) for i in range(int(scoring["n_boosters"]))]
        raws = [read_bytes(folder, manifest, name) for name in names]
        stage = xgb_stage.TreeStage.from_raw(raws, columns, [f"{folder}/{name}" for name in names])
        if threads:
            for b in stage.boosters:
                b.set_param({"nthread": int(threads)})
        encoder = xgb_stage.LeafEncoder(np.asarray(vocab["leaf_table"], dtype=np.int32))
        stage.check_leaf_table(encoder.table, (scoring.get("net") or {}).get("n_leaves"), f"{folder}/{VOCABULARIES}")
        rules = {int(k): v for k, v in read_json(folder, manifest, LEAF_RULES).items()}
        sess = session(read_bytes(folder, manifest, MODEL), threads)
        bundle = cls(folder, manifest, sess, features, stage, encoder, scoring, rules)
        ranking = scoring.get("revenue_ranking", "head")
        if ranking == "expected":
            given = xgb_stage.TreeStage.from_raw([read_bytes(folder, manifest, REVENUE_GIVEN_ILLICIT)], columns,
                                                 [f"{folder}/{REVENUE_GIVEN_ILLICIT}"]).boosters[0]
            if threads:
                given.set_param({"nthread": int(threads)})
            bundle.revenue_given_illicit = given
        elif ranking != "head":
            raise ValueError(f"{folder}/{SCORING}: revenue_ranking {ranking!r} is unknown to this version")
        return bundle

    # -- scoring ---------------------------------------------------------------------------
    def inputs(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """Network inputs for validated, canonical declarations (the training code path)."""
        from bacuda_research.fraud.inputs import model_inputs

        return model_inputs(df, self.features, self.stage, self.encoder, self.dense_scaler,
                            matrix=self.revenue_given_illicit is not None)

    def run(self, x: dict[str, np.ndarray], batch_size: int = 1024) -> tuple[np.ndarray, ...]:
        """The ONNX network on prepared inputs, ``batch_size`` rows at a time: logit, revenue score, weights."""
        n = len(x["leaves"])
        logits, revs, weights = [], [], []
        for start in range(0, n, batch_size):
            feed = {k: x[k][start:start + batch_size] for k in self.input_names}
            logit, rev, w = self.session.run(list(OUTPUTS), feed)
            logits.append(logit)
            revs.append(rev)
            weights.append(w)
        if not n:
            t = self.encoder.n_trees
            return np.zeros(0), np.zeros(0), np.zeros((0, t), np.float32)
        return (np.concatenate(logits).astype(np.float64), np.concatenate(revs).astype(np.float64),
                np.concatenate(weights).astype(np.float32))

    def predict(self, df: pd.DataFrame, batch_size: int = 1024) -> dict[str, np.ndarray]:
        """Same keys as ``DATEPredictor.predict``: prob, logit, rev_score, revenue, weights, leaves."""
        x = self.inputs(df)
        X = x.pop("X", None)
        logit, rev_head, weights = self.run(x, batch_size)
        prob = sigmoid(logit)
        from bacuda_research.fraud import xgb_stage
        from bacuda_research.fraud.inputs import revenue_outputs

        given = (None if self.revenue_given_illicit is None
                 else xgb_stage.predict(self.revenue_given_illicit, X, self.stage.feature_names))
        rev_score, revenue = revenue_outputs(prob, rev_head, self.revenue_scale, given)
        return {"prob": prob, "logit": logit, "rev_score": rev_score, "rev_head": rev_head,
                "revenue": revenue, "weights": weights, "leaves": x["leaves"]}

    def score(self, df: pd.DataFrame, top_k: int = 0, batch_size: int = 1024) -> pd.DataFrame:
        """sgd.id, illicit_probability, predicted_revenue, rank (1 = most suspicious, by the
        illicit logit), revenue_rank; with ``top_k`` > 0 also ``explanation`` (JSON list of the
        top-k leaves by attention weight, each ``{"tree", "weight", "rule"}``)."""
        from bacuda_research.metrics.selection import rank_desc

        out = self.predict(df, batch_size)
        frame = pd.DataFrame({
            "sgd.id": np.asarray(df["sgd.id"], dtype=object), "illicit_probability": out["prob"],
            "predicted_revenue": out["revenue"], "rank": rank_desc(out["logit"]),
            "revenue_rank": rank_desc(out["rev_score"]),
        })
        if top_k:
            frame["explanation"] = [json.dumps(e) for e in self.explanations(out, top_k)]
        return frame

    def explanations(self, out: dict[str, np.ndarray], top_k: int) -> list[list[dict]]:
        from bacuda_research.fraud.explain import explain_rows

        return explain_rows(out["weights"], out["leaves"], self.rules, top_k)

    def read(self, path: str | os.PathLike) -> pd.DataFrame:
        """Read and validate a declarations file with the training schema (labels optional)."""
        from bacuda_research.declarations.stored import read_with

        return read_with(self.schema, path)

    def score_file(self, input_path: str | os.PathLike, output_path: str | os.PathLike, top_k: int = 5,
                   batch_size: int = 1024) -> int:
        """Declarations file -> ``.csv``/``.parquet`` table or ``.jsonl`` (one object per row,
        explanations as a ``leaves`` list), written atomically. Returns the number of rows."""
        from bacuda_research.core.io import write_table, write_text

        out_path = Path(output_path)
        suffix = out_path.suffix.lower()
        if suffix not in (".csv", ".parquet", ".jsonl"):
            raise ValueError(f"{out_path}: output must end in .csv, .parquet or .jsonl")
        frame = self.score(self.read(input_path), top_k=top_k, batch_size=batch_size)
        if suffix == ".jsonl":
            expl = frame.pop("explanation") if "explanation" in frame else None
            lines = []
            for i, row in enumerate(frame.itertuples(index=False)):
                obj = {"sgd.id": str(row[0]), "illicit_probability": float(row[1]), "predicted_revenue": float(row[2]),
                       "rank": int(row[3]), "revenue_rank": int(row[4])}
                if expl is not None:
                    obj["leaves"] = json.loads(expl.iloc[i])
                lines.append(json.dumps(obj, ensure_ascii=False))
            write_text(out_path, "".join(line + "\n" for line in lines))
        else:
            write_table(frame, out_path)
        return len(frame)
