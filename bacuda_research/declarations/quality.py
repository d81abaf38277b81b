"""A data-quality report for a declarations file that passed validation.

Validation answers "can this file be used?"; this report answers "what is in it?" before anyone
trains on it: the date range (does the split have data?), the illicit rate and revenue (are the
labels plausible?), cardinalities (is HS6 right for this tariff code length?), zero quantities or
weights (valid, but the DATE unit-price ratios become 0 for them) and gaps in extra columns.
The report is a plain dict so it can go to JSON unchanged; ``print_report`` renders it with rich.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from bacuda_research.declarations.schema import (
    CANONICAL,
    SchemaOptions,
    read_table,
    validate_declarations,
)

CARDINALITY_COLUMNS = ("sgd.id", "importer.id", "declarant.id", "country", "office.id", "tariff.code")


def report_file(path: str | os.PathLike, options: SchemaOptions | None = None,
                max_rows: int | None = None) -> dict[str, Any]:
    """Read, validate (raising ``DataValidationError``) and describe a declarations file."""
    options = options or SchemaOptions()
    options.mapping()
    raw = read_table(path, max_rows=max_rows)
    df = validate_declarations(raw, path, options)
    return quality_report(df, raw=raw, options=options, file=path)


def quality_report(df: pd.DataFrame, raw: pd.DataFrame | None = None, options: SchemaOptions | None = None,
                   file: str | os.PathLike | None = None) -> dict[str, Any]:
    """Describe a validated canonical frame (``raw``, if given, adds the file's extra columns).

    Every value is a plain Python number/str so the dict serialises to JSON as it is.
    """
    options = options or SchemaOptions()
    mapping = options.mapping()
    n = len(df)
    dates = df["sgd.date"]
    digits = int(options.tariff_digits)
    tariff = df["tariff.code"].astype("int64")
    hs6 = tariff // 10 ** (digits - 6)
    code_len = tariff.astype(str).str.len()

    report: dict[str, Any] = {
        "file": None if file is None else str(file),
        "rows": int(n),
        "columns": {canon: mapping[canon] for canon in df.columns},
        "date_range": {
            "min": dates.min().date().isoformat(),
            "max": dates.max().date().isoformat(),
            "days": int(dates.dt.normalize().nunique()),
            "rows_per_month": {str(k): int(v) for k, v in dates.dt.to_period("M").value_counts().sort_index().items()},
        },
        "cardinality": {col: int(df[col].nunique()) for col in CARDINALITY_COLUMNS},
        "tariff": {
            "digits": digits,
            "hs6": int(hs6.nunique()),
            "hs4": int((tariff // 10 ** (digits - 4)).nunique()),
            "hs2": int((tariff // 10 ** (digits - 2)).nunique()),
            # codes shorter than `digits` are normal when a leading zero was lost (chapters 01-09),
            # but many much shorter codes mean data.tariff_digits is wrong and HS6 is meaningless
            "code_lengths": {str(k): int(v) for k, v in code_len.value_counts().sort_index().items()},
        },
        "zero_quantity_rows": int((df["quantity"] == 0).sum()),
        "zero_weight_rows": int((df["gross.weight"] == 0).sum()),
        "zero_quantity_or_weight_rows": int(((df["quantity"] == 0) | (df["gross.weight"] == 0)).sum()),
        "missing": _missing_counts(df, raw, mapping),
        "numeric": {col: _stats(df[col]) for col in ("quantity", "gross.weight", "fob.value", "cif.value",
                                                       "total.taxes") if col in df},
    }
    if "illicit" in df.columns:
        ill = df["illicit"].astype(bool)
        rev = df["revenue"]
        report["labels"] = {
            "illicit_rows": int(ill.sum()),
            "illicit_rate": float(ill.mean()) if n else 0.0,
            "illicit_zero_revenue_rows": int((ill & (rev == 0)).sum()),
        }
        report["revenue"] = {**_stats(rev[ill]), "total": float(rev.sum())}
    else:
        report["labels"] = None
        report["revenue"] = None
    return report


def declared_report(df: pd.DataFrame, schema: Any, file: str | os.PathLike | None = None) -> dict[str, Any]:
    """The report of a frame loaded through a declared schema (``canonical.load_declared``): the same
    keys as ``quality_report`` where the schema has the columns, ``None`` where it has not."""
    n = len(df)
    names = {v: k for k, v in schema.canonical_names().items()}
    dates = df["sgd.date"]
    text_cols = [c for c in df.columns if pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object]
    report: dict[str, Any] = {
        "file": None if file is None else str(file),
        "schema": {"source": schema.source, "digest": schema.digest()},
        "rows": int(n),
        "columns": {c: names.get(c, "(row number)") for c in df.columns},
        "date_range": {
            "min": dates.min().date().isoformat(), "max": dates.max().date().isoformat(),
            "days": int(dates.dt.normalize().nunique()),
            "rows_per_month": {str(k): int(v) for k, v in dates.dt.to_period("M").value_counts().sort_index().items()},
        },
        "cardinality": {c: int(df[c].nunique()) for c in (*text_cols, "tariff.code") if c in df.columns},
        "tariff": None,
        "zero_quantity_rows": int((df["quantity"] == 0).sum()) if "quantity" in df else None,
        "zero_weight_rows": int((df["gross.weight"] == 0).sum()) if "gross.weight" in df else None,
        # empty cells accepted by allow_missing: "" in text columns, NaN in numbers
        "missing": {c: int(df[c].isna().sum() + (df[c] == "").sum() if c in text_cols else df[c].isna().sum())
                    for c in df.columns},
        "numeric": {c: _stats(df[c].dropna()) for c in df.columns
                    if c not in ("illicit", "tariff.code") and pd.api.types.is_float_dtype(df[c])},
        "labels": None, "revenue": None,
    }
    if "tariff.code" in df:
        digits = int(schema.tariff_digits)
        tariff = df["tariff.code"].astype("int64")
        report["tariff"] = {"digits": digits, **{f"hs{k}": int((tariff // 10 ** (digits - k)).nunique())
                                                 for k in (6, 4, 2)},
                            "code_lengths": {str(k): int(v) for k, v in
                                             tariff.astype(str).str.len().value_counts().sort_index().items()}}
    if "illicit" in df:
        ill = df["illicit"].astype(bool)
        report["labels"] = {"illicit_rows": int(ill.sum()), "illicit_rate": float(ill.mean()),
                            "illicit_zero_revenue_rows": int((ill & (df["revenue"] == 0)).sum())
                            if "revenue" in df else None}
        if "revenue" in df:
            report["revenue"] = {**_stats(df["revenue"][ill]), "total": float(df["revenue"].sum())}
    return report


def _missing_counts(df: pd.DataFrame, raw: pd.DataFrame | None, mapping: dict[str, str]) -> dict[str, int]:
    """Missing cells per canonical column (after validation always 0: missing values are refused)
    and per extra column of the file (empty cells or nulls, which validation does not look at)."""
    out = {canon: int(df[canon].isna().sum()) for canon in df.columns}
    if raw is not None:
        mapped = {mapping[c] for c in CANONICAL.values()}
        for col in raw.columns:
            if col in mapped:
                continue
            values = raw[col]
            empty = values.isna()
            if pd.api.types.is_string_dtype(values) or values.dtype == object:
                empty |= values.astype(str).str.strip().eq("").fillna(True)
            out[f"(extra) {col}"] = int(empty.sum())
    return out


def _stats(values: pd.Series) -> dict[str, float | int]:
    v = values.to_numpy(dtype="float64")
    if v.size == 0:
        return {"count": 0, "min": None, "median": None, "mean": None, "max": None}
    return {"count": int(v.size), "min": float(v.min()), "median": float(np.median(v)),
            "mean": float(v.mean()), "max": float(v.max())}


def print_report(report: dict[str, Any], console: Any | None = None) -> None:
    """Render a quality report as rich tables (for the ``bacuda-validate`` command)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    dr = report["date_range"]
    summary = Table(title=f"Declarations: {report['file'] or '(frame)'}", show_header=False)
    summary.add_column("item", style="bold")
    summary.add_column("value")
    summary.add_row("rows", f"{report['rows']:,}")
    summary.add_row("date range", f"{dr['min']} .. {dr['max']} ({dr['days']} distinct days)")
    labels = report["labels"]
    if labels:
        summary.add_row("illicit rate", f"{labels['illicit_rate']:.2%} ({labels['illicit_rows']:,} rows)")
        if labels.get("illicit_zero_revenue_rows") is not None:
            summary.add_row("illicit rows with revenue 0", f"{labels['illicit_zero_revenue_rows']:,}")
        rev = report["revenue"]
        if rev and rev["count"]:
            summary.add_row("revenue (illicit rows)",
                            f"total {rev['total']:,.0f}; median {rev['median']:,.2f}; mean {rev['mean']:,.2f}; "
                            f"max {rev['max']:,.2f}")
    else:
        summary.add_row("labels", "absent (--no-labels)")
    if report.get("schema"):
        summary.add_row("schema", f"{report['schema']['source']} (sha256 {report['schema']['digest'][:12]})")
    for key in ("zero_quantity_rows", "zero_weight_rows"):
        if report.get(key) is not None:
            summary.add_row(key.replace("_", " "), f"{report[key]:,}")
    t = report["tariff"]
    if t:
        summary.add_row(f"HS6 / HS4 / HS2 (tariff_digits={t['digits']})",
                        f"{t['hs6']:,} / {t['hs4']:,} / {t['hs2']:,}")
        summary.add_row("tariff code lengths", ", ".join(f"{k} digits: {v:,}" for k, v in t["code_lengths"].items()))
    console.print(summary)

    card = Table(title="Cardinality and missing values")
    card.add_column("column")
    card.add_column("file column")
    card.add_column("distinct", justify="right")
    card.add_column("missing", justify="right")
    for canon, missing in report["missing"].items():
        distinct = report["cardinality"].get(canon)
        card.add_row(canon, report["columns"].get(canon, ""), "" if distinct is None else f"{distinct:,}",
                     f"{missing:,}")
    console.print(card)

    months = Table(title="Rows per month")
    months.add_column("month")
    months.add_column("rows", justify="right")
    for month, count in dr["rows_per_month"].items():
        months.add_row(month, f"{count:,}")
    console.print(months)
