"""Export bundles of DATE and torch-free scoring: ONNX parity, bundle = trained model, refusal of
tampered/truncated bundles and the CLIs (HS bundles and scoring with torch unimportable: test_export_hs.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_DATE_FILE, shared_file


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def date_run(tiny_date_export):
    """A DATE run (1 epoch, two boosters, dense branch) and its bundle (one per session: conftest)."""
    return tiny_date_export


def _frame(schema, raw: pd.DataFrame) -> pd.DataFrame:
    from bacuda_research.declarations.schema import validate_declarations

    return validate_declarations(raw.astype(str), "<memory>", schema)


def assert_same_ranks(rank_a: np.ndarray, rank_b: np.ndarray, scores: np.ndarray, tol: float = 1e-5) -> None:
    """Ranks agree except between rows whose scores are within ``tol`` of each other."""
    by_rank = np.empty(len(scores))
    by_rank[rank_a - 1] = scores
    differ = np.flatnonzero(rank_a != rank_b)
    gaps = np.abs(by_rank[rank_a[differ] - 1] - by_rank[rank_b[differ] - 1])
    assert (gaps <= 2 * tol).all(), f"{len(differ)} rows ranked differently, largest score gap {gaps.max():.2e}"


# -- DATE ----------------------------------------------------------------------------------------
def test_date_onnx_matches_pytorch_on_random_and_real_inputs(date_run):
    from bacuda_research.bundle.date_export import random_inputs, torch_outputs
    from bacuda_research.fraud.predictor import DATEPredictor
    from bacuda_research.bundle.runtime import load_bundle

    run_dir, report, bundle_dir, manifest = date_run
    assert max(manifest["parity"]["max_abs_diff"].values()) <= 1e-5
    predictor, bundle = DATEPredictor.from_run(run_dir), load_bundle(bundle_dir, threads=1)
    n_trees = predictor.encoder.n_trees
    real = {k: v.numpy() for k, v in predictor.inputs(_frame(predictor.schema, pd.read_csv(report["data"]["path"]))).items()}
    cases = [random_inputs(predictor.net, n_trees, n, seed=n) for n in (1, 3, 700)] + [real]
    for x in cases:  # dynamic batch: 1, 3, 700 and all 3000 real rows in batches of 1024
        want = torch_outputs(predictor.net, x)
        got = bundle.run(x, batch_size=1024)
        for name, g, w in zip(("logit", "revenue_score", "leaf_weights"), got, want):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-5, err_msg=name)


def test_date_bundle_scores_equal_the_trained_model(date_run):
    from bacuda_research.fraud.predictor import DATEPredictor
    from bacuda_research.bundle.runtime import load_bundle

    run_dir, report, bundle_dir, _ = date_run
    predictor, bundle = DATEPredictor.from_run(run_dir), load_bundle(bundle_dir)
    df = _frame(predictor.schema, pd.read_csv(report["data"]["path"]))
    want, got = predictor.score(df), bundle.score(df, top_k=3)
    assert list(got["sgd.id"]) == list(want["sgd.id"])
    for col in ("illicit_probability", "predicted_revenue"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-5, atol=1e-5, err_msg=col)
    logits = predictor.predict(df)["logit"]
    assert_same_ranks(want["rank"].to_numpy(), got["rank"].to_numpy(), logits)
    # the run's own test predictions (written at training time) are reproduced by the bundle
    preds = pd.read_csv(run_dir / "predictions.csv")
    test = preds[preds.split == "test"].set_index("sgd.id")
    np.testing.assert_allclose(got.set_index("sgd.id").loc[test.index, "illicit_probability"],
                               test["illicit_probability"], atol=1e-5)
    # explanations: the same leaves and rules as the checkpoint's
    want_expl = predictor.explain(df.head(20), top_k=3)
    got_expl = [json.loads(e) for e in got["explanation"].head(20)]
    assert [[leaf["rule"] for leaf in e["leaves"]] for e in want_expl] == [[leaf["rule"] for leaf in e] for e in got_expl]


def test_date_bundle_handles_unknown_importers_codes_and_leaves(date_run):
    from bacuda_research.bundle.runtime import load_bundle

    _, report, bundle_dir, _ = date_run
    bundle = load_bundle(bundle_dir)
    odd = pd.read_csv(report["data"]["path"]).head(6)
    odd["importer.id"] = "IMP-NEVER-SEEN"
    odd["tariff.code"] = 9999999999
    df = _frame(bundle.schema, odd)
    x = bundle.inputs(df)
    assert (x["importer"] == 0).all() and (x["item"] == 0).all()
    out = bundle.score(df, top_k=2)
    assert out["illicit_probability"].between(0, 1).all() and np.isfinite(out["predicted_revenue"]).all()
    # a node id beyond the leaf table (never reached in training) maps to leaf 0, scored and explained
    assert (bundle.encoder.transform(np.full((2, bundle.encoder.n_trees), 10_000)) == 0).all()
    x["leaves"][:] = 0
    logit, rev, w = bundle.run(x)
    assert np.isfinite(logit).all() and np.isfinite(rev).all()
    expl = bundle.explanations({"weights": w, "leaves": x["leaves"]}, 1)
    assert expl[0][0]["rule"] == "a leaf never reached in training"


def test_date_input_is_validated_with_the_training_errors(date_run, tmp_path):
    from bacuda_research.declarations.schema import DataValidationError, load_declarations
    from bacuda_research.bundle.runtime import load_bundle

    _, report, bundle_dir, _ = date_run
    bundle = load_bundle(bundle_dir)
    raw = pd.read_csv(report["data"]["path"], dtype=str).head(20)
    raw.loc[3, "quantity"] = "-4"
    bad = tmp_path / "bad.csv"
    raw.drop(columns=["illicit", "revenue"]).to_csv(bad, index=False)
    with pytest.raises(DataValidationError) as training_err:
        load_declarations(bad, bundle.schema)
    with pytest.raises(DataValidationError) as scoring_err:
        bundle.score_file(bad, tmp_path / "out.csv")
    assert str(scoring_err.value) == str(training_err.value)
    assert "quantity" in str(scoring_err.value) and "row(s) 4" in str(scoring_err.value)
    assert not (tmp_path / "out.csv").exists()


def test_date_cli_export_and_score(date_run, tmp_path, capsys):
    from bacuda_research.cli.export import main as export_main
    from bacuda_research.cli.score import main as score_main

    run_dir, report, bundle_dir, _ = date_run
    # an existing non-empty folder is not overwritten without --overwrite
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.txt").write_text("keep")
    assert export_main([str(run_dir / "checkpoints" / "best.ckpt"), str(tmp_path / "taken")]) == 2
    assert "not empty" in capsys.readouterr().err and (tmp_path / "taken" / "x.txt").exists()
    src = tmp_path / "new.csv"
    pd.read_csv(report["data"]["path"]).drop(columns=["illicit", "revenue"]).head(300).to_csv(src, index=False)
    for name in ("s.csv", "s.parquet", "s.jsonl"):
        assert score_main([str(bundle_dir), str(src), str(tmp_path / name), "--top-k", "2", "--threads", "1"]) == 0
    table = pd.read_parquet(tmp_path / "s.parquet")
    assert list(table.columns) == ["sgd.id", "illicit_probability", "predicted_revenue", "rank", "revenue_rank",
                                   "explanation"]
    assert sorted(table["rank"]) == list(range(1, 301))
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert len(rows) == 300 and len(rows[0]["leaves"]) == 2 and {"tree", "weight", "rule"} == set(rows[0]["leaves"][0])
    assert pd.read_csv(tmp_path / "s.csv")["illicit_probability"].tolist() == pytest.approx(
        table["illicit_probability"].tolist(), abs=1e-12)
    assert score_main([str(bundle_dir), str(tmp_path / "missing.csv"), str(tmp_path / "o.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err


def test_manifest_and_model_card(date_run):
    run_dir, report, bundle_dir, manifest = date_run
    assert manifest["kind"] == "date" and manifest["format"] == "bacuda-bundle/1"
    t = manifest["training"]
    assert t["metrics"] == report["metrics"] and t["data_sha256"] == report["data_sha256"]
    assert t["config"]["model"]["name"] == "date" and t["checkpoint"]["file"] == "best.ckpt"
    for lib in ("onnxruntime", "onnx", "torch", "numpy", "pandas", "tokenizers"):
        assert lib in manifest["versions"]
    assert "xgboost" in manifest["versions"] or "xgboost-cpu" in manifest["versions"]
    files = set(manifest["files"])
    assert {"model.onnx", "weights.safetensors", "booster_0.json", "booster_1.json", "features.json",
            "vocabularies.json", "scoring.json", "leaf_rules.json", "MODEL_CARD.md"} == files
    card = (bundle_dir / "MODEL_CARD.md").read_text()
    for section in ("## Intended use", "## Data", "## Metrics", "## Limits", report["data_sha256"]):
        assert section in card
    # no pickle anywhere: only JSON, ONNX, safetensors and Markdown, each readable as such
    from safetensors.numpy import load_file

    assert all(f.endswith((".json", ".onnx", ".safetensors", ".md")) for f in files)
    assert not list(bundle_dir.parent.glob(".bundle.tmp-*"))  # the staging folder was renamed, not left over
    weights = load_file(bundle_dir / "weights.safetensors")
    assert weights["leaf_embedding.weight"].shape[0] == manifest["model"]["leaves"]
    for f in files:
        if f.endswith(".json"):
            json.loads((bundle_dir / f).read_text())


@pytest.mark.parametrize("damage", ["modify", "truncate", "delete", "extra"])
def test_damaged_bundle_is_refused_naming_the_file(date_run, tmp_path, damage, capsys):
    from bacuda_research.cli.score import main as score_main
    from bacuda_research.bundle.format import BundleError
    from bacuda_research.bundle.runtime import load_bundle

    _, report, bundle_dir, _ = date_run
    bad = tmp_path / "bundle"
    shutil.copytree(bundle_dir, bad)
    target, expected = {
        "modify": ("booster_0.json", "booster_0.json: sha256 does not match"),
        "truncate": ("model.onnx", "model.onnx: truncated"),
        "delete": ("vocabularies.json", "vocabularies.json: missing"),
        "extra": ("extra.pkl", "extra.pkl: not listed in the manifest"),
    }[damage]
    path = bad / target
    if damage == "modify":
        data = bytearray(path.read_bytes())
        i = data.index(b'"split_conditions":[') + len(b'"split_conditions":[')
        data[i] = ord("9") if data[i] != ord("9") else ord("8")  # one digit of a split threshold
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "delete":
        path.unlink()
    else:
        path.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(BundleError, match=expected.replace(".", r"\.")):
        load_bundle(bad)
    src = tmp_path / "in.csv"
    pd.read_csv(report["data"]["path"]).head(5).to_csv(src, index=False)
    assert score_main([str(bad), str(src), str(tmp_path / "out.csv")]) == 2
    assert target in capsys.readouterr().err and not (tmp_path / "out.csv").exists()


def test_bundle_writing_is_atomic_and_refuses_other_file_types(tmp_path):
    from bacuda_research.bundle.format import BundleError, read_manifest, write_bundle

    def boom(folder: Path) -> dict:
        (folder / "model.onnx").write_bytes(b"partial")
        raise RuntimeError("export failed half-way")

    with pytest.raises(RuntimeError):
        write_bundle(tmp_path / "b", "date", boom)
    assert not (tmp_path / "b").exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(BundleError, match="weights.pt"):
        write_bundle(tmp_path / "b", "date", lambda f: (f / "weights.pt").write_bytes(b"x") and {})
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()  # an empty folder may be the target
    manifest = write_bundle(tmp_path / "empty", "hs", lambda f: (f / "a.json").write_text("{}") and {"x": 1})
    assert read_manifest(tmp_path / "empty") == manifest and manifest["files"]["a.json"]["bytes"] == 2


# -- shared data ---------------------------------------------------------------------------------
@pytest.mark.shared
def test_bundle_equals_trained_model_on_shared_test_split(date_run):
    """The tiny model's bundle and checkpoint score the shared file's test split (>= 2013-11-01) alike.

    The full-size figure (a model trained on the shared file) comes from scripts/export_parity.py.
    """
    from bacuda_research.declarations.schema import load_declarations
    from bacuda_research.fraud.predictor import DATEPredictor
    from bacuda_research.bundle.runtime import load_bundle

    path = shared_file(SHARED_DATE_FILE)
    run_dir, _, bundle_dir, _ = date_run
    predictor, bundle = DATEPredictor.from_run(run_dir), load_bundle(bundle_dir)
    df = load_declarations(path, predictor.schema)
    df = df[df["sgd.date"] >= "2013-11-01"].reset_index(drop=True)
    want, got = predictor.predict(df), bundle.predict(df)
    np.testing.assert_allclose(got["prob"], want["prob"], atol=1e-5)
    np.testing.assert_allclose(got["revenue"], want["revenue"], rtol=1e-5, atol=1e-5)
    from bacuda_research.metrics.selection import rank_desc

    assert_same_ranks(rank_desc(want["logit"]), rank_desc(got["logit"]), want["logit"])
