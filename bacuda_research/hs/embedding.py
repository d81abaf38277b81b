"""Pooled encoder vectors for many texts, length-sorted in batches, optionally cached on disk.

A frozen encoder's outputs never change, so the recipe ``hs_minilm`` passes each text through
MiniLM once and trains the heads on the cached vectors (and MiniLM kNN reuses the same cache).
The cache is per text (sha1) within a folder keyed by encoder identity, token cap and pooling;
parts are safetensors files written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from bacuda_research.core.io import atomic_path

log = logging.getLogger("bacuda_research")


@torch.no_grad()
def embed_texts(model: "torch.nn.Module", tokenizer_json: str, texts: Sequence[str], max_length: int,
                batch_size: int = 128, cache_dir: str | Path | None = None, cache_id: str | None = None) -> torch.Tensor:
    """``[N, H]`` float32 pooled vectors of ``texts`` from ``model.embed`` (an ``HSClassifier``).

    With ``cache_dir`` and ``cache_id`` (the name of frozen encoder weights, e.g. their folder),
    vectors are looked up per text in earlier cache parts and only the misses are computed (and
    stored as a new part), so a changed corpus reuses most of its work. Without ``cache_id``
    nothing is cached: a trained encoder's outputs depend on weights the key cannot see.
    """
    ident = json.dumps([cache_id, max_length, model.pooling, model.hidden_size]) if cache_id is not None else None
    return cached_vectors(texts, lambda todo: _embed(model, tokenizer_json, todo, max_length, batch_size),
                          model.hidden_size, cache_dir, ident)


def cached_vectors(texts: Sequence[str], compute: Callable[[list[str]], torch.Tensor], width: int,
                   cache_dir: str | Path | None, ident: str | None) -> torch.Tensor:
    """``[N, width]`` vectors of ``texts``: looked up per text (sha1) in the cache folder of ``ident``
    (a string naming the frozen encoder and its settings), the misses computed by ``compute`` and
    stored as a new part. ``cache_dir`` or ``ident`` None: no cache."""
    texts = list(texts)
    out = torch.zeros(len(texts), width)
    todo = list(range(len(texts)))
    folder = None
    if cache_dir is not None and ident is not None and texts:
        folder = Path(cache_dir) / "hs_embeddings" / hashlib.sha256(ident.encode()).hexdigest()[:16]
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        found = _lookup(folder, keys)
        todo = [i for i, k in enumerate(keys) if k not in found]
        for i, k in enumerate(keys):
            if k in found:
                out[i] = found[k]
        log.info("embeddings: %d of %d texts from cache %s", len(texts) - len(todo), len(texts), folder)
    if todo:
        out[todo] = compute([texts[i] for i in todo])
        if folder is not None:
            from safetensors.torch import save_file

            new_keys = [keys[i] for i in todo]
            name = hashlib.sha256("".join(new_keys).encode()).hexdigest()[:16]
            with atomic_path(folder / f"part-{name}.safetensors") as tmp:
                save_file({"emb": out[todo].contiguous()}, str(tmp), metadata={"keys": json.dumps(new_keys)})
    return out


def _lookup(folder: Path, keys: Sequence[str]) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    wanted, found = set(keys), {}
    for part in sorted(folder.glob("part-*.safetensors")) if folder.is_dir() else []:
        with safe_open(str(part), framework="pt") as f:
            part_keys = json.loads(f.metadata()["keys"])
            hits = [j for j, k in enumerate(part_keys) if k in wanted and k not in found]
            if hits:
                emb = f.get_tensor("emb")
                found.update({part_keys[j]: emb[j] for j in hits})
    return found


def _embed(model: "torch.nn.Module", tokenizer_json: str, texts: list[str], max_length: int,
           batch_size: int) -> torch.Tensor:
    from tokenizers import Tokenizer

    from bacuda_research.hs.tokenization import configure, encode

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
        if start // batch_size % 50 == 49:
            log.info("embeddings: %d / %d texts, %.0f texts/s", start + len(idx), len(texts),
                     (start + len(idx)) / (time.perf_counter() - t0))
    model.train(was_training)
    log.info("embeddings: %d texts through the encoder in %.1f s", len(texts), time.perf_counter() - t0)
    return out
