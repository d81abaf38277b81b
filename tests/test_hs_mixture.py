"""Mixture selection on chosen validation rows (``model.mixture.rows``), on small generated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from bacuda_research.hs.train import choose_mixture, mixture_rows


class _Stub:
    """What ``choose_mixture`` needs of ``HSLitModule``: ``components``, ``mixed``, ``mix``, ``device``."""

    def __init__(self, parts: dict[str, torch.Tensor]) -> None:
        self.parts = parts
        self.mix = torch.tensor([1.0, 0.0, 0.0])
        self.device = torch.device("cpu")

    def eval(self) -> "_Stub":
        return self

    def components(self, pooled: torch.Tensor, lex_rows=None) -> dict[str, torch.Tensor]:
        rows = pooled[:, 0].long()  # the "pooled vector" carries the row number
        return {k: v[rows] for k, v in self.parts.items()}

    def mixed(self, parts, mix=None):
        from bacuda_research.hs.module import HSLitModule

        return HSLitModule.mixed(self, parts, mix)


def _val(n_nom: int, n_real: int) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"t{i}" for i in range(n_nom + n_real)],
                         "source": ["hs2022"] * n_nom + ["real"] * n_real})


def _parts(n_nom: int, n_real: int, n_classes: int = 4) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """Heads right on the nomenclature rows only, the embedding kNN right on the real rows only."""
    rng = np.random.default_rng(0)
    n = n_nom + n_real
    y = rng.integers(0, n_classes, n)
    wrong = (y + 1) % n_classes
    heads = torch.full((n, n_classes), 0.1)
    knn = torch.full((n, n_classes), 0.1)
    is_real = np.arange(n) >= n_nom
    heads[np.arange(n), np.where(is_real, wrong, y)] = 0.7
    knn[np.arange(n), np.where(is_real, y, wrong)] = 0.7
    return {"heads": heads, "embed_knn": knn}, y


def test_mixture_rows_real_or_all_and_fallback():
    rows, name = mixture_rows(_val(300, 120), "real")
    assert name == "val (real descriptions)" and rows.sum() == 120 and not rows[:300].any()
    rows, name = mixture_rows(_val(300, 50), "real")  # too few real rows: every row, like the calibration fit
    assert name == "val" and rows.all()
    rows, name = mixture_rows(_val(30, 150), "all")
    assert name == "val" and rows.all()
    assert mixture_rows(_val(10, 0).drop(columns="source"), "real")[1] == "val"
    with pytest.raises(ValueError, match="mixture.rows"):
        mixture_rows(_val(3, 3), "some")


def test_choose_mixture_follows_the_rows_it_is_given():
    n_nom, n_real = 300, 120
    parts, y = _parts(n_nom, n_real)
    pooled = torch.arange(n_nom + n_real, dtype=torch.float32)[:, None]
    val = _val(n_nom, n_real)

    module = _Stub(parts)
    got = choose_mixture(module, pooled, None, y, 0.5, *mixture_rows(val, "all"))
    assert got["weights"] == [1.0, 0.0, 0.0] and got["chosen_on"] == "val" and got["n"] == n_nom + n_real
    assert module.mix.tolist() == [1.0, 0.0, 0.0]

    module = _Stub(parts)
    got = choose_mixture(module, pooled, None, y, 0.5, *mixture_rows(val, "real"))
    assert got["weights"] == [0.0, 1.0, 0.0] and got["chosen_on"] == "val (real descriptions)"
    assert got["n"] == n_real and got["val_hs6_acc1"] == pytest.approx(1.0)
    assert got["val_hs6_acc1_of_previous_mix"] == pytest.approx(0.0)  # heads only, wrong on every real row
    assert module.mix.tolist() == [0.0, 1.0, 0.0]
    # the single-component accuracies are those of the chosen rows
    assert got["val_hs6_acc1_single"]["heads"] == pytest.approx(0.0)
