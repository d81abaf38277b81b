"""Aggregate ``report.json`` files into mean +- std tables (Markdown and CSV).

Rows are groups of runs that differ only by seed (by default: model name, risk-flag mode, data
file); DATE runs also yield a ``<name>_rev`` row (the same checkpoint ranked by the revenue head).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

DATE_METRICS = (
    "test/precision@1", "test/precision@2", "test/precision@5", "test/precision@10",
    "test/recall@1", "test/recall@5", "test/recall@10",
    "test/revenue@1", "test/revenue@2", "test/revenue@5", "test/revenue@10", "test/auc",
)
HS_METRICS = (
    "test/hs2/acc@1", "test/hs4/acc@1", "test/hs4/acc@5", "test/hs6/acc@1", "test/hs6/acc@3",
    "test/hs6/acc@5", "test/hs6/macro_f1",
)


def find_reports(roots: Iterable[str | Path]) -> list[Path]:
    """Every ``report.json`` below the roots whose run finished (``DONE`` beside it)."""
    out: list[Path] = []
    for root in roots:
        for p in sorted(Path(root).rglob("report.json")):
            if (p.parent / "DONE").exists():
                out.append(p)
    return out


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _run_group(run_dir: Path) -> str:
    """The experiment a run belongs to: its recorded Hydra choice, else its folder name less -s<seed>."""
    import re

    rep = json.loads((run_dir / "report.json").read_text())
    choice = (rep.get("hydra_choices") or {}).get("experiment")
    return choice or re.sub(r"-s\d+$", "", run_dir.name)


def load_rows(paths: Sequence[Path], group: Sequence[str] = ("model.name", "features.risk_flags"),
              variant_key: str = "tags") -> pd.DataFrame:
    """One row per run (and per ranking head for DATE): group columns, seed, metrics."""
    rows = []
    for p in paths:
        rep = json.loads(p.read_text())
        cfg, m = rep["config"], rep["metrics"]
        base = {g: (_run_group(p.parent) if g == "experiment" else _get(cfg, g)) for g in group}
        base.update({"seed": rep["seed"], "data_sha256": rep.get("data_sha256"), "run": str(p.parent),
                     "wall_time_s": rep.get("wall_time_s")})
        rows.append({**base, "head": "illicit", **{k: v for k, v in m.items() if not k.startswith("test/rev/")}})
        if any(k.startswith("test/rev/") for k in m):
            rev = {**base, "model.name": f"{base.get('model.name')}_rev", "head": "revenue"}
            rev.update({k.replace("test/rev/", "test/"): v for k, v in m.items() if k.startswith("test/rev/")})
            rows.append(rev)
    return pd.DataFrame(rows)


def aggregate(df: pd.DataFrame, metrics: Sequence[str], group: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof=1; 0 for one run) and run count per group."""
    present = [m for m in metrics if m in df.columns]
    g = df.groupby(list(group), sort=False, dropna=False)
    mean, std = g[present].mean(), g[present].std(ddof=1).fillna(0.0)
    out = mean.add_suffix(" mean").join(std.add_suffix(" std"))
    out["runs"] = g.size()
    out["seeds"] = g["seed"].apply(lambda s: ",".join(str(x) for x in sorted(s)))
    return out.reset_index()


def to_markdown(agg: pd.DataFrame, metrics: Sequence[str], group: Sequence[str], digits: int = 3) -> str:
    """A Markdown table with ``mean +- std`` cells."""
    present = [m for m in metrics if f"{m} mean" in agg.columns]
    head = [*group, *(m.replace("test/", "") for m in present), "runs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in agg.iterrows():
        cells = ["-" if r[g] is None or (isinstance(r[g], float) and pd.isna(r[g])) else str(r[g]) for g in group]
        for m in present:
            mu, sd = r[f"{m} mean"], r[f"{m} std"]
            cells.append("" if pd.isna(mu) else (f"{mu:.{digits}f} ± {sd:.{digits}f}" if r["runs"] > 1 else f"{mu:.{digits}f}"))
        cells.append(str(int(r["runs"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def check_consistent(df: pd.DataFrame, expected_sha: str | None = None) -> None:
    """Refuse to mix reports computed on different data (the error names the odd reports)."""
    shas = df["data_sha256"].dropna()
    if expected_sha is None and shas.nunique() > 1:
        expected_sha = shas.value_counts().index[0]  # the data most runs used
    if expected_sha is not None:
        odd = df[df["data_sha256"] != expected_sha].drop_duplicates("run")
        if len(odd):
            named = "; ".join(f"{r}/report.json (sha256 {str(s)[:12]})" for r, s in zip(odd["run"], odd["data_sha256"]))
            raise ValueError(f"reports on other data than sha256 {expected_sha[:12]}... (the table's data): {named}; "
                             "table them separately")


def check_same_config(df: pd.DataFrame, group: Sequence[str]) -> None:
    """Refuse a row whose runs differ by more than the seed (results-neutral keys aside).

    The row's experiment config is the one most of its runs have; the error names every report
    that differs from it and the differing keys.
    """
    from collections import Counter

    from bacuda_research.core.identity import config_diff, config_identity

    runs = df.drop_duplicates("run")
    problems = []
    for key, rows in runs.groupby(list(group), sort=False, dropna=False):
        idents = {}
        for run in rows["run"]:
            rep = json.loads((Path(run) / "report.json").read_text(encoding="utf-8"))
            idents[run] = config_identity(rep.get("config", {}), ignore_seed=True)
        counts = Counter(json.dumps(v, sort_keys=True) for v in idents.values())
        ref = json.loads(counts.most_common(1)[0][0])  # ties: the first run's
        for run, ident in idents.items():
            diff = config_diff(ref, ident)
            if diff:
                problems.append(f"{run}/report.json differs from its row {key}: " + "; ".join(diff[:5])
                                + (" ..." if len(diff) > 5 else ""))
    if problems:
        raise ValueError("reports whose config differs from their experiment's (other than the seed):\n  "
                         + "\n  ".join(problems))
