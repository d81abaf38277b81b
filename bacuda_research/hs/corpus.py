"""Training corpora of (text, HS2/HS4/HS6 labels) and the grouped held-out split.

Every builder returns the same frame: ``text, hs2, hs4, hs6, source, lang, group`` where a label
is a code string or ``None`` (a row may teach only the HS4 and HS2 heads, e.g. a heading text)
and ``group`` keeps rows that must not be split apart (EU CN English/French twins, rows that
repeat one goods code).

Sources
- ``hs2022_corpus``: the HS 2022 texts at every level (one row per code; covers every HS6 class).
- ``eu_cn_corpus``: EU Combined Nomenclature rows with their ancestor chain as text. The file has
  no indent column, so the chain is built from code prefixes: for each shorter level, the last row
  at that level whose code is a prefix of the row's code, plus the immediately preceding rows that
  repeat the row's own code (indent headers). Chapters 98-99 are EU-only and are dropped (counted).
- ``pairs_corpus``: any CSV/Parquet of (text, code) with configurable column names, optional
  ``attributes``/``category`` columns; codes outside the nomenclature raise or are dropped (counted).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from bacuda_research.hs.nomenclature import Nomenclature, normalize_code
from bacuda_research.hs.text import compose_input, normalize_text

log = logging.getLogger("bacuda_research")

COLUMNS = ["text", "hs2", "hs4", "hs6", "source", "lang", "group"]


def code_labels(code: str, depth: int, nom: Nomenclature) -> tuple[str | None, str | None, str | None]:
    """Labels a code of ``depth`` digits can teach (only codes that exist in the nomenclature).

    An undivided heading (``0409`` with the single subheading ``040900``) also teaches its HS6.
    """
    hs2 = code[:2] if nom.contains(code[:2]) else None
    hs4 = code[:4] if depth >= 4 and nom.contains(code[:4]) else None
    if depth >= 6:
        hs6 = code[:6] if nom.contains(code[:6]) else None
    elif depth == 4 and nom.contains(code[:4] + "00"):
        hs6 = code[:4] + "00"
    else:
        hs6 = None
    if hs6 and not hs4:  # impossible with a consistent nomenclature, kept for safety
        hs6 = None
    return hs2, hs4, hs6


def hs2022_corpus(nom: Nomenclature) -> pd.DataFrame:
    """One row per nomenclature code with its own text (chapters and headings teach HS2/HS4).

    A few HS6 texts repeat another code's text word for word (``293010``/``293060``,
    ``870380``/``870460``, or a subheading and its own heading, e.g. ``5702``/``570210``);
    ``dedupe`` would then drop their HS6 label and the class would have no training row. Such an
    HS6 text is prefixed by its heading's text ("heading > subheading"), and if two texts are still
    equal (same heading), suffixed by the subheading number, so every HS6 class keeps one
    definition row.
    """
    rows = []
    for depth, codes in nom.levels().items():
        for code in codes:
            text = normalize_text(nom.describe(code))
            if text:
                rows.append((text, *code_labels(code, depth, nom), "hs2022", "en", f"hs:{code}"))
    df = pd.DataFrame(rows, columns=COLUMNS)
    clash = df.duplicated("text", keep=False) & df["group"].str.len().eq(9)  # "hs:" + 6 digits
    for i in np.flatnonzero(clash.to_numpy()):
        code = df.at[i, "group"][3:]
        df.at[i, "text"] = f"{_cut(normalize_text(nom.describe(code[:4])), 12)} > {df.at[i, 'text']}"
    # Still equal (same heading, same text once brackets are normalised away, e.g. 293010/293060):
    # the subheading number is the only difference left.
    clash = df.duplicated("text", keep=False) & df["group"].str.len().eq(9)
    for i in np.flatnonzero(clash.to_numpy()):
        code = df.at[i, "group"][3:]
        df.at[i, "text"] = f"{df.at[i, 'text']} (subheading {code[:4]}.{code[4:]})"
    return df


def eu_cn_corpus(path: str | Path, nom: Nomenclature, lang: str | None = None,
                 max_ancestor_words: int = 12, stats: dict[str, int] | None = None) -> pd.DataFrame:
    """EU CN rows (``goods_code, hier_pos, language, description``) as chained texts.

    The chain runs from the heading down to the row (the chapter title adds nothing the heading
    does not say); ancestors are cut to ``max_ancestor_words`` words so that the row's own words
    survive a 64-token cap. ``stats`` (if given) receives counts of dropped rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"EU CN nomenclature file not found: {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = {"goods_code", "hier_pos", "description"}
    if not need <= set(df.columns):
        raise ValueError(f"{path}: expected columns {sorted(need)}, found {list(df.columns)}")
    lang = (lang or (df["language"].iloc[0] if "language" in df.columns and len(df) else "xx")).lower()
    last: dict[int, tuple[str, list[str]]] = {}  # level -> (code, texts of that code so far)
    rows, dropped_not_hs = [], 0
    for code, pos, desc in zip(df["goods_code"], df["hier_pos"].astype(int), df["description"]):
        code = code.zfill(10)
        desc = normalize_text(desc)
        own = last[pos][1] + [desc] if pos in last and last[pos][0] == code else [desc]
        last[pos] = (code, own)
        chain = []
        for q in (4, 6, 8):
            if q < pos and q in last and last[q][0][:q] == code[:q]:
                chain += [_cut(t, max_ancestor_words) for t in last[q][1]]
        hs2, hs4, hs6 = code_labels(code, pos, nom)
        if hs2 is None:  # chapters 98-99 and anything else outside HS
            dropped_not_hs += 1
            continue
        if pos == 2:
            text = desc
        else:
            text = " > ".join(t for t in chain + own if t)
        rows.append((text, hs2, hs4, hs6, f"eu_cn_{lang}", lang, f"cn:{code}"))
    if stats is not None:
        stats[f"eu_cn_{lang}_dropped_not_hs"] = dropped_not_hs
    return pd.DataFrame(rows, columns=COLUMNS)


def _cut(text: str, n: int) -> str:
    words = text.split()
    return text if len(words) <= n else " ".join(words[:n])


def pairs_corpus(path: str | Path, nom: Nomenclature, columns: Mapping[str, str | None],
                 on_unknown: str = "error", stats: dict[str, int] | None = None) -> pd.DataFrame:
    """Any table of (text, code): ``columns`` maps ``text``/``code``/``attributes``/``category``/
    ``lang`` to the file's column names (``attributes``, ``category``, ``lang`` may be null).

    Codes keep their first six digits. ``on_unknown``: ``error`` raises on the first HS6 absent
    from the nomenclature (with a count and examples), ``drop`` drops such rows and counts them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HS training file not found: {path}")
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)
    for key in ("text", "code"):
        if columns.get(key) not in df.columns:
            raise ValueError(f"{path}: column {columns.get(key)!r} (data.columns.{key}) not found in {list(df.columns)}")
    attrs = df[columns["attributes"]] if columns.get("attributes") in df.columns else [None] * len(df)
    cats = df[columns["category"]] if columns.get("category") in df.columns else [None] * len(df)
    langs = df[columns["lang"]].astype(str).str.lower() if columns.get("lang") in df.columns else ["xx"] * len(df)
    codes = [normalize_code(c) for c in df[columns["code"]]]
    unknown = [i for i, c in enumerate(codes) if c is None or not nom.contains(c)]
    if unknown and on_unknown == "error":
        examples = [str(df[columns["code"]].iloc[i]) for i in unknown[:5]]
        raise ValueError(f"{path}: {len(unknown)} codes are not HS6 codes of {nom.version} (e.g. {examples}); "
                         "fix them or set data.on_unknown=drop")
    if on_unknown not in ("error", "drop"):
        raise ValueError(f"data.on_unknown={on_unknown!r}: expected error or drop")
    bad = set(unknown)
    rows = []
    for i, (t, a, c, lg, code) in enumerate(zip(df[columns["text"]], attrs, cats, langs, codes)):
        if i in bad:
            continue
        text = compose_input(t, a, c)
        if text:
            rows.append((text, code[:2], code[:4], code, "file", lg, f"row:{i}"))
    if stats is not None:
        stats["file_dropped_unknown_code"] = len(bad)
    return pd.DataFrame(rows, columns=COLUMNS)


def dedupe(df: pd.DataFrame, stats: dict[str, int] | None = None) -> pd.DataFrame:
    """One row per distinct text; labels that disagree between copies become ``None``.

    Prefix-built EU chains leave texts such as "Other > Other" under several HS6 codes: such a
    text still teaches the HS4/HS2 it agrees on, never a guessed HS6. The first copy's group is
    kept, so an exact text can never sit on both sides of the split.
    """
    def agree(values: pd.Series) -> Any:
        vals = set(values.dropna())
        return vals.pop() if len(vals) == 1 and values.notna().all() else None

    dup = df.duplicated("text", keep=False)
    single, multi = df[~dup], df[dup]
    if len(multi):
        merged = multi.groupby("text", sort=False).agg(
            hs2=("hs2", agree), hs4=("hs4", agree), hs6=("hs6", agree), source=("source", "first"),
            lang=("lang", "first"), group=("group", "first")).reset_index()
        ambiguous = int(merged["hs6"].isna().sum() - multi.groupby("text")["hs6"].apply(lambda s: s.isna().all()).sum())
    else:
        merged, ambiguous = multi, 0
    out = pd.concat([single, merged[COLUMNS]], ignore_index=True)
    out = out[out[["hs2", "hs4", "hs6"]].notna().any(axis=1)].reset_index(drop=True)
    if stats is not None:
        stats["duplicate_texts_merged"] = int(len(multi) - len(merged))
        stats["texts_with_ambiguous_hs6"] = ambiguous
    return out


def split_groups(df: pd.DataFrame, fractions: Sequence[float], seed: int,
                 always_train: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """Train/val/test by whole groups (seeded). Rows of ``always_train`` sources stay in train (they
    are the class definitions). A held-out group's rows without an HS6 label (e.g. a twin whose text
    became ambiguous) are dropped rather than sent to train, so no group straddles two splits.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"data.split.fractions={list(fractions)}: need three fractions summing to 1")
    fixed = df["source"].isin(list(always_train))
    groups = np.array(sorted(df.loc[df["hs6"].notna() & ~fixed, "group"].unique()))
    np.random.default_rng(seed).shuffle(groups)
    n_train = int(round(fractions[0] * len(groups)))
    n_val = int(round(fractions[1] * len(groups)))
    which = {g: "train" for g in groups[:n_train]}
    which.update({g: "val" for g in groups[n_train:n_train + n_val]})
    which.update({g: "test" for g in groups[n_train + n_val:]})
    part = np.where(fixed, "train", df["group"].map(which).fillna("train"))
    out = {name: df[part == name] for name in ("train", "val", "test")}
    for name in ("val", "test"):
        out[name] = out[name][out[name]["hs6"].notna()]
    return {name: v.reset_index(drop=True) for name, v in out.items()}


def load_benchmark(path: str | Path, nom: Nomenclature) -> pd.DataFrame:
    """The micro benchmark (``text, expected_hs_code, language``) with ``in_nomenclature`` flags.

    Never used for training or tuning: a smoke test of inference on unseen, multilingual text.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HS benchmark file not found: {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = pd.DataFrame({
        "text": [compose_input(t) for t in df["text"]],
        "hs6": [normalize_code(c) for c in df["expected_hs_code"]],
        "lang": df["language"].str.lower() if "language" in df.columns else "xx",
    })
    out["in_nomenclature"] = [bool(c) and nom.contains(c) for c in out["hs6"]]
    return out
