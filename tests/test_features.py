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


@pytest.mark.parametrize("mode", ["reference", "out_of_fold"])
def test_no_leakage_from_valid_test_labels(frame, mode):
    train, valid, test = time_split(frame, fractions=(0.7, 0.1, 0.2))
    a = DeclarationFeatures(risk_flags=mode, seed=1)
    fa = a.fit_transform(train)
    valid2, test2 = valid.copy(), test.copy()
    valid2["illicit"] = 1 - valid2["illicit"]
    test2["illicit"] = 1 - test2["illicit"]
    b = DeclarationFeatures(risk_flags=mode, seed=1)
    fb = b.fit_transform(train)
    np.testing.assert_array_equal(a.matrix(fa), b.matrix(fb))
    np.testing.assert_array_equal(a.matrix(a.transform(test)), b.matrix(b.transform(test2)))
    assert a.to_dict() == b.to_dict()


def test_out_of_fold_flags_do_not_use_own_label(frame):
    train, _, _ = time_split(frame, fractions=(0.7, 0.1, 0.2))
    fe = DeclarationFeatures(risk_flags="out_of_fold", seed=0, risk_folds=5)
    base = fe.matrix(fe.fit_transform(train))
    flipped = train.copy()
    row = 17
    flipped.loc[row, "illicit"] = 1 - flipped.loc[row, "illicit"]
    fe2 = DeclarationFeatures(risk_flags="out_of_fold", seed=0, risk_folds=5)
    other = fe2.matrix(fe2.fit_transform(flipped))
    # the flipped row's own flags are computed from the other folds only
    np.testing.assert_array_equal(base[row, 17:], other[row, 17:])


def test_roundtrip_and_unseen_categories(frame):
    train, valid, _ = time_split(frame, fractions=(0.7, 0.1, 0.2))
    fe = DeclarationFeatures().fit(train)
    fe2 = DeclarationFeatures.from_dict(fe.to_dict())
    np.testing.assert_array_equal(fe.matrix(fe.transform(valid)), fe2.matrix(fe2.transform(valid)))
    unseen = valid.iloc[:3].copy()
    unseen["importer.id"] = "NEVER-SEEN"
    assert (fe.importer_index(fe.transform(unseen)) == 0).all()
    assert len(fe.columns) == 29 and len(PROFILES) == 12
