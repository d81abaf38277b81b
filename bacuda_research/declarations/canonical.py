"""Load a declarations file through a declared schema into the canonical frame.

Role columns are renamed to the canonical (DATE) names and typed as ``load_declarations`` types
them (ids ``str``, ``sgd.date`` datetime64, ``tariff.code`` int64, amounts float64, ``illicit``
int8); ``entities``/``categorical`` stay text under their own names, ``numeric`` become float64,
``ignore`` columns are dropped and ``sgd.id`` is the 1-based row number when the schema has no
``id``. The file format is exactly what the schema says (delimiter, decimal mark): a file that
disagrees is refused, never guessed. Every refusal names the file, the column and the rows, and
never quotes an identifier's value.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from bacuda_research.declarations.declared import (
    DELIMITERS,
    IDENTIFIER_ROLES,
    NUMBER_ROLES,
    ROLES,
    DeclaredSchema,
    label_token,
)
from bacuda_research.declarations.reading import (PARQUET_SUFFIXES, RANGE_PROBLEM, DataValidationError, out_of_range,
                                                  read_table)
from bacuda_research.declarations.schema import (ID_COLUMNS, LABEL_COLUMNS, NONNEG_COLUMNS, _missing, _parse_dates,
                                                 _refuse, _tariff_text)

# canonical column order: load_declarations' order (identifiers, date, tariff, amounts, labels) with
# tax.rate among the amounts; the list columns follow in the schema's order
ORDER = (*ID_COLUMNS, "sgd.date", "tariff.code", *NONNEG_COLUMNS, "tax.rate", *LABEL_COLUMNS)
LABEL_ROLES = ("label", "revenue")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")


def load_declared(path: str | os.PathLike, schema: DeclaredSchema, max_rows: int | None = None,
                  require_labels: bool = True) -> pd.DataFrame:
    """Read ``path`` with the schema's delimiter, check it and return the canonical frame (or raise)."""
    check_delimiter(path, schema.delimiter)
    raw = read_table(path, max_rows=max_rows, delimiter=schema.delimiter)
    return validate_declared(raw, path, schema, require_labels=require_labels)


def check_delimiter(path: str | os.PathLike, delimiter: str) -> None:
    """Refuse a CSV whose header is one field under the schema's delimiter but several under another
    (checked before parsing: a decimal comma would otherwise pass for a field separator)."""
    path = Path(path)
    if path.suffix.lower() in PARQUET_SUFFIXES or not path.is_file():
        return
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as f:
        header = f.readline(1 << 16).decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    fields = {d: len(next(csv.reader([header], delimiter=d), [])) for d in DELIMITERS}
    other = max(fields, key=fields.get)
    if fields[delimiter] == 1 and fields[other] > 1:
        raise DataValidationError(path, f"the header is one field when split on {delimiter!r} and {fields[other]} "
                                  f"on {other!r}: the file is {other!r}-separated but the schema says delimiter: "
                                  f"{delimiter!r} (run bacuda-schema on the file, or fix the schema)")


def check_columns(raw: pd.DataFrame, path, schema: DeclaredSchema, require_labels: bool = True) -> None:
    """The file's header against the schema: delimiter, missing and undeclared columns, duplicates."""
    found = [str(c) for c in raw.columns]
    names = schema.canonical_names()
    wanted = [c for r, c in schema.roles.items() if require_labels or r not in LABEL_ROLES]
    wanted += [c for c in names if c not in wanted and c not in schema.roles.values()]
    missing = [c for c in wanted if c not in found]
    if missing:
        other = [d for d in DELIMITERS if d != schema.delimiter and len(found) == 1 and d in found[0]]
        if other:
            raise DataValidationError(path, f"the header is one column containing {other[0]!r}: the file is "
                                      f"{other[0]!r}-separated but the schema says delimiter: "
                                      f"{schema.delimiter!r} (run bacuda-schema on the file, or fix the schema)")
        if len(missing) == len(wanted):
            seen = f"none of the {len(found)} columns found is in the schema (is the first line a header?)"
        else:
            seen = f"found {found[:30]}"
        raise DataValidationError(path, f"column(s) {missing} named by the schema ({schema.source}) are not in "
                                  f"the file; {seen}", column=missing[0])
    dups = raw.attrs.get("duplicate_columns") or []
    if dups:
        raise DataValidationError(path, "duplicate column name in the header", column=dups[0])
    declared = set(names) | set(schema.ignore) | set(schema.roles.values())
    extra = [c for c in found if c not in declared]
    if extra:
        raise DataValidationError(path, f"column(s) {extra} are in no role or list of the schema "
                                  f"({schema.source}): add each to a role, a list, or ignore", column=extra[0])


def validate_declared(raw: pd.DataFrame, path, schema: DeclaredSchema, require_labels: bool = True) -> pd.DataFrame:
    """Check ``raw`` (as read, cells text) against ``schema``; return the typed canonical frame."""
    if len(raw) == 0:
        raise DataValidationError(path, "the file has a header but no data rows")
    check_columns(raw, path, schema, require_labels)
    roles = schema.roles
    may_miss = set(schema.allow_missing)
    cols: dict[str, pd.Series | pd.api.extensions.ExtensionArray | np.ndarray] = {}
    for role in IDENTIFIER_ROLES:
        if role in roles:
            cols[ROLES[role]] = parse_text(raw[roles[role]], path, roles[role], roles[role] in may_miss,
                                           "empty identifier")
    if "id" in roles:
        dup = pd.Series(cols["sgd.id"]).duplicated(keep=False).to_numpy()
        _refuse(path, roles["id"], dup, f"duplicate declaration ids ({int(dup.sum())} rows share an id)")
    else:
        cols["sgd.id"] = pd.Series(np.arange(1, len(raw) + 1)).astype(str).array
    cols["sgd.date"] = parse_dates(raw[roles["date"]], path, roles["date"], schema.date_format)
    if "tariff" in roles:
        cols["tariff.code"] = parse_tariff(raw[roles["tariff"]], path, roles["tariff"], int(schema.tariff_digits))
    for role in NUMBER_ROLES:
        if role in roles:
            col = roles[role]
            vals = parse_number(raw[col], path, col, schema.decimal, col in may_miss)
            _refuse(path, col, (vals < 0).to_numpy(), "negative value", raw[col])
            cols[ROLES[role]] = vals
    if require_labels or roles["label"] in raw.columns:
        cols.update(_labels(raw, path, schema))
    out = pd.DataFrame({c: cols[c] for c in ORDER if c in cols}, index=pd.RangeIndex(len(raw)))
    for col in (*schema.entities, *schema.categorical):
        out[col] = parse_text(raw[col], path, col, col in may_miss, "empty cell (list the column in "
                              "allow_missing if an empty cell is a category of its own)")
    for col in schema.numeric:
        out[col] = parse_number(raw[col], path, col, schema.decimal, col in may_miss)
    return out


def _labels(raw: pd.DataFrame, path, schema: DeclaredSchema) -> dict[str, pd.Series]:
    col = schema.roles["label"]
    out = {"illicit": parse_label(raw[col], path, col, schema.positive, schema.negative)}
    if "revenue" in schema.roles:
        rcol = schema.roles["revenue"]
        rev = parse_number(raw[rcol], path, rcol, schema.decimal, False)
        _refuse(path, rcol, (rev < 0).to_numpy(), "negative revenue", raw[rcol])
        licit = ((out["illicit"] == 0) & (rev > 0)).to_numpy()
        _refuse(path, rcol, licit, "revenue on licit rows (label negative but revenue > 0)", raw[rcol])
        out["revenue"] = rev
    return out


def parse_text(values: pd.Series, path, column: str, allow_missing: bool, problem: str):
    """Identifiers and categories as stripped text; an empty cell is refused unless allowed (then "")."""
    text = values.astype(str).str.strip()
    empty = _missing(values, text)
    if not allow_missing:
        _refuse(path, column, empty, problem)  # row numbers only: the values may be confidential
    elif empty.any():
        text = text.where(~empty, "")
    return text.array


def parse_number(values: pd.Series, path, column: str, decimal: str, allow_missing: bool) -> pd.Series:
    """Numbers with the schema's decimal mark; empty is refused unless allowed (then NaN)."""
    if pd.api.types.is_bool_dtype(values):
        raise DataValidationError(path, "boolean column where a number is expected", column=column)
    if pd.api.types.is_numeric_dtype(values):
        nums = values.astype("float64").reset_index(drop=True)
        empty = nums.isna().to_numpy()
    else:
        text = values.astype(str).str.strip().reset_index(drop=True)
        empty = _missing(values, text)
        if decimal == ",":
            _refuse(path, column, text.str.contains(".", regex=False).to_numpy(),
                    "'.' in a number, but the schema says decimal: ',' (thousands separators are not read)", values)
            text = text.str.replace(",", ".", regex=False)
        else:
            comma = text.str.fullmatch(_DECIMAL_COMMA.pattern).fillna(False).to_numpy()
            _refuse(path, column, comma, "decimal comma, but the schema says decimal: '.' (set decimal: \",\" "
                    "and a delimiter other than ',')", values)
        nums = pd.to_numeric(text.where(~empty, None), errors="coerce").astype("float64")
    if not allow_missing:
        _refuse(path, column, empty, "missing value (empty cell; list the column in allow_missing to accept it)")
    _refuse(path, column, ~np.isfinite(nums.to_numpy()) & ~empty, "not a finite number", values)
    _refuse(path, column, out_of_range(nums.to_numpy()), RANGE_PROBLEM, values)
    return nums


def parse_label(values: pd.Series, path, column: str, positive: tuple[str, ...],
                negative: tuple[str, ...] | None) -> pd.Series:
    """0/1 (int8) from the schema's positive (and, if given, negative) values; others refused."""
    text = values.astype(str).str.strip()
    _refuse(path, column, _missing(values, text), "missing label (empty cell)")
    uniques = pd.unique(values.to_numpy() if pd.api.types.is_bool_dtype(values) else text.to_numpy())
    table = {u: label_token(u) for u in uniques}
    tokens = (values if pd.api.types.is_bool_dtype(values) else text).map(table)
    is_pos = tokens.isin(positive).to_numpy()
    if negative is not None:
        bad = ~(is_pos | tokens.isin(negative).to_numpy())
        _refuse(path, column, bad, f"label value outside positive {list(positive)} and negative "
                f"{list(negative)}", values)
    return pd.Series(is_pos.astype(np.int8))


def parse_dates(values: pd.Series, path, column: str, fmt: str | None) -> pd.Series:
    """Dates in exactly the schema's format (ISO 8601 when none is given; 01/02/2020 is then refused)."""
    return _parse_dates(values, path, column, fmt, hint="set date.format in the schema", refuse_ambiguous=True)


def parse_tariff(values: pd.Series, path, column: str, digits: int) -> pd.Series:
    """Tariff codes as int64 of ``digits`` digits zero-padded: a code may have lost one leading zero
    (chapters 01-09 in an integer column); any other length is a mix of code systems and refused."""
    shortest = 10 ** (digits - 2)  # digits-1 digits: one lost leading zero
    if pd.api.types.is_integer_dtype(values) and not values.isna().any():
        codes = values.astype("int64").reset_index(drop=True)
        _refuse(path, column, (codes < 0).to_numpy(), "negative tariff code", values)
        lengths = codes.abs().astype(str).str.len()
        wrong = ((codes >= 10 ** digits) | (codes < shortest)).to_numpy()
    else:
        text = _tariff_text(values, path, column)
        lengths = text.str.len().reset_index(drop=True)
        wrong = ~lengths.isin((digits, digits - 1)).to_numpy()
        codes = None
    if wrong.any():
        seen = sorted({int(n) for n in lengths[wrong]})
        _refuse(path, column, wrong, f"mixed tariff-code lengths: {seen}-digit code(s) where the schema says "
                f"digits: {digits} (one lost leading zero is accepted)", values)
    if codes is None:
        codes = text.astype("int64").reset_index(drop=True)
    return codes
