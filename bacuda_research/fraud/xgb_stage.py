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

from bacuda_research.core.io import atomic_path

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
            # a cache folder may be shared: its boosters are checked like a bundle's (booster_check)
            booster = TreeStage.from_raw([path.read_bytes()], feature_names, [str(path)]).boosters[0]
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


def leaves(booster: Any, X: np.ndarray, feature_names: Sequence[str], chunk_rows: int = 1 << 18) -> np.ndarray:
    """Leaf node id reached in each tree. Shape: X (N, F) -> (N, n_trees) int16 (int32 for trees
    with more than 32767 nodes).

    Predicted ``chunk_rows`` rows at a time into one preallocated array: XGBoost returns leaf ids as
    float32, so a single call on 10M rows x 100 trees would hold 4 GB of floats plus the copy.
    """
    import xgboost as xgb

    names = [_safe_name(n) for n in feature_names]
    n_trees = booster.num_boosted_rounds()
    n_nodes = max((int(t.get("num_nodes", 0)) for t in _tree_params(booster)), default=0)
    out = np.empty((len(X), n_trees), dtype=np.int16 if n_nodes <= np.iinfo(np.int16).max else np.int32)
    for start in range(0, len(X), int(chunk_rows)):
        part = X[start:start + int(chunk_rows)]
        ids = booster.predict(xgb.DMatrix(part, feature_names=names), pred_leaf=True)
        out[start:start + len(part)] = ids.reshape(len(part), n_trees)
    return out


def _tree_params(booster: Any) -> list[dict]:
    """Each tree's ``tree_param`` (its node count), read from the model's JSON config."""
    model = json.loads(booster.save_raw("json"))
    return [t["tree_param"] for t in model["learner"]["gradient_booster"]["model"]["trees"]]


class LeafEncoder:
    """Global leaf numbering fitted on training leaves; 0 = a leaf unseen in training.

    ``table[t, node]`` is the global index of node ``node`` of tree ``t``; nodes never reached
    in training map to 0. Encoded leaves are int16 while the indices fit (100 trees of depth 4 have
    at most 1,601), else int32: int64 leaves alone would take 8 GB at 10M rows x 100 trees.
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

    def fit(self, train_leaves: np.ndarray, chunk_rows: int = 1 << 18) -> "LeafEncoder":
        n_trees = train_leaves.shape[1]
        width = int(train_leaves.max()) + 1
        # which nodes each tree reaches, counted chunk by chunk (no sort, no copy of the leaves)
        seen = np.zeros((n_trees, width), dtype=bool)
        offsets = (np.arange(n_trees) * width)[None, :]
        for start in range(0, len(train_leaves), int(chunk_rows)):
            part = train_leaves[start:start + int(chunk_rows)].astype(np.int64) + offsets
            seen |= np.bincount(part.ravel(), minlength=n_trees * width).reshape(n_trees, width) > 0
        table = np.zeros((n_trees, width), dtype=np.int32)
        table[seen] = np.arange(1, int(seen.sum()) + 1, dtype=np.int32)  # row-major: tree by tree
        self.table = table
        return self

    @property
    def dtype(self) -> np.dtype:
        """int16 while every global index fits, else int32."""
        return np.dtype(np.int16 if self.n_leaves - 1 <= np.iinfo(np.int16).max else np.int32)

    def transform(self, node_ids: np.ndarray, chunk_rows: int = 1 << 18) -> np.ndarray:
        """Shape: (N, n_trees) node ids -> (N, n_trees) global indices (``self.dtype``)."""
        node_ids = np.asarray(node_ids)
        table = self.table.astype(self.dtype)
        width = table.shape[1]
        trees = np.arange(self.n_trees)[None, :]
        out = np.empty(node_ids.shape, dtype=self.dtype)
        for start in range(0, len(node_ids), int(chunk_rows)):
            part = node_ids[start:start + int(chunk_rows)]
            inside = (part >= 0) & (part < width)
            out[start:start + len(part)] = np.where(inside, table[trees, np.where(inside, part, 0)], 0)
        return out

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
        #: per tree, True at leaf nodes (set by ``from_raw`` after checking the boosters)
        self.leaf_masks: list[np.ndarray] = []

    def leaves(self, X: np.ndarray) -> np.ndarray:
        return np.concatenate([leaves(b, X, self.feature_names) for b in self.boosters], axis=1)

    def rules(self, binary_features: Sequence[str] = ()) -> dict[tuple[int, int], str]:
        """(global tree, node) -> readable rule, trees numbered across boosters in order."""
        from bacuda_research.fraud.explain import leaf_rules

        out: dict[tuple[int, int], str] = {}
        offset = 0
        for b in self.boosters:
            r = leaf_rules(b, binary_features)
            out.update({(t + offset, n): rule for (t, n), rule in r.items()})
            offset += b.num_boosted_rounds()
        return out

    def leaf_values(self, table: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each booster's leaf values, by global leaf index, and its base margin.

        Shape: table (total trees, width) from ``LeafEncoder``, X (N >= 1, F) a few rows ->
        values (n_leaves, n_boosters) float32 (0 where a leaf belongs to another booster or was
        unseen in training), base (n_boosters,) float64 with, for each booster b and row x,
        ``margin_b(x) = base[b] + sum over its trees of values[leaf, b]``. The base is measured on
        ``X`` (margin minus leaf sum) rather than parsed from ``base_score``, whose meaning and
        format differ across objectives and XGBoost versions.
        """
        import xgboost as xgb

        values = np.zeros((int(table.max()) + 1, len(self.boosters)), dtype=np.float32)
        base = np.zeros(len(self.boosters))
        offset = 0
        node_ids = self.leaves(X[:8])
        for b, booster in enumerate(self.boosters):
            trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
            leaf_sum = np.zeros(len(node_ids))
            for t, tree in enumerate(trees):
                cond = np.asarray(tree["split_conditions"], dtype=np.float64)
                is_leaf = np.asarray(tree["left_children"]) == -1
                row = table[offset + t]
                nodes = np.flatnonzero(is_leaf[: len(row)] & (row[: len(is_leaf)] > 0))
                values[row[nodes], b] = cond[nodes]
                leaf_sum += cond[node_ids[:, offset + t]]
            margin = booster.predict(xgb.DMatrix(X[:8], feature_names=[_safe_name(n) for n in self.feature_names]),
                                     output_margin=True)
            base[b] = float(np.median(margin - leaf_sum))
            offset += len(trees)
        return values, base

    def to_raw(self) -> list[bytes]:
        return [bytes(b.save_raw("ubj")) for b in self.boosters]

    @classmethod
    def from_raw(cls, raws: Sequence[bytes], feature_names: Sequence[str],
                 sources: Sequence[str] | None = None) -> "TreeStage":
        """Boosters from XGBoost JSON/UBJSON bytes, each checked first (``booster_check``: an
        untrusted model can crash or hang XGBoost); ``sources`` name them in errors. The leaf
        masks of all trees, in order, are kept in ``leaf_masks`` for ``check_leaf_table``."""
        import xgboost as xgb

        from bacuda_research.fraud.booster_check import BoosterError, short_message, check_booster, parse_booster

        boosters, masks = [], []
        for i, raw in enumerate(raws):
            source = sources[i] if sources is not None else f"booster {i}"
            model, b = parse_booster(raw, source)  # UBJSON: XGBoost has read it once, here
            masks += check_booster(model, len(feature_names), source)
            if b is None:  # JSON bytes: XGBoost reads them only after the check
                b = xgb.Booster()
                try:
                    b.load_model(bytearray(raw))
                except xgb.core.XGBoostError as e:
                    raise BoosterError(f"{source}: XGBoost refused the model ({short_message(e)})") from None
            boosters.append(b)
        stage = cls(boosters, feature_names)
        stage.leaf_masks = masks
        return stage

    def check_leaf_table(self, table: np.ndarray, n_leaves: int | None, source: str) -> None:
        """Refuse a leaf table that does not match these (checked) boosters (``booster_check``)."""
        from bacuda_research.fraud.booster_check import check_leaf_table

        check_leaf_table(table, self.leaf_masks, n_leaves, source)
