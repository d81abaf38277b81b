"""Every strategy kind by name, and ``build_strategy(spec)`` from a strategy config.

A spec is the ``strategy`` config with the shared ``models`` block beside it: ``kind``, ``name``
and, for mixers, ``parts`` (each a spec of its own with ``weight``). Model settings a part does not
give come from ``models`` (``xgb`` for xgboost/xgb_lr, ``lr`` for xgb_lr, ``by`` for largest).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from bacuda_research.simulation.hybrid import Hybrid
from bacuda_research.simulation.strategies import BUILDERS as BASIC, Strategy

MIXERS = ("hybrid", "apt", "adapt")
DATE_KINDS = ("date", "badge", "bate", "gate")
MODEL_KEYS = {"xgboost": ("xgb",), "xgb_lr": ("xgb", "lr"), "largest": ("by",)}
# the settings each kind reads (anything else in a strategy config is an error)
SETTINGS = {
    "random": (), "risky": (), "largest": ("by",), "xgboost": ("xgb",), "xgb_lr": ("xgb", "lr"),
    "date": (), "badge": (), "bate": (), "gate": ("theta",), "hybrid": ("parts",),
    "apt": ("parts", "arms", "bandit"),
    "adapt": ("parts", "arms", "bandit", "drift", "mixing", "balance_width", "reinit_threshold"),
}
DRIFT_KEYS = ("reference", "projections", "max_points")


def _builders() -> dict[str, Callable[..., Strategy]]:
    from bacuda_research.simulation.explore import BUILDERS as DATE_BASED

    return {**BASIC, **DATE_BASED}


def needs_date(spec: Mapping[str, Any]) -> bool:
    """Whether a strategy (or one of its parts) reads the weekly DATE fit."""
    return spec.get("kind") in DATE_KINDS or any(needs_date(p) for p in spec.get("parts") or [])


def build_strategy(spec: Mapping[str, Any], models: Mapping[str, Any] | None = None) -> Strategy:
    """A strategy from its spec (see the module docstring)."""
    spec = dict(spec)
    models = dict(spec.pop("models", None) or models or {})
    kind = spec.pop("kind", None)
    name = spec.pop("name", None) or kind
    spec.pop("weight", None)
    if kind not in SETTINGS:
        raise ValueError(f"strategy.kind={kind!r}: expected one of {sorted(SETTINGS)}")
    unknown = sorted(set(spec) - set(SETTINGS[kind])) + sorted(set(spec.get("drift") or {}) - set(DRIFT_KEYS))
    if unknown:
        raise ValueError(f"strategy {name} (kind {kind}): unknown settings {unknown}; it reads {list(SETTINGS[kind])}")
    if kind in MIXERS:
        parts = [dict(p) for p in spec.pop("parts", None) or []]
        subs = [build_strategy(p, models) for p in parts]
        weights = [float(p.get("weight", 0.0)) for p in parts]
        if kind == "hybrid":
            return Hybrid(name, subs, weights, **spec)
        from bacuda_research.simulation.adaptive import build_adaptive

        return build_adaptive(kind, name, subs, weights, **spec)
    builders = _builders()
    settings = {k: models[k] for k in MODEL_KEYS.get(kind, ()) if k in models}
    settings.update(spec)
    return builders[kind](name, **settings)
