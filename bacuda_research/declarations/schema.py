"""The DATE declarations schema, loading (CSV/Parquet) and validation.

Every administration names its columns differently, so files are read through a column mapping
(canonical key -> file column, ``data.columns`` in the config) and renamed to the canonical DATE
names. Nothing is coerced silently: a value that does not parse is an error naming the file, the
column and the first offending rows (1-based data rows; in a CSV, file line = row + 1).

Identifier values (declaration, importer, declarant ids) are confidential in real customs data, so
errors never quote them: they give row numbers only. Numbers, dates and labels are quoted, because
seeing the bad value is what makes an error quick to fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from bacuda_research.declarations.reading import (  # noqa: F401  (re-exported: the public names live here too)
    CSV_SUFFIXES,
    MAX_SHOWN,
    PARQUET_SUFFIXES,
    RANGE_PROBLEM,
    DataValidationError,
    out_of_range,
    read_table,
)

# canonical key (config) -> canonical column name (the DATE schema)
CANONICAL: dict[str, str] = {
    "id": "sgd.id",
    "date": "sgd.date",
    "importer": "importer.id",
    "declarant": "declarant.id",
    "country": "country",
    "office": "office.id",
    "tariff": "tariff.code",
    "quantity": "quantity",
    "weight": "gross.weight",
    "fob": "fob.value",
    "cif": "cif.value",
    "taxes": "total.taxes",
    "illicit": "illicit",
    "revenue": "revenue",
}
ID_COLUMNS = ("sgd.id", "importer.id", "declarant.id", "country", "office.id")
# identifiers whose values must never appear in a message (country codes are public)
CONFIDENTIAL_COLUMNS = ("sgd.id", "importer.id", "declarant.id", "office.id")
NONNEG_COLUMNS = ("quantity", "gross.weight", "fob.value", "cif.value", "total.taxes")
LABEL_COLUMNS = ("illicit", "revenue")


@dataclass(frozen=True)
class SchemaOptions:
    """How to read a file: column mapping, date format, tariff code length, labels required.

    ``date_format`` is a strptime format; ``None`` means ISO 8601. ``tariff_digits`` is the length of
    the national tariff code (10 for HS10, 8 for the EU's CN8): longer codes are refused, and HS6 is
    ``code // 10**(tariff_digits - 6)`` downstream.
    """

    columns: Mapping[str, str] | None = None
    date_format: str | None = "%y-%m-%d"
    tariff_digits: int = 10
    require_labels: bool = True

    def mapping(self) -> dict[str, str]:
        """canonical column name -> file column name."""
        cols = dict(self.columns or {})
        unknown = set(cols) - set(CANONICAL)
        if unknown:
            raise ValueError(f"data.columns: unknown keys {sorted(unknown)}; expected {sorted(CANONICAL)}")
        out = {CANONICAL[k]: str(cols.get(k, CANONICAL[k])) for k in CANONICAL}
        # two keys on one file column would validate one column twice and silently lose the other
        seen: dict[str, str] = {}
        for canon, name in out.items():
            if name in seen:
                raise ValueError(f"data.columns: '{seen[name]}' and '{canon}' both map to file column '{name}'")
            seen[name] = canon
        if int(self.tariff_digits) < 6:
            raise ValueError(f"data.tariff_digits={self.tariff_digits}: must be at least 6 (HS6)")
        return out


def load_declarations(path: str | os.PathLike, options: SchemaOptions | None = None,
                      max_rows: int | None = None) -> pd.DataFrame:
    """Read and validate a declarations file; return it with canonical columns and types.

    Types: ids ``str``; ``sgd.date`` datetime64; ``tariff.code`` int64; money/quantity float64;
    ``illicit`` int8 and ``revenue`` float64 (only when labels are present/required).
    ``max_rows`` reads only the first rows (a debug knob for fast runs).
    """
    options = options or SchemaOptions()
    options.mapping()  # a bad mapping is a config error: say so before reading a large file
    raw = read_table(path, max_rows=max_rows)
    return validate_declarations(raw, path, options)


def validate_declarations(raw: pd.DataFrame, path: str | os.PathLike, options: SchemaOptions) -> pd.DataFrame:
    """Check ``raw`` against the schema and return the typed canonical frame (or raise).

    Checks run column by column in schema order and stop at the first problem, so an error is
    always about one column; row numbers are positions in ``raw`` (1-based).
    """
    mapping = options.mapping()
    if len(raw) == 0:
        raise DataValidationError(path, "the file has a header but no data rows")
    wanted = [c for c in CANONICAL.values() if options.require_labels or c not in LABEL_COLUMNS]
    missing = [mapping[c] for c in wanted if mapping[c] not in raw.columns]
    if missing:
        found = [str(c) for c in raw.columns]
        if len(found) == 1 and any(d in found[0] for d in ";\t|"):
            delim = next(d for d in ";\t|" if d in found[0])
            seen = f"the header is one column containing {delim!r}: the file must be comma-separated"
        elif len(missing) == len(wanted):
            # nothing matched: the "header" may be a data row, whose cells may be confidential ids
            seen = f"none of the {len(found)} columns found has an expected name (is the first line a header?)"
        else:
            seen = f"found {found[:20]}"
            if raw.attrs.get("duplicate_columns"):
                seen += f"; the header repeats {raw.attrs['duplicate_columns']}"
        raise DataValidationError(
            path, f"missing column(s) {missing}; {seen} "
            "(map your names with data.columns.<key>=<your column> or --column key=name)", column=missing[0])
    dups = raw.attrs.get("duplicate_columns") or []
    if dups:
        raise DataValidationError(path, "duplicate column name in the header (pandas would rename the second "
                                  "copy and use the first)", column=dups[0])
    has_labels = all(mapping[c] in raw.columns for c in LABEL_COLUMNS)
    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))

    for col in ID_COLUMNS:
        values = raw[mapping[col]]
        text = values.astype(str).str.strip()
        bad = values.isna().to_numpy() | (text == "").fillna(True).to_numpy()
        _refuse(path, mapping[col], bad, "empty identifier")
        # the string array as it is (Arrow-backed): a round trip through an object ndarray built
        # one Python str per cell (10M rows x 5 id columns) before pandas converted it back
        out[col] = text.array

    dup = out["sgd.id"].duplicated(keep=False).to_numpy()
    _refuse(path, mapping["sgd.id"], dup, f"duplicate declaration ids ({int(dup.sum())} rows share an id)")

    out["sgd.date"] = _parse_dates(raw[mapping["sgd.date"]], path, mapping["sgd.date"], options.date_format)
    out["tariff.code"] = _parse_tariff(raw[mapping["tariff.code"]], path, mapping["tariff.code"],
                                       options.tariff_digits)
    for col in NONNEG_COLUMNS:
        vals = _parse_number(raw[mapping[col]], path, mapping[col])
        _refuse(path, mapping[col], (vals < 0).to_numpy(), "negative value", raw[mapping[col]])
        out[col] = vals

    if has_labels:
        out["illicit"] = _parse_label(raw[mapping["illicit"]], path, mapping["illicit"])
        rev = _parse_number(raw[mapping["revenue"]], path, mapping["revenue"])
        _refuse(path, mapping["revenue"], (rev < 0).to_numpy(), "negative revenue", raw[mapping["revenue"]])
        licit_rev = ((out["illicit"] == 0) & (rev > 0)).to_numpy()
        _refuse(path, mapping["revenue"], licit_rev, "revenue on licit rows (illicit = 0 but revenue > 0)",
                raw[mapping["revenue"]])
        out["revenue"] = rev
    return out


_AMBIGUOUS_DATE = r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}"


def _refuse(path, column: str, bad: np.ndarray, problem: str, values: pd.Series | None = None) -> None:
    if bad.any():
        idx = np.flatnonzero(bad)
        shown = [] if values is None else list(values.iloc[idx[:MAX_SHOWN]])
        raise DataValidationError(path, problem, column=column, rows=(idx + 1).tolist(), values=shown)


def _missing(values: pd.Series, text: pd.Series) -> np.ndarray:
    return values.isna().to_numpy() | (text == "").fillna(True).to_numpy()


def _parse_number(values: pd.Series, path, column: str) -> pd.Series:
    """Parse a numeric column; empty, non-numeric, infinite and out-of-range values (``reading.MAX_ABS``,
    ``reading.MIN_ABS``) are errors, never NaN/0."""
    if pd.api.types.is_bool_dtype(values):
        raise DataValidationError(path, "boolean column where a number is expected", column=column)
    if pd.api.types.is_numeric_dtype(values):
        nums = values.astype("float64")
        finite = np.isfinite(nums.to_numpy())
        _refuse(path, column, nums.isna().to_numpy(), "missing value")
        _refuse(path, column, ~finite, "not a finite number", values)
        _refuse(path, column, out_of_range(nums.to_numpy()), RANGE_PROBLEM, values)
        return nums.reset_index(drop=True)
    text = values.astype(str).str.strip()
    # pandas' own parser: rejects "1,234", "1_000" and non-ASCII digits that float() would accept
    nums = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    _refuse(path, column, _missing(values, text), "missing value (empty cell)")
    _refuse(path, column, ~np.isfinite(nums.to_numpy()), "not a finite number", values)
    _refuse(path, column, out_of_range(nums.to_numpy()), RANGE_PROBLEM, values)
    return nums.reset_index(drop=True)


def _parse_label(values: pd.Series, path, column: str) -> pd.Series:
    """``illicit`` as 0/1 (a boolean Parquet column is accepted as it is unambiguous)."""
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return values.astype(np.int8).reset_index(drop=True)
    text = values.astype(str).str.strip()
    _refuse(path, column, _missing(values, text), "missing label (empty cell)")
    nums = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = ~np.isin(nums.to_numpy(), (0.0, 1.0))
    _refuse(path, column, bad, "label outside {0, 1}", values)
    return nums.astype(np.int8).reset_index(drop=True)


def _parse_dates(values: pd.Series, path, column: str, fmt: str | None, hint: str = "set data.date_format",
                 refuse_ambiguous: bool = False) -> pd.Series:
    """Dates in exactly ``fmt`` (ISO 8601 when None). ``refuse_ambiguous``: without a format, a date
    such as 01/02/2020 is refused as ambiguous (day/month order unknown) rather than as unparsable."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
    elif not pd.api.types.is_string_dtype(values) and values.dtype == object:
        # Parquet date32 columns arrive as datetime.date objects: already typed, no format needed
        parsed = pd.to_datetime(values, errors="coerce")
    else:
        text = values.astype(str).str.strip()
        _refuse(path, column, _missing(values, text), "missing date (empty cell)")
        parsed = pd.to_datetime(text, format=fmt if fmt else "ISO8601", errors="coerce")
        if refuse_ambiguous and fmt is None:
            ambiguous = (parsed.isna() & text.str.fullmatch(_AMBIGUOUS_DATE).fillna(False)).to_numpy()
            _refuse(path, column, ambiguous, "ambiguous date: day/month order unknown without a format "
                    "(give date: {column: ..., format: \"%d/%m/%Y\"} or \"%m/%d/%Y\")", values)
    bad = parsed.isna().to_numpy()
    _refuse(path, column, bad, f"unparsable date (expected format {fmt or 'ISO 8601'}; {hint})", values)
    return parsed.astype("datetime64[ns]").reset_index(drop=True)


def _tariff_text(values: pd.Series, path, column: str) -> pd.Series:
    """A text column of tariff codes, checked: no empty cell, digits only ("8432106340.0", a whole
    number written by a float column such as a spreadsheet's, loses its ".0")."""
    text = values.astype(str).str.strip()
    _refuse(path, column, _missing(values, text), "missing tariff code (empty cell)")
    text = text.str.replace(r"\.0$", "", regex=True)
    bad = ~text.str.fullmatch(r"[0-9]+").fillna(False).to_numpy()
    _refuse(path, column, bad, "tariff code is not all digits", values)
    return text


def _parse_tariff(values: pd.Series, path, column: str, digits: int) -> pd.Series:
    """Tariff codes as integers of at most ``digits`` digits (leading zeros may be lost, as in DATE)."""
    digits = int(digits)
    if pd.api.types.is_integer_dtype(values) and not values.isna().any():
        codes = values.astype("int64")
        _refuse(path, column, (codes < 0).to_numpy(), "negative tariff code", values)
    else:
        text = _tariff_text(values, path, column)
        # check the length on the text first: a 25-digit code would overflow int64
        long_text = (text.str.lstrip("0").str.len() > digits).to_numpy()
        _refuse(path, column, long_text, f"tariff code longer than data.tariff_digits={digits}", values)
        codes = text.astype("int64")
    too_long = (codes >= 10 ** digits).to_numpy()
    _refuse(path, column, too_long, f"tariff code longer than data.tariff_digits={digits}", values)
    return codes.reset_index(drop=True)
