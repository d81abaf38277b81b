"""Revenue comparisons with their uncertainty: paired bootstrap intervals and the precision-revenue
trade-off, from committed baseline runs.

Per-declaration predictions are not committed, so the test scores are *recomputed*: each baseline
run is re-fitted from its own ``report.json`` config (same data, seed and settings; the classic
baselines train in seconds) and its recomputed test metrics must equal the committed ones, or the
comparison stops (``rescore_run``). DATE runs are not re-scored: their checkpoints are not
committed, so DATE enters only through its reports (seed means at the reported percents).

``compare_revenue`` then, per risk-flag mode: the paired bootstrap over test declarations
(``metrics.bootstrap``; each model's metric averaged over its seed runs on every resample) for the
chosen pairs, and precision@n / revenue@n for n = 1..20 % for the trade-off plot.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from bacuda_research.metrics.bootstrap import paired_interval, resampled_metrics
from bacuda_research.metrics.selection import DEFAULT_PERCENTS, pct_key, top_percent_metrics

log = logging.getLogger("bacuda_research")

TRADEOFF_PERCENTS = tuple(range(1, 21))
# (A, B): A - B is reported; what each pair asks
DEFAULT_PAIRS = (
    ("xgb_expected", "largest"),   # does a model beat "inspect the biggest first"?
    ("xgb_revenue", "largest"),
    ("xgb_expected", "xgb_revenue"),  # expected revenue vs predicted log revenue
    ("xgb_expected", "xgboost"),   # what ranking by expected revenue costs in precision
)


def rescore_run(run_dir: str | Path, cache_dir: str | None = None, threads: int | None = None) -> dict[str, np.ndarray]:
    """A committed classic baseline run's test scores and labels, recomputed from its report's config
    (at ``threads`` when given, else the run's own setting; ``cache_dir`` when given, else the run's).

    Returns ``scores``, ``illicit`` and ``revenue`` (test rows in file order). Raises when a
    recomputed test metric differs from the committed report's (the scores would not be the run's).
    """
    from bacuda_research.fraud.baselines import build_baseline
    from bacuda_research.fraud.task import build_datamodule

    rep = json.loads((Path(run_dir) / "report.json").read_text(encoding="utf-8"))
    cfg = OmegaConf.create(rep["config"])
    if cfg.model.family != "classic":
        raise ValueError(f"{run_dir}: only classic baselines can be re-scored (model.family={cfg.model.family})")
    if cache_dir is not None:
        cfg.cache_dir = cache_dir
    if threads is not None:
        cfg.threads = threads
    dm = build_datamodule(cfg)
    dm.setup()
    if rep.get("data_sha256") and dm.data_sha256 != rep["data_sha256"]:
        raise ValueError(f"{run_dir}: the data file changed since the run (sha256 {dm.data_sha256[:12]} "
                         f"!= {rep['data_sha256'][:12]})")
    kwargs = OmegaConf.to_container(cfg.model, resolve=True)
    model = build_baseline(kwargs.pop("kind"), seed=int(cfg.seed), threads=cfg.get("threads"), cache_dir=cfg.cache_dir,
                           feature_names=dm.features.columns, flag_columns=dm.features.flag_columns,
                           **{k: v for k, v in kwargs.items() if k in ("xgb", "lr", "by", "revenue_given_illicit")})
    model.fit(dm.splits["train"])
    test = dm.splits["test"]
    scores = np.asarray(model.predict(test)[0], dtype=np.float64)
    again = top_percent_metrics(scores, test.illicit, test.revenue, tuple(cfg.model.percents))
    for key, value in again.items():
        committed = rep["metrics"].get(f"test/{key}")
        if committed is not None and not np.isclose(value, committed, rtol=0, atol=1e-12):
            raise ValueError(f"{run_dir}: re-scored test/{key} = {value!r} but the report says {committed!r}; "
                             "the recomputed scores are not the run's (threads or library versions?)")
    return {"scores": scores, "illicit": np.asarray(test.illicit, np.float64),
            "revenue": np.asarray(test.revenue, np.float64)}


def _dedupe(runs: list[np.ndarray]) -> list[np.ndarray]:
    """One vector when all seed runs score alike (a seed-independent model, e.g. ``largest``)."""
    return runs[:1] if all(np.array_equal(runs[0], r) for r in runs[1:]) else runs


def compare_revenue(runs: Mapping[str, Mapping[str, Sequence[str | Path]]], pairs=DEFAULT_PAIRS,
                    n_boot: int = 1000, seed: int = 0, bootstrap_percents=DEFAULT_PERCENTS,
                    cache_dir: str | None = None, threads: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bootstrap intervals, trade-off curves) for ``runs[flags][model] = [run folders (seeds)]``.

    Intervals: one row per (flags, A, B, metric) with ``diff`` (A - B on the test rows), the
    bootstrap ``mean``, ``lo``/``hi`` (95 %), ``p_a_ahead``. Curves: one row per (flags, model, n)
    with the seed-mean ``precision`` and ``revenue`` at n % (n = 1..20).
    """
    intervals, curves = [], []
    for flags, models in runs.items():
        scores, labels = {}, None
        for name, folders in models.items():
            outs = [rescore_run(f, cache_dir, threads) for f in folders]
            for o in outs:
                if labels is not None and not (np.array_equal(o["illicit"], labels[0])
                                               and np.array_equal(o["revenue"], labels[1])):
                    raise ValueError(f"{flags}/{name}: runs on different test rows cannot be paired")
                labels = (o["illicit"], o["revenue"])
            scores[name] = _dedupe([o["scores"] for o in outs])
            log.info("revenue comparison: %s %s: %d run(s) re-scored, metrics equal to the reports", flags, name,
                     len(outs))
            for n in TRADEOFF_PERCENTS:
                m = [top_percent_metrics(s, *labels, (n,)) for s in scores[name]]
                curves.append({"features.risk_flags": flags, "model": name, "percent": n,
                               "precision": float(np.mean([x[f"precision@{n}"] for x in m])),
                               "revenue": float(np.mean([x[f"revenue@{n}"] for x in m])), "runs": len(folders)})
        used = sorted({m for p in pairs for m in p if m in scores})
        keys, observed, resampled = resampled_metrics({m: scores[m] for m in used}, *labels, bootstrap_percents,
                                                      n_boot, seed)
        for a, b in pairs:
            if a not in scores or b not in scores:
                continue
            for key, v in paired_interval(keys, observed, resampled, a, b).items():
                intervals.append({"features.risk_flags": flags, "a": a, "b": b, "metric": key, **v,
                                  "n_boot": n_boot, "test_rows": len(labels[0])})
    return pd.DataFrame(intervals), pd.DataFrame(curves)


def date_points(report_dirs: Sequence[str | Path], percents=DEFAULT_PERCENTS) -> pd.DataFrame:
    """DATE_CLS (``test/``) and DATE_REV (``test/rev/``) seed means from reports, one row per
    (flags, model, n): what the trade-off plot shows for DATE (its scores are not committed)."""
    rows = []
    for d in report_dirs:
        rep = json.loads((Path(d) / "report.json").read_text(encoding="utf-8"))
        flags = rep["config"]["features"]["risk_flags"]
        ranking = rep["config"]["model"].get("revenue_ranking", "head")
        for name, prefix in (("date_cls", "test/"), (f"date_rev ({ranking})", "test/rev/")):
            for n in percents:
                k = pct_key(n)
                rows.append({"features.risk_flags": flags, "model": name, "percent": float(n),
                             "precision": rep["metrics"][f"{prefix}precision@{k}"],
                             "revenue": rep["metrics"][f"{prefix}revenue@{k}"], "run": str(d)})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return (df.groupby(["features.risk_flags", "model", "percent"], sort=False)
            .agg(precision=("precision", "mean"), revenue=("revenue", "mean"), runs=("run", "nunique"))
            .reset_index())


def interval_markdown(df: pd.DataFrame, title: str) -> str:
    """The intervals as a markdown table, one row per (flags, A, B), one column per metric."""
    lines = [f"## {title}", "",
             "Difference A - B on the test declarations, and its 95 % paired-bootstrap interval "
             f"({int(df['n_boot'].iloc[0])} resamples of the {int(df['test_rows'].iloc[0])} test rows; "
             "each model's metric is its mean over its seed runs). **Bold**: the interval excludes 0.", ""]
    metrics = list(dict.fromkeys(df["metric"]))
    lines.append("| risk flags | A | B | " + " | ".join(m.replace("precision", "P").replace("revenue", "Rev")
                                                       for m in metrics) + " |")
    lines.append("|---|---|---|" + "---|" * len(metrics))
    for (flags, a, b), rows in df.groupby(["features.risk_flags", "a", "b"], sort=False):
        cells = []
        for m in metrics:
            r = rows[rows["metric"] == m].iloc[0]
            cell = f"{r['diff']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}]"
            cells.append(f"**{cell}**" if r["lo"] > 0 or r["hi"] < 0 else cell)
        lines.append(f"| {flags} | {a} | {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_tradeoff(curves: pd.DataFrame, date: pd.DataFrame, out: str | Path, title: str) -> Path:
    """Precision@n against revenue@n (n = 1..20 %), one panel per risk-flag mode; DATE as points at
    its reported percents."""
    from bacuda_research.bench.plots import _pyplot

    plt = _pyplot()
    modes = list(dict.fromkeys(curves["features.risk_flags"]))
    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4.8), squeeze=False, sharey=True)
    for ax, flags in zip(axes[0], modes):
        for name, c in curves[curves["features.risk_flags"] == flags].groupby("model", sort=False):
            ax.plot(c["revenue"], c["precision"], marker=".", label=name)
            ax.annotate("1%", (c["revenue"].iloc[0], c["precision"].iloc[0]), fontsize=7)
        if len(date):
            for name, d in date[date["features.risk_flags"] == flags].groupby("model", sort=False):
                ax.plot(d["revenue"], d["precision"], marker="s", linestyle=":", label=f"{name}, 1/2/5/10%")
        ax.set_title(f"risk flags: {flags}")
        ax.set_xlabel("revenue@n (share of recoverable revenue)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("precision@n")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
