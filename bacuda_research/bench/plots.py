"""PNG plots of aggregated run reports (matplotlib, Agg backend: no display needed).

* :func:`plot_selection_curves`: precision, recall and revenue against the inspection rate (the
  ``test/<metric>@<n>`` keys, n = % of declarations inspected), one line per table row, mean over
  seeds with a +- std band.
* :func:`plot_hs_levels`: HS accuracy@1 by level (``test/hs2/acc@1``, ``test/hs4/acc@1``, ...), one
  bar per table row, +- std error bars.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import pandas as pd

CURVE_METRICS = ("precision", "recall", "revenue")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def selection_percents(columns: Sequence[str], metric: str = "precision") -> list[float]:
    """The inspection rates n with a ``test/<metric>@n`` column, ascending."""
    out = set()
    for c in columns:
        m = re.fullmatch(rf"test/{metric}@([0-9.]+)", c)
        if m:
            out.add(float(m.group(1)))
    return sorted(out)


def hs_levels(columns: Sequence[str], k: int = 1) -> list[int]:
    """The HS levels L with a ``test/hsL/acc@k`` column, ascending."""
    return sorted({int(m.group(1)) for c in columns if (m := re.fullmatch(rf"test/hs(\d+)/acc@{k}", c))})


def _label(row: pd.Series, keys: Sequence[str]) -> str:
    return " / ".join(str(row[k]) for k in keys) or "all"


def _n(p: float) -> str:
    return str(int(p)) if float(p).is_integer() else str(p)


def plot_selection_curves(df: pd.DataFrame, group: Sequence[str], out: str | Path, facet: str | None = None,
                          title: str | None = None) -> Path | None:
    """Precision / recall / revenue at n% inspected, per row; ``facet`` splits rows into panel rows.

    ``df`` holds one row per run (``tables.load_rows``). Returns the PNG path, or None when the
    reports have no ``test/precision@n`` keys.
    """
    from bacuda_research.bench.tables import aggregate

    percents = selection_percents(df.columns)
    if not percents:
        return None
    # runs without a revenue column report no revenue@n: no revenue panel then
    curves = [m for m in CURVE_METRICS if any(f"test/{m}@{_n(p)}" in df.columns for p in percents)]
    metrics = [f"test/{m}@{_n(p)}" for m in curves for p in percents]
    agg = aggregate(df, [m for m in metrics if m in df.columns], group)
    facets = list(dict.fromkeys(agg[facet])) if facet else [None]
    line_keys = [g for g in group if g != facet]
    plt = _pyplot()
    fig, axes = plt.subplots(len(facets), len(curves), figsize=(5 * len(curves), 3.8 * len(facets)), squeeze=False)
    for i, fv in enumerate(facets):
        rows = agg if fv is None else agg[agg[facet] == fv]
        for j, metric in enumerate(curves):
            ax = axes[i][j]
            for _, r in rows.iterrows():
                xs = [p for p in percents if not pd.isna(r.get(f"test/{metric}@{_n(p)} mean"))]
                if not xs:
                    continue
                mu = [r[f"test/{metric}@{_n(p)} mean"] for p in xs]
                sd = [r[f"test/{metric}@{_n(p)} std"] for p in xs]
                line, = ax.plot(xs, mu, marker="o", ms=3, label=_label(r, line_keys))
                ax.fill_between(xs, [m - s for m, s in zip(mu, sd)], [m + s for m, s in zip(mu, sd)],
                                color=line.get_color(), alpha=0.15, linewidth=0)
            ax.set_xlabel("inspection rate (% of declarations)")
            ax.set_ylabel(f"test {metric}")
            ax.set_xticks(percents)
            ax.grid(alpha=0.3)
            ax.set_title(f"{metric}" + (f" ({facet}={fv})" if fv is not None else ""))
        axes[i][-1].legend(fontsize=7, loc="best")
    fig.suptitle((title + "\n" if title else "") + "mean over seeds, band = ± std", fontsize=10)
    fig.tight_layout()
    return _save(plt, fig, out)


def plot_hs_levels(df: pd.DataFrame, group: Sequence[str], out: str | Path, k: int = 1,
                   title: str | None = None) -> Path | None:
    """HS accuracy@k by level (HS2, HS4, HS6), one bar per row; None when there are no HS keys."""
    from bacuda_research.bench.tables import aggregate

    levels = hs_levels(df.columns, k)
    if not levels:
        return None
    metrics = [f"test/hs{lv}/acc@{k}" for lv in levels]
    agg = aggregate(df, metrics, group)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(levels) * max(1, len(agg)) / 2), 3.8))
    width = 0.8 / max(1, len(agg))
    for i, (_, r) in enumerate(agg.iterrows()):
        xs = [j + (i - (len(agg) - 1) / 2) * width for j in range(len(levels))]
        ax.bar(xs, [r[f"{m} mean"] for m in metrics], width, yerr=[r[f"{m} std"] for m in metrics],
               capsize=3, label=_label(r, group))
    ax.set_xticks(range(len(levels)), [f"HS{lv}" for lv in levels])
    ax.set_ylabel(f"test accuracy@{k}")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title((title + "\n" if title else "") + "mean over seeds, bars = ± std", fontsize=10)
    fig.tight_layout()
    return _save(plt, fig, out)


def _save(plt, fig, out: str | Path) -> Path:
    """Write the figure as PNG atomically (no software/date metadata, so reruns are byte-identical)."""
    from bacuda_research.core.io import atomic_path

    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png", metadata={"Software": None})
    plt.close(fig)
    return out
