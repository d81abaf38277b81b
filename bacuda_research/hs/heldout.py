"""Held-out evaluation in another language: the EU CN texts (e.g. French) of the goods codes the
nomenclature split already holds out, and the predictor of a finished run to score them.

``crosslingual_heldout`` keeps a row of the other-language file only if

- its goods-code group (``cn:<code>``) is in the run's **test** split (never val: validation picks
  epochs and mixture weights), so neither the English nor any other text of that code was trained on;
- its row-aligned English twin's chained text is not a training or validation text (``dedupe`` keeps
  the first group of a text shared by several codes, so a held-out code can share its English text
  with a trained one: such rows are dropped and counted);
- its own text is not a training or validation text (a recipe that trains on that language keeps the
  other groups' texts in training, never these);
- it has an HS6 label seen in training (as ``test/`` does), and its text is not repeated under a
  different HS6 (repeats under the same HS6 are merged).

The split therefore depends on the run's seed exactly as ``test/`` does. ``run_predictor`` rebuilds a
run from its folder: a trained checkpoint (``checkpoints/model.ckpt``) or, for the fit-free and
cheap baselines (``kind`` ``tfidf_knn``, ``embed_knn``, ``tfidf_lr``), a refit on the same data and seed.
``scripts/hs_heldout_lang.py`` writes the metrics next to a run's ``report.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from bacuda_research.hs.corpus import COLUMNS, eu_cn_corpus
from bacuda_research.hs.nomenclature import Nomenclature

log = logging.getLogger("bacuda_research")


def crosslingual_heldout(other_path: str | Path, english_path: str | Path, nom: Nomenclature,
                         splits: dict[str, pd.DataFrame], lang: str = "fr",
                         stats: dict[str, int] | None = None) -> pd.DataFrame:
    """Rows (``COLUMNS``) of the ``lang`` EU CN file held out by ``splits["test"]``'s goods-code groups."""
    other = eu_cn_corpus(other_path, nom, lang=lang)
    english = eu_cn_corpus(english_path, nom, lang="en")
    if len(other) != len(english) or not (other["group"].to_numpy() == english["group"].to_numpy()).all():
        raise ValueError(f"{other_path} and {english_path} are not row-aligned (goods codes differ row by row)")
    seen_texts = set(splits["train"]["text"]) | set(splits["val"]["text"])
    test_groups = set(splits["test"]["group"])
    fit_groups = set(splits["train"]["group"]) | set(splits["val"]["group"])
    seen_hs6 = set(splits["train"]["hs6"].dropna())
    held = other["group"].isin(test_groups) & ~other["group"].isin(fit_groups)
    twin_seen = english["text"].isin(seen_texts)
    own_seen = other["text"].isin(seen_texts)
    labelled = other["hs6"].notna()
    seen_class = other["hs6"].isin(seen_hs6)
    keep = held & ~twin_seen & ~own_seen & labelled & seen_class
    df = other[keep]
    labels_per_text = df.groupby("text")["hs6"].nunique()
    ambiguous = df["text"].map(labels_per_text).gt(1)
    out = df[~ambiguous].drop_duplicates(["text", "hs6"])
    out = out.assign(source=f"eu_cn_{lang}_heldout")[COLUMNS].reset_index(drop=True)
    counts = {"rows_in_file": int(len(other)), "rows_of_test_groups": int(held.sum()),
              "dropped_english_twin_seen": int((held & twin_seen).sum()),
              "dropped_text_seen": int((held & ~twin_seen & own_seen).sum()),
              "dropped_no_hs6": int((held & ~twin_seen & ~own_seen & ~labelled).sum()),
              "dropped_hs6_unseen_in_training": int((held & ~twin_seen & ~own_seen & labelled & ~seen_class).sum()),
              "dropped_ambiguous_text": int(ambiguous.sum()),
              "merged_repeats": int((~ambiguous).sum() - len(out)), "rows": int(len(out)),
              "hs6_classes": int(out["hs6"].nunique())}
    if stats is not None:
        stats.update({f"{lang}_heldout_{k}": v for k, v in counts.items()})
    log.info("%s held-out: %s", lang, counts)
    return out


def run_predictor(run: str | Path, threads: int = 1) -> tuple[Any, Nomenclature, dict[str, pd.DataFrame],
                                                               Callable[[list[str]], "Any"], dict[str, Any]]:
    """``(cfg, nom, splits, predict, info)`` of a finished HS run folder (``.hydra/config.yaml``);
    ``predict(texts) -> [N, C6]`` HS6 path probabilities as at its evaluation."""
    import torch
    from omegaconf import OmegaConf

    from bacuda_research.core.config import register_resolvers
    from bacuda_research.hs.task import build_data, fit_baseline, training_rows

    torch.set_num_threads(int(threads))
    run = Path(run)
    register_resolvers()
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    seed = int(cfg.seed)
    nom, splits, _, digest = build_data(cfg.data, seed)
    ckpt = run / "checkpoints" / "model.ckpt"
    if cfg.model.kind == "transformer":
        if not ckpt.is_file():
            raise FileNotFoundError(f"{ckpt} not found: a transformer run is scored from its checkpoint")
        from bacuda_research.hs.module import HSLitModule
        from bacuda_research.hs.train import predict_texts

        module = HSLitModule.from_checkpoint_file(ckpt)
        return cfg, nom, splits, (lambda texts: predict_texts(module, list(texts))), \
            {"scored_from": "checkpoints/model.ckpt", "data_sha256": digest}
    train = training_rows(cfg.data, splits["train"], seed)
    predict, _ = fit_baseline(cfg, nom, splits, train)
    return cfg, nom, splits, predict, {"scored_from": f"refit ({cfg.model.kind}, seed {seed})", "data_sha256": digest}
