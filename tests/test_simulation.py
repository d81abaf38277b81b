"""The inspection-selection simulation (SIMULATION.md 6.6): plans, windows, the oracle and its bounds,
hidden labels, hybrids, reproducibility, resume and a smoke run, on small generated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bacuda_research.simulation.hybrid import split_budget
from bacuda_research.simulation.oracle import LabelOracle
from bacuda_research.simulation.plans import budget, inspection_plan, resolve_windows

SMALL = ("data=synthetic", "data.synthetic.rows=3000", "data.synthetic.days=90", "threads=1",
         "models.xgb.n_estimators=15", "simulation.weeks=6", "simulation.history_days=21",
         "simulation.valid_length=7", "plan=fast_linear", "plan.decay_weeks=3", "simulation.plots=false")


def compose_sim(*overrides: str):
    from bacuda_research.core.config import compose

    base = [o for o in SMALL if not o.startswith("data")] if any(o.startswith("data=") for o in overrides) else SMALL
    return compose([*base, *overrides], config_name="simulate")


def run_sim(tmp_path, *overrides: str, name: str = "run"):
    from bacuda_research.simulation.app import simulate

    return simulate(compose_sim(*overrides), tmp_path / name)


# -- 1. plans ---------------------------------------------------------------------------------------
def test_plans_match_their_definitions():
    assert inspection_plan("fast_linear", 12, 100, 10).tolist() == [100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 10, 10]
    assert inspection_plan("fast_linear", 3, 100, 10).tolist() == [100, 90, 80]  # no crash below decay_weeks
    assert inspection_plan("constant", 4, 100, 5).tolist() == [5, 5, 5, 5]
    assert np.allclose(inspection_plan("linear", 4, 40, 10), [40, 30, 20, 10])
    assert inspection_plan("custom", 4, rates=[50, 20]).tolist() == [50, 20, 20, 20]
    assert budget(1912, 90) == 1720 and budget(5, 10) == 1 and budget(0, 10) == 0
    with pytest.raises(ValueError, match="plan.kind"):
        inspection_plan("step", 4)


# -- 2. windows --------------------------------------------------------------------------------------
def test_windows_grow_and_the_run_stops_at_the_end_of_the_data():
    dates = pd.Series(pd.date_range("2013-01-01", "2013-03-31"))
    w = resolve_windows(dates, None, None, history_days=31, valid_length=28, test_length=7)
    assert str(w.test_from.date()) == "2013-02-01"
    w0, w3 = w.week(0), w.week(3)
    assert w0["train_start"] == w3["train_start"] == pd.Timestamp("2013-01-01")  # growing, never sliding
    assert w3["test_start"] == pd.Timestamp("2013-02-22") and w3["valid_start"] == pd.Timestamp("2013-01-25")
    with pytest.raises(ValueError, match="training window"):
        resolve_windows(dates, None, None, history_days=10, valid_length=28, test_length=7)


def test_run_stops_when_the_data_ends(tmp_path):
    rec = run_sim(tmp_path, "strategy=random", "simulation.weeks=40")
    weeks = pd.read_csv(tmp_path / "run" / "weeks.csv")
    assert rec["finished"] and 8 <= len(weeks) <= 11  # 90 days, 21 of history: ~10 weeks, not 40
    assert (tmp_path / "run" / "DONE").exists()


# -- 3./4. oracle bounds ----------------------------------------------------------------------------
def test_oracle_bounds_and_norm_precision_equals_norm_recall():
    rng = np.random.default_rng(0)
    y, rev = (rng.random(500) < 0.1).astype(float), rng.gamma(1.0, 100, 500)
    rev[y == 0] = 0
    oracle = LabelOracle(y, rev)
    rows = np.arange(500)
    best = np.argsort(-rev)[:30]  # the oracle's own pick: the largest revenues, all frauds
    m = oracle.score(rows, best)
    assert m["norm_revenue"] == pytest.approx(1.0) and m["norm_precision"] == pytest.approx(1.0)
    for k in (10, 50, 200):
        m = oracle.score(rows, rng.choice(500, k, replace=False))
        assert m["norm_precision"] == pytest.approx(m["norm_recall"])
        assert m["norm_precision"] == pytest.approx(m["frauds_found"] / min(y.sum(), k))


def build_simulator(tmp_path, strategy, *overrides: str, name: str = "direct"):
    """A ``Simulator`` over the small data, with any strategy object (for test-only strategies)."""
    from omegaconf import OmegaConf

    from bacuda_research.simulation.data import load_sim_data
    from bacuda_research.simulation.folder import RunFolder
    from bacuda_research.simulation.plans import inspection_plan, resolve_windows
    from bacuda_research.simulation.simulator import Simulator

    cfg = compose_sim(*overrides)
    data = load_sim_data(OmegaConf.to_container(cfg.data, resolve=True), cfg.cache_dir)
    s = cfg.simulation
    windows = resolve_windows(data.frame["sgd.date"], None, None, s.history_days, s.valid_length, s.test_length)
    plan = inspection_plan(cfg.plan.kind, s.weeks, cfg.plan.initial_rate, cfg.plan.final_rate, cfg.plan.decay_weeks)
    sim = Simulator(data, strategy, windows, plan, OmegaConf.to_container(cfg.features, resolve=True),
                    RunFolder(tmp_path / name), seed=int(cfg.seed), threads=1)
    return sim, data


def test_an_oracle_strategy_reaches_the_bounds(tmp_path):
    """A test-only strategy that reads the oracle's labels scores norm-precision = norm-revenue = 1."""
    from bacuda_research.simulation.strategies import Strategy

    class Cheat(Strategy):
        def select(self, ctx, k, available):
            rows = ctx.batch.rows
            key = oracle._revenue[rows] + oracle._illicit[rows] * 1e-6  # by revenue, frauds before ties
            return {self.name: np.sort(np.argsort(-key, kind="stable")[:k])}

    sim, data = build_simulator(tmp_path, Cheat("cheat"), "plan=constant", "plan.final_rate=5")
    oracle = data.oracle
    sim.run()
    weeks = pd.DataFrame(sim.weeks)
    assert len(weeks) >= 5
    assert np.allclose(weeks["norm_revenue"], 1.0) and np.allclose(weeks["norm_precision"], 1.0)


# -- hidden labels -----------------------------------------------------------------------------------
def test_strategies_never_receive_a_label_of_the_current_batch(tmp_path):
    from bacuda_research.simulation.data import Batch
    from bacuda_research.simulation.registry import build_strategy
    from bacuda_research.simulation.strategies import Strategy

    seen = []

    class Spy(Strategy):
        def __init__(self, inner):
            super().__init__(inner.name)
            self.inner = inner

        def fit(self, ctx):
            seen.append(ctx)
            assert not {"illicit", "revenue"} & set(ctx.batch.frame.columns)
            assert not hasattr(ctx.batch, "illicit") and not hasattr(ctx.batch, "revenue")
            self.inner.fit(ctx)

        def select(self, ctx, k, available):
            return self.inner.select(ctx, k, available)

    sim, data = build_simulator(tmp_path, Spy(build_strategy({"kind": "xgboost", "xgb": {"n_estimators": 5}})))
    sim.run()
    assert seen and all(len(c.batch.frame) for c in seen)
    with pytest.raises(ValueError, match="label columns"):
        Batch(frame=pd.DataFrame({"illicit": [0]}), X=np.zeros((1, 1)), rows=np.zeros(1, np.int64))
    # the oracle reveals only what was inspected
    inspected = sim.selections["row"].to_numpy()
    never = np.setdiff1d(np.arange(len(data.frame)), np.concatenate([inspected, np.flatnonzero(sim.labeled)]))
    if len(never):
        with pytest.raises(PermissionError):
            data.oracle.labels_of(never[:1])


def test_the_weekly_features_read_data_tariff_digits(tmp_path):
    """data.tariff_digits reaches the simulation's features as it does training's (6-digit codes: HS6 = code)."""
    from bacuda_research.declarations.synthetic import generate_declarations
    from bacuda_research.simulation.strategies import RandomStrategy

    df = generate_declarations(rows=3000, seed=0, days=90)
    df["tariff.code"] //= 10_000
    df.to_csv(tmp_path / "hs6.csv", index=False)
    seen = []

    class Spy(RandomStrategy):
        needs_features = True

        def fit(self, ctx):
            seen.append(ctx)

    sim, _ = build_simulator(tmp_path, Spy("spy"), "data=file", f"data.path={tmp_path / 'hs6.csv'}",
                             "data.tariff_digits=6", "simulation.weeks=2")
    sim.run()
    assert seen and all(c.features.tariff_digits == 6 for c in seen)
    frame = seen[0].train.frame
    assert (frame["HS6"] == frame["tariff.code"]).all() and (frame["HS2"] < 100).all()


# -- 5. hybrids --------------------------------------------------------------------------------------
def test_hybrid_budget_rounding_and_disjoint_parts(tmp_path):
    assert split_budget(10, [0.9, 0.1]) == [9, 1]
    assert split_budget(191, [0.9, 0.1]) == [172, 19]
    assert split_budget(5, [0.5, 0.3, 0.2]) == [2, 2, 1]  # round(2.5) = 2 (banker's), round(1.5) = 2, rest 1
    assert split_budget(3, [1.0, 0.0]) == [3, 0]
    rec = run_sim(tmp_path, "strategy=xgb_random")
    sel = pd.read_parquet(tmp_path / "run" / "selections.parquet")
    weeks = pd.read_csv(tmp_path / "run" / "weeks.csv")
    assert not sel.duplicated(["week", "row"]).any()
    for _, w in weeks.iterrows():
        parts = sel[sel["week"] == w["week"]]["part"].value_counts()
        assert parts.sum() == w["k"] and parts.get("xgboost", 0) == split_budget(int(w["k"]), [0.9, 0.1])[0]
    assert {"xgboost/precision", "random/precision", "xgboost/k"} <= set(weeks.columns)
    assert rec["summary"]["weeks"] == len(weeks)


# -- 7. reproducibility and resume --------------------------------------------------------------------
def test_same_seed_same_selections_and_another_seed_differs(tmp_path):
    run_sim(tmp_path, "strategy=xgb_random", name="a")
    run_sim(tmp_path, "strategy=xgb_random", name="b")
    run_sim(tmp_path, "strategy=xgb_random", "seed=1", name="c")
    a, b, c = (pd.read_parquet(tmp_path / n / "selections.parquet") for n in "abc")
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_resume_after_a_stop_gives_the_same_weeks(tmp_path):
    run_sim(tmp_path, "strategy=xgb_random", name="whole")
    rec = run_sim(tmp_path, "strategy=xgb_random", "simulation.max_weeks_this_call=2", name="parts")
    assert not rec["finished"] and not (tmp_path / "parts" / "DONE").exists()
    run_sim(tmp_path, "strategy=xgb_random", "simulation.max_weeks_this_call=1", name="parts")
    # a kill between writing a week's files and its state.json: those rows are not committed
    parts = tmp_path / "parts"
    weeks = pd.read_csv(parts / "weeks.csv")
    pd.concat([weeks, weeks.tail(1).assign(week=3, norm_precision=0.123)]).to_csv(parts / "weeks.csv", index=False)
    sel = pd.read_parquet(parts / "selections.parquet")
    pd.concat([sel, sel.tail(5).assign(week=3)]).to_parquet(parts / "selections.parquet", index=False)
    run_sim(tmp_path, "strategy=xgb_random", name="parts")
    assert (tmp_path / "parts" / "DONE").exists()
    assert (tmp_path / "whole" / "weeks.csv").read_bytes() == (tmp_path / "parts" / "weeks.csv").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "whole" / "selections.parquet"),
                                  pd.read_parquet(tmp_path / "parts" / "selections.parquet"))
    with pytest.raises(ValueError, match="another config"):
        run_sim(tmp_path, "strategy=random", name="parts")


# -- 8. smoke run ------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["random", "risky", "largest", "xgboost", "xgb_lr"])
def test_smoke_every_simple_strategy(tmp_path, strategy):
    rec = run_sim(tmp_path, f"strategy={strategy}", "simulation.plots=true")
    run = tmp_path / "run"
    weeks = pd.read_csv(run / "weeks.csv")
    assert list(weeks.columns[:3]) == ["norm_precision", "norm_recall", "norm_revenue"]
    assert weeks["k"].iloc[0] == weeks["n_batch"].iloc[0]  # 100% in week 0
    assert ((weeks["norm_precision"] >= 0) & (weeks["norm_precision"] <= 1 + 1e-9)).all()
    assert (run / "DONE").exists() and (run / "plots" / "weekly.png").exists()
    assert rec["summary"]["norm_precision@last13"] == pytest.approx(weeks["norm_precision"].tail(13).mean())
    sel = pd.read_parquet(run / "selections.parquet")
    assert set(sel.columns) == {"week", "row", "part"} and sel["row"].dtype.kind == "i"


# -- DATE-based strategies ----------------------------------------------------------------------------
DATE_SMALL = ("date.xgb.n_estimators=8", "date_fit.epochs=1", "date_fit.batch_size=1024", "date.net.dim=8",
              "date.net.heads=2", "simulation.weeks=4")


@pytest.mark.parametrize("strategy,extra", [("date_badge", ()), ("date_gate", ()),
                                            ("date_bate", ("date.net.leaf_bias=true", "date.tree_init=true"))])
def test_date_hybrids_share_one_fit_per_week(tmp_path, strategy, extra, monkeypatch):
    from bacuda_research.simulation import date_fit

    fits = []
    orig = date_fit.WeeklyDATE._fit_predict
    monkeypatch.setattr(date_fit.WeeklyDATE, "_fit_predict", lambda self, ctx: fits.append(ctx.week) or orig(self, ctx))
    rec = run_sim(tmp_path, f"strategy={strategy}", *DATE_SMALL, *extra)
    weeks = pd.read_csv(tmp_path / "run" / "weeks.csv")
    assert fits == list(range(len(weeks)))  # one DATE fit per week, whatever the parts
    assert {"date/k", f"{strategy.split('_')[1]}/k"} <= set(weeks.columns)
    if strategy == "date_gate":
        assert set(weeks["gate"]) <= {0, 1}
    assert rec["finished"]


def test_date_options_the_weekly_fit_does_not_implement_are_refused(tmp_path):
    with pytest.raises(ValueError, match="revenue_ranking"):
        run_sim(tmp_path, "strategy=date", "date.revenue_ranking=expected", *DATE_SMALL)


def test_pure_explorers_and_the_gradient_embedding():
    from bacuda_research.simulation.explore import gradient_embedding, kmeans_pp_seeds, uncertainty

    rng = np.random.default_rng(0)
    h = rng.normal(size=(50, 4))
    p = rng.random(50)
    g = gradient_embedding(p, h)
    assert g.shape == (50, 8)
    # pseudo-label c = 1[p >= 0.5]: the block of the other class carries -(p or 1-p) h
    i = int(np.argmax(p))
    assert np.allclose(g[i, :4], -(1 - p[i]) * h[i]) and np.allclose(g[i, 4:], (1 - p[i]) * h[i])
    assert np.allclose(uncertainty(np.array([0.5, 0.0, 1.0])), [1.0, 0.1, 0.1])
    seeds = kmeans_pp_seeds(g, 20, rng)
    assert len(set(seeds.tolist())) == 20 and seeds[0] == int(np.argmax((g ** 2).sum(1)))
    assert len(set(kmeans_pp_seeds(np.zeros((30, 2)), 10, rng).tolist())) == 10  # degenerate: filled at random


def test_warm_start_resumes_identically(tmp_path):
    warm = ("strategy=date_random", "date_fit.warm_start=true", "date_fit.xgb_refresh_every=2",
            "date_fit.warm_epochs=1", *DATE_SMALL, "simulation.weeks=5")
    run_sim(tmp_path, *warm, name="whole")
    run_sim(tmp_path, *warm, "simulation.max_weeks_this_call=3", name="parts")
    assert (tmp_path / "parts" / "model").is_dir() and len(list((tmp_path / "parts" / "model").glob("*.safetensors"))) == 1
    run_sim(tmp_path, *warm, name="parts")
    assert (tmp_path / "whole" / "weeks.csv").read_bytes() == (tmp_path / "parts" / "weeks.csv").read_bytes()


# -- data without revenue (KCS) ----------------------------------------------------------------------
@pytest.mark.shared
def test_kcs_without_revenue_and_with_empty_weeks(tmp_path):
    """KCS has no revenue column: no revenue metric is written, bATE/gATE run on the rest. With the
    first rows of each file only, the data has gaps: weeks without declarations are logged, k = 0."""
    from conftest import shared_file

    shared_file("data/kcs-synthetic/df_syn_train_eng.csv")
    overrides = ("data=kcs", "data.max_rows=3000", "strategy=date_gate", "simulation.history_days=14",
                 "simulation.valid_length=7", "simulation.weeks=4", *DATE_SMALL[:-1])
    rec = run_sim(tmp_path, *overrides)
    weeks = pd.read_csv(tmp_path / "run" / "weeks.csv")
    assert not rec["revenue"] and not [c for c in weeks.columns if "revenue" in c]
    assert "norm_precision" in weeks and "norm_revenue@last13" not in rec["summary"]
    assert (weeks["n_batch"] == 0).any() and (weeks.loc[weeks["n_batch"] == 0, "k"] == 0).all()


def test_compare_runs_table_and_plot(tmp_path):
    from bacuda_research.simulation.compare import (by_quarter, collect, end_plot, overlay_plot, part_table, table,
                                                     to_markdown)

    for seed in (0, 1):
        run_sim(tmp_path, "strategy=random", f"seed={seed}", name=f"runs/random-s{seed}")
    runs = collect(tmp_path / "runs")
    tab = table(runs)
    assert list(runs["seed"]) == [0, 1] and tab.loc["random", "runs"] == 2
    assert tab.loc["random", "norm_precision@last13 mean"] == pytest.approx(runs["norm_precision@last13"].mean())
    assert "| random | " in to_markdown(tab)
    assert overlay_plot(runs, tmp_path / "overlay.png").stat().st_size > 0
    assert end_plot(tab, tmp_path / "end.png").stat().st_size > 0
    quarters = by_quarter(runs)
    weeks = pd.concat(pd.read_csv(f"{f}/weeks.csv") for f in runs["folder"])
    first = weeks[pd.to_datetime(weeks["test_start"]).dt.quarter == 1]["norm_precision"].mean()
    assert list(quarters.index) == ["random"] and quarters.loc["random", "2013Q1"] == pytest.approx(first)
    assert part_table(runs).empty  # random has no parts


def test_every_strategy_and_plan_config_composes_and_builds():
    from pathlib import Path

    from hydra.errors import ConfigCompositionException

    from bacuda_research.core.paths import CONF_DIR
    from bacuda_research.simulation.app import strategy_spec
    from bacuda_research.simulation.registry import build_strategy

    for f in sorted((Path(CONF_DIR) / "strategy").glob("*.yaml")):
        cfg = compose_sim(f"strategy={f.stem}")
        assert cfg.strategy.name == f.stem
        assert build_strategy(strategy_spec(cfg)).name == f.stem
    for f in sorted((Path(CONF_DIR) / "plan").glob("*.yaml")):
        p = compose_sim(f"plan={f.stem}").plan
        assert len(inspection_plan(p.kind, 5, p.initial_rate, p.final_rate, p.decay_weeks, p.rates)) == 5
    with pytest.raises(ConfigCompositionException):
        compose_sim("simulation.no_such_key=1")
    with pytest.raises(ValueError, match="strategy.kind"):
        build_strategy({"kind": "nope"})


def test_unknown_strategy_settings_are_errors():
    from bacuda_research.simulation.registry import build_strategy

    with pytest.raises(ValueError, match="unknown settings"):
        build_strategy({"kind": "xgboost", "n_estimators": 5})
    with pytest.raises(ValueError, match="unknown settings"):
        build_strategy({"kind": "hybrid", "parts": [{"kind": "gate", "weight": 1.0, "thetta": 0.2}]})
    with pytest.raises(ValueError, match="unknown settings"):
        build_strategy({"kind": "adapt", "parts": [{"kind": "random"}, {"kind": "random"}], "drift": {"proj": 3}})
    with pytest.raises(TypeError):
        build_strategy({"kind": "apt", "parts": [{"kind": "random"}, {"kind": "random"}], "bandit": {"lrate": 1}})


def test_the_weekly_date_fit_matches_the_training_recipe(tmp_path, compose_small):
    """On the same splits, seed and settings, the simulation's scratch DATE fit scores the test rows
    exactly as ``bacuda-train`` (fit_date) does: same XGBoost stage, vocabularies, batches, epochs."""
    from omegaconf import OmegaConf
    from sklearn.metrics import roc_auc_score

    from bacuda_research.fraud.task import build_datamodule
    from bacuda_research.run import run
    from bacuda_research.simulation.data import Batch
    from bacuda_research.simulation.date_fit import WeeklyDATE
    from bacuda_research.simulation.strategies import WeekContext

    small = ("model.xgb.n_estimators=10", "model.net.dim=8", "model.net.heads=2", "trainer.max_epochs=1",
             "data.batch_size=512", "threads=1", "seed=0", "model.explain_top_k=0", "predictions_file=null")
    cfg = compose_small(*small)
    report = run(cfg, tmp_path / "train")
    dm = build_datamodule(cfg)
    dm.setup()
    test = dm.splits["test"]
    batch = Batch(frame=test.frame.drop(columns=["illicit", "revenue"]), X=test.X, rows=np.arange(len(test.X)))
    ctx = WeekContext(week=0, seed=0, train=dm.splits["train"], valid=dm.splits["valid"], batch=batch,
                      features=dm.features, has_revenue=True, threads=1)
    fit = {"epochs": 1, "batch_size": 512, "patience": 3}
    out = WeeklyDATE(OmegaConf.to_container(cfg.model, resolve=True), fit, threads=1).outputs(ctx)
    assert roc_auc_score(test.illicit, out.logit) == pytest.approx(report["metrics"]["test/auc"], abs=1e-12)
