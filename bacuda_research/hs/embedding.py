"""Pooled encoder vectors for many texts, length-sorted in batches, optionally cached on disk.

A frozen encoder's outputs never change, so the recipe ``hs_minilm`` passes each text through
MiniLM once and trains the heads on the cached vectors (and MiniLM kNN reuses the same cache).
The cache key hashes the encoder identity (folder + config), the token cap, the pooling and the
exact texts; files are safetensors written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Sequence

import torch

from bacuda_research.utils.io import atomic_path

log = logging.getLogger("bacuda_research")


@torch.no_grad()
def embed_texts(model: "torch.nn.Module", tokenizer_json: str, texts: Sequence[str], max_length: int,
                batch_size: int = 128, cache_dir: str | Path | None = None, cache_id: str | None = None) -> torch.Tensor:
    """``[N, H]`` float32 pooled vectors of ``texts`` from ``model.embed`` (an ``HSClassifier``).

    ``cache_id`` names the encoder weights (e.g. its folder); without it nothing is cached, since
    a trained encoder's outputs depend on weights the key cannot see.
    """
    from tokenizers import Tokenizer

    from bacuda_research.hs.tokenization import configure, encode

    path = None
    if cache_dir is not None and cache_id is not None:
        h = hashlib.sha256(json.dumps([cache_id, max_length, model.pooling, list(texts)]).encode()).hexdigest()[:24]
        path = Path(cache_dir) / "hs_embeddings" / f"{h}.safetensors"
        if path.is_file():
            from safetensors.torch import load_file

            log.info("embeddings: %d texts from cache %s", len(texts), path)
            return load_file(str(path))["emb"]
    tok = configure(Tokenizer.from_str(tokenizer_json), max_length)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    # Sorting by length keeps padding (and wasted compute) small within each batch.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.zeros(len(texts), model.hidden_size)
    t0 = time.perf_counter()
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in encode(tok, [texts[i] for i in idx]).items()}
        out[idx] = model.embed(batch["input_ids"], batch["attention_mask"]).float().cpu()
    model.train(was_training)
    log.info("embeddings: %d texts in %.1f s", len(texts), time.perf_counter() - t0)
    if path is not None:
        from safetensors.torch import save_file

        with atomic_path(path) as tmp:
            save_file({"emb": out.contiguous()}, str(tmp))
    return out
