"""Export an HS classifier checkpoint to a bundle (see ``bacuda_research.bundle.hs_runtime`` for the layout).

The encoder, pooling and the three heads become one ONNX graph with dynamic batch and sequence
dimensions; it is checked against PyTorch before the bundle is written, on random token ids and on
the nomenclature's own texts (logits within ``PARITY_TOL``, else the export is refused).

Models with the lexical TF-IDF side (``model.lexical.bits > 0``): the ``EmbeddingBag`` table stays
out of the graph. The graph takes the bag vector as a third input ``lexical`` ``[B, D]``, which the
runtime computes in NumPy (``hs.tfidf.bag_sum``: a gather of the text's few hundred n-gram rows and
a weighted sum) from the table stored once, float32, in ``lexical.safetensors`` with the IDF vector
and the lexical kNN index. Why not in the graph: the table (``2 * 2**bits x D``, 512 MiB for the
default recipe) would make ``model.onnx`` six times larger and be held a second time by ONNX
Runtime, while the gather-sum of one batch costs about a millisecond in NumPy. The parity check then
covers the whole lexical path: PyTorch's ``EmbeddingBag`` on the TF-IDF rows against ``bag_sum`` +
ONNX Runtime, on random sparse rows and on the featurised nomenclature texts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bacuda_research.bundle import format as B
from bacuda_research.bundle.card import hs_card
from bacuda_research.bundle.common import (export_onnx, export_versions, max_abs_diff, now_utc,
                                           training_record)
from bacuda_research.bundle import hs_runtime as S

PARITY_TOL = 1e-4


class ONNXHS(nn.Module):
    """``HSClassifier`` as (input_ids, attention_mask[, lexical]) -> pooled vector and the three heads' logits.

    ``lexical`` is the TF-IDF bag vector (``EmbeddingBag`` output); the bag's table is not a
    submodule here, so it never enters the ONNX graph.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.encoder, self.trunk = model.encoder, model.trunk
        self.head2, self.head4, self.head6 = model.head2, model.head4, model.head6
        self.pooling = model.pooling
        self.lexical_dim = 0 if getattr(model, "lexical", None) is None else int(model.lexical.embedding_dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                lexical: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        from bacuda_research.hs.models import HSClassifier

        pooled = HSClassifier.embed(self, input_ids, attention_mask)  # the classifier's own code
        x = pooled if lexical is None else torch.cat([pooled, lexical], dim=-1)
        return (pooled, *HSClassifier.logits(self, x))


# the former private name (tests/test_export.py still imports it)
_ONNXHS = ONNXHS


def compact_table(table: np.ndarray) -> dict[str, np.ndarray]:
    """The bag table as stored, in the smallest form that keeps every value exactly.

    Only its non-zero rows (``embedding_rows``: their sorted bucket ids) when some rows are zero (a
    pruned model, ``hs.train.prune_lexical``); int8 codes ``embedding`` with float32
    ``embedding_scale`` when every row is ``q * scale`` (``tfidf.int8_rows``), else float16 when
    exactly representable, else the float32 table.
    """
    from bacuda_research.hs.tfidf import dequantize, int8_rows

    out: dict[str, np.ndarray] = {}
    rows = np.flatnonzero(np.any(table != 0, axis=1)).astype(np.int32)
    if len(rows) < table.shape[0]:
        out["embedding_rows"] = rows
        table = table[rows]
    q, scale = int8_rows(table)
    if np.array_equal(dequantize(q, scale), table):
        return {**out, "embedding": q, "embedding_scale": scale}
    half = table.astype(np.float16)
    out["embedding"] = half if np.array_equal(half.astype(np.float32), table) else np.ascontiguousarray(table)
    return out


def index_rebuilds_from_texts(module: Any) -> bool:
    """True when the lexical kNN index equals, bit for bit, the TF-IDF rows of the module's
    ``index_texts`` (values rounded to float16 as stored): a bundle then ships the texts once
    (``support.json``) and rebuilds the index at load instead of storing it a second time."""
    texts = getattr(module, "index_texts", None)
    if not texts or len(texts) != module.lex_labels.shape[0]:
        return False
    rows = module.featurizer().rows(texts)
    return (np.array_equal(rows.indptr, module.lex_indptr.numpy())
            and np.array_equal(rows.indices, module.lex_indices.numpy())
            and np.array_equal(rows.data.astype(np.float16), module.lex_data.numpy()))


def random_rows(n_features: int, n: int, seed: int = 0) -> Any:
    """Random sparse TF-IDF-like rows (``tfidf.SparseRows``; some empty) for parity checks."""
    from bacuda_research.hs.tfidf import SparseRows, l2_normalize_rows

    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 300, n)
    lengths[0] = 0
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate([np.sort(rng.choice(n_features, k, replace=False)) for k in lengths]).astype(np.int32)
    data = rng.random(int(indptr[-1])).astype(np.float32)
    return l2_normalize_rows(SparseRows(indptr, indices, data, n_features))


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
def torch_outputs(wrapper: nn.Module, x: dict[str, np.ndarray], model: nn.Module | None = None,
                  rows: Any = None) -> tuple[np.ndarray, ...]:
    """PyTorch outputs; for a lexical model, the bag comes from ``model.lexical`` (the trained
    ``EmbeddingBag``) on the TF-IDF ``rows`` (``tfidf.SparseRows``), as ``HSLitModule`` computes it."""
    wrapper.eval()
    args = [torch.from_numpy(x["input_ids"]), torch.from_numpy(x["attention_mask"])]
    if getattr(wrapper, "lexical_dim", 0):
        from bacuda_research.hs.lexical import bag_inputs

        lex = bag_inputs(rows.to_scipy())
        args.append(model.lexical(lex["lex_ids"], lex["lex_offsets"], per_sample_weights=lex["lex_weights"]))
    return tuple(t.numpy() for t in wrapper(*args))


def export_hs(ckpt: str | Path, outdir: str | Path, overwrite: bool = False, opset: int | None = None) -> dict[str, Any]:
    """Write the bundle of an HS checkpoint (``HSLitModule``) to ``outdir``; returns the manifest."""
    from safetensors.numpy import save_file as save_numpy
    from tokenizers import Tokenizer

    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.hs.tokenization import configure

    ckpt = Path(ckpt)
    module = HSLitModule.from_checkpoint_file(ckpt).eval()
    hp = dict(module.hparams)
    nom = module.nom
    max_length = int(hp["max_length"])
    enc_cfg = dict(module.encoder_config)
    training = training_record(ckpt)
    wrapper = ONNXHS(module.model).eval()
    # HS6 path probabilities = mix[0] * heads + mix[1] * embedding kNN + mix[2] * lexical kNN
    mix = [float(x) for x in getattr(module, "mix", torch.tensor([1.0 - float(hp.get("retrieval_weight", 0.0)),
                                                                   float(hp.get("retrieval_weight", 0.0)), 0.0])).tolist()]
    with_index = mix[1] > 0 and module.index_emb.shape[0] > 0
    retrieval = {"weight": mix[1] if with_index else 0.0, "k": int(hp.get("retrieval_k", 20)),
                 "temperature": float(hp.get("retrieval_temperature", 0.05))}
    bits = int(hp.get("lexical_bits", 0) or 0)
    lexical = None
    if bits > 0:
        lex_index = mix[2] > 0 and module.lex_labels.shape[0] > 0
        lexical = {"bits": bits, "features": int(module.lex_idf.shape[0]), "dim": wrapper.lexical_dim,
                   "k": int(hp.get("lexical_k", 20)), "temperature": float(hp.get("lexical_temperature", 0.05)),
                   "index_rows": int(module.lex_labels.shape[0]) if lex_index else 0,
                   "featurizer": "bacuda_research.hs.tfidf.LexicalFeaturizer (word 1-2-grams, char_wb 3-5-grams, "
                                 "MurmurHash3 buckets, sublinear TF-IDF, L2 rows)"}
        support_ok = bool(getattr(module, "index_texts", None)) and module.index_emb.shape[0] > 0
        if lex_index and support_ok and index_rebuilds_from_texts(module):
            lexical["index_from"] = S.SUPPORT  # rebuilt at load from the support texts: not stored
    inputs = (*S.INPUTS, S.LEXICAL_INPUT) if wrapper.lexical_dim else S.INPUTS
    table = module.model.lexical.weight.detach().float().numpy() if wrapper.lexical_dim else None

    def onnx_inputs(x: dict[str, np.ndarray], rows: Any) -> dict[str, np.ndarray]:
        from bacuda_research.hs.tfidf import bag_sum

        return {**x, S.LEXICAL_INPUT: bag_sum(table, rows)} if table is not None else x

    def write(tmp: Path) -> dict[str, Any]:
        tok = configure(Tokenizer.from_str(module.tokenizer_json), max_length)
        example = random_batch(int(enc_cfg["vocab_size"]), 3, min(7, max_length), seed=1)
        batch = torch.export.Dim("batch")
        seq = torch.export.Dim("seq", max=int(enc_cfg.get("max_position_embeddings", max_length)))
        args = [torch.from_numpy(example["input_ids"]), torch.from_numpy(example["attention_mask"])]
        shapes = [{0: batch, 1: seq}] * 2
        if wrapper.lexical_dim:
            args.append(torch.randn(3, wrapper.lexical_dim))
            shapes.append({0: batch})
        opset_used = export_onnx(wrapper, tuple(args), tmp / S.MODEL, inputs, S.OUTPUTS, shapes, opset)
        (tmp / S.TOKENIZER).write_text(module.tokenizer_json, encoding="utf-8")
        B.write_json_file(tmp, S.LABELS, nom.to_dict())
        B.write_json_file(tmp, S.CONFIG, {
            "max_length": max_length, "pooling": module.model.pooling, "retrieval": retrieval, "mix": mix,
            "encoder_config": enc_cfg, "head_hidden": int(hp.get("head_hidden", 0)),
            "classes": {"hs2": len(nom.hs2), "hs4": len(nom.hs4), "hs6": len(nom.hs6)},
            "input": "compose_input(text, attributes, category) (bacuda_research.hs.text)",
            "onnx": {"inputs": list(inputs), "outputs": list(S.OUTPUTS), "opset": opset_used},
            **({"lexical": lexical} if lexical else {}),
            **({"calibration": module.calibration} if getattr(module, "calibration", None) else {}),
        })
        # One copy of every weight: the encoder, trunk and heads are model.onnx's initializers, the
        # bag table is lexical.safetensors["embedding"] (no weights.safetensors any more: it repeated
        # the encoder and the heads).
        with_support = bool(getattr(module, "index_texts", None)) and module.index_emb.shape[0] > 0
        if with_index or with_support:
            save_numpy({"index_emb": module.index_emb.numpy(), "index_labels": module.index_labels.numpy()},
                       str(tmp / S.RETRIEVAL))
        if with_support:
            B.write_json_file(tmp, S.SUPPORT, {"texts": list(module.index_texts)})
        if lexical:
            tensors = {"idf": module.lex_idf.float().numpy()}
            if table is not None:
                tensors.update(compact_table(table))
            if lexical["index_rows"]:
                tensors["index_labels"] = module.lex_labels.numpy()
                if "index_from" not in lexical:
                    tensors.update({"index_indptr": module.lex_indptr.numpy(), "index_data": module.lex_data.numpy(),
                                    "index_indices": module.lex_indices.numpy()})
            save_numpy(tensors, str(tmp / S.LEXICAL), metadata={"format": "bacuda-hs-lexical/1"})
        texts, diffs = _onnx_parity(tmp, module, wrapper, tok, table, onnx_inputs, max_length, ckpt)
        encoder_name = ((training.get("config") or {}).get("model") or {}).get("encoder")
        fields = {
            "created": now_utc(),
            "model": {"family": "hs", "encoder": encoder_name or "scratch", "hidden_size": int(enc_cfg["hidden_size"]),
                      "layers": int(enc_cfg.get("num_hidden_layers", 0)), "max_length": max_length,
                      "parameters": int(sum(p.numel() for p in module.model.parameters())),
                      "retrieval_index_rows": int(module.index_emb.shape[0]) if with_index else 0,
                      "lexical": ({k: lexical[k] for k in ("features", "dim", "index_rows")} if lexical else None),
                      "mix": {"heads": mix[0], "embedding_knn": mix[1], "lexical_knn": mix[2]}},
            "versions": export_versions(), "training": training,
            "parity": {"inputs": f"16 random padded rows of {max_length} tokens and {len(texts)} nomenclature texts"
                                 + (" (with random sparse TF-IDF rows / the texts' own rows through the bag)"
                                    if table is not None else ""),
                       "max_abs_diff": diffs, "tolerance": PARITY_TOL, "runtime": "onnxruntime CPU, 1 thread"},
            "scoring": {"command": "bacuda-score BUNDLE descriptions.csv suggestions.jsonl",
                        "install": "pip install bacuda_research[score]"},
        }
        n_classes = {2: len(nom.hs2), 4: len(nom.hs4), 6: len(nom.hs6)}
        (tmp / B.CARD).write_text(hs_card(fields, n_classes, encoder_name or "small BERT trained from scratch",
                                          with_index, lexical), encoding="utf-8")
        return fields

    return B.write_bundle(outdir, "hs", write, overwrite=overwrite)


def _onnx_parity(tmp: Path, module: Any, wrapper: nn.Module, tok: Any, table: np.ndarray | None, onnx_inputs: Any,
                 max_length: int, ckpt: Path) -> tuple[list[str], dict[str, float]]:
    """ONNX Runtime vs PyTorch on random ids (padded) and real texts (the nomenclature's own
    descriptions); for a lexical model also random sparse TF-IDF rows and the texts' own rows (the
    whole bag path). Refuses the export above ``PARITY_TOL``; returns the texts and the differences."""
    from bacuda_research.bundle.onnx import session

    nom, enc_cfg = module.nom, dict(module.encoder_config)
    sess = session((tmp / S.MODEL).read_bytes(), threads=1)
    texts = [nom.describe(c) or c for c in (nom.hs6[:: max(1, len(nom.hs6) // 64)])][:64]
    enc = tok.encode_batch(texts)
    real = {"input_ids": np.asarray([e.ids for e in enc], np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in enc], np.int64)}
    real_rows = module.featurizer().rows(texts) if table is not None else None
    rand_rows = random_rows(int(module.lex_idf.shape[0]), 16) if table is not None else None
    diffs = {}
    for name, x, rows in (("random", random_batch(int(enc_cfg["vocab_size"]), 16, max_length, seed=0), rand_rows),
                          ("nomenclature_texts", real, real_rows)):
        got = sess.run(list(S.OUTPUTS), onnx_inputs(x, rows))
        d = max_abs_diff(got, torch_outputs(wrapper, x, module.model, rows), S.OUTPUTS)
        diffs.update({f"{k} ({name})": v for k, v in d.items()})
    if max(diffs.values()) > PARITY_TOL:
        raise RuntimeError(f"ONNX export of {ckpt} does not match PyTorch: max abs differences {diffs} "
                           f"(tolerance {PARITY_TOL})")
    return texts, diffs
