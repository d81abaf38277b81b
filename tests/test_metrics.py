"""Selection metrics against a brute-force reference written independently of the implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bacuda_research.metrics import best_threshold, ranking_report, roc_auc, select_top, top_percent_metrics
from bacuda_research.metrics.selection_metric import TopPercentSelection


def brute_force(scores, y, rev, n):
    """The DATE rule spelled out: threshold = (100-n)th percentile by linear interpolation."""
    s = sorted(scores)
    pos = (len(s) - 1) * (100 - n) / 100
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    thr = s[lo] + (s[hi] - s[lo]) * (pos - lo)
    sel = [i for i in range(len(scores)) if scores[i] > thr]
    tp = sum(y[i] for i in sel)
    p = tp / len(sel) if sel else 0.0
    r = tp / sum(y) if sum(y) else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    rv = sum(rev[i] for i in sel) / sum(rev) if sum(rev) else 0.0
    return p, r, f, rv, len(sel)


@pytest.mark.parametrize("seed", range(12))
def test_top_percent_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    n_rows = int(rng.integers(5, 400))
    # coarse scores create many ties, including at the threshold
    scores = np.round(rng.random(n_rows), int(rng.integers(1, 4)))
    y = (rng.random(n_rows) < 0.2).astype(float)
    rev = np.where(y == 1, rng.exponential(100, n_rows), 0.0)
    got = top_percent_metrics(scores, y, rev, percents=(1, 2, 5, 10, 33.5))
    for n in (1, 2, 5, 10, 33.5):
        k = f"{n:g}"
        p, r, f, rv, sel = brute_force(list(scores), list(y), list(rev), n)
        assert got[f"precision@{k}"] == pytest.approx(p)
        assert got[f"recall@{k}"] == pytest.approx(r)
        assert got[f"f1@{k}"] == pytest.approx(f)
        assert got[f"revenue@{k}"] == pytest.approx(rv)
        assert got[f"selected@{k}"] == sel


def test_tied_rows_at_threshold_are_excluded_and_empty_selection_is_zero():
    scores = np.ones(100)
    out = top_percent_metrics(scores, np.ones(100), np.ones(100), percents=(1, 10))
    assert out["selected@1"] == 0 and out["precision@1"] == 0.0 and out["revenue@1"] == 0.0
    assert select_top(scores, 10).sum() == 0


def test_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    s = np.round(rng.random(500), 1)
    y = rng.random(500) < 0.3
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s))
    assert np.isnan(roc_auc(s, np.zeros(500)))


def test_threshold_chosen_on_validation_and_f1_mean():
    rng = np.random.default_rng(1)
    y = rng.random(1000) < 0.1
    s = np.clip(y * 0.35 + rng.random(1000) * 0.5, 0, 1)
    t = best_threshold(s, y)
    assert t in (0.1, 0.2, 0.3, 0.4, 0.5)
    rep = ranking_report(s, y, None, threshold=t)
    assert rep["f1@mean"] == pytest.approx(np.mean([rep[f"f1@{n}"] for n in (1, 2, 5, 10)]))
    assert rep["revenue@1"] == 0.0  # no revenue given
    assert rep["threshold"] == t


def test_torchmetric_equals_function_and_drops_sampler_duplicates():
    rng = np.random.default_rng(2)
    s, y, rev = rng.random(300), (rng.random(300) < 0.2).astype(float), rng.random(300)
    m = TopPercentSelection()
    for chunk in np.array_split(np.arange(300), 7):
        m.update(torch.tensor(s[chunk]), torch.tensor(y[chunk]), torch.tensor(rev[chunk]), torch.tensor(chunk))
    # a DistributedSampler pads by repeating the first rows: they must not count twice
    m.update(torch.tensor(s[:3]), torch.tensor(y[:3]), torch.tensor(rev[:3]), torch.tensor([0, 1, 2]))
    got = m.compute()
    want = ranking_report(s, y, rev)
    assert got == pytest.approx(want)
