"""The HS 2022 label space: chapters (HS2), headings (HS4), subheadings (HS6), texts and parents.

The nomenclature decides which codes exist: training labels are checked against it, heads are
sized by it, and predictions print its texts. It is small (about 7k rows), so it travels inside
every checkpoint (``to_dict``/``from_dict``) and prediction never needs the shared data folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

_NON_DIGIT = re.compile(r"\D")


def normalize_code(code: Any, digits: int = 6) -> str | None:
    """A tariff code as its first ``digits`` digits: ``"0201.30"``, ``201300000`` -> ``"020130"``.

    Dots, spaces and dashes are dropped. Integers (or numeric strings read from spreadsheets that
    lost the leading zero) with an odd number of digits below 10 are left-padded to an even
    length, since every HS-based code has an even number of digits. Returns ``None`` for empty
    values or codes shorter than ``digits``.
    """
    if code is None:
        return None
    if isinstance(code, float):
        if code != code:  # NaN
            return None
        code = int(code)
    s = _NON_DIGIT.sub("", str(code))
    if len(s) % 2 == 1 and len(s) < 10:
        s = "0" + s
    if len(s) < digits:
        return None
    return s[:digits]


@dataclass
class Nomenclature:
    """Codes of each level in a fixed order (the heads' class order) with texts and parents.

    ``hs6_parent4[i]`` is the index in ``hs4`` of ``hs6[i]``'s heading, ``hs4_parent2[j]`` the
    index in ``hs2`` of ``hs4[j]``'s chapter: decoding uses them to score whole paths.
    """

    hs2: list[str]
    hs4: list[str]
    hs6: list[str]
    descriptions: dict[str, str] = field(default_factory=dict)
    version: str = "HS2022"

    def __post_init__(self) -> None:
        self.index = {2: {c: i for i, c in enumerate(self.hs2)}, 4: {c: i for i, c in enumerate(self.hs4)},
                      6: {c: i for i, c in enumerate(self.hs6)}}
        missing4 = [c for c in self.hs6 if c[:4] not in self.index[4]]
        missing2 = [c for c in self.hs4 if c[:2] not in self.index[2]]
        if missing4 or missing2:
            raise ValueError(f"nomenclature has orphan codes: {(missing4 + missing2)[:5]}")
        self.hs6_parent4 = [self.index[4][c[:4]] for c in self.hs6]
        self.hs4_parent2 = [self.index[2][c[:2]] for c in self.hs4]

    def __len__(self) -> int:
        return len(self.hs6)

    def levels(self) -> dict[int, list[str]]:
        return {2: self.hs2, 4: self.hs4, 6: self.hs6}

    def contains(self, code: str) -> bool:
        return code in self.index.get(len(code), {})

    def describe(self, code: str) -> str:
        return self.descriptions.get(code, "")

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and strings (safe for ``torch.load(weights_only=True)`` and JSON)."""
        return {"version": self.version, "hs2": list(self.hs2), "hs4": list(self.hs4), "hs6": list(self.hs6),
                "descriptions": dict(self.descriptions)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Nomenclature":
        return cls(hs2=list(d["hs2"]), hs4=list(d["hs4"]), hs6=list(d["hs6"]),
                   descriptions=dict(d.get("descriptions", {})), version=str(d.get("version", "HS2022")))


def load_nomenclature(path: str | Path) -> Nomenclature:
    """Read the datahub ``harmonized-system.csv`` layout (``hscode, description, parent, level``).

    Rows of section ``TOTAL`` (Comtrade's "commodities not specified", code 99/9999/999999) are dropped.

    Raises ``FileNotFoundError`` naming the path when it is missing (e.g. ``../shared`` absent).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HS nomenclature file not found: {path}")
    df = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    need = {"hscode", "description", "level"}
    if not need <= set(df.columns):
        raise ValueError(f"{path}: expected columns {sorted(need)}, found {list(df.columns)}")
    df = df[df["level"].isin(["2", "4", "6"])]  # drops the TOTAL summary row (level 5)
    if "section" in df.columns:
        # Comtrade's "99 / 9999 / 999999 Commodities not specified according to kind" (section
        # TOTAL) is a statistical bucket, not an HS code: keeping it would let EU chapter 99 rows
        # and predictions land in it. HS 2022 proper: 96 chapters, 1,228 headings, 5,612 subheadings.
        df = df[df["section"] != "TOTAL"]
    codes = {lvl: sorted(df.loc[df["level"] == str(lvl), "hscode"].tolist()) for lvl in (2, 4, 6)}
    return Nomenclature(hs2=codes[2], hs4=codes[4], hs6=codes[6],
                        descriptions=dict(zip(df["hscode"], df["description"])))
