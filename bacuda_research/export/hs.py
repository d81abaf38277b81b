"""Export an HS classifier checkpoint to a bundle (see ``bacuda_research.score.hs`` for the layout).

The encoder, pooling and the three heads become one ONNX graph with dynamic batch and sequence
dimensions; it is checked against PyTorch before the bundle is written, on random token ids and on
the nomenclature's own texts (logits within ``PARITY_TOL``, else the export is refused).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bacuda_research.export import bundle as B
from bacuda_research.export.card import hs_card
from bacuda_research.export.common import (export_onnx, export_versions, max_abs_diff, now_utc,
                                           training_record)
from bacuda_research.score import hs as S

PARITY_TOL = 1e-4


class _ONNXHS(nn.Module):
    """``HSClassifier`` as (input_ids, attention_mask) -> pooled vector and the three heads' logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pooled = self.model.embed(input_ids, attention_mask)
        l2, l4, l6 = self.model.heads(pooled)
        return pooled, l2, l4, l6


def random_batch(vocab: int, n: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random token ids with padded tails of random lengths (every row keeps >= 2 tokens)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (n, length)).astype(np.int64)
    mask = np.ones((n, length), dtype=np.int64)
    for i, keep in enumerate(rng.integers(2, length + 1, n)):
        mask[i, keep:] = 0
        ids[i, keep:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@torch.no_grad()
def torch_outputs(wrapper: nn.Module, x: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    wrapper.eval()
    return tuple(t.numpy() for t in wrapper(torch.from_numpy(x["input_ids"]), torch.from_numpy(x["attention_mask"])))


def export_hs(ckpt: str | Path, outdir: str | Path, overwrite: bool = False, opset: int | None = None) -> dict[str, Any]:
    """Write the bundle of an HS checkpoint (``HSLitModule``) to ``outdir``; returns the manifest."""
    from safetensors.numpy import save_file as save_numpy
    from safetensors.torch import save_file
    from tokenizers import Tokenizer

    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.hs.tokenization import configure
    from bacuda_research.score.onnx import session

    ckpt = Path(ckpt)
    module = HSLitModule.from_checkpoint_file(ckpt).eval()
    hp = dict(module.hparams)
    nom = module.nom
    max_length = int(hp["max_length"])
    enc_cfg = dict(module.encoder_config)
    training = training_record(ckpt)
    wrapper = _ONNXHS(module.model).eval()
    if getattr(module.model, "lexical", None) is not None or int(hp.get("lexical_bits", 0) or 0) > 0:
        raise ValueError(f"{ckpt}: HS models with the lexical TF-IDF side (model.lexical_bits > 0) cannot be "
                         "exported yet (its hashed TF-IDF features and lexical kNN are not in the ONNX runtime)")
    # HS6 path probabilities = mix[0] * heads + mix[1] * embedding kNN (+ mix[2] * lexical kNN, refused above)
    mix = [float(x) for x in getattr(module, "mix", torch.tensor([1.0 - float(hp.get("retrieval_weight", 0.0)),
                                                                   float(hp.get("retrieval_weight", 0.0)), 0.0])).tolist()]
    with_index = mix[1] > 0 and module.index_emb.shape[0] > 0
    retrieval = {"weight": mix[1] if with_index else 0.0, "k": int(hp.get("retrieval_k", 20)),
                 "temperature": float(hp.get("retrieval_temperature", 0.05))}

    def write(tmp: Path) -> dict[str, Any]:
        tok = configure(Tokenizer.from_str(module.tokenizer_json), max_length)
        example = random_batch(int(enc_cfg["vocab_size"]), 3, min(7, max_length), seed=1)
        batch = torch.export.Dim("batch")
        seq = torch.export.Dim("seq", max=int(enc_cfg.get("max_position_embeddings", max_length)))
        opset_used = export_onnx(wrapper, (torch.from_numpy(example["input_ids"]), torch.from_numpy(example["attention_mask"])),
                                 tmp / S.MODEL, S.INPUTS, S.OUTPUTS, [{0: batch, 1: seq}] * 2, opset)
        (tmp / S.TOKENIZER).write_text(module.tokenizer_json, encoding="utf-8")
        B.write_json_file(tmp, S.LABELS, nom.to_dict())
        B.write_json_file(tmp, S.CONFIG, {
            "max_length": max_length, "pooling": module.model.pooling, "retrieval": retrieval, "mix": mix,
            "encoder_config": enc_cfg, "head_hidden": int(hp.get("head_hidden", 0)),
            "classes": {"hs2": len(nom.hs2), "hs4": len(nom.hs4), "hs6": len(nom.hs6)},
            "input": "compose_input(text, attributes, category) (bacuda_research.hs.text)",
            "onnx": {"inputs": list(S.INPUTS), "outputs": list(S.OUTPUTS), "opset": opset_used},
        })
        state = {k: v.detach().contiguous() for k, v in module.model.state_dict().items()}
        save_file(state, str(tmp / S.WEIGHTS), metadata={"format": "bacuda-hs-classifier/1",
                                                         "encoder_config": json.dumps(enc_cfg)})
        if with_index:
            save_numpy({"index_emb": module.index_emb.numpy(), "index_labels": module.index_labels.numpy()},
                       str(tmp / S.RETRIEVAL))
        # parity: random ids (padded) and real texts (the nomenclature's own descriptions)
        sess = session((tmp / S.MODEL).read_bytes(), threads=1)
        texts = [nom.describe(c) or c for c in (nom.hs6[:: max(1, len(nom.hs6) // 64)])][:64]
        enc = tok.encode_batch(texts)
        real = {"input_ids": np.asarray([e.ids for e in enc], np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in enc], np.int64)}
        diffs = {}
        for name, x in (("random", random_batch(int(enc_cfg["vocab_size"]), 16, max_length, seed=0)),
                        ("nomenclature_texts", real)):
            got = sess.run(list(S.OUTPUTS), x)
            d = max_abs_diff(got, torch_outputs(wrapper, x), S.OUTPUTS)
            diffs.update({f"{k} ({name})": v for k, v in d.items()})
        if max(diffs.values()) > PARITY_TOL:
            raise RuntimeError(f"ONNX export of {ckpt} does not match PyTorch: max abs differences {diffs} "
                               f"(tolerance {PARITY_TOL})")
        encoder_name = ((training.get("config") or {}).get("model") or {}).get("encoder")
        fields = {
            "created": now_utc(),
            "model": {"family": "hs", "encoder": encoder_name or "scratch", "hidden_size": int(enc_cfg["hidden_size"]),
                      "layers": int(enc_cfg.get("num_hidden_layers", 0)), "max_length": max_length,
                      "parameters": int(sum(p.numel() for p in module.model.parameters())),
                      "retrieval_index_rows": int(module.index_emb.shape[0]) if with_index else 0},
            "versions": export_versions(), "training": training,
            "parity": {"inputs": f"16 random padded rows of {max_length} tokens and {len(texts)} nomenclature texts",
                       "max_abs_diff": diffs, "tolerance": PARITY_TOL, "runtime": "onnxruntime CPU, 1 thread"},
            "scoring": {"command": "bacuda-score BUNDLE descriptions.csv suggestions.jsonl",
                        "install": "pip install bacuda_research[score]"},
        }
        n_classes = {2: len(nom.hs2), 4: len(nom.hs4), 6: len(nom.hs6)}
        (tmp / B.CARD).write_text(hs_card(fields, n_classes, encoder_name or "small BERT trained from scratch",
                                          with_index), encoding="utf-8")
        return fields

    return B.write_bundle(outdir, "hs", write, overwrite=overwrite)
