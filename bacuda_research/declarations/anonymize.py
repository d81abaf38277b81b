"""Pseudonymise a declarations file so it can leave the administration.

Identifier columns are replaced by a keyed HMAC-SHA256 (``IMP-<16 hex>``): the same key gives the
same pseudonym in every file, so files anonymised separately still join, and without the key
nobody can recompute or reverse them (a plain hash of "IMP210510" is reversed by enumerating the
id space in seconds; a keyed one is not). The column's schema key is part of the message, so an
importer and a declarant that share an id in the source do not share a pseudonym.

Dates can be shifted by a fixed number of days and money columns scaled by one factor: both keep
what DATE learns from (order, weekday pattern up to the shift, ratios between money columns) while
hiding real calendar dates and amounts.

The key is only ever held in memory: it is not written to the output, to a sidecar, to logs or to
error messages. Columns that are not in the schema are dropped unless asked for, because a free
extra column (an importer's name, say) is the easiest way to leak what the pseudonyms hide.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import stat
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from bacuda_research.declarations.schema import CANONICAL, ID_COLUMNS, SchemaOptions, read_table, validate_declarations

DEFAULT_ID_KEYS = ("importer", "declarant", "id", "office")
PREFIXES = {"id": "SGD", "importer": "IMP", "declarant": "DEC", "office": "OFF", "country": "CTY"}
MONEY_COLUMNS = ("fob.value", "cif.value", "total.taxes", "revenue")
MIN_KEY_BYTES = 16
DIGEST_HEX = 16  # 64 bits: collisions are checked for, and a 1e7-id file has ~3e-6 odds of one
OUTPUT_SUFFIXES = (".csv", ".parquet")
# a key file is a few dozen bytes; more is a mistake (a data file, /dev/urandom itself)
MAX_KEY_FILE_BYTES = 4096


class AnonymizationError(ValueError):
    """The anonymizer refused to run (bad key, bad options). Never contains key material."""


def read_key(key_file: str | os.PathLike | None = None, key_env: str | None = None) -> bytes:
    """The secret key from a file (raw bytes) or an environment variable; exactly one of the two.

    A trailing newline is dropped (``echo secret > key``), so a key file and
    ``export VAR=$(cat key)`` give the same key. Keys shorter than 16 bytes are refused: a short
    key can be brute-forced, which would make every pseudonym reversible.
    """
    if (key_file is None) == (key_env is None):
        raise AnonymizationError("give exactly one of a key file or a key environment variable")
    if key_file is not None:
        where = f"key file {key_file}"
        try:
            with open(key_file, "rb") as f:  # capped: a device or a huge file must not fill memory
                key = f.read(MAX_KEY_FILE_BYTES + 1)
                mode = os.fstat(f.fileno()).st_mode
        except FileNotFoundError:
            raise AnonymizationError(f"{where}: not found") from None
        except OSError as exc:
            raise AnonymizationError(f"{where}: cannot be read ({type(exc).__name__})") from None
        if len(key) > MAX_KEY_FILE_BYTES:
            raise AnonymizationError(f"{where}: larger than {MAX_KEY_FILE_BYTES} bytes, not a key file "
                                     "(e.g. head -c 32 /dev/urandom > key)")
        if stat.S_ISREG(mode) and mode & 0o077:
            logging.getLogger("bacuda_research").warning(
                "%s: readable by group or others (mode %s); anyone who can read the key can reverse every "
                "pseudonym: chmod 600 %s", where, oct(stat.S_IMODE(mode)), key_file)
    else:
        where = f"environment variable {key_env}"
        value = os.environ.get(str(key_env))
        if value is None:
            raise AnonymizationError(f"{where} is not set")
        key = value.encode("utf-8")
    key = key.rstrip(b"\r\n")
    if len(key) < MIN_KEY_BYTES:
        raise AnonymizationError(
            f"{where}: the key is shorter than {MIN_KEY_BYTES} bytes; use a random key, "
            "e.g. head -c 32 /dev/urandom > key")
    return key


def pseudonymize(values: pd.Series, key: bytes, key_name: str, prefix: str | None = None) -> pd.Series:
    """HMAC-SHA256 pseudonyms ``<PREFIX>-<16 hex>`` for one identifier column (schema key ``key_name``)."""
    base = hmac.new(key, digestmod=hashlib.sha256)
    prefix = prefix or PREFIXES.get(key_name, key_name.upper())
    tag = key_name.encode("utf-8") + b"\x1f"

    def one(value: str) -> str:
        h = base.copy()
        h.update(tag + value.encode("utf-8"))
        return f"{prefix}-{h.hexdigest()[:DIGEST_HEX]}"

    text = values.astype(str)
    uniques = pd.unique(text)
    table = {u: one(u) for u in uniques}
    if len(set(table.values())) != len(table):
        # astronomically unlikely, but merging two importers silently would corrupt the data
        raise AnonymizationError(f"pseudonym collision in column '{key_name}'; use a longer digest")
    return text.map(table)


def anonymize_frame(raw: pd.DataFrame, path: str | os.PathLike, options: SchemaOptions, key: bytes,
                    id_keys: Sequence[str] = DEFAULT_ID_KEYS, date_shift_days: int = 0,
                    value_scale: float | None = None, keep_extra: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate ``raw`` (raising ``DataValidationError``) and return (anonymised frame, summary).

    The output keeps the file's own column names and formats, so the same column mapping reads it.
    """
    mapping = options.mapping()
    id_keys = list(dict.fromkeys(id_keys))
    id_key_names = {k for k, v in CANONICAL.items() if v in ID_COLUMNS}
    bad = [k for k in id_keys if k not in id_key_names]
    if bad:
        raise AnonymizationError(f"--id-columns: {bad} are not identifier keys (choose from {sorted(id_key_names)})")
    if value_scale is not None and not (math.isfinite(value_scale) and value_scale > 0):
        raise AnonymizationError(f"--value-scale must be a positive finite number, got {value_scale}")

    typed = validate_declarations(raw, path, options)
    mapped = [mapping[c] for c in typed.columns]
    extra = [c for c in raw.columns if c not in set(mapped)]
    keep = [c for c in raw.columns if c in set(mapped) or keep_extra]
    out = raw[keep].reset_index(drop=True).copy()

    for k in id_keys:
        out[mapping[CANONICAL[k]]] = pseudonymize(typed[CANONICAL[k]], key, k).to_numpy()

    if date_shift_days:
        col = mapping["sgd.date"]
        shifted = typed["sgd.date"] + pd.Timedelta(days=int(date_shift_days))
        original = raw[col]
        if pd.api.types.is_datetime64_any_dtype(original):
            out[col] = original.reset_index(drop=True) + pd.Timedelta(days=int(date_shift_days))
        elif not pd.api.types.is_string_dtype(original) and original.dtype == object:
            out[col] = shifted.dt.date.to_numpy()  # Parquet date32 in, date32 out
        else:
            out[col] = shifted.dt.strftime(options.date_format or "%Y-%m-%d").to_numpy()

    if value_scale is not None:
        for canon in MONEY_COLUMNS:
            if canon in typed.columns:
                out[mapping[canon]] = typed[canon].to_numpy() * float(value_scale)

    summary = {
        "rows": int(len(out)),
        "pseudonymised_columns": [mapping[CANONICAL[k]] for k in id_keys],
        "date_shift_days": int(date_shift_days),
        "value_scale": value_scale,
        "scaled_columns": [mapping[c] for c in MONEY_COLUMNS if c in typed.columns] if value_scale is not None else [],
        "dropped_extra_columns": [] if keep_extra else extra,
        "kept_extra_columns": extra if keep_extra else [],
    }
    return out, summary


def anonymize_file(src: str | os.PathLike, dst: str | os.PathLike, key: bytes, options: SchemaOptions | None = None,
                   id_keys: Sequence[str] = DEFAULT_ID_KEYS, date_shift_days: int = 0,
                   value_scale: float | None = None, keep_extra: bool = False) -> dict[str, Any]:
    """Validate ``src`` and write its anonymised copy to ``dst`` (CSV or Parquet by suffix), atomically.

    Nothing is written unless the whole input validates; the output appears under its name only
    when complete (``write_table`` renames a temporary file).
    """
    from bacuda_research.core.io import write_table

    options = options or SchemaOptions()
    options.mapping()
    src_p, dst_p = Path(src), Path(dst)
    if dst_p.suffix.lower() not in OUTPUT_SUFFIXES:
        raise AnonymizationError(f"{dst}: unsupported output format {dst_p.suffix!r} (use .csv or .parquet)")
    _refuse_overwrite(dst_p, src_p)
    raw = read_table(src_p)
    out, summary = anonymize_frame(raw, src_p, options, key, id_keys=id_keys, date_shift_days=date_shift_days,
                                   value_scale=value_scale, keep_extra=keep_extra)
    if dst_p.suffix.lower() == ".csv":
        out = _csv_ready(out, summary["scaled_columns"], options.mapping()["sgd.date"], options.date_format)
    write_table(out, dst_p, escape=False)  # a data file read back by the pipeline: values unchanged
    return {"input": str(src_p), "output": str(dst_p), **summary}


def _refuse_overwrite(dst: Path, src: Path) -> None:
    from bacuda_research.core.io import refuse_overwrite

    try:
        refuse_overwrite(dst, [src])
    except ValueError as e:
        raise AnonymizationError(str(e)) from None


def _csv_ready(out: pd.DataFrame, scaled: Sequence[str], date_col: str, date_format: str | None) -> pd.DataFrame:
    """Text for a CSV that the same ``SchemaOptions`` read back: scaled money with 12 significant
    digits (no "3585.6699999999996"; whole numbers stay "9691") and typed dates in the date format."""
    out = out.copy()
    for col in scaled:
        out[col] = [f"{v:.12g}" for v in out[col].to_numpy(dtype="float64")]
    dates = out[date_col]
    if pd.api.types.is_datetime64_any_dtype(dates) or (
            not pd.api.types.is_string_dtype(dates) and dates.dtype == object):
        out[date_col] = pd.to_datetime(dates).dt.strftime(date_format or "%Y-%m-%d")
    return out


def anonymize_declared_file(src: str | os.PathLike, dst: str | os.PathLike, key: bytes, schema: Any,
                            id_roles: Sequence[str] | None = None, date_shift_days: int = 0,
                            value_scale: float | None = None, keep_extra: bool = False) -> dict[str, Any]:
    """``anonymize_file`` for a file read through a declared schema (``declared.DeclaredSchema``).

    Pseudonymises the identifier roles (default: id, importer, declarant, office where declared; add
    country by naming it) and every ``entities`` column; an empty cell allowed by ``allow_missing``
    stays empty. ``ignore`` columns are dropped unless ``keep_extra``. The output keeps the file's
    own names, delimiter, decimal mark and date format, so the same schema reads it back.
    """
    from bacuda_research.core.io import atomic_path, write_table
    from bacuda_research.declarations.canonical import validate_declared
    from bacuda_research.declarations.declared import IDENTIFIER_ROLES, ROLES

    src_p, dst_p = Path(src), Path(dst)
    if dst_p.suffix.lower() not in OUTPUT_SUFFIXES:
        raise AnonymizationError(f"{dst}: unsupported output format {dst_p.suffix!r} (use .csv or .parquet)")
    _refuse_overwrite(dst_p, src_p)
    roles = list(dict.fromkeys(id_roles if id_roles is not None else
                               [r for r in DEFAULT_ID_KEYS if r in schema.roles]))
    bad = [r for r in roles if r not in IDENTIFIER_ROLES or r not in schema.roles]
    if bad:
        raise AnonymizationError(f"--id-columns: {bad} are not identifier roles of the schema "
                                 f"(it declares {[r for r in IDENTIFIER_ROLES if r in schema.roles]})")
    if value_scale is not None and not (math.isfinite(value_scale) and value_scale > 0):
        raise AnonymizationError(f"--value-scale must be a positive finite number, got {value_scale}")
    raw = read_table(src_p, delimiter=schema.delimiter)
    typed = validate_declared(raw, src_p, schema)
    keep = [c for c in raw.columns if c not in schema.ignore or keep_extra]
    out = raw[keep].reset_index(drop=True).copy()
    targets = [(schema.roles[r], ROLES[r], r, None) for r in roles]
    targets += [(c, c, f"entity\x1f{c}", "ENT") for c in schema.entities]
    for col, canon, tag, prefix in targets:
        values = pd.Series(typed[canon])
        out[col] = pseudonymize(values, key, tag, prefix).where(values != "", "").to_numpy()
    if date_shift_days:
        shifted = typed["sgd.date"] + pd.Timedelta(days=int(date_shift_days))
        out[schema.roles["date"]] = shifted.dt.strftime(schema.date_format or "%Y-%m-%d").to_numpy()
    scaled = [schema.roles[r] for r in ("value", "fob", "taxes", "revenue") if r in schema.roles]
    if value_scale is not None:
        for col in scaled:
            nums = typed[ROLES[{v: k for k, v in schema.roles.items()}[col]]].to_numpy() * float(value_scale)
            out[col] = [("" if v != v else f"{v:.12g}".replace(".", schema.decimal)) for v in nums]
    if dst_p.suffix.lower() == ".csv":
        with atomic_path(dst_p) as tmp:
            out.to_csv(tmp, index=False, sep=schema.delimiter)
    else:
        write_table(out, dst_p, escape=False)
    return {"input": str(src_p), "output": str(dst_p), "rows": int(len(out)),
            "pseudonymised_columns": [t[0] for t in targets], "date_shift_days": int(date_shift_days),
            "value_scale": value_scale, "scaled_columns": scaled if value_scale is not None else [],
            "dropped_extra_columns": [] if keep_extra else [c for c in schema.ignore if c in raw.columns],
            "kept_extra_columns": [c for c in schema.ignore if c in raw.columns] if keep_extra else []}
