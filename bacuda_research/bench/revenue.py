"""Revenue comparisons with their uncertainty: paired bootstrap intervals and the precision-revenue
trade-off, from committed runs.

A model's per-declaration test scores come from one of two places, and either way they are checked
against the run's committed report (every recomputed test metric equal, or the comparison stops):

- the run's ``scores_file`` (id-free test scores, committed beside DATE's reports: ``row``,
  ``score`` = the illicit ranking, ``revenue_score`` = what DATE_REV ranks by, ``revenue_head`` =
  the revenue head's own score); ``load_scores``;
- a classic baseline without one is *re-fitted* from its own ``report.json`` config (same data, seed
  and settings; it trains in seconds); ``rescore_run``.

``compare_revenue`` then, per risk-flag mode: the paired bootstrap over test declarations
(``metrics.bootstrap``; each model's metric averaged over its seed runs on every resample) for the
chosen pairs, and precision@n / revenue@n for n = 1..20 % for the trade-off plot.
"""

from __future__ import annotations

import logging
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from bacuda_research.core.report import read_report
from bacuda_research.metrics.bootstrap import paired_interval, resampled_metrics
from bacuda_research.metrics.selection import DEFAULT_PERCENTS, top_percent_metrics

log = logging.getLogger("bacuda_research")

TRADEOFF_PERCENTS = tuple(range(1, 21))
# (A, B): A - B is reported; what each pair asks
DEFAULT_PAIRS = (
    ("xgb_expected", "largest"),   # does a model beat "inspect the biggest first"?
    ("xgb_revenue", "largest"),
    ("xgb_expected", "xgb_revenue"),  # expected revenue vs predicted log revenue
    ("xgb_expected", "xgboost"),   # what ranking by expected revenue costs in precision
)


class RunFiles:
    """Run folders' ``report.json`` and scores files, each read once: a comparison asks for one run
    in several steps (has it scores? its labels, its scores) and under several model names (DATE's
    rankings are columns of one scores file). A fresh one per comparison: files are not watched."""

    def __init__(self) -> None:
        self._reports: dict[Path, dict[str, Any]] = {}
        self._scores: dict[Path, pd.DataFrame] = {}

    def report(self, run_dir: str | Path) -> dict[str, Any]:
        key = Path(run_dir)
        if key not in self._reports:
            self._reports[key] = read_report(key)
        return self._reports[key]

    def scores_path(self, run_dir: str | Path) -> Path | None:
        """The scores file the run's report names (None when it names none)."""
        name = self.report(run_dir)["config"].get("scores_file")
        return Path(run_dir) / name if name else None

    def scores(self, run_dir: str | Path) -> pd.DataFrame:
        path = self.scores_path(run_dir)
        if path not in self._scores:
            self._scores[path] = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        return self._scores[path]


def rescore_run(run_dir: str | Path, cache_dir: str | None = None, threads: int | None = None,
                files: RunFiles | None = None) -> dict[str, np.ndarray]:
    """A committed classic baseline run's test scores and labels, recomputed from its report's config
    (at ``threads`` when given, else the run's own setting; ``cache_dir`` when given, else the run's).

    Returns ``scores``, ``illicit`` and ``revenue`` (test rows in file order). Raises when a
    recomputed test metric differs from the committed report's (the scores would not be the run's).
    """
    from bacuda_research.fraud.baselines import build_baseline
    from bacuda_research.fraud.task import build_datamodule

    rep = (files or RunFiles()).report(run_dir)
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
    _check_metrics(run_dir, rep, scores, (test.illicit, test.revenue), "test/", verb="re-scored")
    return {"scores": scores, "illicit": np.asarray(test.illicit, np.float64),
            "revenue": np.asarray(test.revenue, np.float64)}


@dataclass(frozen=True)
class Runs:
    """One model in a comparison: its run folders (one per seed) and the score column it ranks by
    (``score``, ``revenue_score`` or ``revenue_head`` of a scores file; a re-fitted baseline has
    only ``score``)."""

    folders: tuple[str | Path, ...]
    column: str = "score"


# which report metrics a scores-file column must reproduce (None: nothing to check it against)
def _checked_prefix(cfg: Mapping[str, Any], column: str) -> str | None:
    if column == "score":
        return "test/"
    date = cfg["model"].get("family") == "date"
    if column == "revenue_score":
        return "test/rev/" if date else "test/"
    if column == "revenue_head" and date and cfg["model"].get("revenue_ranking", "head") == "head":
        return "test/rev/"
    return None


def _check_metrics(run_dir: str | Path, rep: Mapping[str, Any], scores: np.ndarray, labels: tuple[np.ndarray, ...],
                   prefix: str, verb: str = "recomputed") -> None:
    """Raise unless ``scores`` reproduce every ``<prefix><metric>`` of the run's report exactly."""
    again = top_percent_metrics(scores, *labels, tuple(rep["config"]["model"].get("percents", DEFAULT_PERCENTS)))
    for key, value in again.items():
        committed = rep["metrics"].get(f"{prefix}{key}")
        if committed is not None and not np.isclose(value, committed, rtol=0, atol=1e-12):
            raise ValueError(f"{run_dir}: {verb} {prefix}{key} = {value!r} but the report says {committed!r}; "
                             "the scores are not the run's (threads, library versions, or another test split?)")


def has_scores(run_dir: str | Path, files: RunFiles | None = None) -> bool:
    """Whether a run folder holds its test scores (the ``scores_file`` its report names)."""
    path = (files or RunFiles()).scores_path(run_dir)
    return path is not None and path.is_file()


def load_scores(run_dir: str | Path, column: str, labels: tuple[np.ndarray, np.ndarray],
                files: RunFiles | None = None) -> np.ndarray:
    """``column`` of a run's committed scores file, checked: the test metrics it gives on ``labels``
    (illicit, revenue of the test rows) must equal the report's where the report has them."""
    files = files or RunFiles()
    rep, path, df = files.report(run_dir), files.scores_path(run_dir), files.scores(run_dir)
    if column not in df.columns:
        raise ValueError(f"{path}: no column {column!r} (has {list(df.columns)})")
    if len(df) != len(labels[0]) or not np.array_equal(df["row"].to_numpy(), np.arange(len(df))):
        raise ValueError(f"{path}: {len(df)} rows in order expected {len(labels[0])} (another test split?)")
    scores = df[column].to_numpy(np.float64, copy=True)  # not a view of the shared frame
    prefix = _checked_prefix(rep["config"], column)
    if prefix is not None:
        _check_metrics(run_dir, rep, scores, labels, prefix)
    else:
        log.info("%s: %s has no report metric to check it against (checked: score, revenue_score)", run_dir, column)
        _check_metrics(run_dir, rep, df["score"].to_numpy(np.float64), labels, "test/")
    return scores


def heldout_labels(run_dir: str | Path, files: RunFiles | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(illicit, revenue) of a run's test rows, rebuilt from its report's data config."""
    from bacuda_research.fraud.task import build_datamodule

    rep = (files or RunFiles()).report(run_dir)
    dm = build_datamodule(OmegaConf.create(rep["config"]))
    dm.setup()
    if rep.get("data_sha256") and dm.data_sha256 != rep["data_sha256"]:
        raise ValueError(f"{run_dir}: the data file changed since the run")
    test = dm.splits["test"]
    return np.asarray(test.illicit, np.float64), np.asarray(test.revenue, np.float64)


def _dedupe(runs: list[np.ndarray]) -> list[np.ndarray]:
    """One vector when all seed runs score alike (a seed-independent model, e.g. ``largest``)."""
    return runs[:1] if all(np.array_equal(runs[0], r) for r in runs[1:]) else runs


def _as_runs(spec: Runs | Sequence[str | Path]) -> Runs:
    return spec if isinstance(spec, Runs) else Runs(tuple(spec))


def _mode_scores(models: Mapping[str, Runs | Sequence[str | Path]], cache_dir: str | None, threads: int | None,
                 files: RunFiles) -> tuple[dict[str, list[np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    """Every model's test score vectors in one risk-flag mode, and the test labels they share."""
    specs = {name: _as_runs(spec) for name, spec in models.items()}
    found: dict[tuple[str, int], np.ndarray] = {}
    labels = None
    for name, spec in specs.items():  # runs without a scores file are re-fitted first: they give the labels
        for i, f in enumerate(spec.folders):
            if has_scores(f, files):
                continue
            if spec.column != "score":
                raise ValueError(f"{f}: no scores file, and a re-fitted baseline has no column {spec.column!r}")
            o = rescore_run(f, cache_dir, threads, files)
            if labels is not None and not (np.array_equal(o["illicit"], labels[0])
                                           and np.array_equal(o["revenue"], labels[1])):
                raise ValueError(f"{f}: runs on different test rows cannot be paired")
            labels = (o["illicit"], o["revenue"])
            found[name, i] = o["scores"]
    for name, spec in specs.items():
        for i, f in enumerate(spec.folders):
            if (name, i) not in found:
                if labels is None:
                    labels = heldout_labels(f, files)
                found[name, i] = load_scores(f, spec.column, labels, files)
        log.info("revenue comparison: %s: %d run(s), metrics equal to the reports", name, len(spec.folders))
    return {name: _dedupe([found[name, i] for i in range(len(spec.folders))]) for name, spec in specs.items()}, labels


def compare_revenue(runs: Mapping[str, Mapping[str, Runs | Sequence[str | Path]]], pairs=DEFAULT_PAIRS,
                    n_boot: int = 1000, seed: int = 0, bootstrap_percents=DEFAULT_PERCENTS,
                    cache_dir: str | None = None, threads: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bootstrap intervals, trade-off curves) for ``runs[flags][model]`` = a ``Runs`` (or its folders).

    Intervals: one row per (flags, A, B, metric) with ``diff`` (A - B on the test rows), the
    bootstrap ``mean``, ``lo``/``hi`` (95 %), ``p_a_ahead``. Curves: one row per (flags, model, n)
    with the seed-mean ``precision`` and ``revenue`` at n % (n = 1..20).
    """
    intervals, curves, files = [], [], RunFiles()
    for flags, models in runs.items():
        scores, labels = _mode_scores(models, cache_dir, threads, files)
        for name, vectors in scores.items():
            for n in TRADEOFF_PERCENTS:
                m = [top_percent_metrics(v, *labels, (n,)) for v in vectors]
                curves.append({"features.risk_flags": flags, "model": name, "percent": n,
                               "precision": float(np.mean([x[f"precision@{n}"] for x in m])),
                               "revenue": float(np.mean([x[f"revenue@{n}"] for x in m])),
                               "runs": len(_as_runs(models[name]).folders)})
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


def plot_tradeoff(curves: pd.DataFrame, out: str | Path, title: str) -> Path:
    """Precision@n against revenue@n (n = 1..20 %), one panel per comparison (risk-flag mode, or
    file and mode), two panels a row; models ranked for revenue dashed."""
    from bacuda_research.bench.plots import _pyplot

    plt = _pyplot()
    modes = list(dict.fromkeys(curves["features.risk_flags"]))
    ncols = min(2, len(modes))
    nrows = -(-len(modes) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.6 * nrows), squeeze=False, sharey=True)
    models = list(dict.fromkeys(curves["model"]))
    colors = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(models)}
    for ax, flags in zip(axes.flat, modes):
        for name, c in curves[curves["features.risk_flags"] == flags].groupby("model", sort=False):
            style = "--" if ("rev" in name or name in ("largest", "xgb_expected")) else "-"
            ax.plot(c["revenue"], c["precision"], marker=".", linestyle=style, color=colors[name], label=name)
            ax.annotate("1%", (c["revenue"].iloc[0], c["precision"].iloc[0]), fontsize=7)
        ax.set_title(f"risk flags: {flags}" if "/" not in flags else flags, fontsize=9)
        ax.set_xlabel("revenue@n (share of recoverable revenue)")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(modes):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("precision@n")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
