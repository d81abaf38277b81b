"""Fitting ``HSLitModule``: tokenizer, encoder weights, freezing/caching, Lightning fit, checkpoint.

Two regimes, chosen by ``model.trainable_layers``:

- ``0`` (the ``hs_minilm`` recipe): the encoder is frozen, each text passes through it once
  (cached on disk under ``cache_dir``), and only the MLP heads train on the cached vectors;
  epochs then cost seconds, so the recipe fits in minutes on two CPU cores.
- ``> 0`` or ``-1``: the top layers (or all, ``-1``) are fine-tuned on tokenised batches.

With ``model.lexical.bits > 0`` a hashed TF-IDF view of every text (``lexical``) feeds a trainable
``EmbeddingBag`` beside the pooled vector (``lexical.dim``) and a lexical kNN vote. After
training, the weights of heads / embedding kNN / lexical kNN are chosen on the validation split
(``model.mixture``; never on test) and stored in the checkpoint.

The final weights (best epoch by ``val/hs6/acc@1``, plus the retrieval index when enabled) are
saved to ``<run_dir>/checkpoints/model.ckpt``, which ``bacuda-hs`` reads.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from bacuda_research.hs.data import HSFeatureDataset, HSTextDataset, TextCollator, encode_labels, is_repeat, real_rows
from bacuda_research.hs.embedding import embed_texts
from bacuda_research.hs.nomenclature import Nomenclature

log = logging.getLogger("bacuda_research")

MODEL_FILE = "model.ckpt"


def build_module(cfg: DictConfig, nom: Nomenclature, train_texts: list[str]) -> tuple[Any, str | None]:
    """The module with its tokenizer and (pretrained or fresh) encoder; returns it and the encoder folder."""
    from bacuda_research.hs.models import (encoder_config_from_folder, load_pretrained_encoder,
                                           resolve_encoder_path, small_bert_config)
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.hs.tokenization import load_tokenizer, train_wordpiece

    m = cfg.model
    folder = None
    if m.encoder:
        folder = resolve_encoder_path(m.encoder)
        tok = load_tokenizer(folder)
        enc_cfg = encoder_config_from_folder(folder)
    else:
        scratch = OmegaConf.to_container(m.scratch, resolve=True)
        vocab = int(scratch.pop("vocab_size"))
        tok = train_wordpiece(train_texts, vocab_size=vocab)
        enc_cfg = small_bert_config(tok.get_vocab_size(), max_position_embeddings=max(int(m.max_length), 8) + 2,
                                    **scratch)
        log.info("tokenizer: WordPiece with %d tokens trained on %d texts", tok.get_vocab_size(), len(train_texts))
    r = m.retrieval
    module = HSLitModule(
        nom.to_dict(), enc_cfg, tok.to_str(), max_length=int(m.max_length), head_hidden=int(m.head_hidden),
        dropout=float(m.dropout), pooling=m.pooling, loss_weights=list(m.loss_weights),
        label_smoothing=float(m.label_smoothing), lr=float(m.lr), encoder_lr=float(m.encoder_lr),
        weight_decay=float(m.weight_decay), warmup_ratio=float(m.warmup_ratio), retrieval_weight=float(r.weight),
        retrieval_k=int(r.k), retrieval_temperature=float(r.temperature), lexical_bits=int(m.lexical.bits),
        lexical_dim=int(m.lexical.dim), lexical_k=int(m.lexical.k), lexical_temperature=float(m.lexical.temperature))
    if folder is not None:
        load_pretrained_encoder(module.model, folder)
    return module, (str(folder) if folder else None)


def fit_transformer(cfg: DictConfig, run_dir: Path, loggers: list[Any], nom: Nomenclature,
                    splits: dict[str, pd.DataFrame], train: pd.DataFrame) -> tuple[Callable, dict[str, Any]]:
    import lightning.pytorch as pl

    from bacuda_research.hs.models import freeze_encoder
    from bacuda_research.core.training import build_trainer

    m, d = cfg.model, cfg.data
    clean = splits["train"]
    module, folder = build_module(cfg, nom, list(clean["text"]))
    trainable = freeze_encoder(module.model, int(m.trainable_layers))
    cached = trainable == 0
    n_params = sum(p.numel() for p in module.parameters())
    n_train = sum(p.numel() for p in module.parameters() if p.requires_grad)
    log.info("model: %s, %d parameters (%d trainable), encoder trainable layers: %s", m.name, n_params, n_train,
             "all" if trainable < 0 else trainable)
    bs, nw = int(m.batch_size), int(d.num_workers)
    y_train, y_val = encode_labels(train, nom), encode_labels(splits["val"], nom)
    t0 = time.perf_counter()
    texts_encoded = 0
    # data.real.repeat's extra rows (hs/task.py repeat_real) weigh in the loss only: not in the kNN
    # indexes, not in the TF-IDF document frequencies, never through the encoder (their row's vector).
    is_rep = is_repeat(train)
    is_clean = ~train["source"].str.endswith("~aug").to_numpy() & ~is_rep
    lex_train = lex_val = featurizer = None
    if module.has_lexical:
        from bacuda_research.hs.lexical import LexicalFeaturizer

        featurizer = LexicalFeaturizer(int(m.lexical.bits)).fit(list(train["text"][~is_rep]))
        lex_train, lex_val = featurizer.transform(list(train["text"])), featurizer.transform(list(splits["val"]["text"]))
        rows = is_clean if m.lexical.index == "clean" else ~is_rep
        module.set_lexical(featurizer.idf, lex_train[rows] if m.lexical.index != "none" else None,
                           torch.as_tensor(y_train[rows, 2]) if m.lexical.index != "none" else None)
        log.info("lexical: %d hashed TF-IDF features, %d kNN index rows, %.1f s", featurizer.n_features,
                 int(module.lex_labels.shape[0]), time.perf_counter() - t0)
    if cached:
        # A frozen pretrained encoder's vectors depend only on its folder: cache them across runs.
        cache = dict(cache_dir=cfg.get("cache_dir"), cache_id=folder) if folder else {}
        emb = lambda texts: embed_texts(module.model, module.tokenizer_json, list(texts), int(m.max_length), **cache)
        # Noisy copies through the encoder: a seeded share (model.encode_copies); the others reuse
        # their clean text's vector (their TF-IDF view is still the noisy text's own).
        rng = np.random.default_rng(int(cfg.seed))
        through = is_clean | ((rng.random(len(train)) < float(m.encode_copies)) & ~is_rep)
        x_train = torch.zeros(len(train), module.model.hidden_size)
        x_train[torch.from_numpy(through)] = emb(train["text"][through])
        parents = train["parent"].to_numpy()[~through]
        x_train[torch.from_numpy(~through)] = x_train[torch.from_numpy(parents)]
        x_val = emb(splits["val"]["text"])
        texts_encoded = int(through.sum()) + len(splits["val"])
        train_dl = HSFeatureDataset(x_train, y_train, lexical=lex_train).loader(bs, shuffle=True, num_workers=nw)
        val_dl = HSFeatureDataset(x_val, y_val, lexical=lex_val).loader(1024, shuffle=False, num_workers=nw)
        if m.retrieval.weight > 0 or m.mixture.select_on_val:
            module.set_index(x_train[torch.from_numpy(is_clean)], torch.as_tensor(y_train[is_clean, 2]),
                             list(train["text"][is_clean]))
    else:
        collate = TextCollator(module.tokenizer_json, int(m.max_length), featurizer)
        train_dl = DataLoader(HSTextDataset(list(train["text"]), y_train), batch_size=bs, shuffle=True,
                              num_workers=nw, collate_fn=collate)
        val_dl = DataLoader(HSTextDataset(list(splits["val"]["text"]), y_val), batch_size=256, num_workers=nw,
                            collate_fn=collate)
    embed_s = time.perf_counter() - t0

    ckpt_dir = run_dir / "checkpoints"
    has_val = len(splits["val"]) > 0
    callbacks = [pl.callbacks.ModelCheckpoint(dirpath=str(ckpt_dir), filename="best", monitor="val/hs6/acc@1" if has_val else None,
                                              mode="max", save_top_k=1, save_weights_only=True)]
    trainer = build_trainer(cfg, run_dir, loggers, callbacks)
    t1 = time.perf_counter()
    trainer.fit(module, train_dl, val_dl if has_val else None)
    fit_s = time.perf_counter() - t1
    best = callbacks[0].best_model_path
    if best and Path(best).is_file():
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
        log.info("best epoch checkpoint: %s (val/hs6/acc@1 %s)", best, callbacks[0].best_model_score)
    module.eval()
    lexical_rows_kept = None
    if module.model.lexical is not None and lex_train is not None:
        lexical_rows_kept = prune_lexical(module.model.lexical.weight, lex_train.indices)
        log.info("lexical bag: %d of %d rows used by training texts kept (others zeroed), int8 per-row precision",
                 lexical_rows_kept, module.model.lexical.weight.shape[0])
    if (m.retrieval.weight > 0 or m.mixture.select_on_val) and not cached:
        x = embed_texts(module.model, module.tokenizer_json, list(train["text"][is_clean]), int(m.max_length))
        module.set_index(x, torch.as_tensor(y_train[is_clean, 2]), list(train["text"][is_clean]))
        texts_encoded += int(is_clean.sum())
    mixture = None
    if m.mixture.select_on_val and has_val:
        pooled_val = x_val if cached else embed_texts(module.model, module.tokenizer_json,
                                                      list(splits["val"]["text"]), int(m.max_length))
        rows, rows_name = mixture_rows(splits["val"], m.mixture.get("rows", "all"))
        mixture = choose_mixture(module, pooled_val, lex_val, y_val[:, 2], float(m.mixture.step), rows, rows_name)
        log.info("mixture chosen on %s: heads %.2f, embedding kNN %.2f, lexical kNN %.2f (hs6 acc@1 %.4f)",
                 rows_name, *mixture["weights"], mixture["val_hs6_acc1"])
    elif not (m.retrieval.weight > 0):
        module.set_index(torch.zeros(0, module.model.hidden_size), torch.zeros(0, dtype=torch.long))
    model_path = ckpt_dir / MODEL_FILE
    trainer.save_checkpoint(str(model_path), weights_only=True)  # Lightning writes it atomically
    log.info("model checkpoint: %s", model_path)

    @torch.no_grad()
    def predict(texts: list[str]) -> torch.Tensor:
        if cached:
            pooled = embed_texts(module.model, module.tokenizer_json, texts, int(m.max_length),
                                 **(dict(cache_dir=cfg.get("cache_dir"), cache_id=folder) if folder else {}))
            lex = module.featurizer().transform(texts) if module.has_lexical else None
            return torch.cat([module.path_probs(pooled[s:s + 1024], None if lex is None else lex[s:s + 1024])
                              for s in range(0, len(texts), 1024)]) if len(texts) else torch.zeros(0, len(nom.hs6))
        return predict_texts(module, texts)

    info = {"encoder": folder or "scratch", "trainable_encoder_layers": trainable, "cached_embeddings": cached,
            "parameters": n_params, "trainable_parameters": n_train, "texts_through_encoder_for_cache": texts_encoded,
            "embed_s": round(embed_s, 1), "train_loop_s": round(fit_s, 1), "epochs_run": int(trainer.current_epoch),
            "checkpoint": str(model_path), "best_val_hs6_acc1": float(callbacks[0].best_model_score or 0.0),
            "lexical_features": int(module.lex_idf.shape[0]), "lexical_index_rows": int(module.lex_labels.shape[0]),
            "lexical_bag_rows_kept": lexical_rows_kept,
            "mixture": mixture or {"weights": module.mix.tolist(), "chosen_on": None}}
    return predict, info


@torch.no_grad()
def prune_lexical(weight: torch.Tensor, used_ids: np.ndarray, precision: str = "int8") -> int:
    """Zero the bag rows that no training text hashes to and round the rest to ``precision``.

    Such rows never received a gradient: all they would add to an unseen n-gram at prediction is
    their random initialisation (N(0, 0.02)). ``precision``: ``int8`` (each row becomes
    ``q * scale`` with int8 ``q`` and one float32 ``scale``, ``tfidf.int8_rows``) or ``float16``.
    The table can then be stored in a bundle as its used rows only, in that precision, and still
    score exactly like the checkpoint; the evaluation after training measures this rounded model.
    Returns the number of rows kept.
    """
    from bacuda_research.hs.tfidf import dequantize, int8_rows

    keep = torch.zeros(weight.shape[0], dtype=torch.bool)
    keep[torch.from_numpy(np.unique(np.asarray(used_ids)).astype(np.int64))] = True
    weight[~keep] = 0
    if precision == "int8":
        q, scale = int8_rows(weight.detach().cpu().numpy())
        weight.copy_(torch.from_numpy(dequantize(q, scale)))
    elif precision == "float16":
        weight.copy_(weight.half().float())
    else:
        raise ValueError(f"prune_lexical: precision {precision!r}, expected int8 or float16")
    return int(keep.sum())


def mixture_rows(val: pd.DataFrame, rows: str = "all", min_real: int = 100) -> tuple[np.ndarray, str]:
    """The validation rows ``choose_mixture`` scores (``model.mixture.rows``) and their name.

    ``all``: every validation row. ``real``: the real goods descriptions (``source == "real"``),
    which is what users send, when there are at least ``min_real`` of them; else every row (as
    ``task.fit_calibration`` does).
    """
    if rows not in ("all", "real"):
        raise ValueError(f"model.mixture.rows={rows!r}: expected all or real")
    real = real_rows(val)
    if rows == "real" and real.sum() >= min_real:
        return real, "val (real descriptions)"
    return np.ones(len(val), bool), "val"


@torch.no_grad()
def choose_mixture(module: Any, pooled_val: torch.Tensor, lex_val: Any, y6_val: np.ndarray,
                   step: float = 0.1, rows: np.ndarray | None = None, rows_name: str = "val") -> dict[str, Any]:
    """Weights of (heads, embedding kNN, lexical kNN) maximising val HS6 acc@1 on a simplex grid.

    Only the validation split is used (its goods-code groups are disjoint from train and test);
    ``rows`` (boolean mask, default all) restricts the choice to some of its rows (``mixture_rows``).
    Ties go to the first grid point in the order heads-heavy first. Sets ``module.mix``.
    """
    module.eval()
    parts: dict[str, list[torch.Tensor]] = {}
    for s in range(0, pooled_val.shape[0], 1024):
        got = module.components(pooled_val[s:s + 1024].to(module.device),
                                None if lex_val is None else lex_val[s:s + 1024])
        for k, v in got.items():
            parts.setdefault(k, []).append(v.cpu())
    comp = {k: torch.cat(v) for k, v in parts.items()}
    y = torch.as_tensor(y6_val)
    ok = y >= 0
    if rows is not None:
        ok = ok & torch.from_numpy(np.array(rows, dtype=bool))
    before = float((module.mixed(comp)[ok].argmax(-1) == y[ok]).float().mean())  # the module's current mix
    n = int(round(1 / step))
    best: tuple[float, list[float]] | None = None
    for a in range(n, -1, -1):
        for b in range(n - a, -1, -1):
            c = n - a - b
            w = [a / n, b / n, c / n]
            if (b and "embed_knn" not in comp) or (c and "lexical_knn" not in comp):
                continue
            acc = float((module.mixed(comp, w)[ok].argmax(-1) == y[ok]).float().mean())
            if best is None or acc > best[0] + 1e-12:
                best = (acc, w)
    assert best is not None
    single = {k: float((v[ok].argmax(-1) == y[ok]).float().mean()) for k, v in comp.items()}
    module.mix = torch.tensor(best[1], device=module.mix.device)
    return {"weights": best[1], "val_hs6_acc1": best[0], "chosen_on": rows_name, "n": int(ok.sum()),
            "grid_step": step, "val_hs6_acc1_single": single, "val_hs6_acc1_of_previous_mix": before}


@torch.no_grad()
def predict_texts(module: Any, texts: list[str], batch_size: int = 128) -> torch.Tensor:
    """``[N, C6]`` path probabilities for raw (already composed) texts, length-sorted batches."""
    from tokenizers import Tokenizer

    from bacuda_research.hs.tokenization import configure, encode

    # Parsing the tokenizer JSON costs tens of ms (MiniLM's is 700 kB): do it once per module.
    tok = getattr(module, "_hs_tokenizer", None)
    if tok is None:
        tok = configure(Tokenizer.from_str(module.tokenizer_json), int(module.hparams.max_length))
        module._hs_tokenizer = tok
    module.eval()
    lexical = module.featurizer() if module.has_lexical else None
    out = torch.zeros(len(texts), len(module.nom.hs6))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    device = module.device
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        b = {k: v.to(device) for k, v in encode(tok, [texts[i] for i in idx]).items()}
        rows = lexical.transform([texts[i] for i in idx]) if lexical is not None else None
        out[idx] = module.path_probs(module.model.embed(b["input_ids"], b["attention_mask"]), rows).float().cpu()
    return out
