"""A declared schema: a YAML file that gives a declarations file's columns their roles.

Any administration's export can be read once its columns are declared (``docs/schema.md``)::

    id: Declaration ID                      # optional: row numbers when absent
    date: {column: Date, format: "%Y-%m-%d"}
    label: {column: Fraud, positive: [1], negative: [0]}
    tariff: {column: HS6 Code, digits: 6}
    importer: Importer ID
    entities: [Seller ID]
    categorical: [Process Type]
    ignore: [Critical Fraud]

Named roles (``ROLES``, each optional except ``date`` and ``label``) become the canonical DATE column
names; the free lists keep their own names. Everything about the schema is checked when it is
loaded, before any data is read: unknown keys, a column given two roles or a role and a list, a
label without positive values, a date format that does not round-trip, a tariff code shorter than
HS6. The schema's *content* (not its path, comments or layout) has a digest for run identity.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

# role -> canonical column name (the DATE names where DATE has the column)
ROLES: dict[str, str] = {
    "id": "sgd.id", "date": "sgd.date", "label": "illicit", "revenue": "revenue", "tariff": "tariff.code",
    "importer": "importer.id", "declarant": "declarant.id", "office": "office.id", "country": "country",
    "value": "cif.value", "fob": "fob.value", "quantity": "quantity", "weight": "gross.weight",
    "taxes": "total.taxes", "tax_rate": "tax.rate",
}
REQUIRED_ROLES = ("date", "label")
LISTS = ("entities", "categorical", "numeric", "allow_missing", "ignore")
FEATURE_LISTS = ("entities", "categorical", "numeric")
IDENTIFIER_ROLES = ("id", "importer", "declarant", "office", "country")
# roles whose values are confidential (never in a message; pseudonymised by bacuda-anonymize)
CONFIDENTIAL_ROLES = ("id", "importer", "declarant", "office")
NUMBER_ROLES = ("value", "fob", "quantity", "weight", "taxes", "tax_rate")
NEVER_MISSING = ("id", "date", "label", "revenue", "tariff")
ROLE_OPTIONS: dict[str, tuple[str, ...]] = {"date": ("format",), "label": ("positive", "negative"),
                                            "tariff": ("digits",)}
DELIMITERS = (",", ";", "\t", "|")
DECIMALS = (".", ",")
SCHEMA_DIR = "schemas"


class SchemaError(ValueError):
    """A declared schema was refused: names the schema (file or name) and the key at fault."""

    def __init__(self, source: str, problem: str, key: str | None = None):
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"schema {source}: " + (f"{key}: " if key else "") + problem)


def label_token(value: Any) -> str:
    """A label value as compared: text stripped; numbers by value ("1", "1.0", 1 are one token);
    true/false are 1/0 (a boolean column and a 0/1 column label the same way)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return "1" if text.lower() == "true" else "0"
    try:
        num = float(text)
    except ValueError:
        return text
    if math.isfinite(num) and num == int(num):
        return str(int(num))
    return repr(num) if math.isfinite(num) else text


@dataclass(frozen=True)
class DeclaredSchema:
    """The parsed schema. ``roles``: role -> file column for the roles present."""

    roles: Mapping[str, str]
    date_format: str | None = None
    positive: tuple[str, ...] = ("1",)
    negative: tuple[str, ...] | None = ("0",)
    tariff_digits: int | None = None
    entities: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    allow_missing: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    delimiter: str = ","
    decimal: str = "."
    source: str = field(default="(inline)", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The canonical content: every role in full form, lists as given, the file format."""
        out: dict[str, Any] = {}
        for role in ROLES:
            col = self.roles.get(role)
            if col is None:
                continue
            if role == "date":
                out[role] = {"column": col, "format": self.date_format}
            elif role == "label":
                out[role] = {"column": col, "positive": list(self.positive),
                             "negative": None if self.negative is None else list(self.negative)}
            elif role == "tariff":
                out[role] = {"column": col, "digits": self.tariff_digits}
            else:
                out[role] = col
        out.update({name: list(getattr(self, name)) for name in LISTS})
        out.update(delimiter=self.delimiter, decimal=self.decimal)
        return out

    def digest(self) -> str:
        """sha256 of the canonical JSON of ``to_dict()``: equal for equal content, whatever the layout."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def canonical_names(self) -> dict[str, str]:
        """file column -> column name in the canonical frame (roles renamed, list columns kept)."""
        out = {col: ROLES[role] for role, col in self.roles.items()}
        out.update({c: c for name in FEATURE_LISTS for c in getattr(self, name)})
        return out

    def confidential_columns(self) -> list[str]:
        """File columns whose values must never be shown: identifier roles and ``entities``."""
        return [self.roles[r] for r in CONFIDENTIAL_ROLES if r in self.roles] + list(self.entities)


def parse_schema(data: Any, source: str = "(inline)") -> DeclaredSchema:
    """Check a schema's content (a mapping, as read from YAML) and return it parsed."""
    if not isinstance(data, Mapping):
        raise SchemaError(source, f"expected a mapping of roles and lists, got {type(data).__name__}")
    allowed = (*ROLES, *LISTS, "delimiter", "decimal")
    unknown = [str(k) for k in data if k not in allowed]
    if unknown:
        raise SchemaError(source, f"unknown key(s) {unknown}; roles are {', '.join(ROLES)}; "
                          f"lists are {', '.join(LISTS)}; file format keys are delimiter, decimal")
    roles: dict[str, str] = {}
    options: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        spec = data.get(role)
        if spec is None:
            if role in REQUIRED_ROLES:
                raise SchemaError(source, "required (every schema names its date and label columns)", role)
            continue
        roles[role], options[role] = _role_spec(source, role, spec)
    lists = {name: _column_list(source, name, data.get(name)) for name in LISTS}
    _check_columns(source, roles, lists)
    fmt = options["date"].get("format")
    if fmt is not None:
        _check_date_format(source, fmt)
    positive, negative = _label_values(source, options["label"])
    digits = None
    if "tariff" in roles:
        digits = options["tariff"].get("digits")
        if isinstance(digits, bool) or not isinstance(digits, int) or not 6 <= digits <= 14:
            raise SchemaError(source, f"digits must be a whole number from 6 (HS6) to 14, got {digits!r} "
                              "(e.g. tariff: {column: HS6 Code, digits: 6})", "tariff")
    delimiter = data.get("delimiter", ",")
    decimal = data.get("decimal", ".")
    if delimiter not in DELIMITERS:
        raise SchemaError(source, f"{delimiter!r} is not one of {list(DELIMITERS)}", "delimiter")
    if decimal not in DECIMALS:
        raise SchemaError(source, f"{decimal!r} is not one of {list(DECIMALS)}", "decimal")
    if delimiter == decimal:
        raise SchemaError(source, "a decimal comma needs another field delimiter (e.g. delimiter: \";\")", "decimal")
    return DeclaredSchema(roles=roles, date_format=fmt, positive=positive, negative=negative, tariff_digits=digits,
                          delimiter=delimiter, decimal=decimal, source=source,
                          **{name: tuple(cols) for name, cols in lists.items()})


def _column_name(source: str, key: str, value: Any) -> str:
    # YAML reads a bare 2020 as an int: a column may well be called that
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise SchemaError(source, f"expected a column name, got {value!r}", key)
    return str(value)


def _role_spec(source: str, role: str, spec: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(spec, Mapping):
        return _column_name(source, role, spec), {}
    extra = [str(k) for k in spec if k != "column" and k not in ROLE_OPTIONS.get(role, ())]
    if extra:
        allowed = ["column", *ROLE_OPTIONS.get(role, ())]
        raise SchemaError(source, f"unknown option(s) {extra}; this role takes {allowed}", role)
    if "column" not in spec:
        raise SchemaError(source, "the mapping form needs column: <file column>", role)
    return _column_name(source, role, spec["column"]), {k: v for k, v in spec.items() if k != "column"}


def _column_list(source: str, name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise SchemaError(source, f"expected a list of column names, got {type(value).__name__}", name)
    cols = [_column_name(source, name, v) for v in value]
    dups = sorted({c for c in cols if cols.count(c) > 1})
    if dups:
        raise SchemaError(source, f"column(s) {dups} listed twice", name)
    return cols


def _check_columns(source: str, roles: dict[str, str], lists: dict[str, list[str]]) -> None:
    """One place per column: one role or one of entities/categorical/numeric/ignore."""
    owner: dict[str, str] = {}
    for role, col in roles.items():
        if col in owner:
            raise SchemaError(source, f"column '{col}' has two roles: {owner[col]} and {role}", role)
        owner[col] = f"role {role}"
    for name in (*FEATURE_LISTS, "ignore"):
        for col in lists[name]:
            if col in owner:
                raise SchemaError(source, f"column '{col}' is both in {owner[col]} and in list {name}", name)
            owner[col] = f"list {name}"
    canonical = set(ROLES.values())
    for name in FEATURE_LISTS:
        clash = [c for c in lists[name] if c in canonical]
        if clash:
            raise SchemaError(source, f"column(s) {clash} carry a canonical role name; give them that role "
                              "(or rename the column) so the canonical frame has one meaning per name", name)
    for col in lists["allow_missing"]:
        where = owner.get(col)
        if where is None or where == "list ignore":
            raise SchemaError(source, f"column '{col}' is in no role or feature list", "allow_missing")
        if where.startswith("role ") and where[5:] in NEVER_MISSING:
            raise SchemaError(source, f"column '{col}' ({where}) can never be missing", "allow_missing")


def _check_date_format(source: str, fmt: Any) -> None:
    probe = datetime(2021, 3, 14)
    try:
        ok = isinstance(fmt, str) and datetime.strptime(probe.strftime(fmt), fmt).date() == probe.date()
    except ValueError:
        ok = False
    if not ok:
        raise SchemaError(source, f"format {fmt!r} does not round-trip a date (a strptime format such as "
                          "\"%Y-%m-%d\" or \"%d/%m/%Y\" with year, month and day)", "date")


def _label_values(source: str, options: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    def tokens(key: str, default: Any) -> tuple[str, ...] | None:
        value = options.get(key, default)
        if value is None:
            return None
        values = value if isinstance(value, (list, tuple)) else [value]
        if not values or any(v is None or isinstance(v, (Mapping, list)) for v in values):
            raise SchemaError(source, f"{key}: expected one value or a list of values, got {value!r}", "label")
        return tuple(dict.fromkeys(label_token(v) for v in values))

    if "positive" not in options and "negative" not in options:
        return ("1",), ("0",)
    positive = tokens("positive", None)
    if positive is None:
        raise SchemaError(source, "positive values are required (e.g. label: {column: Fraud, positive: [1]})",
                          "label")
    negative = tokens("negative", None)
    both = sorted(set(positive) & set(negative or ()))
    if both:
        raise SchemaError(source, f"value(s) {both} are both positive and negative", "label")
    return positive, negative


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses a repeated key (plain PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_schema_text(text: str, source: str = "(inline)") -> DeclaredSchema:
    """Parse YAML text (repeated keys refused) into a checked schema."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise SchemaError(source, f"not valid YAML ({exc})".replace("\n", " ")) from None
    return parse_schema(data, source)


def shipped_schemas() -> list[str]:
    """Names of the schemas shipped with the package (``schemas/<name>.yaml``)."""
    folder = resources.files("bacuda_research.declarations") / SCHEMA_DIR
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_schema(path_or_name: str | os.PathLike) -> DeclaredSchema:
    """Read a schema file, or a shipped schema by name (``"date"``, ``"kcs"``).

    A bare name (no folder, no suffix) is a shipped schema's name unless it is an existing *file*: a
    folder of that name in the working directory (e.g. a run folder called ``kcs``) does not hide it.
    """
    text_name = str(path_or_name)
    if os.sep not in text_name and "." not in text_name and not Path(text_name).is_file():
        if text_name not in shipped_schemas():
            raise SchemaError(text_name, f"no such file and no shipped schema of that name "
                              f"(shipped: {', '.join(shipped_schemas())})")
        ref = resources.files("bacuda_research.declarations") / SCHEMA_DIR / f"{text_name}.yaml"
        return parse_schema_text(ref.read_text(encoding="utf-8"), source=text_name)
    path = Path(path_or_name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(str(path), "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(str(path), f"cannot be read as UTF-8 text ({type(exc).__name__})") from None
    return parse_schema_text(text, source=str(path))


def schema_from_config(columns: Mapping[str, str] | None, schema: str | os.PathLike | None) -> DeclaredSchema | None:
    """The config side's one check: ``data.columns`` (the DATE mapping) or ``data.schema``, never both."""
    if schema is None or schema == "":
        return None
    if columns:
        raise ValueError("data.columns and data.schema are both given: a declared schema names every column "
                         "itself (set data.columns=null, or drop data.schema to use the DATE mapping)")
    return load_schema(schema)


def data_hash(paths: Sequence[str | os.PathLike]) -> str:
    """One content hash for a dataset of one or several files, in the order given.

    One file: its own sha256 (what runs record today). Several: the sha256 of their sha256s
    concatenated, so renaming a file keeps the hash and changing any byte changes it.
    """
    from bacuda_research.core.io import sha256_file

    digests = [sha256_file(p) for p in paths]
    if not digests:
        raise ValueError("data_hash: no files")
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
