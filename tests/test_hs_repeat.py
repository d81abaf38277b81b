"""``data.real.repeat``: the real goods descriptions' training rows repeated N times (hs/task.py repeat_real),
validation and held-out rows untouched, the default (1) the data of before."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from bacuda_research.core.config import compose
from bacuda_research.hs.nomenclature import load_nomenclature
from bacuda_research.hs.synthetic import fixture_overrides, write_fixture
from bacuda_research.hs.task import add_noisy_copies, build_data, is_repeat, repeat_real
from bacuda_research.run import run

FAST = ["logger=csv", "trainer.enable_progress_bar=false", "data.augment_copies=1", "data.benchmark=null"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = write_fixture(tmp_path_factory.mktemp("hsrep"))
    nom = load_nomenclature(root / "data/hs/harmonized_system/harmonized-system.csv")
    words = [f"{chr(97 + i % 26)}{chr(97 + i // 26)}q" for i in range(60)]  # 60 first-word groups
    with (root / "real.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Goods Description", "Commodity Code"])
        w.writerows((f"{wd} gadget {j}", nom.hs6[(i + j) % len(nom.hs6)] + "0000")
                    for i, wd in enumerate(words) for j in range(3))
    return root


def _cfg(root, *extra):
    return compose(["experiment=hs_tiny", *FAST, *fixture_overrides(root), f"data.real.path={root}/real.csv", *extra])


def test_default_is_one_and_changes_nothing(root):
    cfg = _cfg(root)
    assert cfg.data.real.repeat == 1
    _, splits, _, _ = build_data(cfg.data, 0)
    train = add_noisy_copies(splits["train"], 1, 0)
    assert repeat_real(train, 1) is train and not is_repeat(train).any()
    with pytest.raises(ValueError, match="repeat"):
        repeat_real(train, 0)


def test_each_real_train_row_n_times_and_held_out_untouched(root):
    n = 4
    _, base, _, _ = build_data(_cfg(root).data, 0)
    _, splits, _, _ = build_data(_cfg(root, f"data.real.repeat={n}").data, 0)
    for name in ("train", "val", "test", "real"):  # repeats are made after the split, for training only
        pd.testing.assert_frame_equal(splits[name], base[name])
    train = add_noisy_copies(splits["train"], 1, 0)
    out = repeat_real(train, n)
    pd.testing.assert_frame_equal(out.iloc[:len(train)], train)  # the rows of before come first, unchanged
    real = train[train["source"] == "real"]
    assert len(real) > 0
    clean_real = out[out["source"].isin(["real", "real~rep"])]
    assert clean_real.groupby(["text", "hs6"]).size().eq(n).all() and len(clean_real) == n * len(real)
    assert set(clean_real.groupby(["text", "hs6"]).size().index) == set(zip(real["text"], real["hs6"]))
    # noisy copies and nomenclature rows: once, as before
    other = ~out["source"].isin(["real", "real~rep"])
    pd.testing.assert_frame_equal(out[other].reset_index(drop=True),
                                  train[train["source"] != "real"].reset_index(drop=True))
    reps = out[is_repeat(out)]  # each repeat points at the clean row it copies (its encoder vector)
    assert (out.loc[reps["parent"].to_numpy(), "text"].to_numpy() == reps["text"].to_numpy()).all()


def test_run_trains_on_repeats_and_scores_the_same_rows(root, tmp_path):
    reports = {}
    for n in (1, 3):
        cfg = _cfg(root, "trainer.max_epochs=1", f"data.real.repeat={n}", f"cache_dir={tmp_path}/cache")
        reports[n] = run(cfg, tmp_path / f"r{n}")
    c1, c3 = (reports[n]["hs"]["counts"] for n in (1, 3))
    assert c3["train_rows_with_copies"] == c1["train_rows_with_copies"] + 2 * c1["real_train_rows"]
    for key in ("train_rows", "val_rows", "test_rows", "real_rows", "real_val_rows", "real_test_rows"):
        assert c3[key] == c1[key]
    m1, m3 = reports[1]["metrics"], reports[3]["metrics"]
    for key in ("val/n", "test/n", "real/n", "val/real/n"):
        assert m1[key] == m3[key]
    assert m1["val/real/n"] == c1["real_val_rows"] > 0
    # repeats stay out of the kNN indexes
    assert reports[1]["hs"]["lexical_index_rows"] == reports[3]["hs"]["lexical_index_rows"]
