"""The revenue baselines every revenue claim is measured against: ``largest`` and ``xgb_expected``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bacuda_research.fraud.baselines import LargestBaseline, build_baseline
from bacuda_research.fraud.datamodule import Split
from bacuda_research.run import run


def _split(frame: pd.DataFrame) -> Split:
    n = len(frame)
    return Split(frame=frame, X=np.zeros((n, 1), np.float32), illicit=np.zeros(n, np.float32), revenue=np.zeros(n))


def test_largest_ranks_by_taxes_and_missing_amounts_come_last():
    frame = pd.DataFrame({"total.taxes": [5.0, np.nan, 50.0, 0.0], "cif.value": [1e6, 1e6, 1.0, 1.0]})
    model = LargestBaseline().fit(_split(frame))
    scores, revenue = model.predict(_split(frame))
    assert model.column == "total.taxes" and revenue is None
    assert list(np.argsort(-scores, kind="stable")) == [2, 0, 3, 1]


def test_largest_falls_back_to_value_without_taxes_and_refuses_without_either():
    frame = pd.DataFrame({"cif.value": [3.0, 1.0, 2.0]})
    model = LargestBaseline(by="taxes").fit(_split(frame))
    assert model.column == "cif.value"
    np.testing.assert_array_equal(model.predict(_split(frame))[0], [3.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="neither role 'taxes' nor 'value'"):
        LargestBaseline().fit(_split(pd.DataFrame({"quantity": [1.0]})))
    with pytest.raises(ValueError, match="model.by='size'"):
        build_baseline("largest", by="size")


def test_largest_run_ranks_exactly_by_total_taxes(compose_small, tmp_path):
    rep = run(compose_small("model=largest", "predictions_file=preds.parquet"), tmp_path / "run")
    preds = pd.read_parquet(tmp_path / "run" / "preds.parquet")
    test = preds[preds.split == "test"]
    assert rep["metrics"]["test/revenue@10"] > 0
    from bacuda_research.fraud.task import build_datamodule

    dm = build_datamodule(compose_small("model=largest"))
    dm.setup()
    taxes = dm.splits["test"].frame["total.taxes"].to_numpy()
    np.testing.assert_array_equal(test["illicit_probability"].to_numpy(), taxes)
    # seed-independent: no model, nothing random
    other = run(compose_small("model=largest", "seed=7", "predictions_file=null"), tmp_path / "s7")
    assert {k: v for k, v in other["metrics"].items()} == rep["metrics"]


def test_xgb_expected_is_the_classifier_times_the_regressor_on_illicit_rows(compose_small, tmp_path):
    """Scores = xgboost's probability x E[revenue | illicit] from a regressor fitted on the illicit
    training rows with DATE's revenue_given_illicit settings."""
    from omegaconf import OmegaConf

    from bacuda_research.fraud import xgb_stage
    from bacuda_research.fraud.task import build_datamodule

    cfg = compose_small("model=xgb_expected", "model.revenue_given_illicit.n_estimators=20")
    date_cfg = compose_small("model=date")
    assert OmegaConf.to_container(compose_small("model=xgb_expected").model.revenue_given_illicit) == \
        OmegaConf.to_container(date_cfg.model.revenue_given_illicit)
    assert OmegaConf.to_container(cfg.model.xgb) == OmegaConf.to_container(compose_small("model=xgboost").model.xgb)
    dm = build_datamodule(cfg)
    dm.setup()
    train, test = dm.splits["train"], dm.splits["test"]
    m = OmegaConf.to_container(cfg.model)
    model = build_baseline("xgb_expected", xgb=m["xgb"], revenue_given_illicit=m["revenue_given_illicit"], seed=0,
                           threads=1, feature_names=dm.features.columns).fit(train)
    scores, revenue = model.predict(test)
    prob = build_baseline("xgboost", xgb=m["xgb"], seed=0, threads=1,
                          feature_names=dm.features.columns).fit(train).predict(test)[0]
    params, rounds = xgb_stage.xgb_params(m["revenue_given_illicit"], "reg:squarederror", 0, 1)
    pos = train.illicit == 1
    given = xgb_stage.fit_booster(train.X[pos], train.revenue[pos].astype(np.float64), params, rounds,
                                  dm.features.columns, None)
    expected = prob.astype(np.float64) * np.maximum(xgb_stage.predict(given, test.X, dm.features.columns), 0.0)
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    np.testing.assert_array_equal(scores, revenue)
    assert (scores >= 0).all()


def test_xgb_expected_needs_revenue_and_largest_does_not(compose_small, tmp_path):
    from bacuda_research.declarations.example import EXAMPLE_SCHEMA, example_export

    path = example_export(tmp_path / "export.csv", rows=3000, seed=0)
    schema = tmp_path / "schema.yaml"
    schema.write_text(EXAMPLE_SCHEMA, encoding="utf-8")
    base = ("data=file", f"data.path={path}", f"data.schema={schema}", "predictions_file=null")
    with pytest.raises(ValueError, match="model=xgb_expected needs a revenue column"):
        run(compose_small(*base, "model=xgb_expected"), tmp_path / "x")
    rep = run(compose_small(*base, "model=largest"), tmp_path / "l")  # no taxes role: ranks by value
    assert "test/precision@1" in rep["metrics"] and not [k for k in rep["metrics"] if "revenue" in k]
