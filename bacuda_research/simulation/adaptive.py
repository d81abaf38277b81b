"""Adaptive mixers of an exploitation and an exploration strategy (ICDMW 2021, SIMULATION.md 2).

- ``apt`` (Adaptive Performance Tuning): each week a bandit (``bandits.Bandit``) picks the
  exploration ratio ``a`` (arm) and the budget is split ``[1 - a, a]`` as in ``Hybrid``; the week's
  norm-precision is the played arm's reward.
- ``adapt`` (APT + drift): before selecting, a drift score ``d`` (``drift.drift_score``; reference
  ``window``: every declaration of the validation window, inspected or not, vs the batch; ``valid``:
  the inspected ones only, as the reference did, which mixes selection bias in) is computed and logged, and mixed in by ``mixing``:
  ``balance`` (the paper runs): only arms within ``balance_width`` of ``c = round(d (n - 1))`` may
  be drawn, and after the update arm ``c``'s weight is raised to the largest (exploration ratio
  drawn towards ``d``); ``multiply``: reward ``r (1 - d)``; ``reinit``: the bandit restarts when
  ``d > reinit_threshold``, else the plain update.

Every arm is the exploration ratio (the reference mixed both orientations), and rewards go in as
rewards only.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from bacuda_research.simulation.bandits import Bandit
from bacuda_research.simulation.drift import drift_score
from bacuda_research.simulation.hybrid import Hybrid
from bacuda_research.simulation.strategies import Selection, Strategy, WeekContext

MIXINGS = ("balance", "multiply", "reinit")
CALENDAR_PREFIX = "SGD."


class APT(Hybrid):
    """Two parts (exploit, explore) whose shares a bandit picks every week."""

    def __init__(self, name: str, parts: Sequence[Strategy], bandit: Mapping[str, Any] | None = None,
                 arms: int = 21) -> None:
        if len(parts) != 2:
            raise ValueError(f"strategy {name}: an adaptive mixer takes exactly 2 parts (exploit, explore)")
        super().__init__(name, parts, [1.0, 0.0])
        self.bandit = Bandit(n_arms=int(arms), **dict(bandit or {}))
        self.arm: int | None = None
        self.probs: np.ndarray | None = None
        self.allowed: np.ndarray | None = None

    def allowed_arms(self, ctx: WeekContext) -> np.ndarray | None:
        return None

    def select(self, ctx: WeekContext, k: int, available: np.ndarray) -> Selection:
        self.allowed = self.allowed_arms(ctx)
        self.probs = self.bandit.probabilities(self.allowed)
        self.arm = self.bandit.draw(ctx.rng(self.name + "/bandit"), self.allowed)
        a = float(self.bandit.ratios[self.arm])
        return self.select_with(ctx, k, available, [1.0 - a, a])

    def reward(self, feedback: Mapping[str, float]) -> float:
        return float(feedback.get("norm_precision", float("nan")))

    def observe(self, feedback: Mapping[str, float]) -> None:
        super().observe(feedback)
        if self.arm is not None:
            self.learn(self.reward(feedback))

    def learn(self, reward: float) -> None:
        """The bandit's update with the played arm's reward (ADAPT mixes the drift score in here)."""
        self.bandit.update(self.arm, reward, self.allowed)

    def log(self) -> dict[str, Any]:
        out = super().log()
        if self.arm is not None:
            out["exploration_ratio"] = float(self.bandit.ratios[self.arm])
            out["arm"] = int(self.arm)
            out.update({f"p_arm{i:02d}": float(p) for i, p in enumerate(self.probs)})
        return out

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "bandit": self.bandit.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.bandit.load_state_dict(state.get("bandit", {}))


class ADAPT(APT):
    """APT with a drift score mixed into the bandit (see the module docstring)."""

    def __init__(self, name: str, parts: Sequence[Strategy], bandit: Mapping[str, Any] | None = None,
                 arms: int = 21, drift: Mapping[str, Any] | None = None, mixing: str = "balance",
                 balance_width: int = 5, reinit_threshold: float = 0.25) -> None:
        super().__init__(name, parts, bandit, arms)
        self.needs_features = True  # the drift score reads them
        if mixing not in MIXINGS:
            raise ValueError(f"strategy {name}: mixing={mixing!r}: expected one of {MIXINGS}")
        self.drift_cfg, self.mixing = dict(drift or {}), mixing
        self.reference = self.drift_cfg.pop("reference", "window")
        if self.reference not in ("window", "valid"):
            raise ValueError(f"strategy {name}: drift.reference={self.reference!r}: expected window or valid")
        self.width, self.threshold = int(balance_width), float(reinit_threshold)
        self.d = float("nan")

    def allowed_arms(self, ctx: WeekContext) -> np.ndarray | None:
        ref = ctx.window_X() if self.reference == "window" else ctx.valid.X
        # calendar columns differ between any two weeks by construction: not drift
        keep = [i for i, c in enumerate(ctx.features.columns) if not c.startswith(CALENDAR_PREFIX)]
        self.d = drift_score(ref[:, keep], ctx.batch.X[:, keep], ctx.rng(self.name + "/drift"), **self.drift_cfg)
        if self.mixing != "balance" or not np.isfinite(self.d):
            return None
        c = int(round(self.d * (self.bandit.n - 1)))
        return np.abs(np.arange(self.bandit.n) - c) <= self.width

    def learn(self, reward: float) -> None:
        d = self.d
        if self.mixing == "reinit" and np.isfinite(d) and d > self.threshold:
            self.bandit.reset()
            return
        if self.mixing == "multiply" and np.isfinite(d):
            reward = reward * (1.0 - d)
        super().learn(reward)
        if self.mixing == "balance" and np.isfinite(d):
            self.bandit.raise_arm(int(round(d * (self.bandit.n - 1))))

    def log(self) -> dict[str, Any]:
        return {**super().log(), "drift_score": self.d}


def build_adaptive(kind: str, name: str, parts: Sequence[Strategy], weights: Sequence[float],
                   **settings: Any) -> Strategy:
    """``apt`` or ``adapt`` from its config (part weights are not used: the bandit sets them)."""
    return (APT if kind == "apt" else ADAPT)(name, parts, **settings)
