"""What a task hands the spine (``TaskResult``) and the metrics table every command prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskResult:
    """What a task hands back to the spine: flat metrics, the data hash and extra report keys."""

    metrics: dict[str, float]
    data_sha256: str | None
    extra: dict[str, Any] = field(default_factory=dict)


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
