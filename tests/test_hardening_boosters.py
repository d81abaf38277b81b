"""Hardening (issue 18): tampered XGBoost boosters in bundles and checkpoints are refused before
XGBoost predicts with them (it would crash, abort, hang or change scores silently), with one line
naming the file and the tree, exit status 2 and no output written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import rehash_bundle, score_input


def _trees(model: dict) -> list[dict]:
    return model["learner"]["gradient_booster"]["model"]["trees"]


def _inner(tree: dict) -> int:
    """A split node below the root whose left child is a split too (for cycles)."""
    left = tree["left_children"]
    return next(j for j in range(1, len(left)) if left[j] != -1 and left[left[j]] != -1)


def _leaf(tree: dict) -> int:
    return tree["left_children"].index(-1)


# name -> (edit of tree 0, expected message part); what XGBoost 3.2 did with each before the checks:
# segfault (child/feature out of range), abort (negative child), endless loop (self/cycle),
# silently different scores (NaN threshold or leaf value)
TAMPER = {
    "child_out_of_range": (lambda t: t["left_children"].__setitem__(0, 9999), "node 0: left child 9999 out of range"),
    "feature_out_of_range": (lambda t: t["split_indices"].__setitem__(0, 9999), "node 0: split feature 9999 out of range"),
    "negative_child": (lambda t: t["right_children"].__setitem__(0, -7), "node 0: right child -7 out of range"),
    "self_loop": (lambda t: t["left_children"].__setitem__(_inner(t), _inner(t)), "a second time"),
    "cycle": (lambda t: t["left_children"].__setitem__(t["left_children"][_inner(t)], _inner(t)), "a second time"),
    "nan_threshold": (lambda t: t["split_conditions"].__setitem__(0, float("nan")), "node 0: split threshold is not finite"),
    "nan_leaf": (lambda t: t["split_conditions"].__setitem__(_leaf(t), float("inf")), "leaf value is not finite"),
    "short_arrays": (lambda t: t["split_indices"].pop(), "split_indices has"),
}


def _tampered_json(raw: bytes, kind: str) -> bytes:
    model = json.loads(raw)
    TAMPER[kind][0](_trees(model)[0])
    return json.dumps(model).encode()  # NaN/inf written as NaN/Infinity, as XGBoost's own JSON reader accepts


@pytest.mark.parametrize("kind", list(TAMPER))
def test_tampered_booster_in_bundle_is_refused(tiny_date_export, tmp_path, kind, capsys):
    from bacuda_research.cli.score import main as score

    _, report, bundle_dir, _ = tiny_date_export
    bad = tmp_path / "bundle"
    shutil.copytree(bundle_dir, bad)
    (bad / "booster_0.json").write_bytes(_tampered_json((bad / "booster_0.json").read_bytes(), kind))
    rehash_bundle(bad)
    src, out = score_input(report, tmp_path / "in.csv"), tmp_path / "out.csv"
    assert score([str(bad), str(src), str(out), "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "booster_0.json: tree 0" in err and TAMPER[kind][1] in err
    assert not out.exists() and not Path(f"{out}.meta.json").exists() and not list(tmp_path.glob(".out.csv*"))


def test_leaf_table_that_does_not_match_is_refused(tiny_date_export, tmp_path, capsys):
    """A shortened leaf table would map leaves to 'unseen' and change scores silently."""
    from bacuda_research.cli.score import main as score

    _, report, bundle_dir, _ = tiny_date_export
    src = score_input(report, tmp_path / "in.csv")
    for edit, expected in ((lambda t: [row[:-2] for row in t[:-1]], "leaf table of shape"),
                           (lambda t: [[0] * len(t[0])] + t[1:], "not 1.."),
                           (lambda t: [[v * 2 for v in row] for row in t], "not 1..")):
        bad = tmp_path / "bundle"
        shutil.rmtree(bad, ignore_errors=True)
        shutil.copytree(bundle_dir, bad)
        vocab = json.loads((bad / "vocabularies.json").read_text())
        vocab["leaf_table"] = edit(vocab["leaf_table"])
        (bad / "vocabularies.json").write_text(json.dumps(vocab))
        rehash_bundle(bad)
        assert score([str(bad), str(src), str(tmp_path / "o.csv")]) == 2
        err = capsys.readouterr().err
        assert "vocabularies.json" in err and expected in err and not (tmp_path / "o.csv").exists()


def test_checks_accept_every_booster_we_train(tiny_date_export):
    """The untouched bundle and checkpoint load (their boosters and leaf tables pass the checks)."""
    from bacuda_research.bundle.runtime import load_bundle
    from bacuda_research.fraud.predictor import DATEPredictor

    run_dir, _, bundle_dir, _ = tiny_date_export
    bundle = load_bundle(bundle_dir)
    assert len(bundle.stage.leaf_masks) == bundle.encoder.n_trees
    predictor = DATEPredictor.from_run(run_dir)
    assert sum(m.sum() for m in predictor.stage.leaf_masks) >= int((predictor.encoder.table > 0).sum())


def test_booster_check_units():
    """Structure errors found without XGBoost: counts, types and a deep shared node."""
    from bacuda_research.fraud.booster_check import BoosterError, booster_json, check_tree

    tree = {"tree_param": {"num_nodes": "5", "size_leaf_vector": "1"}, "left_children": [1, -1, 3, -1, -1],
            "right_children": [2, -1, 4, -1, -1], "split_indices": [0, 0, 1, 0, 0],
            "split_conditions": [0.5, 1.0, 0.5, -1.0, 2.0], "default_left": [0, 0, 1, 0, 0], "split_type": [0] * 5}
    assert check_tree(tree, 2, "t").tolist() == [False, True, False, True, True]
    shared = json.loads(json.dumps(tree))
    shared["right_children"][2] = 1  # node 1 reached from the root's left and from node 2
    with pytest.raises(BoosterError, match="t: node 2 leads to node 1 a second time"):
        check_tree(shared, 2, "t")
    with pytest.raises(BoosterError, match="split feature 1 out of range"):
        check_tree(tree, 1, "t")
    with pytest.raises(BoosterError, match="f.json: not valid XGBoost JSON"):
        booster_json(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "f.json")  # nested too deeply: one line, no RecursionError
    with pytest.raises(BoosterError, match=r"g.ubj: not an XGBoost model \(Invalid model format"):
        booster_json(b"\x00\x01 not ubjson", "g.ubj")


def test_tampered_booster_in_checkpoint_is_refused(tiny_date_export, tmp_path, capsys):
    """The safe loader passes a checkpoint carrying a bad booster; the booster check stops it
    before bacuda-explain (which would segfault in XGBoost) uses it."""
    import torch
    import xgboost as xgb

    from bacuda_research.cli.explain import main as explain

    run_dir, report, _, _ = tiny_date_export
    ckpt = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    b = xgb.Booster()
    b.load_model(bytearray(ckpt["bacuda"]["boosters_ubj"][0].numpy().tobytes()))
    bad = xgb.Booster()
    bad.load_model(bytearray(_tampered_json(bytes(b.save_raw("json")), "child_out_of_range")))
    raw = bytes(bad.save_raw("ubj"))  # stored as the checkpoint stores boosters: UBJSON
    ckpt["bacuda"]["boosters_ubj"][0] = torch.frombuffer(bytearray(raw), dtype=torch.uint8).clone()
    path = tmp_path / "tampered.ckpt"
    torch.save(ckpt, path)
    src, out = score_input(report, tmp_path / "in.csv"), tmp_path / "e.jsonl"
    assert explain([str(path), str(src), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "booster 0: tree 0: node 0: left child 9999 out of range" in err
    assert not out.exists()
