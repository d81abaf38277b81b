"""Concept drift for the embedded generator (``data.synthetic.drift``): fraud that moves over the year.

Without drift the generator has no time structure: its dates are drawn independently of its rows,
so a model trained on January is as good in December and a selection strategy gains nothing by
exploring. With ``drift.enabled`` the generator plants three seeded kinds of drift, each a term added
to a row's log-odds of being illicit that depends on its date (t = (day + 0.5) / days, in (0, 1)):

- **rotation**: every importer and every HS6 code has a phase phi ~ U(0, 1); its term is
  ``strength * amplitude * sin(2 pi (cycles * t + phi))``. Risk moves from one group of importers
  and goods to another, ``cycles`` full turns per period, while the overall illicit rate stays level;
- **new importers**: from ``new_importer_from`` (a fraction of the period) on, a growing share of the
  declarations (rising linearly to ``new_importer_share`` at the end) comes from importers never seen
  before. They arrive one by one (arrival days uniform, the first at ``new_importer_from``); a
  newcomer row goes to one of the importers arrived by its day (uniformly, so early arrivals trade
  more). Each newcomer has its own risk ~ N(strength * new_importer_risk, 1);
- **a change point**: from ``change_at`` (a fraction of the period; null = none) on, a random
  ``change_share`` of the importers and, independently, of the HS6 codes get
  ``strength * change_shift`` added to their log-odds (a row whose importer and goods are both
  affected gets it twice).

With drift on, the generator calibrates its intercept per day (``calibrate_by_day``), so the expected
illicit rate is ``illicit_rate`` on every day: drift moves fraud between importers and goods, it does
not add to it (a model's precision falls because it looks in the wrong places, not because there
is less fraud to find). The drift draws come from their own stream (seeded by the data
seed), so the entities, tariffs and values are those of the same seed without drift; what changes
is the dates, the importer of newcomer rows, the labels and what depends on the labels (the
undervaluation of illicit rows, revenue). ``docs/data.md`` ("Drift") documents the knobs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

import numpy as np

# the drift stream's salt: np.random.default_rng([seed, DRIFT_STREAM]) never collides with the main stream
DRIFT_STREAM = 0xD21F7


@dataclass(frozen=True)
class DriftSpec:
    """The ``data.synthetic.drift`` settings (conf/data/synthetic.yaml documents each; same defaults)."""

    enabled: bool = False
    strength: float = 1.0
    cycles: float = 0.5
    importer_amplitude: float = 2.0
    goods_amplitude: float = 2.0
    new_importer_share: float = 0.3
    new_importer_from: float = 0.25
    new_importer_risk: float = 1.0
    change_at: float | None = 0.5
    change_share: float = 0.2
    change_shift: float = 2.0

    @classmethod
    def from_config(cls, cfg: "DriftSpec | Mapping[str, Any] | None") -> "DriftSpec":
        """A validated spec from a config mapping (missing keys take the defaults; None = off)."""
        if isinstance(cfg, DriftSpec):
            return cfg
        given = dict(cfg or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"data.synthetic.drift: unknown key(s) {unknown}; known: {known}")
        spec = cls(**given)
        spec.validate()
        return spec

    def validate(self) -> None:
        """Refuse values outside their range with a message naming the key."""
        def bad(key: str, rule: str) -> ValueError:
            return ValueError(f"data.synthetic.drift.{key}={getattr(self, key)!r}: must be {rule}")

        if not isinstance(self.enabled, bool):
            raise bad("enabled", "true or false")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "enabled" or (f.name == "change_at" and v is None):
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise bad(f.name, "a finite number" + (" or null" if f.name == "change_at" else ""))
        for key in ("strength", "cycles"):
            if getattr(self, key) < 0:
                raise bad(key, ">= 0")
        for key in ("new_importer_share", "change_share"):
            if not 0 <= getattr(self, key) <= 1:
                raise bad(key, "in [0, 1]")
        if not 0 <= self.new_importer_from < 1:
            raise bad("new_importer_from", "in [0, 1)")
        if self.change_at is not None and not 0 < self.change_at < 1:
            raise bad("change_at", "in (0, 1) or null")

    def cache_params(self) -> dict[str, Any]:
        """The settings as plain values, for the generated file's cache key."""
        return {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                for k, v in asdict(self).items()}


@dataclass
class Drifted:
    """What the drift changes: per-row days (unsorted), importers and log-odds term, plus the truth."""

    day: np.ndarray
    imp_idx: np.ndarray
    imp_risk: np.ndarray
    logit: np.ndarray
    truth: dict[str, np.ndarray] = field(default_factory=dict)


def _newcomers(spec: DriftSpec, rng: np.random.Generator, day: np.ndarray, days: int, n_imp: int,
               rows: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Which rows come from new importers, which newcomer (0-based), and how many newcomers."""
    start = spec.new_importer_from
    from_day = int(np.ceil(start * days))
    ramp = np.clip(((day + 0.5) / days - start) / (1 - start), 0.0, 1.0)
    is_new = (day >= from_day) & (rng.random(rows) < spec.new_importer_share * ramp)
    n_rows = int(is_new.sum())
    if n_rows == 0:
        return is_new, np.zeros(0, dtype=np.int64), 0
    # as many newcomers as keep their rows per importer like the established ones'
    k = max(1, int(round(n_rows * n_imp / rows)))
    arrival = np.sort(rng.integers(from_day, days, k))
    arrival[0] = from_day
    arrived = np.searchsorted(arrival, day[is_new], side="right")  # >= 1: every row is past the first
    which = np.minimum((rng.random(n_rows) * arrived).astype(np.int64), arrived - 1)
    return is_new, which, k


def apply_drift(spec: DriftSpec, seed: int, days: int, imp_idx: np.ndarray, imp_risk: np.ndarray,
                item_hs6: np.ndarray, n_hs6: int) -> Drifted:
    """Draw the drift (dates, newcomers, rotation phases, change groups) from its own seeded stream."""
    rng = np.random.default_rng([int(seed), DRIFT_STREAM])
    rows, n_imp, s = len(imp_idx), len(imp_risk), float(spec.strength)
    day = rng.integers(0, days, rows)
    t = (day + 0.5) / days

    is_new, which, k = _newcomers(spec, rng, day, days, n_imp, rows)
    imp_idx = imp_idx.copy()
    imp_idx[is_new] = n_imp + which
    imp_risk = np.concatenate([imp_risk, rng.normal(s * spec.new_importer_risk, 1.0, k)])
    n_all = n_imp + k

    imp_phase, hs_phase = rng.random(n_all), rng.random(n_hs6)
    rotation = (s * spec.importer_amplitude * np.sin(2 * np.pi * (spec.cycles * t + imp_phase[imp_idx]))
                + s * spec.goods_amplitude * np.sin(2 * np.pi * (spec.cycles * t + hs_phase[item_hs6])))

    imp_changed, hs_changed = rng.random(n_all) < spec.change_share, rng.random(n_hs6) < spec.change_share
    if spec.change_at is None:
        after = np.zeros(rows, dtype=bool)
    else:
        after = day >= int(np.ceil(spec.change_at * days))
    change = s * spec.change_shift * after * (imp_changed[imp_idx].astype(float) + hs_changed[item_hs6])

    truth = {"day": day, "newcomer": is_new, "importer_phase": imp_phase[imp_idx],
             "goods_phase": hs_phase[item_hs6], "importer_changed": imp_changed[imp_idx],
             "goods_changed": hs_changed[item_hs6], "rotation_logit": rotation, "change_logit": change,
             "drift_logit": rotation + change}
    return Drifted(day=day, imp_idx=imp_idx, imp_risk=imp_risk, logit=rotation + change, truth=truth)


def calibrate_by_day(logit: np.ndarray, day: np.ndarray, days: int, rate: float) -> np.ndarray:
    """Per-row intercept (one per day, by bisection) so that each day's mean P(illicit) is ``rate``."""
    count = np.maximum(np.bincount(day, minlength=days), 1)
    lo, hi = np.full(days, -15.0), np.full(days, 5.0)
    for _ in range(50):
        mid = (lo + hi) / 2
        mean = np.bincount(day, weights=1 / (1 + np.exp(-(logit + mid[day]))), minlength=days) / count
        above = mean > rate
        lo, hi = np.where(above, lo, mid), np.where(above, mid, hi)
    return lo[day]
