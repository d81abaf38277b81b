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
        lexical_bits: hashed TF-IDF features (``lexical.LexicalFeaturizer``, ``2 * 2**bits``
            buckets); 0 = no lexical side at all.
        lexical_dim: width of the trainable TF-IDF ``EmbeddingBag`` fed to the heads (0 = none).
        lexical_k, lexical_temperature: the lexical kNN vote over the training texts' TF-IDF rows.

    The HS6 path probabilities are ``mix[0] * heads + mix[1] * embedding kNN + mix[2] * lexical
    kNN``; ``mix`` (a buffer, saved in the checkpoint) starts at ``(1 - retrieval_weight,
    retrieval_weight, 0)`` and ``train.choose_mixture`` sets it on the validation split.
    """

    def __init__(self, nomenclature: Mapping[str, Any], encoder_config: Mapping[str, Any], tokenizer_json: str,
                 max_length: int = 64, head_hidden: int = 512, dropout: float = 0.1, pooling: str = "mean",
                 loss_weights: Sequence[float] = (0.5, 0.5, 1.0), label_smoothing: float = 0.0, lr: float = 1e-3,
                 encoder_lr: float = 5e-5, weight_decay: float = 0.01, warmup_ratio: float = 0.05,
                 retrieval_weight: float = 0.0, retrieval_k: int = 20, retrieval_temperature: float = 0.05,
                 lexical_bits: int = 0, lexical_dim: int = 0, lexical_k: int = 20,
                 lexical_temperature: float = 0.05) -> None:
        super().__init__()
        # Big plain-data arguments travel in checkpoint["hs"], not in hparams (hparams.yaml stays readable).
        self.save_hyperparameters(ignore=["nomenclature", "encoder_config", "tokenizer_json"])
        self.nom = Nomenclature.from_dict(nomenclature)
        self.encoder_config = dict(encoder_config)
        self.tokenizer_json = tokenizer_json
        self.model = HSClassifier(encoder_config, len(self.nom.hs2), len(self.nom.hs4), len(self.nom.hs6),
                                  head_hidden=head_hidden, dropout=dropout, pooling=pooling,
                                  lexical_features=2 * 2 ** lexical_bits if lexical_bits else 0,
                                  lexical_dim=lexical_dim if lexical_bits else 0)
        p4 = torch.tensor(self.nom.hs6_parent4)
        self.register_buffer("parent4", p4, persistent=False)
        self.register_buffer("parent2", torch.tensor(self.nom.hs4_parent2)[p4], persistent=False)
        hidden = self.model.hidden_size
        self.register_buffer("index_emb", torch.zeros(0, hidden, dtype=torch.float16))
        self.register_buffer("index_labels", torch.zeros(0, dtype=torch.long))
        self.register_buffer("mix", torch.tensor([1.0 - retrieval_weight, retrieval_weight, 0.0]))
        n_lex = 2 * 2 ** lexical_bits if lexical_bits else 0
        self.register_buffer("lex_idf", torch.zeros(n_lex))
        self.register_buffer("lex_indptr", torch.zeros(1, dtype=torch.long))
        self.register_buffer("lex_indices", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("lex_data", torch.zeros(0, dtype=torch.float16))
        self.register_buffer("lex_labels", torch.zeros(0, dtype=torch.long))
        self._featurizer = None
        self._lex_index = None
        # Manual optimisation: the TF-IDF bag has sparse gradients (SparseAdam) beside AdamW.
        self.automatic_optimization = False
        n = {2: len(self.nom.hs2), 4: len(self.nom.hs4), 6: len(self.nom.hs6)}
        self.val_metrics = HSMetrics(n)
        self.test_metrics = HSMetrics(n)
        self.eval_prefix = "test"
        self.last_metrics: dict[str, float] = {}
        self.collect: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # (top indices, probs) when set

    # -- scoring -----------------------------------------------------------------------------
    def lex_inputs(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        return {k: batch[k] for k in ("lex_ids", "lex_offsets", "lex_weights")} if "lex_ids" in batch else None

    def pooled(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if "features" in batch:
            return batch["features"].float()
        return self.model.embed(batch["input_ids"], batch["attention_mask"])

    def set_index(self, embeddings: torch.Tensor, hs6_labels: torch.Tensor, texts: Sequence[str] | None = None) -> None:
        """Retrieval index: pooled training vectors (stored float16) and their HS6 indices (-1 = none).

        ``texts``: the training descriptions of the rows (kept in the checkpoint's ``hs`` section), so
        that a suggestion can show the nearest training descriptions that support it.
        """
        self.index_emb = embeddings.detach().to(self.index_emb.device, torch.float16)
        self.index_labels = hs6_labels.detach().to(self.index_labels.device, torch.long).clamp(min=-1)
        if texts is not None and len(texts) != embeddings.shape[0]:
            raise ValueError(f"set_index: {len(texts)} texts for {embeddings.shape[0]} vectors")
        self.index_texts = None if texts is None else [str(t) for t in texts]

    # -- lexical side ------------------------------------------------------------------------------
    @property
    def has_lexical(self) -> bool:
        return int(self.hparams.lexical_bits) > 0

    def featurizer(self) -> Any:
        """The fitted ``LexicalFeaturizer`` (IDF from the ``lex_idf`` buffer)."""
        from bacuda_research.hs.lexical import LexicalFeaturizer

        if self._featurizer is None:
            self._featurizer = LexicalFeaturizer(int(self.hparams.lexical_bits), self.lex_idf.cpu().numpy())
        return self._featurizer

    def set_lexical(self, idf: Any, index: Any = None, labels: torch.Tensor | None = None) -> None:
        """IDF vector and (optionally) the TF-IDF rows + HS6 labels of the lexical kNN index."""
        from bacuda_research.hs.lexical import csr_to_tensors

        self.lex_idf = torch.as_tensor(idf, dtype=torch.float32).to(self.lex_idf.device)
        self._featurizer = None
        if index is not None:
            t = csr_to_tensors(index)
            self.lex_indptr, self.lex_indices, self.lex_data = t["indptr"], t["indices"], t["data"]
            self.lex_labels = torch.as_tensor(labels, dtype=torch.long).clamp(min=-1)
            self._lex_index = None

    def lexical_index(self) -> Any:
        """``(index_T, labels)`` of the lexical kNN, rebuilt from the buffers once (``lexical.prepare_index``)."""
        from bacuda_research.hs.lexical import prepare_index, tensors_to_csr

        if self._lex_index is None:
            index = tensors_to_csr(self.lex_indptr.cpu(), self.lex_indices.cpu(), self.lex_data.cpu(),
                                   self.lex_idf.shape[0])
            self._lex_index = prepare_index(index, self.lex_labels.cpu())
        return self._lex_index

    def components(self, pooled: torch.Tensor, lex_rows: Any = None) -> dict[str, torch.Tensor]:
        """The three HS6 path distributions that ``mix`` combines: heads, embedding kNN, lexical kNN
        (a component is absent when its index is empty or it is not asked for).

        Shape:
            pooled ``[B, H]``, lex_rows: CSR ``[B, F]`` TF-IDF rows (needed when the model is lexical)
        """
        from bacuda_research.hs.lexical import bag_inputs, lexical_knn_probs

        lex = None
        if self.model.lexical is not None:
            lex = {k: v.to(pooled.device) for k, v in bag_inputs(lex_rows).items()}
        l2, l4, l6 = self.model.heads(pooled, lex)
        out = {"heads": path_log_probs(l2, l4, l6, self.parent4, self.parent2).exp()}
        if self.index_emb.shape[0] > 0:
            out["embed_knn"] = knn_class_probs(pooled, self.index_emb, self.index_labels, out["heads"].shape[1],
                                               k=int(self.hparams.retrieval_k),
                                               temperature=float(self.hparams.retrieval_temperature))
        if lex_rows is not None and self.lex_labels.shape[0] > 0:
            index_t, labels = self.lexical_index()
            out["lexical_knn"] = lexical_knn_probs(lex_rows, index_t, labels, out["heads"].shape[1],
                                                   k=int(self.hparams.lexical_k), prepared=True,
                                                   temperature=float(self.hparams.lexical_temperature)).to(pooled.device)
        return out

    def mixed(self, parts: Mapping[str, torch.Tensor], mix: Sequence[float] | None = None) -> torch.Tensor:
        w = [float(x) for x in (self.mix.tolist() if mix is None else mix)]
        probs = w[0] * parts["heads"]
        for wi, name in zip(w[1:], ("embed_knn", "lexical_knn")):
            if wi > 0 and name in parts:
                probs = probs + wi * parts[name]
        return probs / probs.sum(-1, keepdim=True).clamp(min=1e-12)

    def path_probs(self, pooled: torch.Tensor, lex_rows: Any = None) -> torch.Tensor:
        """Probabilities of every HS6 path (heads mixed with the kNN votes by ``mix``).

        Shape:
            pooled ``[B, H]`` (+ CSR TF-IDF rows ``[B, F]`` for a lexical model) -> ``[B, C6]`` (rows sum to 1)
        """
        return self.mixed(self.components(pooled, lex_rows))

    def scores(self, batch: Mapping[str, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Hierarchy-consistent ``{2, 4, 6}`` scores for a batch (see ``decoding``)."""
        lex = self.lex_inputs(batch)
        rows = None
        if lex is not None:
            from bacuda_research.hs.lexical import bag_rows

            rows = bag_rows(lex, self.lex_idf.shape[0])
        return hierarchical_scores(self.path_probs(self.pooled(batch), rows), self.parent4, self.parent2,
                                   len(self.nom.hs4), len(self.nom.hs2))

    # -- training ----------------------------------------------------------------------------
    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self.model.heads(self.pooled(batch), self.lex_inputs(batch))
        labels = batch["labels"]
        loss = logits[0].new_zeros(())
        for j, (name, w) in enumerate(zip(("hs2", "hs4", "hs6"), self.hparams.loss_weights)):
            y = labels[:, j]
            if (y != IGNORE).any():  # a batch of heading-only rows has no HS6 target
                ce = F.cross_entropy(logits[j], y, ignore_index=IGNORE, label_smoothing=self.hparams.label_smoothing)
                loss = loss + w * ce
                self.log(f"train/loss_{name}", ce, on_step=False, on_epoch=True, batch_size=len(y))
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(labels))
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        for opt in opts:
            opt.zero_grad()
        self.manual_backward(loss)
        for opt in opts:
            opt.step()
        scheds = self.lr_schedulers()
        for sched in (scheds if isinstance(scheds, list) else [scheds]):
            sched.step()
        return loss.detach()

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
        heads = [p for n, p in self.model.named_parameters()
                 if not n.startswith(("encoder.", "lexical.")) and p.requires_grad]
        groups = [{"params": heads, "lr": self.hparams.lr}]
        if enc:
            groups.append({"params": enc, "lr": self.hparams.encoder_lr})
        opts = [torch.optim.AdamW(groups, weight_decay=self.hparams.weight_decay)]
        if self.model.lexical is not None:
            opts.append(torch.optim.SparseAdam(list(self.model.lexical.parameters()), lr=self.hparams.lr))
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(self.hparams.warmup_ratio * total)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / max(1, warmup)
            return max(0.0, (total - step) / max(1, total - warmup))

        return [{"optimizer": opt, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.LambdaLR(opt, schedule),
                                                    "interval": "step"}} for opt in opts]

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
        if getattr(self, "index_texts", None) is not None:
            checkpoint["hs"]["index_texts"] = list(self.index_texts)
        if getattr(self, "calibration", None):
            checkpoint["hs"]["calibration"] = dict(self.calibration)

    @classmethod
    def from_checkpoint_file(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "HSLitModule":
        """Rebuild from a ``.ckpt`` without Hydra, the shared folder or the pretrained package."""
        from bacuda_research.core.checkpoints import load_checkpoint

        ckpt = load_checkpoint(str(path), map_location=map_location)
        if "hs" not in ckpt:
            raise ValueError(f"{path}: not an HS classifier checkpoint (no 'hs' section)")
        meta = ckpt["hs"]
        if int(meta.get("format", 0)) > CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: checkpoint format {meta['format']} is newer than this code ({CHECKPOINT_FORMAT})")
        hp = dict(ckpt.get("hyper_parameters", {}))
        module = cls(meta["nomenclature"], meta["encoder_config"], meta["tokenizer"], **hp)
        state = ckpt["state_dict"]
        texts = meta.get("index_texts")
        module.set_index(state["index_emb"], state["index_labels"],
                         texts if texts is not None and len(texts) == state["index_emb"].shape[0] else None)
        module.calibration = meta.get("calibration")
        for name in ("lex_idf", "lex_indptr", "lex_indices", "lex_data", "lex_labels"):
            if name in state:  # sizes depend on the training data: take the stored tensors' shapes
                setattr(module, name, state[name].clone())
        module.load_state_dict(state, strict=True)
        return module.eval()


