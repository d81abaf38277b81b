"""Structural checks of an XGBoost model before XGBoost predicts with it (untrusted boosters).

XGBoost loads a tampered model without complaint and then trusts its node arrays in native code:
a child or feature index out of range crashes the process (segmentation fault), a negative child
of a split aborts it, a node that points back up the tree loops for ever, and a NaN threshold or
leaf value silently changes scores. Boosters in bundles and checkpoints are therefore checked here,
in Python, from their JSON form, before ``Booster.predict`` or ``trees_to_dataframe`` ever run:

- the model is a single-target ``gbtree`` with numerical splits only (what bacuda trains) and
  declares as many features as the feature list it is used with;
- every tree's arrays have ``num_nodes`` entries; a node is a leaf (both children -1) or a split
  (both children in ``1 .. num_nodes - 1``); the nodes reached from the root form a tree (each
  reached once: no cycle, no self-loop, no shared child);
- split features index the feature list; thresholds, leaf values and the base score are finite;
- ``check_leaf_table``: the leaf numbering of a bundle or checkpoint matches its boosters (one row
  per tree, global indices 1..K on leaves only, K + 1 = the network's leaf embedding rows).

Each refusal is a ``BoosterError`` (a ``ValueError``) naming the file or checkpoint and the tree.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

import numpy as np

# a larger tree is not a model we trained (depth <= 20 in any config): refuse before walking it
MAX_NODES = 1 << 21


class BoosterError(ValueError):
    """A booster was refused before XGBoost used it; the message names the source and the tree."""


def booster_json(raw: bytes, source: str) -> dict[str, Any]:
    """The model of ``raw`` (XGBoost JSON or UBJSON bytes) as parsed JSON (see ``parse_booster``)."""
    return parse_booster(raw, source)[0]


def parse_booster(raw: bytes, source: str) -> tuple[dict[str, Any], Any]:
    """The model of ``raw`` (XGBoost JSON or UBJSON bytes) as parsed JSON, and the XGBoost
    ``Booster`` that read it (None for JSON bytes, which XGBoost has not read yet).

    UBJSON goes through XGBoost's own reader (loading does not walk the trees; only prediction
    does) and back out as JSON; that booster is handed back so the caller does not load the model a
    second time. Nothing predicts before ``check_booster`` passes.
    """
    text, booster = bytes(raw), None
    if not (text[:1] == b"{" and text[1:2] in (b'"', b"}", b" ", b"\n", b"\r", b"\t")):  # UBJSON: '{' + a type marker
        import xgboost as xgb

        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(text))
            text = bytes(booster.save_raw("json"))
        except xgb.core.XGBoostError as e:
            raise BoosterError(f"{source}: not an XGBoost model ({short_message(e)})") from None
    try:
        model = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BoosterError(f"{source}: not valid XGBoost JSON ({type(e).__name__})") from None
    if not isinstance(model, dict):
        raise BoosterError(f"{source}: not an XGBoost model (top level is not an object)")
    return model, booster


def short_message(e: BaseException, n: int = 80) -> str:
    """XGBoost's first message line without its "[time] file.cc:line:" prefix, cut to ``n`` characters."""
    import re

    s = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    s = re.sub(r"^\[[\d:]+\]\s+\S+:\d+:\s*", "", s)
    return s if len(s) <= n else s[:n] + "..."


def _get(obj: Any, path: Sequence[str], source: str) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            raise BoosterError(f"{source}: not a bacuda XGBoost model (no {'/'.join(path)})")
        obj = obj[key]
    return obj


def _int(value: Any, what: str, source: str) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise BoosterError(f"{source}: {what} is not an integer") from None
    return out


def _float(value: Any) -> float:
    """A float from XGBoost's number or ``"[1.5E-1]"`` string form (NaN when unreadable)."""
    if isinstance(value, str):
        value = value.strip().strip("[]")
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def check_booster(model: dict[str, Any], n_features: int, source: str) -> list[np.ndarray]:
    """Refuse a model XGBoost could crash, hang on, or silently misuse; return each tree's leaf
    mask (``mask[node]`` True for a leaf; its length is the tree's node count)."""
    learner = _get(model, ("learner",), source)
    params = _get(learner, ("learner_model_param",), source)
    if _int(params.get("num_feature"), "num_feature", source) != n_features:
        raise BoosterError(f"{source}: the model has {params.get('num_feature')!r:.20} features, "
                           f"the feature list {n_features}")
    if _int(params.get("num_class", 0), "num_class", source) > 1 or _int(params.get("num_target", 1), "num_target", source) != 1:
        raise BoosterError(f"{source}: multi-class or multi-target models are not bacuda models")
    names = learner.get("feature_names") or []
    if not isinstance(names, list) or len(names) not in (0, n_features):
        raise BoosterError(f"{source}: {len(names) if isinstance(names, list) else '?'} feature names, "
                           f"the feature list has {n_features}")
    if not math.isfinite(_float(params.get("base_score", 0.0))):
        raise BoosterError(f"{source}: base_score is not a finite number")
    booster = _get(learner, ("gradient_booster",), source)
    if booster.get("name") != "gbtree":
        raise BoosterError(f"{source}: booster type {str(booster.get('name'))[:20]!r} is not gbtree")
    trees = _get(booster, ("model", "trees"), source)
    if not isinstance(trees, list) or not trees:
        raise BoosterError(f"{source}: the model has no trees")
    gbtree = _get(booster, ("model", "gbtree_model_param"), source)
    if _int(gbtree.get("num_trees"), "num_trees", source) != len(trees):
        raise BoosterError(f"{source}: num_trees says {gbtree.get('num_trees')!r:.20}, the model has {len(trees)} trees")
    info = booster["model"].get("tree_info", [])
    if not isinstance(info, list) or len(info) != len(trees) or any(i != 0 for i in info):
        raise BoosterError(f"{source}: tree_info does not describe {len(trees)} single-target trees")
    return [check_tree(tree, n_features, f"{source}: tree {t}") for t, tree in enumerate(trees)]


def check_tree(tree: Any, n_features: int, where: str) -> np.ndarray:
    """One tree's node arrays (see the module docstring); returns its leaf mask."""
    if not isinstance(tree, dict):
        raise BoosterError(f"{where}: not a tree object")
    n = _int(_get(tree, ("tree_param", "num_nodes"), where), "num_nodes", where)
    if not 1 <= n <= MAX_NODES:
        raise BoosterError(f"{where}: num_nodes {n} out of range (1..{MAX_NODES})")
    if str(_get(tree, ("tree_param",), where).get("size_leaf_vector", "1")) not in ("0", "1"):
        raise BoosterError(f"{where}: vector leaves are not used by bacuda models")
    arrays = {}
    for key in ("left_children", "right_children", "split_indices", "split_conditions", "default_left"):
        values = tree.get(key)
        if not isinstance(values, list) or len(values) != n:
            got = len(values) if isinstance(values, list) else "no"
            raise BoosterError(f"{where}: {key} has {got} entries, num_nodes is {n}")
        try:
            arrays[key] = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise BoosterError(f"{where}: {key} holds non-numbers") from None
    split_type = tree.get("split_type", [])
    if any(s != 0 for s in split_type) or tree.get("categories_nodes"):
        raise BoosterError(f"{where}: categorical splits are not used by bacuda models")
    left, right = arrays["left_children"], arrays["right_children"]
    for key in ("left_children", "right_children", "split_indices"):
        a = arrays[key]
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise BoosterError(f"{where}: {key} holds non-integers")
    leaf = left == -1
    bad = np.flatnonzero(leaf != (right == -1))
    if bad.size:
        raise BoosterError(f"{where}: node {bad[0]} has one child -1 and the other not")
    for key, a in (("left", left), ("right", right)):
        bad = np.flatnonzero(~leaf & ((a < 1) | (a >= n)))
        if bad.size:
            j = int(bad[0])
            raise BoosterError(f"{where}: node {j}: {key} child {int(a[j])} out of range (1..{n - 1})")
    feats = arrays["split_indices"]
    bad = np.flatnonzero(~leaf & ((feats < 0) | (feats >= n_features)))
    if bad.size:
        j = int(bad[0])
        raise BoosterError(f"{where}: node {j}: split feature {int(feats[j])} out of range (0..{n_features - 1})")
    bad = np.flatnonzero(~np.isfinite(arrays["split_conditions"]))
    if bad.size:
        j = int(bad[0])
        raise BoosterError(f"{where}: node {j}: {'leaf value' if leaf[j] else 'split threshold'} is not finite")
    if not np.all(np.isin(arrays["default_left"], (0, 1))):
        raise BoosterError(f"{where}: default_left holds values other than 0/1")
    _check_reachable_tree(left.astype(np.int64), right.astype(np.int64), leaf, where)
    return leaf


def _check_reachable_tree(left: np.ndarray, right: np.ndarray, leaf: np.ndarray, where: str) -> None:
    """The nodes reached from the root are each reached once (no cycle, self-loop, shared child)."""
    seen = np.zeros(len(left), dtype=bool)
    seen[0] = True
    stack = [0]
    while stack:
        j = stack.pop()
        if leaf[j]:
            continue
        for child in (int(left[j]), int(right[j])):
            if seen[child]:
                raise BoosterError(f"{where}: node {j} leads to node {child} a second time "
                                   "(a cycle or shared node: not a tree)")
            seen[child] = True
            stack.append(child)


def check_leaf_table(table: np.ndarray, leaf_masks: Sequence[np.ndarray], n_leaves: int | None,
                     source: str) -> None:
    """The global leaf numbering matches the boosters: one row per tree, indices 1..K numbered
    row by row on leaf nodes only (0 = unseen in training), and K + 1 = ``n_leaves`` (the
    network's leaf embedding rows) when given. A shortened or edited table is refused here
    rather than mapping leaves to "unseen" and changing scores silently."""
    table = np.asarray(table)
    if table.ndim != 2 or table.shape[0] != len(leaf_masks):
        raise BoosterError(f"{source}: leaf table of shape {table.shape}, the boosters have {len(leaf_masks)} trees")
    if table.size and table.min() < 0:
        raise BoosterError(f"{source}: negative leaf index in the leaf table")
    nonzero = table[table > 0]  # row-major order
    k = int(nonzero.size)
    if not np.array_equal(nonzero, np.arange(1, k + 1)):
        raise BoosterError(f"{source}: leaf table indices are not 1..{k} numbered tree by tree")
    if n_leaves is not None and k + 1 != int(n_leaves):
        raise BoosterError(f"{source}: the leaf table numbers {k} leaves, the network embeds {int(n_leaves) - 1}")
    for t, mask in enumerate(leaf_masks):
        cols = np.flatnonzero(table[t])
        if cols.size and cols[-1] >= len(mask):
            raise BoosterError(f"{source}: leaf table row {t} names node {int(cols[-1])}, tree {t} has {len(mask)} nodes")
        if cols.size and not np.all(mask[cols]):
            raise BoosterError(f"{source}: leaf table row {t} numbers a split node of tree {t}, not a leaf")
