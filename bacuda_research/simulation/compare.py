"""Several finished simulation runs side by side: a table over seeds and overlaid weekly curves.

``collect(root)`` reads every run folder below ``root`` that has ``DONE``; ``table`` gives, per
strategy, the mean and standard deviation over seeds of the last-13-week means (the papers' number
at the end of a run); ``overlay_plot`` draws each strategy's 13-week moving average of a weekly
metric, mean over seeds with a +-1 sd band. Runs on different data (sha256) are refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from bacuda_research.simulation.plots import moving_average, pyplot, save_figure

METRICS = ("norm_precision@last13", "norm_revenue@last13", "norm_recall@last13")


def collect(root: str | Path) -> pd.DataFrame:
    """One row per finished run: strategy, seed, data, plan, folder and the summary."""
    rows = []
    for done in sorted(Path(root).rglob("DONE")):
        folder = done.parent
        rec = json.loads((folder / "simulation.json").read_text(encoding="utf-8"))
        cfg = rec["config"]
        rows.append({"strategy": cfg["strategy"]["name"], "seed": rec["seed"], "data": cfg["data"]["name"],
                     "plan": cfg["plan"]["kind"], "final_rate": cfg["plan"]["final_rate"],
                     "data_sha256": rec["data_sha256"], "folder": str(folder), **rec["summary"]})
    df = pd.DataFrame(rows)
    if len(df) and df["data_sha256"].nunique() > 1:
        raise ValueError(f"{root}: runs on different data ({sorted(df['data_sha256'].unique())}); compare one dataset")
    return df


def read_weeks(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each run's ``weeks.csv`` by folder, read once for every table and plot that needs it."""
    return {f: pd.read_csv(Path(f) / "weeks.csv") for f in runs["folder"]}


def table(runs: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Per strategy: mean, sd over seeds and number of runs of each metric present."""
    present = [m for m in metrics if m in runs]
    g = runs.groupby("strategy", sort=False)
    out = pd.DataFrame({"runs": g.size()})
    for m in present:
        out[f"{m} mean"], out[f"{m} sd"] = g[m].mean(), g[m].std(ddof=1)
    return out.sort_values(f"{present[0]} mean", ascending=False) if present else out



def by_quarter(runs: pd.DataFrame, metric: str = "norm_precision",
               weeks: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Per strategy (rows) and calendar quarter of the screened week (columns): the mean of ``metric``
    over the weeks of that quarter and over seeds. Shows whether a strategy ages as the data drifts.
    ``weeks``: the runs' ``read_weeks`` (read here when None)."""
    weeks = read_weeks(runs) if weeks is None else weeks
    parts = []
    for folder, name in zip(runs["folder"], runs["strategy"]):
        w = weeks[folder][["test_start", metric]]
        parts.append(w.assign(strategy=name, quarter=pd.to_datetime(w["test_start"]).dt.to_period("Q").astype(str)))
    long = pd.concat(parts, ignore_index=True)
    order = list(dict.fromkeys(runs["strategy"]))
    return long.pivot_table(index="strategy", columns="quarter", values=metric, aggfunc="mean").reindex(order)


def part_table(runs: pd.DataFrame, metric: str = "precision@last13") -> pd.DataFrame:
    """Inside hybrids and mixers: per strategy (rows) and part (columns), the mean over seeds of each
    part's own ``metric`` among its own picks (e.g. whether bATE's 10% finds more frauds than random's)."""
    cols = sorted({c for c in runs.columns if c.endswith("/" + metric)})
    if not cols:
        return pd.DataFrame()
    out = runs.groupby("strategy", sort=False)[cols].mean().dropna(how="all")
    return out.rename(columns=lambda c: c.split("/")[0])


def frame_markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A table of numbers (index = strategy) as Markdown; missing values are empty cells."""
    head = "| strategy | " + " | ".join(map(str, frame.columns)) + " |\n" + "|---" * (len(frame.columns) + 1) + "|\n"
    return head + "".join(f"| {name} | " + " | ".join("" if pd.isna(v) else f"{v:.{digits}f}" for v in row) + " |\n"
                          for name, row in frame.iterrows())


def to_markdown(tab: pd.DataFrame) -> str:
    """The table as Markdown with ``mean +- sd`` cells."""
    metrics = [c[:-5] for c in tab.columns if c.endswith(" mean")]
    lines = ["| strategy | " + " | ".join(metrics) + " | runs |", "|---" * (len(metrics) + 2) + "|"]
    for name, r in tab.iterrows():
        cells = [f"{r[m + ' mean']:.3f} ± {r[m + ' sd']:.3f}" if np.isfinite(r[m + " sd"]) else f"{r[m + ' mean']:.3f}"
                 for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {int(r['runs'])} |")
    return "\n".join(lines) + "\n"


def overlay_plot(runs: pd.DataFrame, path: str | Path, metric: str = "norm_precision", title: str = "",
                 weeks: Mapping[str, pd.DataFrame] | None = None) -> Path:
    """Each strategy's 13-week moving average of ``metric`` (mean over seeds, +-1 sd band);
    ``weeks``: the runs' ``read_weeks`` (read here when None)."""
    weeks = read_weeks(runs) if weeks is None else weeks
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (name, group) in enumerate(runs.groupby("strategy", sort=False)):
        curves = [moving_average(weeks[f][metric]) for f in group["folder"]]
        n = min(len(c) for c in curves)
        stack = np.vstack([c.to_numpy()[:n] for c in curves])
        mean, sd = stack.mean(axis=0), stack.std(axis=0, ddof=1) if len(stack) > 1 else np.zeros(n)
        ax.plot(np.arange(n), mean, color=f"C{i % 10}", label=f"{name} ({len(stack)})")
        ax.fill_between(np.arange(n), mean - sd, mean + sd, color=f"C{i % 10}", alpha=0.15)
    ax.set(xlabel="week", ylabel=f"{metric} (13-week moving average)", title=title, ylim=(0, 1.02))
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def end_plot(tab: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """End-of-run bars (``table``'s mean, +-1 sd over seeds): one panel per metric present."""
    plt = pyplot()
    metrics = [c[:-5] for c in tab.columns if c.endswith(" mean") and c[:-5] in ("norm_precision@last13", "norm_revenue@last13")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 0.35 * len(tab) + 1.2), squeeze=False)
    y = np.arange(len(tab))
    for ax, m in zip(axes[0], metrics):
        ax.barh(y, tab[m + " mean"], xerr=tab[m + " sd"].fillna(0), color="C0", alpha=0.8, capsize=2)
        ax.set(yticks=y, yticklabels=[f"{s} ({int(n)})" for s, n in zip(tab.index, tab["runs"])], xlabel=m,
               xlim=(0, 1))
        ax.invert_yaxis()
    axes[0][0].set_title(title, fontsize=9, loc="left")
    return save_figure(fig, path)
