"""Per-run plots of a simulation (matplotlib, headless): written into ``<run>/plots/``.

- ``weekly.png``: norm_precision and norm_revenue each week with their 13-week moving average;
- ``cumulative.png``: cumulative frauds found (and revenue, when the data has revenue);
- ``exploration.png``: the exploration ratio used and the drift score (adaptive strategies);
- ``arms.png``: the bandit's arm probabilities by week (a heatmap; adaptive strategies).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

WINDOW = 13


def moving_average(values: pd.Series, window: int = WINDOW) -> pd.Series:
    """Trailing mean over ``window`` weeks (shorter at the start; NaN weeks skipped)."""
    return values.astype(float).rolling(window, min_periods=1).mean()


def pyplot():
    """matplotlib's pyplot on the headless Agg backend (imported on first use: plotting is optional)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as PNG through a temporary file and rename (never a half-written plot), then close it."""
    from bacuda_research.core.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight")
    pyplot().close(fig)
    return Path(path)


def write_plots(weeks: pd.DataFrame, out_dir: str | Path, title: str = "") -> list[Path]:
    """Write the plots that apply to these weekly rows (``weeks.csv`` alone decides them, so they
    can be redrawn from a run folder); returns their paths."""
    plt = pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig, name: str) -> None:
        written.append(save_figure(fig, out_dir / name))

    x = weeks["week"].to_numpy()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    # norm_recall is not drawn: it equals norm_precision whenever k declarations were inspected
    for i, col in enumerate(c for c in ("norm_precision", "norm_revenue") if c in weeks):
        ax.plot(x, weeks[col], color=f"C{i}", alpha=0.35, lw=1)
        ax.plot(x, moving_average(weeks[col]), color=f"C{i}", lw=2, label=f"{col} ({WINDOW}-week mean)")
    ax.set(xlabel="week", ylabel="normalised metric", title=title, ylim=(0, 1.05))
    ax.legend(fontsize=8)
    save(fig, "weekly.png")

    cols = [c for c in ("cum_frauds", "cum_revenue") if c in weeks]
    fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 3.2), squeeze=False)
    for ax, col in zip(axes[0], cols):
        ax.plot(x, weeks[col])
        ax.set(xlabel="week", title=col)
    save(fig, "cumulative.png")

    if "exploration_ratio" in weeks:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.plot(x, weeks["exploration_ratio"], label="exploration ratio", drawstyle="steps-mid")
        if "drift_score" in weeks:
            ax.plot(x, weeks["drift_score"], label="drift score")
        ax.set(xlabel="week", ylim=(-0.02, 1.02), title=title)
        ax.legend(fontsize=8)
        save(fig, "exploration.png")

    arms = [c for c in weeks.columns if c.startswith("p_arm")]
    if arms:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        grid = weeks[arms].to_numpy(np.float64).T
        im = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis",
                       extent=(x.min() - 0.5, x.max() + 0.5, -0.025, 1.025))
        ax.set(xlabel="week", ylabel="exploration ratio (arm)", title="arm probabilities")
        fig.colorbar(im, ax=ax)
        save(fig, "arms.png")
    return written
