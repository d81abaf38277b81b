"""The XGBoost stage, shared by the XGBoost baselines and DATE: a plain function with a cache.

``fit_booster`` trains (or reloads) a booster whose artifact is saved as XGBoost UBJSON (never
pickle), keyed by a hash of the training matrix, labels, parameters and the xgboost version, so a
second run on the same data and config reuses it. ``LeafEncoder`` numbers the leaves reached in
training into one global index space with index 0 reserved for leaves never reached in training.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from bacuda_research.utils.io import atomic_path

log = logging.getLogger("bacuda_research")


def xgb_params(cfg: Mapping[str, Any], objective: str, seed: int, threads: int | None) -> tuple[dict, int]:
    """XGBoost native parameters and the number of rounds from a ``model.xgb`` config block."""
    cfg = dict(cfg)
    rounds = int(cfg.pop("n_estimators", 100))
    params = {"objective": objective, "seed": int(seed), "nthread": int(threads or 0) or None}
    params.update({"max_depth": cfg.pop("max_depth", 4), "eta": cfg.pop("learning_rate", 0.3)})
    params.update(cfg)
    return {k: v for k, v in params.items() if v is not None}, rounds


def _digest(X: np.ndarray, y: np.ndarray, params: Mapping[str, Any], rounds: int, names: Sequence[str]) -> str:
    import xgboost

    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    params = {k: v for k, v in params.items() if k != "nthread"}  # threads do not change the model
    h.update(json.dumps({"p": params, "r": rounds, "n": list(names), "v": xgboost.__version__},
                        sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def fit_booster(X: np.ndarray, y: np.ndarray, params: Mapping[str, Any], rounds: int,
                feature_names: Sequence[str], cache_dir: str | Path | None = None) -> Any:
    """Train an XGBoost booster, or load the cached one trained on identical inputs."""
    import xgboost as xgb

    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "xgb" / f"booster-{_digest(X, y, params, rounds, feature_names)}.ubj"
        if path.exists():
            booster = xgb.Booster()
            booster.load_model(str(path))
            if params.get("nthread"):
                booster.set_param({"nthread": params["nthread"]})
            log.info("XGBoost stage: reused cached booster %s", path.name)
            return booster
    dtrain = xgb.DMatrix(X, label=y, feature_names=[_safe_name(n) for n in feature_names])
    booster = xgb.train(dict(params), dtrain, num_boost_round=rounds)
    if path is not None:
        with atomic_path(path) as tmp:
            booster.save_model(str(tmp))
    return booster


def _safe_name(name: str) -> str:
    # XGBoost forbids '[', ']' and '<' in feature names; ours use none, but be strict
    return name.replace("[", "(").replace("]", ")").replace("<", "lt")


def predict(booster: Any, X: np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(X, feature_names=[_safe_name(n) for n in feature_names]))


def leaves(booster: Any, X: np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    """Leaf node id reached in each tree. Shape: X (N, F) -> (N, n_trees) int32."""
    import xgboost as xgb

    dm = xgb.DMatrix(X, feature_names=[_safe_name(n) for n in feature_names])
    return booster.predict(dm, pred_leaf=True).astype(np.int32).reshape(len(X), -1)


class LeafEncoder:
    """Global leaf numbering fitted on training leaves; 0 = a leaf unseen in training.

    ``table[t, node]`` is the global index of node ``node`` of tree ``t``; nodes never reached
    in training map to 0. Indices are int32 (int64 leaves alone take 8 GB at 10M rows x 100 trees).
    """

    def __init__(self, table: np.ndarray | None = None) -> None:
        self.table = table

    @property
    def n_leaves(self) -> int:
        """Embedding rows needed: the largest index + 1 (index 0 included)."""
        return int(self.table.max()) + 1

    @property
    def n_trees(self) -> int:
        return int(self.table.shape[0])

    def fit(self, train_leaves: np.ndarray) -> "LeafEncoder":
        n_trees = train_leaves.shape[1]
        width = int(train_leaves.max()) + 1
        table = np.zeros((n_trees, width), dtype=np.int32)
        nxt = 1
        for t in range(n_trees):
            seen = np.unique(train_leaves[:, t])
            table[t, seen] = np.arange(nxt, nxt + len(seen), dtype=np.int32)
            nxt += len(seen)
        self.table = table
        return self

    def transform(self, node_ids: np.ndarray) -> np.ndarray:
        """Shape: (N, n_trees) node ids -> (N, n_trees) int32 global indices."""
        node_ids = np.asarray(node_ids)
        inside = node_ids < self.table.shape[1]
        clipped = np.where(inside, node_ids, 0)
        out = self.table[np.arange(self.n_trees)[None, :], clipped]
        return np.where(inside, out, 0).astype(np.int32)

    def to_list(self) -> list[list[int]]:
        return self.table.tolist()

    @classmethod
    def from_list(cls, table: list[list[int]]) -> "LeafEncoder":
        return cls(np.asarray(table, dtype=np.int32))


class TreeStage:
    """One or more boosters whose leaves, side by side, form DATE's tree-aware input.

    DATE uses the illicit classifier's trees; a revenue regressor's trees may be added
    (``model.xgb_revenue``) so that leaves also encode revenue-relevant crosses.
    Shape: ``leaves(X)`` (N, F) -> (N, total trees) node ids.
    """

    def __init__(self, boosters: Sequence[Any], feature_names: Sequence[str]) -> None:
        self.boosters, self.feature_names = list(boosters), list(feature_names)

    def leaves(self, X: np.ndarray) -> np.ndarray:
        return np.concatenate([leaves(b, X, self.feature_names) for b in self.boosters], axis=1)

    def rules(self, binary_features: Sequence[str] = ()) -> dict[tuple[int, int], str]:
        """(global tree, node) -> readable rule, trees numbered across boosters in order."""
        from bacuda_research.models.explain import leaf_rules

        out: dict[tuple[int, int], str] = {}
        offset = 0
        for b in self.boosters:
            r = leaf_rules(b, binary_features)
            out.update({(t + offset, n): rule for (t, n), rule in r.items()})
            offset += b.num_boosted_rounds()
        return out

    def to_raw(self) -> list[bytes]:
        return [bytes(b.save_raw("ubj")) for b in self.boosters]

    @classmethod
    def from_raw(cls, raws: Sequence[bytes], feature_names: Sequence[str]) -> "TreeStage":
        import xgboost as xgb

        boosters = []
        for raw in raws:
            b = xgb.Booster()
            b.load_model(bytearray(raw))
            boosters.append(b)
        return cls(boosters, feature_names)
