"""The run record: ``report.json`` (what was done, on what, with which result) and ``DONE``.

A run folder without ``DONE`` is an interrupted run. Reports are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from bacuda_research.core import io
from bacuda_research.core.runtime import device_info, git_sha, versions

REPORT_NAME = "report.json"
DONE_NAME = "DONE"


def build_report(
    *,
    config: Mapping[str, Any],
    metrics: Mapping[str, float],
    seed: int,
    data_sha256: str | None,
    wall_time_s: float,
    threads: int | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the report dictionary (keys are a contract: see docs/training.md "Run folder")."""
    report: dict[str, Any] = {
        "metrics": {k: (float(v) if v is not None else None) for k, v in sorted(metrics.items())},
        "config": dict(config),
        "seed": int(seed),
        "git_sha": git_sha(),
        "data_sha256": data_sha256,
        "versions": versions(),
        "device": device_info(threads),
        "wall_time_s": round(float(wall_time_s), 3),
    }
    if extra:
        report.update(extra)
    return report


def write_report(run_dir: str | Path, report: Mapping[str, Any]) -> Path:
    """Write ``report.json`` then the ``DONE`` marker (in that order, both atomically)."""
    run_dir = Path(run_dir)
    path = io.write_json(run_dir / REPORT_NAME, report)
    io.write_text(run_dir / DONE_NAME, "ok\n")
    return path


def read_report(run_dir: str | Path) -> dict[str, Any]:
    import json

    with open(Path(run_dir) / REPORT_NAME, encoding="utf-8") as f:
        return json.load(f)
