"""Non-stationary bandits over exploration ratios (APT/ADAPT, SIMULATION.md 2): exp3, exp3s, ucb.

Arm ``i`` of ``n_arms`` is the exploration ratio ``i / (n_arms - 1)`` (21 arms: 0, 0.05, ..., 1).
The reward of a week is credited to the arm that was played that week (the reference credited it
to the next drawn arm). Every random draw takes the generator it is given (the simulator's
per-week one), and the whole state is JSON, so a resumed run draws the same arms.

- ``exp3``: log-weights; p = (1 - epsilon) softmax(logw) + epsilon / n; the played arm gets
  ``logw += lr * f / p`` with the relative feedback ``f = (r - b) / max(r, b, 1e-3)`` in [-1, 1]
  against a baseline ``b`` of past rewards (``baseline``: ``decay`` = exponentially discounted
  mean with factor ``decay``; ``window`` = mean of the last ``window`` rewards). The reference's
  ``(r - b) / r`` is infinite at r = 0 (the arm died); this one is bounded.
- ``exp3s``: exp3 plus EXP3.S sharing: every weight gains ``share * e * mean(w)`` after an update,
  so no arm's probability reaches 0 even with epsilon = 0.
- ``ucb``: discounted UCB1 (Garivier & Moulines 2011): discounted counts and reward sums with factor
  ``decay``; untried arms first, then argmax of mean + ``ucb_c`` sqrt(log(total) / count). (The
  reference's UCB2 variant raised a TypeError once every arm was tried.)

``allowed`` (a boolean mask over arms) restricts a draw (ADAPT's balance filter).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

ALGOS = ("exp3", "exp3s", "ucb")


class Bandit:
    """One bandit over ``n_arms`` exploration ratios (see the module docstring)."""

    def __init__(self, algo: str = "exp3s", n_arms: int = 21, lr: float = 3.0, epsilon: float = 0.1,
                 baseline: str = "decay", decay: float = 0.9, window: int = 5, share: float = 0.001,
                 ucb_c: float = 0.3) -> None:
        if algo not in ALGOS:
            raise ValueError(f"bandit.algo={algo!r}: expected one of {ALGOS}")
        if baseline not in ("decay", "window"):
            raise ValueError(f"bandit.baseline={baseline!r}: expected decay or window")
        if n_arms < 2:
            raise ValueError(f"bandit arms={n_arms}: expected at least 2")
        self.algo, self.n = algo, int(n_arms)
        self.lr, self.epsilon, self.baseline_kind = float(lr), float(epsilon), baseline
        self.decay, self.window, self.share, self.ucb_c = float(decay), int(window), float(share), float(ucb_c)
        self.reset()

    def reset(self) -> None:
        """Back to uniform (no history)."""
        self.logw = np.zeros(self.n)
        self.counts, self.sums = np.zeros(self.n), np.zeros(self.n)
        self.rewards: list[float] = []
        self.base: float | None = None

    @property
    def ratios(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.n)

    def probabilities(self, allowed: np.ndarray | None = None) -> np.ndarray:
        """The draw distribution over arms (for ucb: 1 on the arm it would play)."""
        mask = np.ones(self.n, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
        if self.algo == "ucb":
            p = np.zeros(self.n)
            p[self._ucb_arm(mask, None)] = 1.0
            return p
        z = np.where(mask, self.logw, -np.inf)
        w = np.exp(z - z[mask].max())
        return (1 - self.epsilon) * w / w.sum() + self.epsilon * mask / mask.sum()

    def draw(self, rng: np.random.Generator, allowed: np.ndarray | None = None) -> int:
        mask = np.ones(self.n, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
        if self.algo == "ucb":
            return self._ucb_arm(mask, rng)
        p = self.probabilities(mask)
        return int(rng.choice(self.n, p=p / p.sum()))

    def _ucb_arm(self, mask: np.ndarray, rng: np.random.Generator | None) -> int:
        untried = np.flatnonzero(mask & (self.counts <= 0))
        if len(untried):
            return int(untried[0] if rng is None else rng.choice(untried))
        total = self.counts[mask].sum()
        index = self.sums / self.counts + self.ucb_c * np.sqrt(np.log(max(total, 1.0 + 1e-9)) / self.counts)
        index = np.where(mask, index, -np.inf)
        return int(np.flatnonzero(index == index.max())[0])

    def update(self, arm: int, reward: float, allowed: np.ndarray | None = None) -> None:
        """Credit ``reward`` (higher is better) to the ``arm`` that was played; non-finite rewards
        are skipped (a week without frauds has no precision)."""
        if not np.isfinite(reward):
            return
        arm, r = int(arm), float(reward)
        if self.algo == "ucb":
            self.counts *= self.decay
            self.sums *= self.decay
            self.counts[arm] += 1.0
            self.sums[arm] += r
            return
        p = self.probabilities(allowed)[arm]
        b = r if self.base is None else self.base
        f = (r - b) / max(r, b, 1e-3)
        self.logw[arm] += self.lr * f / max(p, 1e-6)
        self.logw -= self.logw.max()
        self.logw = np.maximum(self.logw, -700.0)
        if self.algo == "exp3s":
            w = np.exp(self.logw)
            self.logw = np.log(w + self.share * np.e * w.mean())
        self.rewards = (self.rewards + [r])[-max(self.window, 1):]
        if self.baseline_kind == "window":
            self.base = float(np.mean(self.rewards))
        else:
            self.base = r if self.base is None else self.decay * self.base + (1 - self.decay) * r

    def raise_arm(self, arm: int) -> None:
        """Lift ``arm``'s weight to the largest (ADAPT's balance step; no-op for ucb)."""
        if self.algo != "ucb":
            self.logw[int(arm)] = self.logw.max()

    def state_dict(self) -> dict[str, Any]:
        return {"logw": self.logw.tolist(), "counts": self.counts.tolist(), "sums": self.sums.tolist(),
                "rewards": list(self.rewards), "base": self.base}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not state:
            return
        self.logw = np.asarray(state["logw"], dtype=np.float64)
        self.counts = np.asarray(state["counts"], dtype=np.float64)
        self.sums = np.asarray(state["sums"], dtype=np.float64)
        self.rewards, self.base = list(state["rewards"]), state["base"]
