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
        assert set(m) <= {"name", "family", "kind", "percents", "xgb", "lr", "by", "revenue_given_illicit"}
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

    for name in ("synthetic", "synthetic_drift", "date_synthetic", "file"):
        cfg = compose([f"data={name}"] + (["data.path=x.csv"] if name == "file" else []))
        assert set(cfg.data.columns) == set(CANONICAL)


# ------------------------------------------------------------------------------ experiment variants
# An experiment is a base (states a whole recipe) or a variant of one base, one level deep: its
# defaults list names the base first and it states only the keys it changes.
BASES = {"date_synthetic", "date_synthetic_baselines", "hs_minilm", "kcs_xgboost"}
VARIANT_MAX_LINES = 20


def _experiment_file(name: str) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(CONF / "experiment" / f"{name}.yaml"))


def _base_of(name: str) -> str | None:
    first = (_experiment_file(name).get("defaults") or [None])[0]
    return first if isinstance(first, str) and first in EXPERIMENTS else None


def _leaves(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(_leaves(v, key) if isinstance(v, dict) else {key: v})
    return out


VARIANTS = [e for e in EXPERIMENTS if e not in BASES]


def test_every_experiment_is_a_base_or_a_variant_of_one():
    assert BASES <= set(EXPERIMENTS)
    for e in sorted(BASES):
        assert _base_of(e) is None, f"{e} is a base: it inherits from no experiment"
    for e in VARIANTS:
        base = _base_of(e)
        assert base in BASES, f"experiment {e}: its defaults must start with a base experiment ({sorted(BASES)}), one level deep"
        lines = (CONF / "experiment" / f"{e}.yaml").read_text().splitlines()
        assert len(lines) <= VARIANT_MAX_LINES, f"{e}: {len(lines)} lines; a variant states only what it changes"
        assert "_self_" in _experiment_file(e)["defaults"], f"{e}: _self_ after the base, so its keys win"


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_differs_from_its_base_only_where_it_says(variant):
    """No copied block: composed variant vs composed base differ only at the keys the variant file
    states (with its values) and in the groups its defaults list overrides."""
    from omegaconf import OmegaConf

    base = _base_of(variant)
    a = _leaves(OmegaConf.to_container(compose([f"experiment={base}"]), resolve=True))
    b = _leaves(OmegaConf.to_container(compose([f"experiment={variant}"]), resolve=True))
    spec = _experiment_file(variant)
    stated = _leaves({k: v for k, v in spec.items() if k != "defaults"})
    groups = [next(iter(d)).split()[-1].lstrip("/") for d in spec["defaults"] if isinstance(d, dict)]
    for key, value in stated.items():
        assert b[key] == value, f"{variant}: {key} composes to {b[key]!r}, the file says {value!r}"
    changed = {k for k in set(a) | set(b) if a.get(k, "missing") != b.get(k, "missing")}
    unexplained = {k for k in changed if k not in stated and k.split(".")[0] not in groups}
    assert not unexplained, f"{variant} differs from {base} at keys it does not state: {sorted(unexplained)}"
    assert changed, f"{variant} composes to exactly {base}"
