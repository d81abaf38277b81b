"""One run, linear and testable without the CLI: ``run(cfg, run_dir)``.

compose config -> seed/threads -> loggers -> (declarations | hs) task -> report.json + DONE.
Each model family supplies one function ``run_<family>(cfg, run_dir, loggers) -> TaskResult``;
this module owns everything common to all of them (seeding, trackers, the report, the table).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bacuda_research.training import build_loggers, finalize_loggers, is_global_zero, log_metrics, log_params
from bacuda_research.utils.report import build_report, write_report
from bacuda_research.utils.runtime import keep_freed_memory, seed_everything, set_threads

log = logging.getLogger("bacuda_research")


@dataclass
class TaskResult:
    """What a task hands back to the spine: flat metrics, the data hash and extra report keys."""

    metrics: dict[str, float]
    data_sha256: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def run(cfg: DictConfig, run_dir: str | Path, hydra_choices: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the task the config describes and write ``report.json`` + ``DONE`` into ``run_dir``.

    ``hydra_choices`` (the CLI passes Hydra's group choices, e.g. ``experiment``) is recorded.
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    threads = set_threads(cfg.get("threads"))
    keep_freed_memory(bool(cfg.get("malloc_keep_freed", True)))
    seed_everything(int(cfg.seed))
    loggers = build_loggers(cfg, run_dir)
    log_params(loggers, cfg)
    family = cfg.model.get("family", "classic")
    log.info("run %s (%s) on %s, seed %s -> %s", cfg.model.name, family, cfg.data.name, cfg.seed, run_dir)

    if family == "hs":
        from bacuda_research.hs.pipeline import run_hs

        result = run_hs(cfg, run_dir, loggers)
    elif family in ("classic", "date"):
        from bacuda_research.declarations import run_declarations

        result = run_declarations(cfg, run_dir, loggers)
    else:
        raise ValueError(f"model.family={family!r}: expected one of classic, date, hs")

    log_metrics(loggers, result.metrics)
    finalize_loggers(loggers)
    report = build_report(
        config=OmegaConf.to_container(cfg, resolve=True),
        metrics=result.metrics,
        seed=int(cfg.seed),
        data_sha256=result.data_sha256,
        wall_time_s=time.perf_counter() - t0,
        threads=threads,
        extra={**result.extra, **({"hydra_choices": hydra_choices} if hydra_choices else {})},
    )
    if not is_global_zero():  # other DDP ranks ran the same job; rank 0 writes its outputs
        return report
    write_report(run_dir, report)
    print_metrics(result.metrics, title=f"{cfg.model.name} on {cfg.data.name} (seed {cfg.seed})")
    log.info("report: %s", run_dir / "report.json")
    return report


def print_metrics(metrics: dict[str, float], title: str = "metrics") -> None:
    """A compact table: a row per ``split/metric`` and a column per ``@n`` (scalars in ``value``)."""
    from rich.console import Console
    from rich.table import Table

    rows: dict[str, dict[str, float]] = {}
    columns: list[str] = []
    for key, value in metrics.items():
        name, at, n = key.partition("@")
        col = f"@{n}" if at else "value"
        if col not in columns:
            columns.append(col)
        rows.setdefault(name, {})[col] = value
    columns.sort(key=lambda c: (c == "value", float(c[1:]) if c[1:].replace(".", "", 1).isdigit() else 1e9, c))
    table = Table(title=title)
    table.add_column("metric")
    for c in columns:
        table.add_column(c, justify="right")
    for name, values in rows.items():
        table.add_row(name, *[_fmt(values.get(c)) for c in columns])
    Console(width=max(100, 14 * (len(columns) + 2))).print(table)


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:.0f}" if float(v).is_integer() and abs(v) >= 10 else f"{v:.4f}"
