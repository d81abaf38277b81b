"""bench.revenue: committed baseline runs re-scored (checked against their reports), paired
bootstrap intervals between them, and the precision-revenue trade-off plot."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bacuda_research.bench.revenue import (
    Runs,
    compare_revenue,
    interval_markdown,
    load_scores,
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
                         "predictions_file=preds.csv", *(["scores_file=scores.parquet"] if seed == 1 else []), "model.revenue_given_illicit.n_estimators=20"
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
    png = plot_tradeoff(curves, tmp_path / "t.png", "t")
    assert png.stat().st_size > 1000


def test_a_comparison_reads_each_report_and_scores_file_once(small_runs, monkeypatch):
    import bacuda_research.bench.revenue as rv

    reads = []
    real_report, real_parquet = rv.read_report, pd.read_parquet
    monkeypatch.setattr(rv, "read_report", lambda d: reads.append(("report", str(d))) or real_report(d))
    monkeypatch.setattr(rv.pd, "read_parquet", lambda p: reads.append(("scores", str(p))) or real_parquet(p))
    runs = {"reference": {m: [str(d) for d in ds] for m, ds in small_runs.items()}}
    # one run under two model names, and in a second comparison
    runs["reference"]["expected_again"] = Runs((small_runs["xgb_expected"][1],))
    runs["again"] = {"xgboost": [str(small_runs["xgboost"][1])]}
    compare_revenue(runs, [("xgb_expected", "largest")], n_boot=5)
    assert reads and len(reads) == len(set(reads))
    assert {p for kind, p in reads if kind == "report"} == {str(d) for ds in small_runs.values() for d in ds}


@pytest.fixture(scope="module")
def date_run(tmp_path_factory):
    """A tiny DATE run with its id-free test scores (expected-revenue ranking)."""
    from bacuda_research.core.config import compose

    d = tmp_path_factory.mktemp("date") / "date"
    run(compose(["logger=csv", "data.synthetic.rows=4000", "threads=1", "trainer.max_epochs=1", "seed=0",
                 "predictions_file=preds.csv", "scores_file=test_scores.parquet", "model.revenue_ranking=expected",
                 "model.revenue_given_illicit.n_estimators=20"]), d)
    return d


def test_scores_file_is_id_free_and_matches_the_predictions(date_run):
    scores = pd.read_parquet(date_run / "test_scores.parquet")
    assert list(scores.columns) == ["row", "score", "revenue_score", "revenue_head"]
    preds = pd.read_csv(date_run / "preds.csv")
    test = preds[preds.split == "test"].reset_index(drop=True)
    assert len(scores) == len(test) and (scores["row"] == np.arange(len(test))).all()
    # the logit ranks as the predictions' rank column does
    np.testing.assert_array_equal(scores["score"].rank(ascending=False, method="first").to_numpy(),
                                  test["rank"].to_numpy())
    np.testing.assert_allclose(scores["revenue_score"], test["predicted_revenue"], rtol=1e-9)
    # no identifiers and no labels in it
    assert not any(c in scores.columns for c in ("sgd.id", "illicit", "revenue", "importer.id"))


def test_date_scores_are_checked_against_the_report_and_compared(date_run, small_runs, tmp_path):
    labels = (rescore_run(small_runs["xgboost"][0])["illicit"], rescore_run(small_runs["xgboost"][0])["revenue"])
    cls = load_scores(date_run, "score", labels)
    rev = load_scores(date_run, "revenue_score", labels)
    assert len(cls) == len(rev) == len(labels[0])
    # a scores file that is not the run's (shuffled) is refused
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "report.json").write_text((date_run / "report.json").read_text())
    df = pd.read_parquet(date_run / "test_scores.parquet")
    df["revenue_score"] = df["revenue_score"].sample(frac=1, random_state=0).to_numpy()
    df.to_parquet(bad / "test_scores.parquet")
    with pytest.raises(ValueError, match="recomputed test/rev/"):
        load_scores(bad, "revenue_score", labels)
    runs = {"reference": {"largest": [str(d) for d in small_runs["largest"]],
                          "xgb_expected": Runs(tuple(small_runs["xgb_expected"])),
                          "date_rev": Runs((date_run,), "revenue_score"), "date_cls": Runs((date_run,), "score")}}
    intervals, curves = compare_revenue(runs, [("date_rev", "largest"), ("date_cls", "xgb_expected")], n_boot=30)
    assert set(zip(intervals["a"], intervals["b"])) == {("date_rev", "largest"), ("date_cls", "xgb_expected")}
    assert set(curves["model"]) == {"largest", "xgb_expected", "date_rev", "date_cls"}
