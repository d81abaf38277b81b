"""The spine: one run, linear and testable without the CLI: ``run(cfg, run_dir)``.

compose config -> seed/threads -> loggers -> the task's runner -> report.json + DONE.
Each task registers one function ``runner(cfg, run_dir, loggers) -> TaskResult`` in ``TASKS``
(keyed by ``model.family``); this module owns everything common to all of them (seeding,
trackers, the report, the table). Runners are imported when called, so a run of one task never
imports the others.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from bacuda_research.core.report import build_report, write_report
from bacuda_research.core.runtime import git_sha, keep_freed_memory, seed_everything, set_threads
from bacuda_research.core.task import TaskResult, print_metrics
from bacuda_research.core.training import build_loggers, finalize_loggers, is_global_zero, log_metrics, log_params

log = logging.getLogger("bacuda_research")

Runner = Callable[[DictConfig, Path, list], TaskResult]


def _fraud(cfg: DictConfig, run_dir: Path, loggers: list) -> TaskResult:
    from bacuda_research.fraud.task import run_fraud

    return run_fraud(cfg, run_dir, loggers)


def _hs(cfg: DictConfig, run_dir: Path, loggers: list) -> TaskResult:
    from bacuda_research.hs.task import run_hs

    return run_hs(cfg, run_dir, loggers)


# model.family -> the task runner (the classic baselines and DATE are both the fraud task)
TASKS: dict[str, Runner] = {"classic": _fraud, "date": _fraud, "hs": _hs}


def run(cfg: DictConfig, run_dir: str | Path, hydra_choices: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the task the config describes and write ``report.json`` + ``DONE`` into ``run_dir``.

    ``hydra_choices`` (the CLI passes Hydra's group choices, e.g. ``experiment``) is recorded.
    """
    t0 = time.perf_counter()
    git_at_start = git_sha()  # the code that runs, even if a commit lands before the report is written
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    family = cfg.model.get("family", "classic")
    if family not in TASKS:
        raise ValueError(f"model.family={family!r}: expected one of {', '.join(TASKS)}")
    threads = set_threads(cfg.get("threads"))
    keep_freed_memory(bool(cfg.get("malloc_keep_freed", True)))
    seed_everything(int(cfg.seed))
    loggers = build_loggers(cfg, run_dir)
    log_params(loggers, cfg)
    log.info("run %s (%s) on %s, seed %s -> %s", cfg.model.name, family, cfg.data.name, cfg.seed, run_dir)

    result = TASKS[family](cfg, run_dir, loggers)

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
        git_at_start=git_at_start,
    )
    if not is_global_zero():  # other DDP ranks ran the same job; rank 0 writes its outputs
        return report
    write_report(run_dir, report)
    print_metrics(result.metrics, title=f"{cfg.model.name} on {cfg.data.name} (seed {cfg.seed})")
    log.info("report: %s", run_dir / "report.json")
    return report
