"""Real goods descriptions (hs/realdesc.py, the packaged corpus and its card) and calibration (hs/calibration.py)."""

from __future__ import annotations

import csv
import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from bacuda_research.hs.calibration import apply_temperature, brier, coverage_table, ece, fit_temperature, nll
from bacuda_research.hs.nomenclature import load_nomenclature
from bacuda_research.hs.realdesc import PACKAGED, PACKAGED_EXTRA, dedup_key, group_key, part_of, read_extra, read_real, split_real, train_share
from bacuda_research.hs.synthetic import write_fixture


@pytest.fixture(scope="module")
def nom(tmp_path_factory):
    root = write_fixture(tmp_path_factory.mktemp("hsfx"))
    return load_nomenclature(root / "data/hs/harmonized_system/harmonized-system.csv")


def test_packaged_file_matches_its_card():
    card = (PACKAGED.parent / "CARD.md").read_text(encoding="utf-8")
    sha = re.search(r"sha256 `([0-9a-f]{64})`", card).group(1)
    assert hashlib.sha256(PACKAGED.read_bytes()).hexdigest() == sha
    with PACKAGED.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Goods Description", "Commodity Code"] and len(rows) - 1 == 2358
    assert (PACKAGED.parent / "LICENCE-trade-tariff-backend.txt").read_text().startswith("The MIT License")


def test_packaged_extra_file_matches_its_card():
    path = PACKAGED_EXTRA["hmrc_references"]
    card = (path.parent / "CARD.md").read_text(encoding="utf-8")
    sha = re.search(r"hmrc_references.csv.*?sha256 `([0-9a-f]{64})`", card, re.S).group(1)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["text", "code", "origin"] and len(rows) - 1 == 6210
    assert (path.parent / "LICENCE-trade-tariff-lambdas-fpo-search.txt").read_text().startswith("The MIT License")


def test_extra_rows_keep_headings_and_never_equal_an_evaluation_text(tmp_path, nom):
    heading = next(c for c in nom.hs4 if not nom.contains(c + "00"))
    f = tmp_path / "x.csv"
    with f.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "code"])
        w.writerows([("widget pro", nom.hs6[0] + "0000"), ("Held Out Thing", nom.hs6[1]), ("gizmo", heading),
                     ("smoke text", nom.hs6[2]), ("five", "12345")])
    stats: dict[str, int] = {}
    df = read_extra(str(f), nom, {"real_test": ["held-out thing"], "smoke_set": ["SMOKE TEXT!"]}, stats)
    assert list(df["text"]) == ["widget pro", "gizmo"] and set(df["source"]) == {"real_extra"}
    row = df.set_index("text").loc["gizmo"]
    assert row["hs4"] == heading and row["hs2"] == heading[:2] and pd.isna(row["hs6"])
    assert stats["real_extra_dropped_equal_to_real_test"] == 1 and stats["real_extra_dropped_equal_to_smoke_set"] == 1
    assert stats["real_extra_dropped_malformed_code"] == 1 and stats["real_extra_rows"] == 2


def _write(path, rows):
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Goods Description", "Commodity Code"])
        w.writerows(rows)
    return path


def test_read_drops_broken_and_unknown_codes_and_merges_repeats(tmp_path, nom):
    good = [nom.hs6[0] + "0000", nom.hs6[1] + "00"]
    f = _write(tmp_path / "r.csv", [("Blue Widget", good[0]), ("blue  widget!", good[0]), ("red widget", good[1]),
                                    ("broken line", "dark brun"), ("odd", "999999"), ("short", "12")])
    stats: dict[str, int] = {}
    df = read_real(f, nom, stats=stats)
    assert stats == {"real_rows_read": 6, "real_dropped_malformed_code": 2, "real_dropped_code_not_hs2022": 1,
                     "real_duplicates_merged": 1}
    assert sorted(df["hs6"]) == sorted(c[:6] for c in good) and set(df["source"]) == {"real"}
    assert set(df["lang"]) == {"en"}


def test_split_is_fixed_grouped_and_checks_overlap(tmp_path, nom):
    words = [f"{chr(97 + i % 26)}{chr(97 + i // 26)}q" for i in range(60)]  # 60 distinct 3-letter groups
    rows = [(f"{w} item {j}", nom.hs6[(i + j) % len(nom.hs6)] + "0000") for i, w in enumerate(words) for j in range(3)]
    rows += [("clash text", nom.hs6[0] + "0000"), ("clash text", nom.hs6[1] + "0000")]
    df = read_real(_write(tmp_path / "r.csv", rows), nom)
    a, b = split_real(df, [0.6, 0.2, 0.2]), split_real(df, [0.6, 0.2, 0.2])
    for name in a:  # not seeded: the same rows every time
        assert list(a[name]["text"]) == list(b[name]["text"])
    groups = {name: set(v["group"]) for name, v in a.items()}
    assert not groups["train"] & groups["test"] and not groups["val"] & groups["test"]
    assert all(len(v) for v in a.values())
    held = part_of(group_key("clash text"), [0.6, 0.2, 0.2])
    if held != "train":  # a text with two answers is no test of a model
        assert "clash text" not in set(a[held]["text"])
    victim = a["test"]["text"].iloc[0]
    stats: dict[str, int] = {}
    c = split_real(df, [0.6, 0.2, 0.2], train_texts=[victim.upper() + " ."], stats=stats)
    assert victim not in set(c["test"]["text"]) and stats["real_test_dropped_overlap_with_train"] == 1
    with pytest.raises(ValueError, match="three fractions"):
        split_real(df, [0.5, 0.5])


def test_train_share_is_nested_and_leaves_val_and_test_alone(tmp_path, nom):
    words = [f"{chr(97 + i % 26)}{chr(97 + i // 26)}q" for i in range(80)]
    df = read_real(_write(tmp_path / "r.csv", [(f"{w} item", nom.hs6[i % len(nom.hs6)] + "0000") for i, w in enumerate(words)]), nom)
    parts = split_real(df, [0.6, 0.2, 0.2])
    half, quarter = (train_share(parts["train"], [0.6, 0.2, 0.2], s) for s in (0.5, 0.25))
    assert set(quarter["text"]) < set(half["text"]) < set(parts["train"]["text"])
    assert 0.3 < len(half) / len(parts["train"]) < 0.7
    assert train_share(parts["train"], [0.6, 0.2, 0.2], 1.0) is parts["train"]
    with pytest.raises(ValueError, match="train_share"):
        train_share(parts["train"], [0.6, 0.2, 0.2], 0.0)


def test_keys():
    assert dedup_key("Lay's  Classic-32g") == "lay s classic 32g"
    assert group_key("lay's classic") == group_key("lay s classic") == group_key("LAYS") == "lay"
    assert {part_of(f"g{i}", [0.6, 0.2, 0.2]) for i in range(200)} == {"train", "val", "test"}


def test_temperature_scaling_recovers_overconfidence_and_keeps_ranking():
    rng = np.random.default_rng(0)
    n, c = 4000, 20
    logits = rng.normal(size=(n, c)) * 3
    true_p = np.exp(logits - logits.max(1, keepdims=True))
    true_p /= true_p.sum(1, keepdims=True)
    labels = np.array([rng.choice(c, p=p) for p in true_p])
    sharp = apply_temperature(true_p, 0.5)  # an over-confident model: probabilities squared
    t = fit_temperature(sharp, labels)
    assert 1.7 < t < 2.3 and 1.7 < fit_temperature(sharp, labels, objective="nll") < 2.3
    fixed = apply_temperature(sharp, t)
    assert (fixed.argmax(1) == sharp.argmax(1)).all() and np.allclose(fixed.sum(1), 1)
    assert nll(fixed, labels) < nll(sharp, labels) and brier(fixed, labels) < brier(sharp, labels)
    correct = sharp.argmax(1) == labels
    assert ece(fixed.max(1), correct) < ece(sharp.max(1), correct)
    assert fit_temperature(sharp, np.full(n, -1)) == 1.0


def test_coverage_table_keeps_the_most_confident():
    conf = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    correct = np.array([True, True, False, False, False])
    rows = coverage_table(conf, correct, coverages=(1.0, 0.4))
    assert rows[0] == {"coverage": 1.0, "kept": 5, "threshold": 0.1, "accuracy": 0.4}
    assert rows[1] == {"coverage": 0.4, "kept": 2, "threshold": 0.8, "accuracy": 1.0}


def test_int8_rows_roundtrip_and_compact_bag_sum():
    from bacuda_research.hs.tfidf import SparseRows, bag_sum, dequantize, int8_rows

    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 6)).astype(np.float32)
    table[[3, 7]] = 0
    q, scale = int8_rows(table)
    exact = dequantize(q, scale)
    assert q.dtype == np.int8 and np.abs(exact - table).max() <= scale.max() / 2 + 1e-7
    assert np.array_equal(dequantize(*int8_rows(exact)), exact)  # idempotent: an int8-exact table stays put
    x = SparseRows(np.array([0, 3, 3, 5]), np.array([1, 3, 40, 7, 9], np.int32),
                   rng.random(5).astype(np.float32), 50)
    rows = np.flatnonzero(np.any(exact != 0, axis=1)).astype(np.int32)
    full = bag_sum(exact, x)
    np.testing.assert_allclose(bag_sum(exact[rows], x, rows), full, atol=1e-6)
    np.testing.assert_allclose(bag_sum(q[rows], x, rows, scale[rows]), full, atol=1e-6)
    assert not full[1].any()


def test_calibration_is_fitted_on_real_validation_rows_when_there_are_enough(nom):
    import pandas as pd
    import torch

    from bacuda_research.hs.task import fit_calibration

    rng = np.random.default_rng(1)
    n, c = 300, len(nom.hs6)
    labels = rng.integers(0, c, n)
    probs = np.full((n, c), 0.2 / (c - 1))
    probs[np.arange(n), labels] = 0.8  # right with 0.8 ...
    real = np.arange(n) < 150
    probs[real] = np.roll(probs[real], 1, axis=1)  # ... except on the real rows, where it is always wrong
    val = pd.DataFrame({"hs6": [nom.hs6[i] for i in labels], "source": np.where(real, "real", "eu_cn_en")})
    on_real = fit_calibration(torch.from_numpy(probs), val, nom)
    on_all = fit_calibration(torch.from_numpy(probs), val, nom, min_real=1000)
    assert on_real["fitted_on"] == "val (real descriptions)" and on_real["n"] == 150
    assert on_all["fitted_on"] == "val" and on_all["n"] == n
    assert on_real["temperature"] > on_all["temperature"]  # always wrong there: flatten harder
