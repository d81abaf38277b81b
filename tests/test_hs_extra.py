"""``data.real.extra``: training-only real descriptions (hs/task.py add_real, hs/realdesc.py read_extra).
They join the training split only, and no row equal to a validation, held-out or smoke-set text does."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from bacuda_research.core.config import compose
from bacuda_research.hs.nomenclature import load_nomenclature
from bacuda_research.hs.synthetic import fixture_overrides, write_fixture
from bacuda_research.hs.task import build_data

FAST = ["logger=csv", "trainer.enable_progress_bar=false", "data.augment_copies=1"]


def _write(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = write_fixture(tmp_path_factory.mktemp("hsextra"))
    nom = load_nomenclature(root / "data/hs/harmonized_system/harmonized-system.csv")
    words = [f"{chr(97 + i % 26)}{chr(97 + i // 26)}q" for i in range(60)]
    _write(root / "real.csv", ["Goods Description", "Commodity Code"],
           [(f"{wd} gadget {j}", nom.hs6[(i + j) % len(nom.hs6)] + "0000") for i, wd in enumerate(words) for j in range(3)])
    return root


def _cfg(root, *extra):
    return compose(["experiment=hs_tiny", *FAST, *fixture_overrides(root), f"data.real.path={root}/real.csv", *extra])


def test_extra_rows_train_only_and_never_an_evaluation_text(root):
    nom = load_nomenclature(root / "data/hs/harmonized_system/harmonized-system.csv")
    _, base, _, _ = build_data(_cfg(root, "data.real.extra=[]").data, 0)
    bench = pd.read_csv(root / "data/hs/hsclassify_micro_benchmark/benchmark_cases.csv", dtype=str)
    held, smoke = base["real"]["text"].iloc[0], bench["text"].iloc[0]
    heading = next(c for c in nom.hs4 if not nom.contains(c + "00"))
    extra = _write(root / "extra.csv", ["text", "code"],
                   [("copper widget", nom.hs6[0] + "0000"), (held.upper(), nom.hs6[1]),
                    ("some heading thing", heading), (smoke, nom.hs6[2])])
    _, splits, stats, _ = build_data(_cfg(root, f"data.real.extra=[{extra}]").data, 0)
    for name in ("val", "test", "real"):
        pd.testing.assert_frame_equal(splits[name], base[name])
    added = splits["train"][splits["train"]["source"] == "real_extra"]
    assert sorted(added["text"]) == ["copper widget", "some heading thing"]
    assert added.set_index("text").loc["some heading thing", "hs4"] == heading
    assert stats["real_extra_dropped_equal_to_real_test"] == 1 and stats["real_extra_dropped_equal_to_smoke_set"] == 1
    pd.testing.assert_frame_equal(splits["train"][splits["train"]["source"] != "real_extra"].reset_index(drop=True),
                                  base["train"])


def test_no_extra_rows_when_real_rows_are_not_trained_on(root):
    _, splits, stats, _ = build_data(_cfg(root, "data.real.train=false").data, 0)
    assert not (splits["train"]["source"] == "real_extra").any() and "real_extra_rows" not in stats
