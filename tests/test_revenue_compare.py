"""bench.revenue: committed baseline runs re-scored (checked against their reports), paired
bootstrap intervals between them, and the precision-revenue trade-off plot."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bacuda_research.bench.revenue import (
    compare_revenue,
    date_points,
    interval_markdown,
    plot_tradeoff,
    rescore_run,
)
from bacuda_research.run import run


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    from bacuda_research.core.config import compose

    root = tmp_path_factory.mktemp("rev")
    runs = {}
    for model in ("largest", "xgb_expected", "xgboost"):
        runs[model] = []
        for seed in (0, 1):
            d = root / f"{model}-s{seed}"
            run(compose(["logger=csv", "data.synthetic.rows=4000", f"model={model}", f"seed={seed}", "threads=1",
                         "predictions_file=preds.csv", "model.revenue_given_illicit.n_estimators=20"
                         if model == "xgb_expected" else "model.percents=[1,2,5,10]"]), d)
            runs[model].append(d)
    return runs


def test_rescored_scores_are_the_runs_and_a_changed_report_is_refused(small_runs, tmp_path):
    d = small_runs["xgb_expected"][1]
    out = rescore_run(d)
    preds = pd.read_csv(d / "preds.csv")
    np.testing.assert_allclose(out["scores"], preds.loc[preds.split == "test", "illicit_probability"], rtol=1e-6)
    bad = tmp_path / "bad"
    bad.mkdir()
    rep = json.loads((d / "report.json").read_text())
    rep["metrics"]["test/revenue@5"] += 0.01
    (bad / "report.json").write_text(json.dumps(rep))
    with pytest.raises(ValueError, match="re-scored test/revenue@5"):
        rescore_run(bad)


def test_compare_revenue_writes_intervals_curves_and_plot(small_runs, tmp_path):
    runs = {"reference": {m: [str(d) for d in ds] for m, ds in small_runs.items()}}
    intervals, curves = compare_revenue(runs, [("xgb_expected", "largest"), ("xgb_expected", "xgboost")], n_boot=50)
    assert len(intervals) == 2 * 8 and set(intervals["metric"]) >= {"revenue@1", "precision@10"}
    assert (intervals["lo"] <= intervals["hi"]).all()
    assert sorted(set(curves["percent"])) == list(range(1, 21)) and set(curves["model"]) == set(small_runs)
    # largest is seed-independent: its two runs count as one score vector
    assert curves[curves.model == "largest"]["runs"].iloc[0] == 2
    md = interval_markdown(intervals, "t")
    assert "| reference | xgb_expected | largest |" in md and "Rev@5" in md
    png = plot_tradeoff(curves, date_points([]), tmp_path / "t.png", "t")
    assert png.stat().st_size > 1000
