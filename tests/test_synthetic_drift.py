"""The synthetic generator's concept drift (declarations/drift.py, ``data.synthetic.drift``).

Drift off must leave the generator exactly as it was (committed runs and tests depend on its bytes);
drift on must be seeded and every documented knob must do what its comment says.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from bacuda_research.declarations.drift import DriftSpec
from bacuda_research.declarations.synthetic import generate_declarations, synthetic_file

# sha256 of the cached CSV (and its file name) from the generator before drift existed (commit
# 39c6e25), recorded with:
#   cd /tmp && PYTHONPATH=/work/main python -c "import hashlib, tempfile; from bacuda_research.\
#   declarations.synthetic import synthetic_file; d = tempfile.mkdtemp(); [print(r, s, p.name,
#   hashlib.sha256(p.read_bytes()).hexdigest()) for r, s in [(3000, 7), (5000, 11), (40000, 7)]
#   for p in [synthetic_file(d, rows=r, seed=s)]]"
BEFORE_DRIFT = [
    (3000, 7, "declarations-3000-7-99ab6446716eeb2b.csv",
     "8391d98c3b4aeb09a014187bf214574d55c6b540af08805c0c18cd27f783a39d"),
    (5000, 11, "declarations-5000-11-30b71e44b4b2661e.csv",
     "792a6985dc668633265d0a271d292cc0b5050934ec2d33235837177a3019c017"),
    (40000, 7, "declarations-40000-7-71e4ceaf3316f2ca.csv",
     "52672332a02a27172fe5cc3e831919d4ef8269d4ffa540730d61a99e10d52cf0"),
]
ON = {"enabled": True}
# one knob at a time: every other drift term off
NOTHING = {"enabled": True, "importer_amplitude": 0.0, "goods_amplitude": 0.0, "new_importer_share": 0.0,
           "change_at": None}


def _sha(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()


@pytest.mark.parametrize("rows,seed,name,digest", BEFORE_DRIFT)
def test_drift_off_is_byte_identical_to_the_generator_before_drift(tmp_path, rows, seed, name, digest):
    for i, drift in enumerate((None, {"enabled": False}, {"enabled": False, "strength": 3.0, "cycles": 2})):
        path = synthetic_file(tmp_path / str(i), rows=rows, seed=seed, drift=drift)
        assert path.name == name, "drift off must keep the cache name (files cached before drift are reused)"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_the_default_config_is_drift_off_with_the_documented_defaults(tmp_path):
    from omegaconf import OmegaConf

    from bacuda_research.core.config import compose
    from bacuda_research.fraud.task import build_datamodule

    cfg = compose(["data=synthetic", "data.synthetic.rows=3000", f"cache_dir={tmp_path}"])
    drift = OmegaConf.to_container(cfg.data.synthetic.drift)
    assert DriftSpec.from_config(drift) == DriftSpec(), "conf/data/synthetic.yaml and DriftSpec defaults agree"
    assert build_datamodule(cfg).resolve_path().name == BEFORE_DRIFT[0][2]
    on = compose(["data=synthetic_drift"]).data.synthetic.drift
    assert DriftSpec.from_config(OmegaConf.to_container(on)) == DriftSpec(enabled=True)


def test_run_identity_ignores_the_drift_block_when_off():
    """Runs recorded before drift existed have no data.synthetic.drift: off, they stay the same run."""
    from omegaconf import OmegaConf

    from bacuda_research.core.config import compose
    from bacuda_research.core.identity import config_identity, run_key

    now = OmegaConf.to_container(compose(["data=synthetic"]), resolve=True)
    before = OmegaConf.to_container(compose(["data=synthetic"]), resolve=True)
    del before["data"]["synthetic"]["drift"]
    assert config_identity(now) == config_identity(before)
    assert run_key(now, "x") == run_key(before, "x")
    on = OmegaConf.to_container(compose(["data=synthetic", "data.synthetic.drift.enabled=true"]), resolve=True)
    assert run_key(on, "x") != run_key(now, "x")


def test_drift_on_is_seeded_and_has_its_own_cache_name(tmp_path):
    a = generate_declarations(4000, seed=3, drift=ON)
    assert _sha(a) == _sha(generate_declarations(4000, seed=3, drift=ON))
    assert _sha(a) != _sha(generate_declarations(4000, seed=4, drift=ON))
    assert _sha(a) != _sha(generate_declarations(4000, seed=3))
    assert a["sgd.date"].is_monotonic_increasing and a["sgd.id"].iloc[0] == "SGD1" and a["sgd.id"].is_unique
    off, on = synthetic_file(tmp_path, rows=3000, seed=7), synthetic_file(tmp_path, rows=3000, seed=7, drift=ON)
    other = synthetic_file(tmp_path, rows=3000, seed=7, drift={**ON, "cycles": 1.0})
    assert "-drift-" in on.name and len({off.name, on.name, other.name}) == 3
    # the same knob values as int or float are the same file
    assert synthetic_file(tmp_path, rows=3000, seed=7, drift={**ON, "cycles": 1}) == other


def test_drift_keeps_the_daily_illicit_rate_level():
    df = generate_declarations(20000, seed=5, drift=ON)
    month = df["sgd.date"].str[3:5]
    rates = df.groupby(month)["illicit"].mean()
    assert rates.between(0.05, 0.11).all(), rates.round(3).to_dict()


def _quarter(truth: pd.DataFrame, days: int = 365) -> np.ndarray:
    return np.minimum(truth["day"].to_numpy() * 4 // days, 3) + 1


def test_rotation_moves_propensity_between_importer_groups_over_the_year():
    drift = {**NOTHING, "importer_amplitude": 2.0}  # cycles 0.5: half a turn over the year
    df, truth = generate_declarations(20000, seed=1, drift=drift, with_truth=True)
    q = _quarter(truth)
    # importers whose wave peaks in Q1 (phase ~ 0.19) are near its trough in Q4
    group = truth["importer_phase"].between(0.09, 0.29).to_numpy()
    rate = {k: df["illicit"][group & (q == k)].mean() for k in (1, 4)}
    assert rate[1] > rate[4] + 0.08, rate
    # the same importer ids without drift: no such change
    plain = generate_declarations(20000, seed=1)
    plain_q = np.minimum(pd.to_datetime(plain["sgd.date"], format="%y-%m-%d").dt.quarter.to_numpy(), 4)
    ids = set(df["importer.id"][group])
    in_group = plain["importer.id"].isin(ids).to_numpy()
    plain_rate = {k: plain["illicit"][in_group & (plain_q == k)].mean() for k in (1, 4)}
    assert abs(plain_rate[1] - plain_rate[4]) < (rate[1] - rate[4]) / 2, (plain_rate, rate)
    # goods rotate the same way when asked, importers do not then
    _, goods = generate_declarations(20000, seed=1, drift={**NOTHING, "goods_amplitude": 2.0}, with_truth=True)
    assert goods["rotation_logit"].abs().max() > 1.5
    assert np.allclose(truth["rotation_logit"].abs().max(), 2.0, atol=0.01)


def test_new_importers_arrive_after_new_importer_from_and_are_riskier():
    drift = {**NOTHING, "new_importer_share": 0.3, "new_importer_from": 0.5, "new_importer_risk": 2.0}
    df, truth = generate_declarations(20000, seed=2, drift=drift, with_truth=True)
    new = truth["newcomer"].to_numpy()
    assert truth["day"][new].min() >= int(np.ceil(0.5 * 365))
    newcomers = set(df["importer.id"][new])
    assert len(newcomers) > 20
    assert not newcomers & set(df["importer.id"][~new]), "newcomer importers declare only newcomer rows"
    assert not newcomers & set(generate_declarations(20000, seed=2)["importer.id"]), "never seen without drift"
    last_month = truth["day"].to_numpy() >= 335
    assert 0.2 < new[last_month].mean() < 0.4, "their share rises to new_importer_share by the end"
    assert df["illicit"][new].mean() > df["illicit"][~new & (truth["day"] >= 183)].mean() + 0.05
    none = generate_declarations(5000, seed=2, drift={**drift, "new_importer_share": 0.0}, with_truth=True)[1]
    assert not none["newcomer"].any()


def test_change_point_shifts_the_illicit_rate_of_the_affected_groups():
    drift = {**NOTHING, "change_at": 0.5, "change_share": 0.2, "change_shift": 2.0}
    df, truth = generate_declarations(20000, seed=3, drift=drift, with_truth=True)
    after = (truth["day"] >= 183).to_numpy()
    hit = (truth["importer_changed"] | truth["goods_changed"]).to_numpy()
    assert (truth["change_logit"][~after] == 0).all() and (truth["change_logit"][after & hit] >= 2.0).all()
    y = df["illicit"].to_numpy()
    jump_hit = y[hit & after].mean() - y[hit & ~after].mean()
    jump_rest = y[~hit & after].mean() - y[~hit & ~after].mean()
    assert jump_hit > 0.03 and jump_hit > jump_rest + 0.08, (jump_hit, jump_rest)
    _, none = generate_declarations(5000, seed=3, drift={**drift, "change_at": None}, with_truth=True)
    assert (none["change_logit"] == 0).all()


def test_strength_scales_every_drift_term():
    _, truth = generate_declarations(5000, seed=4, drift={**ON, "strength": 0.0}, with_truth=True)
    assert (truth["drift_logit"] == 0).all()
    _, one = generate_declarations(5000, seed=4, drift=ON, with_truth=True)
    _, two = generate_declarations(5000, seed=4, drift={**ON, "strength": 2.0}, with_truth=True)
    assert np.allclose(two["drift_logit"], 2 * one["drift_logit"])


def test_bad_drift_settings_are_refused_by_name():
    from hydra.errors import ConfigCompositionException

    from bacuda_research.core.config import compose

    with pytest.raises(ValueError, match="unknown key.*'speed'"):
        DriftSpec.from_config({"speed": 1})
    for key, value in (("change_share", 1.5), ("new_importer_from", 1.0), ("change_at", 0.0),
                       ("strength", -1.0), ("cycles", float("nan")), ("enabled", "yes"),
                       ("new_importer_share", "0.3")):
        with pytest.raises(ValueError, match=f"drift.{key}"):
            DriftSpec.from_config({key: value})
    with pytest.raises(ConfigCompositionException):
        compose(["data.synthetic.drift.speed=1"])


def test_a_model_trained_on_q1_loses_precision_later_only_under_drift(tmp_path):
    """XGBoost fitted on Jan-Mar: Precision@10% in Q2 minus in Q4, averaged over two data seeds."""
    from bacuda_research.core.config import compose
    from bacuda_research.fraud.staleness import metrics_by_period

    def q2_minus_q4(on: bool, seed: int) -> tuple[float, float]:
        cfg = compose(["data=synthetic", "data.synthetic.rows=20000", f"data.synthetic.seed={seed}",
                       f"data.synthetic.drift.enabled={on}", "data.synthetic.drift.strength=1.5",
                       "data.split.valid_start=2013-03-18", "data.split.test_start=2013-04-01",
                       "model=xgboost", "threads=1", f"cache_dir={tmp_path}"])
        t = metrics_by_period(cfg, percent=10, period="Q").set_index("period")
        return (t.loc["2013Q2", "precision"] - t.loc["2013Q4", "precision"],
                t.loc["2013Q2", "auc"] - t.loc["2013Q4", "auc"])

    off = np.mean([q2_minus_q4(False, s) for s in (1, 2)], axis=0)
    on = np.mean([q2_minus_q4(True, s) for s in (1, 2)], axis=0)
    assert abs(off[0]) < 0.03 and on[0] > off[0] + 0.05, (on, off)
    assert on[1] > off[1] + 0.05, "the ranking itself ages (AUC), not only the top"
