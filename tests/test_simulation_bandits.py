"""Bandits and the adaptive mixers of the simulation (SIMULATION.md 6.6 item 6; APT, ADAPT, drift)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bacuda_research.simulation.bandits import Bandit
from bacuda_research.simulation.drift import drift_score
from test_simulation import run_sim


@pytest.mark.parametrize("algo", ["exp3", "exp3s", "ucb"])
def test_the_reward_is_credited_to_the_played_arm(algo):
    b = Bandit(algo, n_arms=5, epsilon=0.0)
    b.update(0, 0.5)  # sets the baseline
    before = b.state_dict()
    b.update(3, 0.9)
    after = b.state_dict()
    if algo == "ucb":
        assert after["counts"][3] == pytest.approx(1.0) and after["sums"][3] == pytest.approx(0.9)
    else:  # only arm 3 moved relative to the others (exp3s shares a little with every arm)
        rel = np.asarray(after["logw"]) - np.asarray(before["logw"])
        assert np.argmax(rel) == 3 and rel[3] - np.delete(rel, 3).max() > 0.5


@pytest.mark.parametrize("algo", ["exp3", "exp3s", "ucb"])
def test_on_a_stationary_problem_the_best_arm_wins(algo):
    rng = np.random.default_rng(0)
    means = np.linspace(0.1, 0.6, 21)
    means[14] = 0.8  # the best exploration ratio: 0.7
    b = Bandit(algo, lr=0.5 if algo != "ucb" else 3.0, epsilon=0.05)
    plays = []
    for _ in range(400):
        arm = b.draw(rng)
        plays.append(arm)
        b.update(arm, float(np.clip(means[arm] + rng.normal(0, 0.05), 0, 1)))
    assert np.bincount(plays[-100:], minlength=21).argmax() == 14
    if algo != "ucb":
        assert b.probabilities()[14] > 1 / 21 * 5


def test_exp3s_keeps_every_arm_alive_and_bad_rewards_are_skipped():
    b = Bandit("exp3s", epsilon=0.0)
    for _ in range(200):
        b.update(4, 1.0)
        b.update(7, 0.0)  # a zero reward never makes anything infinite
    p = b.probabilities()
    assert (p > 0).all() and np.isfinite(b.logw).all() and p.argmax() == 4
    state = b.state_dict()
    b.update(2, float("nan"))
    assert b.state_dict() == state


def test_ucb_survives_trying_every_arm():
    b, rng = Bandit("ucb"), np.random.default_rng(1)
    for _ in range(60):  # the reference raised a TypeError once all 21 arms had been tried
        b.update(b.draw(rng), rng.random())
    assert b.probabilities().sum() == pytest.approx(1.0)


def test_balance_filter_restricts_the_draws():
    b, rng = Bandit("exp3s"), np.random.default_rng(0)
    allowed = np.abs(np.arange(21) - 4) <= 2
    assert {b.draw(rng, allowed) for _ in range(100)} <= set(range(2, 7))
    assert b.probabilities(allowed)[~allowed].sum() == 0


def test_drift_score_is_small_without_drift_and_large_with_it():
    rng = np.random.default_rng(0)
    a, same, moved = rng.normal(size=(800, 6)), rng.normal(size=(800, 6)), rng.normal(3.0, 1.0, size=(800, 6))
    low, high = drift_score(a, same, rng), drift_score(a, moved, rng)
    assert 0 <= low < 0.1 < 0.5 < high <= 1
    assert np.isnan(drift_score(a[:0], same, rng))


@pytest.mark.parametrize("strategy", ["apt", "adapt"])
def test_adaptive_mixers_run_log_their_arms_and_resume(tmp_path, strategy):
    small = (f"strategy={strategy}", "plan=constant", "plan.final_rate=20", "simulation.weeks=5")
    run_sim(tmp_path, *small, name="whole")
    weeks = pd.read_csv(tmp_path / "whole" / "weeks.csv")
    arms = [c for c in weeks.columns if c.startswith("p_arm")]
    assert len(arms) == 21 and np.allclose(weeks[arms].sum(axis=1), 1.0)
    assert (weeks["xgboost/k"] + weeks["random/k"] == weeks["k"]).all()
    assert np.allclose(weeks["random/k"] / weeks["k"], weeks["exploration_ratio"], atol=0.5 / weeks["k"].min() + 0.01)
    if strategy == "adapt":
        assert weeks["drift_score"].between(0, 1).all()
    run_sim(tmp_path, *small, "simulation.max_weeks_this_call=2", name="parts")
    run_sim(tmp_path, *small, name="parts")
    assert (tmp_path / "whole" / "weeks.csv").read_bytes() == (tmp_path / "parts" / "weeks.csv").read_bytes()
