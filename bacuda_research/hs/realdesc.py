"""Real goods descriptions with HS codes: the packaged corpus, its fixed held-out split, overlap checks.

The nomenclature teaches legal language; traders and shops write "2pk boys' regular leg school t"
or "nyx pmu btr gls lp gls she gt". ``realdata/`` ships one openly licensed table of such texts
(UK Online Trade Tariff parcel references, MIT; see ``realdata/CARD.md``). Any user table of
``text, code[, lang]`` goes through the same path (``data.real.path``).

The split is fixed (not seeded), so every model and every seed is scored on the same held-out rows:
rows are grouped by the first word of their normalised text (a brand or product-line proxy: all
"zw collection ..." or "boots ..." rows share a group; the file has no dates to split by time), and
a group's md5 decides its part (``train`` / ``val`` / ``test`` by ``fractions``). Near-duplicates
such as "lay s classic 32g" / "lay's classic 32g" thus never straddle the split. Rows whose label
is not an HS 2022 subheading are dropped (counted); a text that appears with two different HS6
codes is kept in training (both labels are real answers) but removed from val/test, where it
would have no single right answer. Held-out rows whose normalised text equals any training text
(the nomenclature's or the real corpus's) are removed and counted (``overlap``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from bacuda_research.hs.corpus import COLUMNS, code_labels
from bacuda_research.hs.nomenclature import Nomenclature, normalize_code
from bacuda_research.hs.text import compose_input

PACKAGED = Path(__file__).parent / "realdata" / "fpo_extra_references.csv"
# Training-only sources (``data.real.extra``) shipped with the package, by name (realdata/CARD.md).
PACKAGED_EXTRA = {"hmrc_references": Path(__file__).parent / "realdata" / "hmrc_references.csv"}
_NON_ALNUM = re.compile(r"[\W_]+")


def dedup_key(text: str) -> str:
    """Lower case, every run of punctuation/space one space: the key of exact-duplicate checks."""
    return _NON_ALNUM.sub(" ", str(text).lower()).strip()


def group_key(text: str) -> str:
    """First three characters of the first word of ``dedup_key``, so that spelling variants of one
    brand or product line ("lay's", "lay s", "lays") share a group."""
    key = dedup_key(text)
    return key.split(" ", 1)[0][:3] if key else ""


def group_u(group: str) -> float:
    """A number in [0, 1) from an md5 of the group (stable across runs and machines)."""
    return int(hashlib.md5(group.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def part_of(group: str, fractions: Sequence[float]) -> str:
    """``train``/``val``/``test`` by ``group_u``: the first ``fractions[0]`` of [0, 1) is train, and so on."""
    u = group_u(group)
    if u < fractions[0]:
        return "train"
    return "val" if u < fractions[0] + fractions[1] else "test"


def read_real(path: str | Path, nom: Nomenclature, text_col: str = "Goods Description",
              code_col: str = "Commodity Code", lang_col: str | None = None, default_lang: str = "en",
              stats: dict[str, int] | None = None, prefix: str = "real", headings: bool = False) -> pd.DataFrame:
    """``COLUMNS`` frame (``source="real"``, ``group`` = first-word group) of a (text, code) table.

    Rows whose code is not digits (broken CSV lines upstream) or not an HS 2022 HS6 are dropped
    and counted in ``stats`` (keys ``{prefix}_...``); exact (text, HS6) repeats are merged.
    ``headings``: a 4-digit HS 2022 heading is kept too, as a row that teaches HS2/HS4 only (its HS6
    is empty unless the heading is undivided), like the nomenclature's own heading texts.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"real-description file not found: {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in (text_col, code_col):
        if col not in df.columns:
            raise ValueError(f"{path}: column {col!r} not found in {list(df.columns)}")
    langs = df[lang_col].str.lower() if lang_col and lang_col in df.columns else [default_lang] * len(df)
    rows, bad_code, not_hs = [], 0, 0
    for raw, code, lang in zip(df[text_col], df[code_col], langs):
        digits = str(code).strip()
        if not digits.isdigit() or len(digits) < (4 if headings else 6) or len(digits) == 5:
            bad_code += 1
            continue
        depth = 4 if len(digits) == 4 else 6  # a heading (``headings`` only) or a subheading and below
        hs2, hs4, hs6 = code_labels(digits if depth == 4 else normalize_code(digits), depth, nom)
        if hs4 is None or (depth == 6 and hs6 is None):
            not_hs += 1
            continue
        text = compose_input(raw)
        if text:
            rows.append((text, hs2, hs4, hs6, prefix, lang, f"{prefix}:{group_key(raw)}"))
    out = pd.DataFrame(rows, columns=COLUMNS)
    n = len(out)
    out = out.assign(_k=out["text"].map(dedup_key)).drop_duplicates(["_k", "hs4", "hs6"]).drop(columns="_k")
    if stats is not None:
        stats.update({f"{prefix}_rows_read": len(df), f"{prefix}_dropped_malformed_code": bad_code,
                      f"{prefix}_dropped_code_not_hs2022": not_hs, f"{prefix}_duplicates_merged": n - len(out)})
    return out.reset_index(drop=True)


def split_real(real: pd.DataFrame, fractions: Sequence[float], train_texts: Sequence[str] = (),
               stats: dict[str, int] | None = None) -> dict[str, pd.DataFrame]:
    """Fixed grouped split of ``read_real``'s frame, then the held-out overlap checks (see module doc).

    ``train_texts``: every other training text (the nomenclature rows); a held-out row equal to one
    of them (after ``dedup_key``) is removed.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"data.real.split_fractions={list(fractions)}: need three fractions summing to 1")
    parts = real["group"].map(lambda g: part_of(g, fractions))
    out = {name: real[parts == name].reset_index(drop=True) for name in ("train", "val", "test")}
    keys = out["train"]["text"].map(dedup_key)
    seen = set(keys) | {dedup_key(t) for t in train_texts}
    for name in ("val", "test"):
        df = out[name]
        k = df["text"].map(dedup_key)
        conflict = k.map(k.value_counts()) > 1  # one text, two HS6 answers
        overlap = k.isin(seen)
        out[name] = df[~conflict & ~overlap].reset_index(drop=True)
        if stats is not None:
            stats[f"real_{name}_dropped_conflicting_labels"] = int(conflict.sum())
            stats[f"real_{name}_dropped_overlap_with_train"] = int((overlap & ~conflict).sum())
    if stats is not None:
        stats.update({f"real_{name}_rows": len(v) for name, v in out.items()})
        stats["real_groups"] = int(real["group"].nunique())
    return out


def train_share(train: pd.DataFrame, fractions: Sequence[float], share: float) -> pd.DataFrame:
    """The real training rows of the groups in the first ``share`` of the train part's md5 range
    (``group_u < fractions[0] * share``): nested (a smaller share keeps a subset of a larger one's
    groups), for learning curves; val and test are untouched. ``share == 1``: ``train`` itself."""
    if not 0 < share <= 1:
        raise ValueError(f"data.real.train_share={share!r}: expected 0 < share <= 1")
    if share == 1:
        return train
    keep = train["group"].map(group_u) < fractions[0] * share
    return train[keep].reset_index(drop=True)


def extra_path(source: str) -> Path:
    """The file of a ``data.real.extra`` entry: a ``PACKAGED_EXTRA`` name, else a path."""
    return PACKAGED_EXTRA.get(source, Path(source))


def read_extra(path: str | Path, nom: Nomenclature, avoid: dict[str, Sequence[str]],
               stats: dict[str, int] | None = None) -> pd.DataFrame:
    """Training-only real descriptions (``data.real.extra``, file from ``extra_path``): a CSV with
    ``text`` and ``code`` columns (6-10 digits, or a 4-digit heading: an HS2/HS4-only row), read
    like ``read_real`` (``source="real_extra"``, English).

    A row whose ``dedup_key`` equals a text of any ``avoid`` set (held-out, validation and smoke-set
    texts, and the real training texts it would only repeat) is dropped and counted
    (``real_extra_dropped_equal_to_<name>``): no evaluation row is ever trained on.
    """
    df = read_real(path, nom, "text", "code", stats=stats, prefix="real_extra", headings=True)
    keys = df["text"].map(dedup_key)
    drop = np.zeros(len(df), bool)
    for name, texts in avoid.items():
        hit = keys.isin({dedup_key(t) for t in texts}).to_numpy() & ~drop
        drop |= hit
        if stats is not None:
            stats[f"real_extra_dropped_equal_to_{name}"] = int(hit.sum())
    if stats is not None:
        stats["real_extra_rows"] = int((~drop).sum())
    return df[~drop].reset_index(drop=True)
