"""Training on declarations read through a declared schema (data.schema / data.files, features=auto)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bacuda_research.core.identity import config_identity
from bacuda_research.declarations.auto_features import AutoFeatures
from bacuda_research.declarations.canonical import load_declared
from bacuda_research.declarations.declared import data_hash, parse_schema_text
from bacuda_research.declarations.example import EXAMPLE_SCHEMA, example_export
from bacuda_research.run import run


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """The example export (3,000 rows, no revenue) and its schema file."""
    d = tmp_path_factory.mktemp("byo")
    path = example_export(d / "export.csv", rows=3000, seed=0)
    schema = d / "schema.yaml"
    schema.write_text("# reviewed\n" + EXAMPLE_SCHEMA, encoding="utf-8")
    return path, schema


def schema_cfg(compose_small, export, *overrides):
    path, schema = export
    return compose_small("data=file", f"data.path={path}", f"data.schema={schema}", "predictions_file=null",
                         *overrides)


def test_the_brief_command_trains_with_auto_features_and_out_of_fold_flags(compose_small, export, tmp_path):
    rep = run(schema_cfg(compose_small, export, "model=xgboost"), tmp_path / "run")
    m = rep["metrics"]
    assert m["test/auc"] > 0.7  # the planted fraud is found
    assert rep["risk_flags"] == "out_of_fold" and rep["config"]["features"]["kind"] == "auto"
    assert rep["features"]["kind"] == "auto" and rep["tasks"] == ["illicit"]
    # revenue metrics are absent, not zero and not NaN
    assert not [k for k in m if "revenue" in k or "/rev/" in k]
    assert rep["schema"]["digest"] == rep["config"]["data"]["schema_digest"]
    assert rep["data_sha256"] == data_hash([export[0]])
    # declarations are confidential: no identifier value reaches the report
    text = (tmp_path / "run" / "report.json").read_text()
    assert "IMP0" not in text and "D00" not in text


def test_the_schema_content_not_its_path_is_the_identity(compose_small, export, tmp_path):
    path, schema = export
    moved = tmp_path / "elsewhere.yaml"
    moved.write_text("# other comments, same content\n" + EXAMPLE_SCHEMA, encoding="utf-8")
    changed = tmp_path / "changed.yaml"
    changed.write_text(EXAMPLE_SCHEMA.replace("categorical: [PROCEDURE]", "categorical: []\nignore: [PROCEDURE]"))
    from omegaconf import OmegaConf

    from bacuda_research.fraud.declared_data import add_schema_digest

    def ident(s):
        cfg = compose_small("data=file", f"data.path={path}", f"data.schema={s}")
        add_schema_digest(cfg)
        return config_identity(OmegaConf.to_container(cfg, resolve=True))

    assert ident(schema) == ident(moved)
    assert ident(schema) != ident(changed)


def test_a_custom_column_mapping_beside_a_schema_is_refused(compose_small, export, tmp_path):
    with pytest.raises(ValueError, match="both given"):
        run(schema_cfg(compose_small, export, "data.columns.cif=VALUE", "model=random"), tmp_path / "run")
    assert not (tmp_path / "run" / "DONE").exists()


def test_three_files_are_the_split_with_one_data_hash(compose_small, export, tmp_path):
    path, schema = export
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    files = {}
    for name, part in zip(("train", "valid", "test"), np.array_split(np.arange(len(df)), [2000, 2500])):
        files[name] = tmp_path / f"{name}.csv"
        df.iloc[part].to_csv(files[name], index=False)
    cfg = compose_small("data=file", "data.path=null", f"data.schema={schema}", "model=risky",
                        *(f"+data.files.{k}={v}" for k, v in files.items()))
    rep = run(cfg, tmp_path / "run")
    assert rep["data"]["train"]["rows"] == 2000 and rep["data"]["test"]["rows"] == 1000 - 500
    assert rep["data_sha256"] == data_hash([files["train"], files["valid"], files["test"]])
    assert rep["schema"]["files"] == 3


@pytest.mark.parametrize("model", ["random", "risky", "xgb_lr"])
def test_every_baseline_on_a_schema_without_revenue(compose_small, export, tmp_path, model):
    rep = run(schema_cfg(compose_small, export, f"model={model}"), tmp_path / model)
    assert "test/precision@1" in rep["metrics"] and not [k for k in rep["metrics"] if "revenue" in k]


def test_xgb_revenue_needs_a_revenue_role(compose_small, export, tmp_path):
    with pytest.raises(ValueError, match="needs a revenue column"):
        run(schema_cfg(compose_small, export, "model=xgb_revenue"), tmp_path / "run")


def test_date_without_revenue_trains_the_illicit_task_alone(compose_small, export, tmp_path):
    rep = run(schema_cfg(compose_small, export, "model=date", "trainer.max_epochs=1", "threads=1",
                         "trainer.enable_progress_bar=false", "model.explain_top_k=0"), tmp_path / "date")
    m = rep["metrics"]
    assert "test/precision@1" in m and "test/auc" in m
    assert not [k for k in m if "/rev/" in k or "revenue" in k]
    assert rep["tasks"] == ["illicit"]


def test_date_features_through_the_date_schema_equal_the_date_layout(compose_small, tmp_path):
    """features=date on a schema with every DATE role = today's DATE features, value for value."""
    from omegaconf import OmegaConf

    from bacuda_research.fraud.task import build_datamodule

    base = ["data.synthetic.rows=4000", f"cache_dir={tmp_path}"]
    a = build_datamodule(compose_small(*base))
    b = build_datamodule(compose_small(*base, "data.schema=date", "features.kind=date", "features.risk_flags=reference"))
    a.setup(), b.setup()
    assert OmegaConf.to_container(compose_small(*base).features, resolve=True)["risk_flags"] == "reference"
    assert a.features.columns == b.features.columns and a.features.to_dict() == b.features.to_dict()
    for s in ("train", "valid", "test"):
        np.testing.assert_array_equal(a.splits[s].X, b.splits[s].X)
        np.testing.assert_array_equal(a.splits[s].revenue, b.splits[s].revenue)
    assert b.has_revenue


def test_features_date_on_a_schema_without_the_date_roles_is_refused(compose_small, export, tmp_path):
    with pytest.raises(ValueError, match="features=auto"):
        run(schema_cfg(compose_small, export, "features.kind=date", "model=random"), tmp_path / "run")


def _frames(export):
    path, schema = export
    df = load_declared(path, parse_schema_text(EXAMPLE_SCHEMA, "example"))
    return df.iloc[:2000].reset_index(drop=True), df.iloc[2000:].reset_index(drop=True)


def test_auto_features_fit_on_training_rows_only_and_round_trip(export):
    train, test = _frames(export)
    f = AutoFeatures(entities=["SELLER"], categorical=["PROCEDURE"], seed=0)
    f.fit_transform(train)
    state = json.dumps(f.to_dict(), sort_keys=True)
    flipped = test.assign(illicit=1 - test["illicit"])
    a, b = f.transform(test), f.transform(flipped)
    assert json.dumps(f.to_dict(), sort_keys=True) == state  # transforming never refits
    np.testing.assert_array_equal(f.matrix(a), f.matrix(b))  # test labels never reach the features
    g = AutoFeatures.from_dict(json.loads(state))
    np.testing.assert_array_equal(f.matrix(a), g.matrix(g.transform(test)))
    for col in ("WUnitprice", "WUnitprice.dev.HS6", "WUnitprice.dev.HS6.Origin", "HS2", "HS4", "HS6",
                "RiskH.importer.id", "RiskH.HS6.Origin", "RiskH.office.id&importer.id", "RiskH.SELLER",
                "RiskR.PROCEDURE"):
        assert col in f.columns
    assert "Unitprice" not in f.columns and "TaxRatio" not in f.columns  # no quantity, no taxes


def test_the_unit_value_deviation_is_against_the_training_median(export):
    train, test = _frames(export)
    f = AutoFeatures(seed=0, risk_flags="reference")
    out = f.fit_transform(train)
    hs6 = out["HS6"].iloc[0]
    same = out["HS6"] == hs6
    logu = np.log(out.loc[same, "WUnitprice"])
    np.testing.assert_allclose(out.loc[same, "WUnitprice.dev.HS6"], logu - logu.median())
    unseen = test.assign(**{"tariff.code": np.int64(999999)})
    assert f.transform(unseen)["WUnitprice.dev.HS6"].isna().all()


def test_an_empty_optional_cell_is_its_own_category(export):
    train, _ = _frames(export)
    y = train["illicit"].to_numpy().copy()
    train = train.assign(illicit=np.where(train["SELLER"] == "", 1, 0).astype(np.int8))
    f = AutoFeatures(entities=["SELLER"], risk_flags="reference", seed=0)
    out = f.fit_transform(train)
    assert "" in f.risky["SELLER"]
    assert (out.loc[train["SELLER"] == "", "RiskH.SELLER"] == 1).all()
    assert y.sum() > 0


def test_out_of_fold_profiles_do_not_see_their_own_label(export):
    train, _ = _frames(export)
    # a category per row: in reference mode its rate is its own label; out of fold it is unseen (0)
    train = train.assign(SELLER=[f"U{i}" for i in range(len(train))])
    ref = AutoFeatures(entities=["SELLER"], risk_flags="reference", seed=0).fit_transform(train)
    oof = AutoFeatures(entities=["SELLER"], risk_flags="out_of_fold", seed=0).fit_transform(train)
    assert np.corrcoef(ref["RiskR.SELLER"], train["illicit"])[0, 1] > 0.99
    assert (oof["RiskR.SELLER"] == 0).all()


def test_auto_features_without_a_schema_are_refused(compose_small, tmp_path):
    with pytest.raises(ValueError, match="features=auto reads the roles of a declared schema"):
        run(compose_small("features=auto", "model=random"), tmp_path / "run")


def test_with_a_revenue_role_revenue_models_and_metrics_are_there(compose_small, tmp_path):
    rep = run(compose_small("data.schema=date", "model=xgb_revenue", f"cache_dir={tmp_path}"), tmp_path / "run")
    assert rep["tasks"] == ["illicit", "revenue"] and rep["features"]["kind"] == "auto"
    assert "test/revenue@1" in rep["metrics"] and rep["metrics"]["test/revenue@10"] > 0.1
