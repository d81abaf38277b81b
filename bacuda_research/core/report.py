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
    git_at_start: str | None = None,
) -> dict[str, Any]:
    """Assemble the report dictionary (keys are a contract: see docs/training.md "Run folder").

    ``git_at_start``: ``git_sha()`` taken when the run began, recorded as ``git_sha`` (the code that
    ran); when HEAD or the tree changed during the run, today's value is added as ``git_sha_at_end``.
    """
    now = git_sha()
    report: dict[str, Any] = {
        "metrics": {k: (float(v) if v is not None else None) for k, v in sorted(metrics.items())},
        "config": dict(config),
        "seed": int(seed),
        "git_sha": git_at_start if git_at_start is not None else now,
        "data_sha256": data_sha256,
        "versions": versions(),
        "device": device_info(threads),
        "wall_time_s": round(float(wall_time_s), 3),
    }
    if git_at_start is not None and now != git_at_start:
        report["git_sha_at_end"] = now
    if extra:
        report.update(extra)
    return report


# metrics that may be NaN in a sound run: ROC AUC is undefined on a split holding one class only
MAY_BE_NAN = ("auc",)


def check_metrics(metrics: Mapping[str, Any]) -> None:
    """Refuse a run whose metrics came out NaN or infinite (a value the pipeline could not use got
    through, or the model diverged): ``FloatingPointError`` naming them; ``None`` (not measured,
    e.g. revenue without a revenue column) is fine, as is a NaN ``auc`` (one class in the split)."""
    import math

    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)
           and not (math.isnan(v) and k.split("/")[-1] in MAY_BE_NAN)]
    if bad:
        shown = ", ".join(sorted(bad)[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise FloatingPointError(f"metrics came out NaN or infinite ({shown}): the run failed and is not "
                                 "marked DONE (check the data for extreme values)")


def write_report(run_dir: str | Path, report: Mapping[str, Any]) -> Path:
    """Write ``report.json`` then the ``DONE`` marker (in that order, both atomically); a report
    whose metrics are NaN (``check_metrics``) is refused and nothing is written."""
    check_metrics(report.get("metrics", {}))
    run_dir = Path(run_dir)
    path = io.write_json(run_dir / REPORT_NAME, report)
    io.write_text(run_dir / DONE_NAME, "ok\n")
    return path


def read_report(run_dir: str | Path) -> dict[str, Any]:
    import json

    with open(Path(run_dir) / REPORT_NAME, encoding="utf-8") as f:
        return json.load(f)
