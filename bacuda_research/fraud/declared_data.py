"""The data side of a run on declarations read through a declared schema (``data.schema``).

``DeclarationsDataModule.setup`` hands over here when the config gives ``data.schema`` or
``data.files``: the files are read with ``canonical.load_declared`` (one file split in time order
by ``data.split``, or three files that are the split: ``data.files.{train,valid,test}``), one data
hash covers all of them (``declared.data_hash``), and the features are ``features.kind``:

- ``date``: DATE's features (``DeclarationFeatures``), exactly as on the DATE layout; the schema
  must name every DATE role;
- ``auto``: ``AutoFeatures``, built from the columns the schema names.

Without a ``revenue`` role the splits carry zero revenue and ``has_revenue`` is false: revenue
models are refused, DATE trains the illicit task alone, and no revenue metric is reported.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from omegaconf import DictConfig, open_dict

from bacuda_research.declarations.auto_features import AutoFeatures
from bacuda_research.declarations.canonical import load_declared
from bacuda_research.declarations.declared import DeclaredSchema, data_hash, schema_from_config
from bacuda_research.declarations.features import DeclarationFeatures
from bacuda_research.declarations.schema import CANONICAL
from bacuda_research.declarations.split import time_split

log = logging.getLogger("bacuda_research")

SPLITS = ("train", "valid", "test")
# the DATE roles DeclarationFeatures reads
DATE_ROLES = ("id", "date", "label", "revenue", "tariff", "importer", "declarant", "office", "country", "value",
              "fob", "quantity", "weight", "taxes")
FEATURE_KINDS = ("date", "auto")


def uses_schema(data_cfg: Mapping[str, Any]) -> bool:
    return bool(data_cfg.get("schema") or data_cfg.get("files"))


def config_schema(data_cfg: Mapping[str, Any]) -> DeclaredSchema | None:
    """``data.schema`` loaded, refusing a custom ``data.columns`` beside it (the DATE default mapping,
    which every data config carries, counts as not given)."""
    columns = data_cfg.get("columns")
    if columns and dict(columns) == {k: v for k, v in CANONICAL.items() if k in columns}:
        columns = None
    return schema_from_config(columns, data_cfg.get("schema"))


def add_schema_digest(cfg: DictConfig) -> None:
    """Put the schema's content digest into the config (``data.schema_digest``), so that the run's
    identity and ``report.json`` carry the content while the path (``data.schema``) stays neutral."""
    data = cfg.get("data")
    if data is None or not data.get("schema"):
        return
    with open_dict(cfg):
        cfg.data.schema_digest = config_schema(data).digest()


def data_files(data_cfg: Mapping[str, Any]) -> dict[str, Path] | None:
    files = data_cfg.get("files")
    if not files:
        return None
    if set(files) != set(SPLITS):
        raise ValueError(f"data.files: expected exactly the keys {SPLITS}, got {sorted(files)}")
    if data_cfg.get("path"):
        raise ValueError("data.files and data.path are both given: the three files are the split (set data.path=null)")
    return {s: Path(str(files[s])).expanduser() for s in SPLITS}


def load_parts(data_cfg: Mapping[str, Any], schema: DeclaredSchema, path: Path | None) -> tuple[list, list[Path]]:
    """(train, valid, test) canonical frames and the files they came from."""
    max_rows = data_cfg.get("max_rows")
    files = data_files(data_cfg)
    if files is not None:
        return [load_declared(files[s], schema, max_rows=max_rows) for s in SPLITS], list(files.values())
    assert path is not None
    df = load_declared(path, schema, max_rows=max_rows)
    split = data_cfg.get("split") or {}
    parts = time_split(df, valid_start=split.get("valid_start"), test_start=split.get("test_start"),
                       fractions=split.get("fractions"), source=str(path))
    return list(parts), [path]


def build_features(features_cfg: Mapping[str, Any], schema: DeclaredSchema, seed: int):
    """The configured features for a declared schema (see the module docstring)."""
    kind = features_cfg.get("kind") or "auto"
    if kind not in FEATURE_KINDS:
        raise ValueError(f"features.kind={kind!r}: expected one of {FEATURE_KINDS}")
    common = dict(risk_flags=features_cfg.get("risk_flags") or "out_of_fold",
                  risk_folds=int(features_cfg.get("risk_folds", 5)),
                  risk_smoothing=float(features_cfg.get("risk_smoothing", 10)),
                  risk_top_fraction=float(features_cfg.get("risk_top_fraction", 0.1)), seed=seed)
    if kind == "date":
        missing = [r for r in DATE_ROLES if r not in schema.roles]
        if missing:
            raise ValueError(f"features=date needs the DATE roles; the schema ({schema.source}) lacks {missing} "
                             "(use features=auto: features from the columns the schema names)")
        return DeclarationFeatures(tariff_digits=int(schema.tariff_digits or 10), **common)
    return AutoFeatures(entities=schema.entities, categorical=schema.categorical, numeric=schema.numeric,
                        tariff_digits=int(schema.tariff_digits or 6),
                        risk_rates=bool(features_cfg.get("risk_rates", True)), **common)


def make_features(data_cfg: Mapping[str, Any], features_cfg: Mapping[str, Any], seed: int,
                  schema: DeclaredSchema | None = None):
    """A fresh, unfitted feature transformer for a run's ``data`` and ``features`` configs: the
    declared schema's (``build_features``), else DATE's features on the DATE layout, whose tariff
    codes are ``data.tariff_digits`` long. The training data module and the simulation (which
    refits one every week) both build theirs here, so the two cannot drift apart."""
    if schema is not None:
        return build_features(features_cfg, schema, seed)
    return DeclarationFeatures(
        risk_flags=features_cfg.get("risk_flags", "reference"), risk_folds=int(features_cfg.get("risk_folds", 5)),
        risk_smoothing=float(features_cfg.get("risk_smoothing", 10)),
        risk_top_fraction=float(features_cfg.get("risk_top_fraction", 0.1)),
        tariff_digits=int(data_cfg.get("tariff_digits", 10)), seed=seed)


def setup_declared(dm, Split) -> None:
    """Fill a ``DeclarationsDataModule`` (``splits`` of ``Split``, ``features``, ``path``, ``data_sha256``)
    from a schema."""
    schema = config_schema(dm.data_cfg)
    if schema is None:
        raise ValueError("data.files needs data.schema (a declared schema names the files' columns)")
    dm.schema = schema
    path = None if dm.data_cfg.get("files") else dm.resolve_path()
    parts, paths = load_parts(dm.data_cfg, schema, path)
    dm.path, dm.paths = paths[0], paths
    dm.data_sha256 = data_hash(paths)
    dm.has_revenue = "revenue" in schema.roles
    dm.features = make_features(dm.data_cfg, dm.features_cfg, dm.seed, schema)
    frames = {"train": dm.features.fit_transform(parts[0]), "valid": dm.features.transform(parts[1]),
              "test": dm.features.transform(parts[2])}
    for name, frame in frames.items():
        revenue = frame["revenue"].to_numpy(np.float64) if dm.has_revenue else np.zeros(len(frame))
        dm.splits[name] = Split(frame=frame, X=dm.features.matrix(frame),
                                illicit=frame["illicit"].to_numpy(np.float32), revenue=revenue)
    log.info("data: schema %s (digest %s), %d file(s), features=%s (%d columns), risk_flags=%s, revenue %s",
             schema.source, schema.digest()[:12], len(paths), type(dm.features).__name__, len(dm.features.columns),
             dm.features.risk_flags, "present" if dm.has_revenue else "absent (illicit task only)")


def drop_revenue_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """Without a revenue role: no ``revenue@n`` and no DATE_REV (``rev/``) metric at all."""
    return {k: v for k, v in metrics.items() if "/rev/" not in k and "/revenue@" not in k}


def revenue_free_model(mcfg: dict[str, Any]) -> dict[str, Any]:
    """DATE's model settings without a revenue column: the illicit task alone (no revenue loss, no
    revenue tree stage, DATE_REV ranking by the head, which is then unused)."""
    out = dict(mcfg, alpha=0.0, revenue_ranking="head")
    if out.get("xgb_revenue"):
        out["xgb_revenue"] = dict(out["xgb_revenue"], n_estimators=0)
    return out


def checkpoint_schema(data_cfg: Mapping[str, Any], schema: DeclaredSchema | None) -> dict[str, Any]:
    """How a checkpoint reads raw files: the DATE mapping, or the declared schema's content."""
    if schema is not None:
        return {"declared": schema.to_dict()}
    return {"columns": dict(data_cfg.columns), "date_format": data_cfg.date_format,
            "tariff_digits": int(data_cfg.tariff_digits)}


def eval_parts(data_cfg: Mapping[str, Any], schema: DeclaredSchema, path: Path | None, split: str) -> tuple[dict, str]:
    """``bacuda-eval`` of a declared-schema run: the rows of ``split`` (valid, test or all) read with the
    model's own schema, and the data hash over the files read."""
    import pandas as pd

    parts, paths = load_parts(data_cfg, schema, path)
    named = {"all": pd.concat(parts, ignore_index=True)} if split == "all" else {"valid": parts[1], "test": parts[2]}
    return named, data_hash(paths)
