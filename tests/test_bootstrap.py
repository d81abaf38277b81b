"""Paired bootstrap intervals over test declarations (metrics.bootstrap)."""

from __future__ import annotations

import numpy as np

from bacuda_research.metrics.bootstrap import paired_bootstrap, resampled_metrics
from bacuda_research.metrics.selection import top_percent_metrics


def _data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    illicit = (rng.random(n) < 0.1).astype(float)
    revenue = illicit * rng.lognormal(3.0, 2.0, n)
    return illicit, revenue, rng


def test_a_model_against_itself_differs_by_exactly_zero():
    illicit, revenue, rng = _data()
    s = rng.random(len(illicit))
    out = paired_bootstrap(s, s, illicit, revenue, n_boot=50)
    assert set(out) == {f"{m}@{p}" for m in ("precision", "revenue") for p in (1, 2, 5, 10)}
    assert all(v["diff"] == v["lo"] == v["hi"] == v["mean"] == 0.0 and v["p_a_ahead"] == 0 for v in out.values())


def test_observed_difference_is_the_metrics_difference_and_seed_runs_average():
    illicit, revenue, rng = _data()
    a = [illicit + rng.random(len(illicit)) for _ in range(3)]  # informative, three "seeds"
    b = rng.random(len(illicit))
    out = paired_bootstrap(a, b, illicit, revenue, percents=(5,), n_boot=200, seed=1)
    ma = np.mean([top_percent_metrics(s, illicit, revenue, (5,))["precision@5"] for s in a])
    mb = top_percent_metrics(b, illicit, revenue, (5,))["precision@5"]
    assert out["precision@5"]["diff"] == ma - mb
    # a near-perfect ranker beats a random one on every resample
    assert out["precision@5"]["lo"] > 0.5 and out["precision@5"]["p_a_ahead"] == 1.0
    assert out["revenue@5"]["lo"] > 0


def test_interval_covers_noise_and_is_reproducible():
    illicit, revenue, rng = _data()
    a, b = rng.random(len(illicit)), rng.random(len(illicit))  # two random rankers: no real difference
    one = paired_bootstrap(a, b, illicit, revenue, n_boot=300, seed=3)
    assert one == paired_bootstrap(a, b, illicit, revenue, n_boot=300, seed=3)
    assert all(v["lo"] <= v["mean"] <= v["hi"] for v in one.values())
    # 95% intervals for pairs of random rankers cover the true difference, 0, about 19 times in 20
    covered = 0
    for k in range(20):
        illicit, revenue, rng = _data(n=2000, seed=100 + k)
        a, b = rng.random(len(illicit)), rng.random(len(illicit))
        v = paired_bootstrap(a, b, illicit, revenue, percents=(10,), n_boot=200, seed=k)["precision@10"]
        covered += v["lo"] < 0 < v["hi"]
    assert covered >= 16


def test_all_models_share_the_resamples():
    illicit, revenue, rng = _data(n=500)
    s = rng.random(len(illicit))
    keys, observed, resampled = resampled_metrics({"x": s, "y": s.copy(), "z": [s, s]}, illicit, revenue, n_boot=20)
    assert np.array_equal(resampled["x"], resampled["y"]) and np.array_equal(resampled["x"], resampled["z"])
    assert resampled["x"].shape == (20, len(keys)) and observed["x"].shape == (len(keys),)
