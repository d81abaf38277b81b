"""Top-1/3/5 accuracy and macro-F1 at HS2, HS4 and HS6 (torchmetrics), flat keys for reports.

Keys are a contract: ``{prefix}/hs{level}/acc@{k}`` and ``{prefix}/hs{level}/macro_f1``, e.g.
``test/hs6/acc@1``. Macro-F1 uses torchmetrics' ``average="macro"``, which averages over the
classes that occur in the targets or the predictions of the evaluated rows (classes absent from
both have an undefined F1 and are left out), so it is comparable between models on one split.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

TOP_K = (1, 3, 5)
LEVELS = (2, 4, 6)


@contextlib.contextmanager
def _nondeterministic_ok() -> Iterator[None]:
    was = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn_only)


class HSMetrics(nn.Module):
    """Accumulates per-level metrics; ``update(scores, targets)`` then ``compute(prefix)``.

    Args:
        n_classes: ``{2: C2, 4: C4, 6: C6}``. A target outside the label space (a benchmark code
            that is not HS 2022) must be given as ``C`` (one extra class no model predicts), so it
            counts as wrong instead of being skipped.
    """

    def __init__(self, n_classes: dict[int, int]) -> None:
        super().__init__()
        from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

        self.n_classes = {int(k): int(v) for k, v in n_classes.items()}
        self.acc = nn.ModuleDict()
        self.f1 = nn.ModuleDict()
        for lvl, n in self.n_classes.items():
            c = n + 1  # the extra "unknown code" class
            for k in TOP_K:
                self.acc[f"hs{lvl}_{k}"] = MulticlassAccuracy(num_classes=c, top_k=min(k, c), average="micro")
            self.f1[f"hs{lvl}"] = MulticlassF1Score(num_classes=c, average="macro")

    def update(self, scores: dict[int, torch.Tensor], targets: dict[int, torch.Tensor]) -> None:
        # Under torch.use_deterministic_algorithms(True) (set by the spine's seeding) torchmetrics
        # replaces bincount by a [N, C**2] comparison: 32 GB for 1k rows at 5.6k classes. CPU
        # bincount is deterministic anyway, so the flag is lifted for the update only.
        with _nondeterministic_ok():
            self._update(scores, targets)

    def _update(self, scores: dict[int, torch.Tensor], targets: dict[int, torch.Tensor]) -> None:
        for lvl, n in self.n_classes.items():
            s = scores[lvl].float()
            # The unknown class scores below every real class: never predicted, never in a top-k
            # unless k exceeds the number of classes.
            s = torch.cat([s, s.new_full((s.shape[0], 1), -1.0)], dim=1)
            t = targets[lvl].long()
            for k in TOP_K:
                self.acc[f"hs{lvl}_{k}"].update(s, t)
            self.f1[f"hs{lvl}"].update(s, t)

    def compute(self, prefix: str) -> dict[str, float]:
        out = {}
        for lvl in self.n_classes:
            for k in TOP_K:
                out[f"{prefix}/hs{lvl}/acc@{k}"] = float(self.acc[f"hs{lvl}_{k}"].compute())
            out[f"{prefix}/hs{lvl}/macro_f1"] = float(self.f1[f"hs{lvl}"].compute())
        return out

    def reset(self) -> None:
        for m in list(self.acc.values()) + list(self.f1.values()):
            m.reset()
