"""``HSLitModule``: losses, metrics, optimizers and a checkpoint that describes itself.

The network is ``models.HSClassifier``; this module adds the three cross-entropies, the
hierarchy-consistent scoring used by evaluation and prediction (``scores``), an optional
retrieval index (pooled training vectors whose kNN vote is mixed into the path probabilities) and
the checkpoint contents prediction needs without Hydra or the shared folder:
``checkpoint["hs"] = {nomenclature, encoder_config, tokenizer (JSON string), input format}``.
Load with ``HSLitModule.from_checkpoint_file`` (``torch.load(weights_only=True)``; no pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from bacuda_research.hs.data import IGNORE
from bacuda_research.hs.decoding import hierarchical_scores, knn_class_probs, path_log_probs
from bacuda_research.hs.metrics import HSMetrics
from bacuda_research.hs.models import HSClassifier
from bacuda_research.hs.nomenclature import Nomenclature

CHECKPOINT_FORMAT = 1


class HSLitModule(pl.LightningModule):
    """Trains ``HSClassifier`` on HS2/HS4/HS6 labels and evaluates top-k accuracy and macro-F1.

    Args:
        nomenclature: ``Nomenclature.to_dict()`` (label order, parents, texts for predictions).
        encoder_config: the encoder's Hugging Face config dict.
        tokenizer_json: ``tokenizers.Tokenizer.to_str()`` of the encoder's tokenizer.
        max_length: token cap of inputs (training and prediction).
        head_hidden, dropout, pooling: see ``HSClassifier``.
        loss_weights: weights of the HS2, HS4 and HS6 cross-entropies.
        label_smoothing: label smoothing of every cross-entropy.
        lr: learning rate of the heads; encoder_lr: of the encoder's trainable layers.
        weight_decay: AdamW weight decay. warmup_ratio: linear warm-up share of all steps (then linear decay).
        retrieval_weight: share of the kNN vote in the HS6 path probabilities (0 = heads only).
        retrieval_k, retrieval_temperature: neighbours and softmax temperature of the kNN vote.
    """

    def __init__(self, nomenclature: Mapping[str, Any], encoder_config: Mapping[str, Any], tokenizer_json: str,
                 max_length: int = 64, head_hidden: int = 512, dropout: float = 0.1, pooling: str = "mean",
                 loss_weights: Sequence[float] = (0.5, 0.5, 1.0), label_smoothing: float = 0.0, lr: float = 1e-3,
                 encoder_lr: float = 5e-5, weight_decay: float = 0.01, warmup_ratio: float = 0.05,
                 retrieval_weight: float = 0.0, retrieval_k: int = 20, retrieval_temperature: float = 0.05) -> None:
        super().__init__()
        # Big plain-data arguments travel in checkpoint["hs"], not in hparams (hparams.yaml stays readable).
        self.save_hyperparameters(ignore=["nomenclature", "encoder_config", "tokenizer_json"])
        self.nom = Nomenclature.from_dict(nomenclature)
        self.encoder_config = dict(encoder_config)
        self.tokenizer_json = tokenizer_json
        self.model = HSClassifier(encoder_config, len(self.nom.hs2), len(self.nom.hs4), len(self.nom.hs6),
                                  head_hidden=head_hidden, dropout=dropout, pooling=pooling)
        p4 = torch.tensor(self.nom.hs6_parent4)
        self.register_buffer("parent4", p4, persistent=False)
        self.register_buffer("parent2", torch.tensor(self.nom.hs4_parent2)[p4], persistent=False)
        hidden = self.model.hidden_size
        self.register_buffer("index_emb", torch.zeros(0, hidden, dtype=torch.float16))
        self.register_buffer("index_labels", torch.zeros(0, dtype=torch.long))
        n = {2: len(self.nom.hs2), 4: len(self.nom.hs4), 6: len(self.nom.hs6)}
        self.val_metrics = HSMetrics(n)
        self.test_metrics = HSMetrics(n)
        self.eval_prefix = "test"
        self.last_metrics: dict[str, float] = {}
        self.collect: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # (top indices, probs) when set

    # -- scoring -----------------------------------------------------------------------------
    def pooled(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if "features" in batch:
            return batch["features"].float()
        return self.model.embed(batch["input_ids"], batch["attention_mask"])

    def set_index(self, embeddings: torch.Tensor, hs6_labels: torch.Tensor) -> None:
        """Retrieval index: pooled training vectors (stored float16) and their HS6 indices (-1 = none)."""
        self.index_emb = embeddings.detach().to(self.index_emb.device, torch.float16)
        self.index_labels = hs6_labels.detach().to(self.index_labels.device, torch.long).clamp(min=-1)

    def path_probs(self, pooled: torch.Tensor) -> torch.Tensor:
        """Probabilities of every HS6 path (heads, mixed with the kNN vote when enabled).

        Shape:
            pooled ``[B, H]`` -> ``[B, C6]`` (rows sum to 1)
        """
        l2, l4, l6 = self.model.heads(pooled)
        probs = path_log_probs(l2, l4, l6, self.parent4, self.parent2).exp()
        w = float(self.hparams.retrieval_weight)
        if w > 0 and self.index_emb.shape[0] > 0:
            knn = knn_class_probs(pooled, self.index_emb, self.index_labels, probs.shape[1],
                                  k=int(self.hparams.retrieval_k), temperature=float(self.hparams.retrieval_temperature))
            probs = (1 - w) * probs + w * knn
        return probs

    def scores(self, batch: Mapping[str, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Hierarchy-consistent ``{2, 4, 6}`` scores for a batch (see ``decoding``)."""
        return hierarchical_scores(self.path_probs(self.pooled(batch)), self.parent4, self.parent2,
                                   len(self.nom.hs4), len(self.nom.hs2))

    # -- training ----------------------------------------------------------------------------
    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self.model.heads(self.pooled(batch))
        labels = batch["labels"]
        loss = logits[0].new_zeros(())
        for j, (name, w) in enumerate(zip(("hs2", "hs4", "hs6"), self.hparams.loss_weights)):
            y = labels[:, j]
            if (y != IGNORE).any():  # a batch of heading-only rows has no HS6 target
                ce = F.cross_entropy(logits[j], y, ignore_index=IGNORE, label_smoothing=self.hparams.label_smoothing)
                loss = loss + w * ce
                self.log(f"train/loss_{name}", ce, on_step=False, on_epoch=True, batch_size=len(y))
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(labels))
        return loss

    def _eval_step(self, batch: Mapping[str, torch.Tensor], metrics: HSMetrics) -> None:
        scores = self.scores(batch)
        t = batch["targets"]
        metrics.update(scores, {2: t[:, 0], 4: t[:, 1], 6: t[:, 2]})
        if self.collect is not None:
            p, i = scores[6].topk(min(5, scores[6].shape[1]), dim=-1)
            self.collect.append((i.cpu(), p.cpu()))

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        m = self.val_metrics.compute("val")
        self.val_metrics.reset()
        self.log_dict(m, prog_bar=False)
        self.log("val/hs6_acc1", m["val/hs6/acc@1"], prog_bar=True)  # progress-bar friendly name
        self.last_metrics = m

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        self.last_metrics = self.test_metrics.compute(self.eval_prefix)
        self.test_metrics.reset()

    def configure_optimizers(self) -> Any:
        enc = [p for p in self.model.encoder.parameters() if p.requires_grad]
        heads = [p for n, p in self.model.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
        groups = [{"params": heads, "lr": self.hparams.lr}]
        if enc:
            groups.append({"params": enc, "lr": self.hparams.encoder_lr})
        opt = torch.optim.AdamW(groups, weight_decay=self.hparams.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(self.hparams.warmup_ratio * total)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / max(1, warmup)
            return max(0.0, (total - step) / max(1, total - warmup))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -- checkpoint ----------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["hs"] = {
            "format": CHECKPOINT_FORMAT,
            "nomenclature": self.nom.to_dict(),
            "encoder_config": self.encoder_config,
            "tokenizer": self.tokenizer_json,
            # prediction composes inputs exactly like training: bacuda_research.hs.text.compose_input
            "input": "compose_input(text, attributes, category)",
        }

    @classmethod
    def from_checkpoint_file(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "HSLitModule":
        """Rebuild from a ``.ckpt`` without Hydra, the shared folder or the pretrained package."""
        ckpt = torch.load(str(path), map_location=map_location, weights_only=True)
        if "hs" not in ckpt:
            raise ValueError(f"{path}: not an HS classifier checkpoint (no 'hs' section)")
        meta = ckpt["hs"]
        if int(meta.get("format", 0)) > CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: checkpoint format {meta['format']} is newer than this code ({CHECKPOINT_FORMAT})")
        hp = dict(ckpt.get("hyper_parameters", {}))
        module = cls(meta["nomenclature"], meta["encoder_config"], meta["tokenizer"], **hp)
        state = ckpt["state_dict"]
        module.set_index(state["index_emb"], state["index_labels"])
        module.load_state_dict(state, strict=True)
        return module.eval()


