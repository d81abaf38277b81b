"""Draft a declared schema from a file: roles from column names and values, a reason per column.

``bacuda-schema`` writes the draft for a person to review. Every decision is explained in a comment
on its column, and no comment quotes an identifier's value (only counts, shares, formats, dates and
label values). The file format is detected and recorded (``delimiter``, ``decimal``) so that the
loader honours exactly what the schema says instead of guessing at training time.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bacuda_research.declarations.declared import DELIMITERS, ROLES, label_token
from bacuda_research.declarations.reading import PARQUET_SUFFIXES, DataValidationError, read_table

# role -> column-name pattern (names lower-cased, non-alphanumerics as single spaces); the first
# column that matches and passes the role's type check takes the role
NAME_PATTERNS: dict[str, str] = {
    "id": r"^(customs )?(declaration|decl|sgd|entry)( (id|no|number|num|nr))?$|^id$",
    "importer": r"\b(importer|consignee)\b",
    "declarant": r"\b(declarant|broker)\b",
    "office": r"\boffice\b",
    "country": r"^(country( of)? origin|origin( country)?|country)( (code|id))?$",
    "tax_rate": r"\b(tax|duty|tariff) rate\b",
    "tariff": r"\b(hs\d*|tariff|commodity|cn\d*|hts\d*)\b",
    "fob": r"\bfob\b",
    "value": r"\bcif\b|customs value|assessed value|item price|^(declared |invoice )?value\b",
    "quantity": r"\b(quantity|qty)\b",
    "weight": r"\b(weight|mass)\b",
    "taxes": r"^(total )?(taxes|tax amount|tax paid|duties|duty amount|duties paid)$",
}
IDENTIFIER_NAME = r"\b(id|identifier|no|number|nr)\b"
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d", "%Y.%m.%d", "%d/%m/%Y",
                "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%m-%d-%Y", "%y-%m-%d", "%d/%m/%y", "%m/%d/%y", "%Y%m%d")
MAX_CODES = 50        # integer columns with at most this many values are codes (categories)
MAX_LABEL_VALUES = 20
OUTCOME_AGREEMENT = 0.995


class DraftError(ValueError):
    """No draft can be made (e.g. label values that are not 0/1 and no ``--positive``)."""


@dataclass
class Profile:
    """What the values of one column look like (counts only: nothing here is shown to anyone)."""

    name: str
    text: pd.Series
    empty: np.ndarray
    distinct: int
    numbers: pd.Series | None = None       # float64 when every non-empty cell is a number
    date_format: str | None = None
    date_note: str = ""
    lengths: set[int] = field(default_factory=set)

    @property
    def empty_share(self) -> float:
        return float(self.empty.mean()) if len(self.empty) else 0.0

    @property
    def integer(self) -> bool:
        v = self.numbers.dropna().to_numpy() if self.numbers is not None else np.array([0.5])
        return bool(len(v)) and bool(np.all(v == np.round(v)))


def norm_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", str(name).lower()).strip()


def sniff_delimiter(path: str | os.PathLike) -> tuple[str, str]:
    """(delimiter, reason) from the header and the first lines: the candidate giving the most fields,
    the same number on every line."""
    if str(path).lower().endswith(PARQUET_SUFFIXES):
        return ",", "Parquet file (no delimiter)"
    with open(path, "rb") as f:
        head = f.read(1 << 16).decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = head.splitlines()[:50]
    lines = lines[:-1] if len(lines) > 1 else lines  # the last line may be cut
    best, best_n = ",", 1
    for d in DELIMITERS:
        counts = {len(r) for r in csv.reader(lines, delimiter=d) if r}
        if len(counts) == 1 and (n := counts.pop()) > best_n:
            best, best_n = d, n
    return best, f"{best_n} fields on every line when split on {best!r}"


def profile(raw: pd.DataFrame, col: str, decimal: str) -> Profile:
    values = raw[col]
    text = values.astype(str).str.strip()
    empty = (values.isna() | text.eq("")).to_numpy()
    filled = text[~empty]
    p = Profile(col, text, empty, int(filled.nunique()))
    num_text = filled.str.replace(",", ".", regex=False) if decimal == "," else filled
    nums = pd.to_numeric(num_text, errors="coerce")
    if len(filled) and nums.notna().all() and np.isfinite(nums.to_numpy(dtype="float64")).all():
        p.numbers = pd.to_numeric(text.where(~empty).str.replace(",", ".", regex=False) if decimal == ","
                                  else text.where(~empty), errors="coerce").astype("float64")
    p.lengths = set(filled.str.len().unique().tolist())
    if len(filled) and (p.numbers is None or "date" in norm_name(col)):
        p.date_format, p.date_note = detect_date_format(filled)
    return p


def detect_date_format(values: pd.Series) -> tuple[str | None, str]:
    """The format every value parses with; when several do, the one with the shortest time span
    (declarations cluster in time), unless two spans are alike (then day/month order is ambiguous)."""
    uniques = pd.Series(pd.unique(values))
    found = []
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(uniques, format=fmt, errors="coerce")
        if parsed.notna().all():
            found.append((parsed.max() - parsed.min(), fmt, parsed))
    if not found:
        return None, ""
    found.sort(key=lambda t: t[0])
    span, fmt, parsed = found[0]
    if len(found) > 1 and found[1][0] <= 2 * span + pd.Timedelta(days=1):
        return "?", f"parses as both {fmt} and {found[1][1]}: the day/month order cannot be told"
    return fmt, f"every value parses as {fmt}; {parsed.min().date()} .. {parsed.max().date()}"


def label_values(p: Profile, positive: list[str] | None) -> tuple[list[str], list[str], str]:
    tokens = pd.Series(pd.unique(p.text[~p.empty])).map(label_token)
    seen = sorted(set(tokens), key=lambda t: (len(t), t))
    if p.empty.any():
        raise DraftError(f"label column '{p.name}': {int(p.empty.sum())} empty cell(s); every row needs a label")
    if len(seen) > MAX_LABEL_VALUES:
        raise DraftError(f"label column '{p.name}' has {len(seen)} distinct values: not a label")
    if positive is None:
        if not set(seen) <= {"0", "1"}:
            raise DraftError(f"label column '{p.name}' has values {seen}, not 0/1: say which mean fraud "
                             "with --positive VALUE (repeatable)")
        positive = ["1"]
    pos = list(dict.fromkeys(label_token(v) for v in positive))
    absent = [v for v in pos if v not in seen]
    if absent:
        raise DraftError(f"--positive {absent}: never found in label column '{p.name}' (values: {seen})")
    neg = [v for v in seen if v not in pos]
    share = float(p.text.map(label_token).isin(pos).mean())
    return pos, neg, f"values {', '.join(seen)}; {share:.2%} positive"


def outcome_agreement(p: Profile, y: np.ndarray) -> float:
    """How well the column alone predicts the label: the best accuracy of a lookup table from its
    value (few values), or from "empty / zero" (any column), to the label."""
    best = 0.0
    keys = []
    if p.distinct <= MAX_CODES:
        keys.append(p.text.to_numpy())
    keys.append(p.empty)
    if p.numbers is not None:
        keys.append(p.numbers.fillna(0).to_numpy() == 0)
    for key in keys:
        table = pd.crosstab(key, y)
        best = max(best, float(table.max(axis=1).sum()) / len(y))
    return best


@dataclass
class Draft:
    """The decisions: role -> (column, comment), list -> [(column, comment)], file format."""

    file: str
    rows: int
    columns: int
    roles: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    options: dict[str, dict] = field(default_factory=dict)
    lists: dict[str, list[tuple[str, str]]] = field(
        default_factory=lambda: {k: [] for k in ("entities", "categorical", "numeric", "allow_missing", "ignore")})
    delimiter: tuple[str, str] = (",", "")
    decimal: tuple[str, str] = (".", "")


def detect_decimal(raw: pd.DataFrame, delimiter: str) -> tuple[str, str]:
    comma = [c for c in raw.columns
             if (t := raw[c].astype(str).str.strip()).str.fullmatch(r"[+-]?\d*,\d+").any()
             and t[t != ""].str.fullmatch(r"[+-]?\d*[,]?\d+").all()]
    if not comma:
        return ".", "no decimal commas seen"
    if delimiter == ",":
        raise DraftError(f"column(s) {comma} hold decimal commas in a comma-separated file; re-export it "
                         "with another delimiter (e.g. ';')")
    return ",", f"decimal commas in {len(comma)} column(s), e.g. '{comma[0]}'"


def draft_schema(path: str | os.PathLike, label: str, positive: list[str] | None = None,
                 revenue: str | None = None) -> Draft:
    """Read ``path`` and decide a role or list for every column (raises ``DraftError`` or
    ``DataValidationError`` when no draft can be made)."""
    delimiter, why_delim = sniff_delimiter(path) if Path(path).exists() else (",", "")
    raw = read_table(path, delimiter=delimiter)
    if len(raw) == 0:
        raise DataValidationError(path, "the file has a header but no data rows")
    for flag, col in (("--label", label), ("--revenue", revenue)):
        if col is not None and col not in raw.columns:
            raise DraftError(f"{flag} '{col}' is not a column of {path} (columns: {[str(c) for c in raw.columns]})")
    decimal = detect_decimal(raw, delimiter)
    d = Draft(file=Path(path).name, rows=len(raw), columns=raw.shape[1], delimiter=(delimiter, why_delim),
              decimal=decimal)
    profiles = {c: profile(raw, c, decimal[0]) for c in raw.columns}
    pos, neg, why = label_values(profiles[label], positive)
    d.roles["label"] = (label, why)
    d.options["label"] = {"positive": pos, "negative": neg}
    if revenue is not None:
        d.roles["revenue"] = (revenue, "given with --revenue")
    taken = {label, revenue}
    _assign_date(d, profiles, taken)
    _assign_roles(d, profiles, taken)
    y = profiles[label].text.map(label_token).isin(pos).to_numpy()
    for col, p in profiles.items():
        if col not in taken:
            _assign_list(d, p, y, label, revenue is None)
    for role in ROLES:
        d.roles.setdefault(role, (None, _absent_reason(role)))
    return d


def _absent_reason(role: str) -> str:
    if role == "revenue":
        return "no --revenue: no revenue metrics and no revenue task"
    if role == "id":
        return "no column named like a declaration id and distinct in every row: row numbers are the ids"
    return f"no column named like {role.replace('_', ' ')} with fitting values"


def _assign_date(d: Draft, profiles: dict[str, Profile], taken: set) -> None:
    dated = [p for c, p in profiles.items() if c not in taken and p.date_format]
    dated.sort(key=lambda p: ("date" not in norm_name(p.name), p.empty_share))
    if not dated:
        raise DraftError("no column parses as dates in one of the formats "
                         f"{list(DATE_FORMATS)}: a schema needs a date column")
    p = dated[0]
    fmt = None if p.date_format == "?" else p.date_format
    note = p.date_note + ("; EDIT: set the format" if fmt is None else "")
    d.roles["date"] = (p.name, note)
    d.options["date"] = {"format": fmt}
    taken.add(p.name)


def _fits(role: str, p: Profile, rows: int) -> str | None:
    """Why ``p`` fits ``role`` (a comment), or None."""
    if role == "id":
        ok = not p.empty.any() and p.distinct == rows
        return "distinct in every row, named like a declaration id" if ok else None
    if role in ("importer", "declarant", "office", "country"):
        return f"named like {role}; {p.distinct:,} distinct" if p.empty_share < 0.5 else None
    if role == "tariff":
        digits = max(p.lengths) if p.lengths else 0
        ok = (p.numbers is not None and p.integer and not p.empty.any() and digits >= 6
              and p.lengths <= {digits, digits - 1})
        return f"digit codes of {digits} digits; {p.distinct:,} distinct" if ok else None
    ok = p.numbers is not None and bool((p.numbers.dropna() >= 0).all())
    return f"named like {role.replace('_', ' ')}; numbers >= 0" if ok else None


def _assign_roles(d: Draft, profiles: dict[str, Profile], taken: set) -> None:
    for role, pattern in NAME_PATTERNS.items():
        for col, p in profiles.items():
            if col in taken or not re.search(pattern, norm_name(col)):
                continue
            why = _fits(role, p, d.rows)
            if why is None:
                continue
            d.roles[role] = (col, why)
            if role == "tariff":
                d.options["tariff"] = {"digits": max(p.lengths)}
            if p.empty.any():
                d.lists["allow_missing"].append((col, f"empty in {p.empty_share:.2%} of rows"))
            taken.add(col)
            break


def _assign_list(d: Draft, p: Profile, y: np.ndarray, label: str, no_revenue: bool) -> None:
    agree = outcome_agreement(p, y)
    majority = max(y.mean(), 1 - y.mean())
    if agree >= OUTCOME_AGREEMENT and agree - majority >= 0.5 * (1 - majority):
        amounts = no_revenue and p.numbers is not None and p.distinct > MAX_CODES
        hint = " (if it is the revenue, give --revenue)" if amounts else ""
        d.lists["ignore"].append((p.name, f"alone agrees with {label} on {agree:.2%} of rows: an outcome, "
                                  f"not a feature{hint}"))
        return
    if p.distinct <= 1:
        d.lists["ignore"].append((p.name, "one value (or none) in every row: nothing to learn from"))
        return
    if p.date_format:
        d.lists["ignore"].append((p.name, "a second date column: only the declaration date is used"))
        return
    named_id = re.search(IDENTIFIER_NAME, norm_name(p.name)) is not None
    if p.distinct == d.rows and not p.empty.any() and (p.numbers is None or named_id):
        d.lists["ignore"].append((p.name, "distinct in every row: it names the row, nothing to learn from"))
        return
    if named_id and not (p.numbers is not None and not p.integer):
        name, why = "entities", f"named like an identifier; {p.distinct:,} distinct (confidential)"
    elif p.numbers is not None:
        if p.integer and p.distinct <= MAX_CODES:
            name, why = "categorical", f"integer codes, {p.distinct} distinct: categories, not amounts"
        else:
            name, why = "numeric", f"numbers, {p.distinct:,} distinct"
    elif p.distinct > max(1000, 0.05 * d.rows):
        name, why = "entities", f"text with {p.distinct:,} distinct values: an identifier (confidential)"
    else:
        name, why = "categorical", f"text, {p.distinct:,} distinct values"
    d.lists[name].append((p.name, why))
    if p.empty.any():
        what = "NaN" if name == "numeric" else "its own category"
        d.lists["allow_missing"].append((p.name, f"empty in {p.empty_share:.2%} of rows: an empty cell is {what}"))


def _scalar(value: object) -> str:
    """A YAML scalar for a column name or label value: plain when that reads back unchanged."""
    text = str(value)
    if re.fullmatch(r"-?\d+", text):
        return text
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ ./()-]*[A-Za-z0-9_.)]|[A-Za-z_]", text) is not None
    if plain:
        import yaml

        plain = yaml.safe_load(text) == text
    return text if plain else json_quote(text)


def json_quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _line(key: str, value: str, comment: str, width: int = 44) -> str:
    head = f"{key}{value}"
    return f"{head:<{width}} # {comment}" if comment else head


def render_draft(d: Draft) -> str:
    """The draft as commented YAML (reads back with ``declared.parse_schema_text``)."""
    out = [f"# Declared schema drafted by bacuda-schema from {d.file} ({d.rows:,} rows, {d.columns} columns).",
           "# Review it: the comment on each column says why it got its role. Reference: docs/schema.md",
           _line("delimiter: ", json_quote(d.delimiter[0]), d.delimiter[1]),
           _line("decimal: ", json_quote(d.decimal[0]), d.decimal[1]), ""]
    for role in ROLES:
        col, why = d.roles[role]
        if col is None:
            out.append(_line(f"{role}: ", "null", why))
            continue
        opts = d.options.get(role)
        if role == "date":
            fmt = opts["format"]
            value = f"{{column: {_scalar(col)}, format: {'null' if fmt is None else json_quote(fmt)}}}"
        elif role == "label":
            pos = ", ".join(_scalar(v) for v in opts["positive"])
            neg = ", ".join(_scalar(v) for v in opts["negative"])
            value = f"{{column: {_scalar(col)}, positive: [{pos}], negative: [{neg}]}}"
        elif role == "tariff":
            value = f"{{column: {_scalar(col)}, digits: {opts['digits']}}}"
        else:
            value = _scalar(col)
        out.append(_line(f"{role}: ", value, why))
    notes = {"entities": "identifiers (confidential like importer; bacuda-anonymize pseudonymises them)",
             "categorical": "categories, kept as text", "numeric": "numbers",
             "allow_missing": "columns where an empty cell is accepted",
             "ignore": "dropped when loading"}
    for name, items in d.lists.items():
        out.append("")
        if not items:
            out.append(_line(f"{name}: ", "[]", notes[name]))
            continue
        out.append(_line(f"{name}:", "", notes[name]))
        out += [_line("  - ", _scalar(col), why) for col, why in items]
    return "\n".join(out) + "\n"
