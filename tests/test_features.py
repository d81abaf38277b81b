"""DATE features: derived columns, risk flags fitted on train only, no label leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bacuda_research.declarations.features import PROFILES, DeclarationFeatures, add_derived, risky_categories
from bacuda_research.declarations.schema import load_declarations
from bacuda_research.declarations.split import time_split
from bacuda_research.declarations.synthetic import generate_declarations


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    path = tmp_path_factory.mktemp("feat") / "d.csv"
    generate_declarations(rows=5000, seed=3).to_csv(path, index=False)
    return load_declarations(path)


def test_derived_ratios_levels_and_zero_denominators():
    df = pd.DataFrame({
        "sgd.date": pd.to_datetime(["2013-01-02", "2013-12-31"]), "importer.id": ["a", "b"],
        "declarant.id": ["d", "d"], "country": ["c", "c"], "office.id": ["o", "o"],
        "tariff.code": [8432106340, 84321063], "quantity": [10.0, 0.0], "gross.weight": [0.0, 5.0],
        "fob.value": [80.0, 8.0], "cif.value": [100.0, 10.0], "total.taxes": [20.0, 1.0],
    })
    out = add_derived(df, tariff_digits=10)
    assert out["Unitprice"].tolist() == [10.0, 0.0]  # zero quantity -> ratio 0, not inf
    assert out["WUnitprice"].tolist() == [0.0, 2.0]
    assert out.loc[0, "HS6"] == 843210 and out.loc[0, "HS4"] == 8432 and out.loc[0, "HS2"] == 84
    assert out.loc[0, "SGD.WeekofYear"] == 1 and out.loc[1, "SGD.WeekofYear"] == 1  # ISO weeks
    out8 = add_derived(df.iloc[[1]], tariff_digits=8)
    assert out8["HS6"].iloc[0] == 843210  # 8-digit national codes


def test_risky_categories_rule():
    keys = pd.Series(["a"] * 10 + ["b"] * 10 + ["c"] * 5 + [f"z{i}" for i in range(7)])
    y = np.array([1] * 5 + [0] * 5 + [1] * 8 + [0] * 2 + [1] * 5 + [0] * 7, dtype=float)
    # rates with smoothing 10: a 5/20, b 8/20, c 5/15, z* 0/11; 10 categories -> int(1) + 1 = 2 risky
    assert risky_categories(keys, y, 10, 0.1) == ["b", "c"]


FRACTIONS = (0.7, 0.1, 0.2)


@pytest.mark.parametrize("mode", ["reference", "out_of_fold"])
def test_no_leakage_from_valid_test_labels(tmp_path, mode):
    """The data module fits the features on the training rows only: flipping every validation and
    test label in the file changes no feature of any split, while flipping the training labels does
    (the flags depend on labels, so the comparison can fail)."""
    from bacuda_research.fraud.datamodule import DeclarationsDataModule

    raw = generate_declarations(rows=5000, seed=3)
    raw.to_csv(tmp_path / "d.csv", index=False)
    train, _, _ = time_split(load_declarations(tmp_path / "d.csv"), fractions=FRACTIONS)
    in_train = raw["sgd.id"].isin(train["sgd.id"]).to_numpy()
    assert 0 < in_train.sum() < len(raw)

    def features(flip: np.ndarray) -> dict[str, np.ndarray]:
        df = raw.copy()
        df.loc[flip, "illicit"] = 1 - df.loc[flip, "illicit"]
        df.loc[df["illicit"] == 0, "revenue"] = 0  # a licit row recovers nothing (validated)
        path = tmp_path / f"flip{int(flip.sum())}.csv"
        df.to_csv(path, index=False)
        dm = DeclarationsDataModule(data={"path": str(path), "date_format": "%y-%m-%d",
                                          "split": {"fractions": list(FRACTIONS)}},
                                    features={"risk_flags": mode}, seed=1)
        dm.setup()
        return {s: dm.splits[s].X for s in ("train", "valid", "test")}

    base = features(np.zeros(len(raw), dtype=bool))
    later = features(~in_train)
    for s in base:
        np.testing.assert_array_equal(base[s], later[s], err_msg=s)
    train_flipped = features(in_train)
    assert all(not np.array_equal(base[s], train_flipped[s]) for s in base)


def test_out_of_fold_flags_do_not_use_own_label(frame):
    """Flipping one training row's label changes that row's reference flags (its own label counts
    towards its categories' risk) but never its out-of-fold flags (fitted on the other folds)."""
    train, _, _ = time_split(frame, fractions=FRACTIONS)
    flag_columns = slice(len(DeclarationFeatures().columns) - len(PROFILES), None)

    def flags(df: pd.DataFrame, mode: str) -> np.ndarray:
        fe = DeclarationFeatures(risk_flags=mode, seed=0, risk_folds=5)
        return fe.matrix(fe.fit_transform(df))[:, flag_columns]

    ref, oof = flags(train, "reference"), flags(train, "out_of_fold")
    label = train.columns.get_loc("illicit")
    rows = [14, 17, 40, 41]
    assert sorted(train["illicit"].iloc[rows].unique()) == [0, 1]  # both directions of the flip
    for row in rows:
        flipped = train.copy()
        flipped.iloc[row, label] = 1 - flipped.iloc[row, label]
        assert (flags(flipped, "reference")[row] != ref[row]).any(), row  # the label matters here ...
        np.testing.assert_array_equal(flags(flipped, "out_of_fold")[row], oof[row], err_msg=str(row))  # ... not here


def test_roundtrip_and_unseen_categories(frame):
    train, valid, _ = time_split(frame, fractions=(0.7, 0.1, 0.2))
    fe = DeclarationFeatures().fit(train)
    fe2 = DeclarationFeatures.from_dict(fe.to_dict())
    np.testing.assert_array_equal(fe.matrix(fe.transform(valid)), fe2.matrix(fe2.transform(valid)))
    unseen = valid.iloc[:3].copy()
    unseen["importer.id"] = "NEVER-SEEN"
    assert (fe.importer_index(fe.transform(unseen)) == 0).all()
    assert len(fe.columns) == 29 and len(PROFILES) == 12
