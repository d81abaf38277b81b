"""Configs are airtight: every file composes, and every key is one the code reads."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from bacuda_research.core.config import compose
from bacuda_research.core.paths import CONF_DIR

CONF = Path(CONF_DIR)
DECLARATION_MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml") if not p.stem.startswith("hs_"))
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    cfg = compose([f"experiment={experiment}"])
    assert cfg.model.name and cfg.model.family in ("classic", "date", "hs")
    header = (CONF / "experiment" / f"{experiment}.yaml").read_text().splitlines()[:6]
    assert any("bacuda-train" in line for line in header), "experiment files say the command that runs them"


@pytest.mark.parametrize("model", DECLARATION_MODELS)
def test_declaration_model_keys_are_read_by_the_code(model):
    from bacuda_research.fraud.network import DATE

    cfg = compose([f"model={model}"])
    m = cfg.model
    if m.family == "classic":
        assert set(m) <= {"name", "family", "kind", "percents", "xgb", "lr"}
    else:
        assert set(m) <= {"name", "family", "percents", "xgb", "xgb_revenue", "net", "alpha", "optimizer",
                          "explain_top_k", "explain_percent", "grad_clip", "tree_init", "revenue_ranking",
                          "revenue_given_illicit"}
        params = set(inspect.signature(DATE).parameters) | {"dense"}
        assert set(m.net) <= params, set(m.net) - params


def test_unknown_override_is_an_error():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose(["model.no_such_key=1"])


def test_data_configs_share_the_column_contract():
    from bacuda_research.declarations.schema import CANONICAL

    for name in ("synthetic", "date_synthetic", "file"):
        cfg = compose([f"data={name}"] + (["data.path=x.csv"] if name == "file" else []))
        assert set(cfg.data.columns) == set(CANONICAL)
