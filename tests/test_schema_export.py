"""A DATE run on a declared schema exports, scores without torch and explains like any DATE run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bacuda_research.declarations.example import EXAMPLE_SCHEMA, example_export


@pytest.fixture(scope="module")
def declared_date_run(tmp_path_factory):
    """DATE (1 epoch) on the example export through its schema, and its bundle."""
    from bacuda_research.bundle.export import export_model
    from bacuda_research.core.config import compose
    from bacuda_research.run import run

    root = tmp_path_factory.mktemp("declared_date")
    path = example_export(root / "export.csv", rows=3000, seed=1)
    schema = root / "schema.yaml"
    schema.write_text(EXAMPLE_SCHEMA, encoding="utf-8")
    cfg = compose(["logger=csv", "data=file", f"data.path={path}", f"data.schema={schema}", "model=date",
                   "trainer.max_epochs=1", "threads=1", "trainer.enable_progress_bar=false",
                   f"cache_dir={root / 'cache'}"])
    run(cfg, root / "run")
    export_model(root / "run", root / "bundle")
    return root / "run", root / "bundle", path


def test_the_bundle_carries_the_schema_and_scores_like_the_checkpoint(declared_date_run):
    from bacuda_research.bundle.runtime import load_bundle
    from bacuda_research.declarations.declared import DeclaredSchema
    from bacuda_research.fraud.predictor import DATEPredictor

    run_dir, bundle_dir, path = declared_date_run
    predictor, bundle = DATEPredictor.from_run(run_dir), load_bundle(bundle_dir, threads=1)
    assert isinstance(predictor.schema, DeclaredSchema) and isinstance(bundle.schema, DeclaredSchema)
    assert bundle.schema.digest() == json.loads((run_dir / "report.json").read_text())["schema"]["digest"]
    # a file to score has no label column: the schema's label is optional when scoring
    raw = pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=["INSPECTION_RESULT"])
    unlabelled = path.parent / "new.csv"
    raw.to_csv(unlabelled, index=False)
    want = predictor.score_file(unlabelled)
    got = bundle.score(bundle.read(unlabelled))
    assert list(got["sgd.id"]) == list(want["sgd.id"])
    np.testing.assert_allclose(got["illicit_probability"], want["illicit_probability"], rtol=1e-5, atol=1e-5)
    preds = pd.read_csv(run_dir / "predictions.csv", dtype={"sgd.id": str})
    test = preds[preds.split == "test"].set_index("sgd.id")
    np.testing.assert_allclose(got.set_index("sgd.id").loc[test.index, "illicit_probability"],
                               test["illicit_probability"], atol=1e-5)


def test_bacuda_score_and_explain_on_a_declared_schema_run(declared_date_run, tmp_path):
    from bacuda_research.cli.explain import main as explain_main
    from bacuda_research.cli.score import main as score_main

    run_dir, bundle_dir, path = declared_date_run
    out = tmp_path / "scores.csv"
    assert score_main([str(bundle_dir), str(path), str(out)]) == 0
    assert len(pd.read_csv(out)) == 3000
    expl = tmp_path / "explained.jsonl"
    assert explain_main([str(run_dir), str(path), "--top", "3", "--output", str(expl)]) == 0
    rows = [json.loads(line) for line in expl.read_text().splitlines()]
    assert len(rows) == 3 and all(r["leaves"] and "rule" in r["leaves"][0] for r in rows)


def test_bacuda_eval_reproduces_a_declared_schema_run(declared_date_run, tmp_path):
    from bacuda_research.cli.evaluate import evaluate
    from bacuda_research.core.config import compose

    run_dir, _, path = declared_date_run
    report = json.loads((run_dir / "report.json").read_text())
    cfg = compose([f"model_path={run_dir}", "data=file", f"data.path={path}",
                   f"data.schema={path.parent / 'schema.yaml'}"], config_name="eval")
    ev = evaluate(cfg, tmp_path)
    for key in ("test/precision@1", "test/precision@5", "test/auc"):
        assert ev["metrics"][key] == pytest.approx(report["metrics"][key], abs=1e-9), key
    assert not [k for k in ev["metrics"] if "revenue" in k or "/rev/" in k]
    assert ev["data_sha256"] == report["data_sha256"]
