"""How a trained model reads raw files and rebuilds its features, from what it stored (torch-free).

A DATE checkpoint and a deployment bundle store the file schema and the fitted features as JSON.
The DATE layout stores ``{"columns", "date_format", "tariff_digits"}`` (a ``SchemaOptions``); a
run on a declared schema stores ``{"declared": <DeclaredSchema.to_dict()>}``, and its features
carry ``"kind": "auto"`` when they are ``AutoFeatures``. These helpers give the one reader and the
one features class for both, so the predictor, ``bacuda-explain`` and the scoring runtime read a
file exactly as training did (labels optional).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import pandas as pd

from bacuda_research.declarations.auto_features import AutoFeatures
from bacuda_research.declarations.canonical import load_declared
from bacuda_research.declarations.declared import DeclaredSchema, parse_schema
from bacuda_research.declarations.features import DeclarationFeatures
from bacuda_research.declarations.schema import SchemaOptions, load_declarations


def schema_from_stored(stored: Mapping[str, Any]) -> SchemaOptions | DeclaredSchema:
    """The stored file schema: a declared schema, or the DATE layout's options (labels not required)."""
    if "declared" in stored:
        return parse_schema(stored["declared"], source="(the trained model's schema)")
    return SchemaOptions(columns=stored.get("columns"), date_format=stored.get("date_format"),
                         tariff_digits=int(stored.get("tariff_digits", 10)), require_labels=False)


def stored_from_schema(schema: SchemaOptions | DeclaredSchema) -> dict[str, Any]:
    """What ``schema_from_stored`` reads back (JSON)."""
    if isinstance(schema, DeclaredSchema):
        return {"declared": schema.to_dict()}
    return {"columns": dict(schema.columns or {}), "date_format": schema.date_format,
            "tariff_digits": int(schema.tariff_digits)}


def read_with(schema: SchemaOptions | DeclaredSchema, path: str | os.PathLike,
              max_rows: int | None = None) -> pd.DataFrame:
    """Read and validate a file with a model's schema; labels are optional."""
    if isinstance(schema, DeclaredSchema):
        return load_declared(path, schema, max_rows=max_rows, require_labels=False)
    return load_declarations(path, schema, max_rows=max_rows)


def features_from_dict(d: Mapping[str, Any]) -> DeclarationFeatures | AutoFeatures:
    """``DeclarationFeatures`` or ``AutoFeatures`` (``"kind": "auto"``) from their ``to_dict()``."""
    if d.get("kind") == "auto":
        return AutoFeatures.from_dict(dict(d))
    return DeclarationFeatures.from_dict(dict(d))
