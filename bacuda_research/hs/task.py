"""``run_hs(cfg, run_dir, loggers)``: the HS task behind ``bacuda-train`` (``model.family=hs``).

data (nomenclature -> corpus -> dedupe -> grouped split -> noisy copies) -> model by
``model.kind`` (``transformer`` | ``tfidf_lr`` | ``tfidf_knn`` | ``embed_knn``) -> one
evaluation for all kinds (held-out ``val``/``test`` restricted to HS6 codes seen in training,
and the micro benchmark per language) -> ``TaskResult``. Every step logs one line.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from bacuda_research.hs.corpus import (dedupe, eu_cn_corpus, hs2022_corpus, load_benchmark, pairs_corpus,
                                       split_groups)
from bacuda_research.hs.calibration import fit_temperature
from bacuda_research.hs.data import REAL, REPEAT_SUFFIX, encode_labels, is_repeat, real_rows
from bacuda_research.hs.decoding import hierarchical_scores
from bacuda_research.hs.metrics import HSMetrics
from bacuda_research.hs.nomenclature import Nomenclature, load_nomenclature
from bacuda_research.hs.text import augment_title
from bacuda_research.core.io import write_table

log = logging.getLogger("bacuda_research")

DATA_KEYS = {"name", "nomenclature", "hs2022", "eu_cn", "path", "columns", "on_unknown", "split_fractions",
             "benchmark", "real", "augment_copies", "max_train_samples", "max_eval_samples", "num_workers"}
REAL_KEYS = {"path", "text", "code", "lang", "split_fractions", "train", "repeat", "train_share", "extra"}
MODEL_KEYS = {
    "transformer": {"name", "family", "kind", "encoder", "scratch", "trainable_layers", "max_length", "pooling",
                    "head_hidden", "dropout", "loss_weights", "label_smoothing", "lr", "encoder_lr", "weight_decay",
                    "warmup_ratio", "batch_size", "retrieval", "lexical", "mixture", "encode_copies"},
    "tfidf_lr": {"name", "family", "kind", "max_features", "rank", "epochs", "batch_size", "lr", "weight_decay"},
    "tfidf_knn": {"name", "family", "kind", "max_features", "k", "temperature"},
    "embed_knn": {"name", "family", "kind", "encoder", "max_length", "pooling", "k", "temperature"},
}


def check_keys(section: DictConfig, allowed: set[str], where: str) -> None:
    """Unknown keys are errors (a typo must not silently fall back to a default)."""
    unknown = sorted(set(section.keys()) - allowed)
    missing = sorted(allowed - set(section.keys()))
    if unknown or missing:
        raise ValueError(f"{where}: unknown keys {unknown}, missing keys {missing}")


# -- data ------------------------------------------------------------------------------------
def build_data(dcfg: DictConfig, seed: int) -> tuple[Nomenclature, dict[str, pd.DataFrame], dict[str, int], str]:
    """Nomenclature, train/val/test frames, counts, and a sha256 of the input files' bytes."""
    check_keys(dcfg, DATA_KEYS, "data")
    from bacuda_research.core.io import sha256_file

    nom = load_nomenclature(dcfg.nomenclature)
    files = [Path(dcfg.nomenclature)]
    stats: dict[str, int] = {}
    parts, always_train = [], []
    if dcfg.hs2022:
        parts.append(hs2022_corpus(nom))
        always_train.append("hs2022")  # the class definitions: every HS6 class is covered in training
    for lang, p in (dcfg.eu_cn or {}).items():
        if p:
            parts.append(eu_cn_corpus(p, nom, lang=lang, stats=stats))
            files.append(Path(p))
    if dcfg.path:
        parts.append(pairs_corpus(dcfg.path, nom, OmegaConf.to_container(dcfg.columns), dcfg.on_unknown, stats))
        files.append(Path(dcfg.path))
    if not parts:
        raise ValueError("data: no source selected (set data.hs2022, data.eu_cn or data.path)")
    corpus = dedupe(pd.concat(parts, ignore_index=True), stats)
    splits = split_groups(corpus, list(dcfg.split_fractions), seed=seed, always_train=always_train)
    if dcfg.max_train_samples:
        splits["train"] = splits["train"].sample(n=min(len(splits["train"]), int(dcfg.max_train_samples)),
                                                 random_state=seed).reset_index(drop=True)
    # Held-out rows are scored only on HS6 codes seen in training (with counts): an unseen class
    # measures the split, not the model.
    smoke = _benchmark(dcfg, nom, quiet=True)  # extra training rows must never equal a smoke-set text
    files += add_real(dcfg.real, nom, splits, stats, [] if smoke is None else list(smoke["text"]))
    seen = set(splits["train"]["hs6"].dropna())
    for name in ("val", "test"):
        df = splits[name]
        ok = df["hs6"].isin(seen)
        stats[f"{name}_unseen_hs6_rows_dropped"] = int((~ok).sum())
        df = df[ok]
        if dcfg.max_eval_samples:
            df = df.sample(n=min(len(df), int(dcfg.max_eval_samples)), random_state=seed)
        splits[name] = df.reset_index(drop=True)
    digest = hashlib.sha256("".join(sha256_file(f) for f in files).encode()).hexdigest()
    log.info("data: %s", {k: len(v) for k, v in splits.items()} | stats)
    return nom, splits, stats, digest


def add_real(rcfg: DictConfig | None, nom: Nomenclature, splits: dict[str, pd.DataFrame],
             stats: dict[str, int], smoke_texts: Sequence[str] = ()) -> list[Path]:
    """Real goods descriptions (``data.real``): fixed grouped split (``hs/realdesc.py``); its train part
    joins training and its val part joins validation when ``train`` is true; its test part becomes
    ``splits["real"]``, scored like the test split and never used for any choice. ``extra`` sources
    join training only, without any row equal to a validation, held-out or smoke-set text."""
    if not rcfg or not rcfg.get("path"):
        return []
    # Keys added later may be absent from older run folders (their configs are re-read).
    check_keys(rcfg, REAL_KEYS - {k for k in ("repeat", "train_share", "extra") if k not in rcfg}, "data.real")
    from bacuda_research.hs.realdesc import PACKAGED, extra_path, read_extra, read_real, split_real, train_share

    path = PACKAGED if rcfg.path == "packaged" else Path(rcfg.path)
    real = read_real(path, nom, rcfg.text, rcfg.code, rcfg.lang, stats=stats)
    parts = split_real(real, list(rcfg.split_fractions), list(splits["train"]["text"]), stats)
    share = float(rcfg.get("train_share", 1.0))
    if share < 1:
        parts["train"] = train_share(parts["train"], list(rcfg.split_fractions), share)
        stats["real_train_rows_kept_by_share"] = len(parts["train"])
    extra, files = [], [path]
    avoid = {"real_test": parts["test"]["text"], "real_val": parts["val"]["text"],
             "real_train": parts["train"]["text"], "val": splits["val"]["text"],
             "test": splits["test"]["text"], "smoke_set": smoke_texts}
    for source in (rcfg.get("extra") or []) if rcfg.train else []:
        files.append(extra_path(str(source)))
        got: dict[str, int] = {}
        extra.append(read_extra(files[-1], nom, avoid, got))
        for k, v in got.items():
            stats[k] = stats.get(k, 0) + v
    if rcfg.train:
        for name in ("train", "val"):
            splits[name] = pd.concat([splits[name], parts[name]] + (extra if name == "train" else []),
                                     ignore_index=True)
    splits["real"] = parts["test"]
    return files


def add_noisy_copies(train: pd.DataFrame, copies: int, seed: int) -> pd.DataFrame:
    """Append ``copies`` title-like variants of every training text (same labels, ``source`` +"~aug";
    column ``parent``: the row index of the clean text each row was made from)."""
    train = train.assign(parent=np.arange(len(train)))
    if copies <= 0:
        return train
    rng = random.Random(seed)
    extra = []
    for _ in range(copies):
        aug = train.copy()
        aug["text"] = [augment_title(t, rng) for t in train["text"]]
        aug["source"] = aug["source"] + "~aug"
        extra.append(aug)
    out = pd.concat([train, *extra], ignore_index=True)
    return out.drop_duplicates(["text", "hs6"]).reset_index(drop=True)


def repeat_real(train: pd.DataFrame, repeat: int) -> pd.DataFrame:
    """``train`` (after ``add_noisy_copies``) with ``repeat - 1`` extra exact copies of every clean real
    goods description (``source == "real"``), appended with ``source = "real~rep"`` and ``parent`` = the
    row they repeat: a weight on the real rows in the loss, nothing else. Their noisy copies are not
    repeated (one noisy copy per real row, as for every text). Repeats stay out of the kNN indexes and
    the TF-IDF document frequencies (``train.py``, ``fit_baseline``). ``repeat == 1``: ``train`` itself."""
    if int(repeat) != repeat or repeat < 1:
        raise ValueError(f"data.real.repeat={repeat!r}: expected an integer >= 1")
    if repeat == 1:
        return train
    train = train.reset_index(drop=True)
    real = train[real_rows(train)]
    reps = real.assign(source=REAL + REPEAT_SUFFIX, parent=real.index.to_numpy())
    return pd.concat([train] + [reps] * (int(repeat) - 1), ignore_index=True)


def training_rows(data_cfg: DictConfig, train: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The training split as the model sees it: ``data.augment_copies`` noisy copies, then
    ``data.real.repeat`` repeats of the real rows (one place, so a refit cannot drift from training)."""
    train = add_noisy_copies(train, int(data_cfg.augment_copies), seed)
    return repeat_real(train, int((data_cfg.get("real") or {}).get("repeat", 1)))


# -- evaluation ------------------------------------------------------------------------------
def evaluate(path_probs: torch.Tensor, df: pd.DataFrame, nom: Nomenclature, prefix: str) -> dict[str, float]:
    """Metrics of HS6 path probabilities ``[N, C6]`` against ``df``'s codes (unknown = wrong)."""
    if len(df) == 0:
        return {f"{prefix}/n": 0.0}
    p4 = torch.tensor(nom.hs6_parent4)
    p2 = torch.tensor(nom.hs4_parent2)[p4]
    scores = hierarchical_scores(path_probs, p4, p2, len(nom.hs4), len(nom.hs2))
    t = torch.as_tensor(encode_labels(df[["hs6"]], nom, unknown=1))
    metrics = HSMetrics({2: len(nom.hs2), 4: len(nom.hs4), 6: len(nom.hs6)})
    metrics.update(scores, {2: t[:, 0], 4: t[:, 1], 6: t[:, 2]})
    out = metrics.compute(prefix)
    out[f"{prefix}/n"] = float(len(df))
    out[f"{prefix}/hs6_classes"] = float(df["hs6"].nunique())
    return out


def evaluate_all(predict, nom: Nomenclature, splits: dict[str, pd.DataFrame], bench: pd.DataFrame | None,
                 run_dir: Path, predictions_file: str | None) -> tuple[dict[str, float], dict[str, Any]]:
    """``predict(texts) -> [N, C6]`` probabilities, applied to val, test and the benchmark."""
    metrics: dict[str, float] = {}
    extra: dict[str, Any] = {}
    temperature = 1.0
    for name in [n for n in ("val", "test", "real") if n in splits]:
        t0 = time.perf_counter()
        probs = predict(list(splits[name]["text"]))
        metrics.update(evaluate(probs, splits[name], nom, name))
        if name == "val" and "source" in splits[name].columns:
            real = real_rows(splits[name])
            if real.any():  # the real goods descriptions among the validation rows, on their own
                metrics.update(evaluate(probs[torch.from_numpy(real)], splits[name][real], nom, "val/real"))
        if name == "val":
            extra["calibration"] = fit_calibration(probs, splits[name], nom)
            temperature = extra["calibration"]["temperature"]
        calib = calibration_report(probs, splits[name], nom, temperature)
        metrics.update({f"{name}/{k}": v for k, v in calib.pop("metrics").items()})
        extra.setdefault("coverage", {})[name] = calib["coverage"]
        if name == "real":
            metrics.update(per_language(probs, splits[name], nom, "real"))
            write_table(top_k_table(splits[name], probs, nom), run_dir / "real_predictions.csv")
        log.info("%s: %d rows scored in %.1f s", name, len(splits[name]), time.perf_counter() - t0)
        if name == "test" and predictions_file and len(splits[name]):
            write_table(top_k_table(splits[name], probs, nom), run_dir / predictions_file)
    if bench is not None:
        probs = predict(list(bench["text"]))
        metrics.update(evaluate(probs, bench, nom, "bench/all"))
        metrics.update(per_language(probs, bench, nom, "bench"))
        bad = bench[~bench["in_nomenclature"]]
        metrics["bench/n_not_in_nomenclature"] = float(len(bad))
        extra["benchmark_codes_not_in_nomenclature"] = [
            {"text": t, "hs6": c, "lang": lg} for t, c, lg in zip(bad["text"], bad["hs6"], bad["lang"])]
        write_table(top_k_table(bench, probs, nom), run_dir / "benchmark_predictions.csv")
    return metrics, extra


def fit_calibration(probs: torch.Tensor, val: pd.DataFrame, nom: Nomenclature, min_real: int = 100) -> dict[str, Any]:
    """The temperature of ``hs.calibration.fit_temperature`` (Brier) on the validation rows that are real
    goods descriptions (``source == "real"``) when there are at least ``min_real`` of them (users send
    such text, not nomenclature), else on the whole validation split."""
    real = real_rows(val)
    rows = real if real.sum() >= min_real else np.ones(len(val), bool)
    labels = encode_labels(val[["hs6"]], nom)[:, 2][rows]
    t = fit_temperature(probs.numpy()[rows], labels)
    return {"temperature": t, "fitted_on": "val (real descriptions)" if rows is real else "val", "n": int(rows.sum()),
            "objective": "brier"}


def calibration_report(probs: torch.Tensor, df: pd.DataFrame, nom: Nomenclature, temperature: float) -> dict[str, Any]:
    """ECE of the top-1 HS6 before/after temperature scaling and the coverage-accuracy table (calibrated)."""
    from bacuda_research.hs.calibration import apply_temperature, coverage_table, ece

    if len(df) == 0:
        return {"metrics": {}, "coverage": []}
    p = probs.numpy()
    q = apply_temperature(p, temperature)
    correct = np.asarray([nom.hs6[j] == c for j, c in zip(p.argmax(1).tolist(), df["hs6"])])
    return {"metrics": {"ece_raw": round(ece(p.max(1), correct), 4), "ece": round(ece(q.max(1), correct), 4)},
            "coverage": coverage_table(q.max(1), correct)}


def per_language(probs: torch.Tensor, df: pd.DataFrame, nom: Nomenclature, prefix: str) -> dict[str, float]:
    """``evaluate`` on each language's rows (``{prefix}/{lang}/...``)."""
    out: dict[str, float] = {}
    for lang in sorted(df["lang"].unique()):
        m = (df["lang"] == lang).to_numpy()
        out.update(evaluate(probs[torch.from_numpy(m)], df[m], nom, f"{prefix}/{lang}"))
    return out


def top_k_table(df: pd.DataFrame, probs: torch.Tensor, nom: Nomenclature, k: int = 5) -> pd.DataFrame:
    p, i = probs.topk(min(k, probs.shape[1]), dim=-1)
    out = pd.DataFrame({"text": df["text"].to_numpy(), "hs6": df["hs6"].to_numpy()})
    for r in range(p.shape[1]):
        out[f"pred{r + 1}"] = [nom.hs6[j] for j in i[:, r].tolist()]
        out[f"prob{r + 1}"] = p[:, r].numpy().round(5)
    out["hit@1"] = out["pred1"] == out["hs6"]
    return out


def _benchmark(dcfg: DictConfig, nom: Nomenclature, quiet: bool = False) -> pd.DataFrame | None:
    if not dcfg.benchmark:
        return None
    if not Path(dcfg.benchmark).is_file():
        if not quiet:
            log.warning("benchmark %s not found: skipped", dcfg.benchmark)
        return None
    return load_benchmark(dcfg.benchmark, nom)


# -- the task --------------------------------------------------------------------------------
def run_hs(cfg: DictConfig, run_dir: Path, loggers: list[Any]) -> Any:
    from bacuda_research.core.task import TaskResult

    mcfg = cfg.model
    kind = mcfg.get("kind")
    if kind not in MODEL_KEYS:
        raise ValueError(f"model.kind={kind!r}: expected one of {sorted(MODEL_KEYS)}")
    check_keys(mcfg, MODEL_KEYS[kind], f"model ({mcfg.name})")
    run_dir = Path(run_dir)
    seed = int(cfg.seed)
    nom, splits, stats, digest = build_data(cfg.data, seed)
    bench = _benchmark(cfg.data, nom)
    train = training_rows(cfg.data, splits["train"], seed)
    log.info("train: %d rows (%d clean + noisy copies + %d repeats of real rows), %d HS6 classes", len(train),
             len(splits["train"]), int(is_repeat(train).sum()), train["hs6"].nunique())
    counts = {f"{k}_rows": len(v) for k, v in splits.items()} | {"train_rows_with_copies": len(train)} | stats
    t0 = time.perf_counter()
    if kind == "transformer":
        from bacuda_research.hs.train import fit_transformer

        predict, fit_info = fit_transformer(cfg, run_dir, loggers, nom, splits, train)
    else:
        predict, fit_info = fit_baseline(cfg, nom, splits, train)
    fit_s = time.perf_counter() - t0
    metrics, extra = evaluate_all(predict, nom, splits, bench, run_dir, cfg.get("predictions_file"))
    if kind == "transformer" and fit_info.get("checkpoint") and "calibration" in extra:
        attach_calibration(Path(fit_info["checkpoint"]), extra["calibration"])
    metrics["train/n"] = float(len(train))
    metrics["train/hs6_classes"] = float(train["hs6"].nunique())
    metrics["test/hs6_seen_classes"] = metrics.get("test/hs6_classes", 0.0)
    metrics["time/fit_s"] = round(fit_s, 1)
    extra = {"hs": {"counts": counts, **fit_info, **extra}}
    return TaskResult(metrics=metrics, data_sha256=digest, extra=extra)


def attach_calibration(ckpt: Path, calibration: dict[str, Any] | None = None, mix: torch.Tensor | None = None) -> None:
    """Store the validation-fitted temperature in the checkpoint's ``hs`` section and/or new mixture
    weights in its state (one atomic rewrite): ``bacuda-hs`` and exported bundles then report a
    calibrated ``confidence`` and use those weights."""
    state = torch.load(str(ckpt), map_location="cpu", weights_only=True)
    if calibration is not None:
        state["hs"]["calibration"] = dict(calibration)
        log.info("calibration temperature %.3f stored in %s", calibration["temperature"], ckpt)
    if mix is not None:
        state["state_dict"]["mix"] = mix.detach().clone().cpu()
        log.info("mixture weights %s stored in %s", [round(float(x), 4) for x in mix.tolist()], ckpt)
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    torch.save(state, str(tmp))
    tmp.replace(ckpt)


def fit_baseline(cfg: DictConfig, nom: Nomenclature, splits: dict[str, pd.DataFrame], train: pd.DataFrame):
    """Fit a baseline on ``train`` and return ``predict(texts) -> [N, C6]`` and facts for the report."""
    from bacuda_research.hs import baselines

    m = cfg.model
    if m.kind != "tfidf_lr":  # a kNN index: repeated rows would only outvote their neighbours
        train = train[~is_repeat(train)].reset_index(drop=True)
    y6 = encode_labels(train, nom)[:, 2]
    texts = list(train["text"])
    if m.kind == "tfidf_lr":
        model = baselines.TfidfLogReg(len(nom.hs6), max_features=m.max_features, rank=m.rank, epochs=m.epochs,
                                      batch_size=m.batch_size, lr=m.lr, weight_decay=m.weight_decay, seed=int(cfg.seed))
        model.fit(texts, y6)
        return model.predict_proba, {"fit_rows": int((y6 >= 0).sum())}
    if m.kind == "tfidf_knn":
        model = baselines.TfidfKNN(len(nom.hs6), k=m.k, temperature=m.temperature, max_features=m.max_features)
        model.fit(texts, y6)
        return model.predict_proba, {"index_rows": int((y6 >= 0).sum())}
    # embed_knn: a pretrained encoder, no training at all
    from bacuda_research.hs.encoders import PackageEncoder, is_package_encoder

    keep = y6 >= 0
    if is_package_encoder(m.encoder):  # frozen, outside torch (hs/encoders.py): fast enough uncached
        penc, cache_dir = PackageEncoder(m.encoder, threads=int(cfg.get("threads") or 1)), cfg.get("cache_dir")
        knn = baselines.EmbeddingKNN(len(nom.hs6), k=m.k, temperature=m.temperature).fit(
            penc.embed([t for t, k in zip(texts, keep) if k], cache_dir), y6[keep])
        return (lambda q: knn.predict_proba(penc.embed(q, cache_dir))), {"index_rows": int(keep.sum()), **penc.describe()}
    from bacuda_research.hs.embedding import embed_texts
    from bacuda_research.hs.models import (HSClassifier, encoder_config_from_folder, load_pretrained_encoder,
                                           resolve_encoder_path)
    from bacuda_research.hs.tokenization import load_tokenizer

    folder = resolve_encoder_path(m.encoder)
    enc = HSClassifier(encoder_config_from_folder(folder), 1, 1, 1, head_hidden=0, pooling=m.pooling)
    load_pretrained_encoder(enc, folder)
    tok_json = load_tokenizer(folder).to_str()
    cache = dict(cache_dir=cfg.get("cache_dir"), cache_id=str(folder))
    index = embed_texts(enc, tok_json, [t for t, k in zip(texts, keep) if k], m.max_length, **cache)
    knn = baselines.EmbeddingKNN(len(nom.hs6), k=m.k, temperature=m.temperature).fit(index, y6[keep])
    return (lambda q: knn.predict_proba(embed_texts(enc, tok_json, q, m.max_length, **cache))), \
        {"index_rows": int(keep.sum()), "encoder": str(folder)}
