"""DATE's LightningModule: the two losses, the selection metrics and the optimizer (no data, no recipe).

Loss = BCE(illicit) + alpha * MSE(revenue_norm) with revenue_norm = log1p(revenue) / max over
training rows of log1p(revenue), the same normalisation on every split. The epoch kept is the one
with the best illicit-head ``val/f1@mean``; DATE_CLS ranks by the illicit head and DATE_REV is the
same checkpoint ranked by the revenue head (``test/rev/...`` keys).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric

from bacuda_research.metrics.selection_metric import TopPercentSelection
from bacuda_research.fraud.network import DATE

log = logging.getLogger("bacuda_research")


class DATEModule(pl.LightningModule):
    """Holds the DATE network, its two losses, the selection metrics and the optimizer."""

    def __init__(self, net: Mapping[str, Any], alpha: float = 10.0, optimizer: Mapping[str, Any] | None = None,
                 percents: tuple[float, ...] = (1, 2, 5, 10), revenue_scale: float = 1.0,
                 grad_clip: float | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = DATE(**net)
        self.alpha = float(alpha)
        self.optimizer_cfg = dict(optimizer or {"name": "ranger", "lr": 0.005, "weight_decay": 0.01})
        self.revenue_scale = float(revenue_scale)
        self.grad_clip = grad_clip
        self.val_metric = TopPercentSelection(percents)
        self.val_rev_metric = TopPercentSelection(percents)
        # evaluation state per stage (val / test): synced over DDP ranks in compute(), so every rank
        # gets the metrics of the whole split whatever its share of the batches (even none)
        self.val_loss = MeanMetric()
        self.test_metric, self.test_rev_metric = TopPercentSelection(percents), TopPercentSelection(percents)
        self.test_loss = MeanMetric()

    def forward(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.net(_leaves(batch), batch["importer"], batch["item"], batch.get("dense"))

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of a batch, for loops outside Lightning (the simulation's weekly fits)."""
        return self._losses(batch)[0]

    @torch.no_grad()
    def predict_with_hidden(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``predict_step``'s outputs plus the hidden vector ``h`` (B, dim) the heads read."""
        leaves = _leaves(batch)
        h, weights = self.net.embed(leaves, batch["importer"], batch["item"], batch.get("dense"))
        logit, rev = self.net.heads(h, leaves)
        return {"prob": torch.sigmoid(logit), "logit": logit, "rev": rev, "hidden": h}

    def _losses(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        logit, rev_score, _ = self(batch)
        cls_loss = F.binary_cross_entropy_with_logits(logit, batch["illicit"])
        rev_loss = F.mse_loss(F.relu(rev_score), batch["revenue_norm"])
        return cls_loss + self.alpha * rev_loss, cls_loss, rev_loss, logit, rev_score

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, cls_loss, rev_loss, _, _ = self._losses(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"DATE training diverged: non-finite loss at epoch {self.current_epoch}, step {self.global_step} "
                "(lower model.optimizer.lr or set model.grad_clip)")
        n = batch["illicit"].shape[0]
        log_all, log_loss = self._log_this_step()
        if log_all or log_loss:
            self.log("train/loss", loss, prog_bar=True, batch_size=n)
        if log_all:
            self.log_dict({"train/cls_loss": cls_loss, "train/rev_loss": rev_loss}, batch_size=n)
        return loss

    def _log_this_step(self) -> tuple[bool, bool]:
        """(log all step losses, log the loss) at this training step.

        Lightning writes step values to the loggers only every ``trainer.log_every_n_steps`` steps,
        but each ``self.log`` call still costs ~1 ms of bookkeeping (~3% of a DATE step at batch 256
        on CPU). So the losses are logged on the steps whose values reach the loggers (the logged
        files are unchanged), on the last batch of every epoch and the last step of the run (so
        ``trainer.callback_metrics`` holds them at epoch end, when checkpoint and early-stopping
        callbacks read them), and the loss on every step while a progress bar shows it.
        ``trainer.log_every_n_steps=1`` logs every step.
        """
        trainer = self._trainer
        if trainer is None:
            return True, True
        every, step = int(trainer.log_every_n_steps or 0), self.global_step + 1
        log_all = ((bool(every) and step % every == 0) or trainer.should_stop or trainer.is_last_batch
                   or (trainer.max_steps > 0 and step >= trainer.max_steps))
        return log_all, trainer.progress_bar_callback is not None

    def on_validation_epoch_start(self) -> None:
        self._eval_reset("val")

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_start(self) -> None:
        self._eval_reset("test")

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def _eval_step(self, batch: Mapping[str, torch.Tensor], stage: str) -> None:
        loss, _, _, logit, rev = self._losses(batch)
        getattr(self, f"{stage}_loss").update(loss.detach(), weight=batch["illicit"].shape[0])
        # rank by the logit: same order as the probability, without float saturation ties at 1.0
        getattr(self, f"{stage}_metric").update(logit, batch["illicit"], batch["revenue"], batch["row"])
        getattr(self, f"{stage}_rev_metric").update(rev, batch["illicit"], batch["revenue"], batch["row"])

    def _eval_reset(self, stage: str) -> None:
        # states re-created in this loop's grad mode: Lightning evaluates under inference_mode, but
        # under no_grad with gloo DDP, and inference tensors cannot be updated outside inference mode
        for m in ("metric", "rev_metric", "loss"):
            getattr(self, f"{stage}_{m}").reset()

    def _eval_epoch_end(self, stage: str) -> None:
        # compute() gathers every rank's rows (and drops duplicates by row index); all ranks log the
        # same values, so no further sync_dist reduction is needed
        metrics = [getattr(self, f"{stage}_{m}") for m in ("metric", "rev_metric", "loss")]
        cls, rev, loss = (m.compute() for m in metrics)
        for m in metrics:
            m.reset()
        self.log(f"{stage}/loss", float(loss))
        self.log_dict({f"{stage}/{k}": float(v) for k, v in cls.items() if not k.startswith("selected")})
        self.log_dict({f"{stage}/rev/{k}": float(v) for k, v in rev.items() if k.startswith(("revenue", "precision"))})

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val=None,
                                    gradient_clip_algorithm=None) -> None:
        # a model hyperparameter (model.grad_clip), so it travels with the config of the model
        clip = self.grad_clip if self.grad_clip else gradient_clip_val
        if clip:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the checkpoint describes itself: boosters, leaf numbering, features, schema (see
        # models/date_predictor.py); all plain tensors/strings, loadable with weights_only=True
        if getattr(self, "artifacts", None):
            checkpoint["bacuda"] = self.artifacts

    def predict_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        logit, rev_score, weights = self(batch)
        return {"prob": torch.sigmoid(logit), "logit": logit, "rev": rev_score, "weights": weights}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        cfg = dict(self.optimizer_cfg)
        name = cfg.pop("name", "ranger").lower()
        if name == "ranger":
            from pytorch_optimizer import Ranger

            return Ranger(self.parameters(), **cfg)
        if name == "adamw":
            return torch.optim.AdamW(self.parameters(), **cfg)
        raise ValueError(f"model.optimizer.name={name!r}: expected ranger or adamw")


def _leaves(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The batch's leaf indices as int32+: stored int16 while they fit (memory); indexing needs int32+."""
    leaves = batch["leaves"]
    return leaves.int() if leaves.dtype in (torch.int8, torch.int16, torch.uint8) else leaves
