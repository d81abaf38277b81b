"""Inference-time options of a trained HS run, scored on the real-description VALIDATION rows only.

    python scripts/hs_val_options.py experiments/hs/real/hs_minilm_s0 experiments/hs/real/hs_minilm_s1 \
        experiments/hs/real/hs_minilm_s2 --output experiments/hs/real/val_options.json

Never reads the held-out sets. For each run (frozen encoder: vectors from the run's embedding cache) it
recomputes the three HS6 path distributions ``HSLitModule.mixed`` combines (heads, MiniLM kNN, TF-IDF
kNN; the kNN votes from each query's 50 nearest index rows, so ``k`` and the temperature can vary), and
scores on the real validation rows (``source == "real"``):

- ``trained``: the run's stored mixture and kNN settings (what ``bacuda-hs`` answers today);
- ``hs4_sum``: HS4/HS2 ranked by the sum of their HS6 probabilities instead of the best path
  (``decoding.level_scores``); ``rerank_a``: HS6 scores ``p6 * P4(heading) ** a`` (``P4`` the summed
  heading probability), HS4/HS2 then by their best reranked path;
- ``knn_T`` / ``knn_k``: both kNN votes with another temperature / number of neighbours;
- ``mix_real``: the mixture chosen on these same rows (``hs.train.choose_mixture`` grid, step 0.1;
  in-sample, so optimistic) and ``mix_real_cv``: chosen on one random half, scored on the other (2-fold,
  20 repeats; mean gain over ``trained`` on the scored half).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

KEYS = ("hs2@1", "hs2@5", "hs4@1", "hs4@5", "hs6@1", "hs6@5")


def components(run: Path, n_neighbours: int = 50) -> dict:
    """Heads path probabilities and the nearest index rows (similarity, HS6 label) of the real val rows."""
    import torch
    from omegaconf import OmegaConf

    from bacuda_research.core.config import register_resolvers
    from bacuda_research.hs.data import encode_labels
    from bacuda_research.hs.decoding import path_log_probs
    from bacuda_research.hs.embedding import embed_texts
    from bacuda_research.hs.lexical import bag_inputs
    from bacuda_research.hs.models import resolve_encoder_path
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.hs.task import build_data

    register_resolvers()
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    m = HSLitModule.from_checkpoint_file(run / "checkpoints" / "model.ckpt")
    nom, splits, _, _ = build_data(cfg.data, int(cfg.seed))
    val = splits["val"]
    val = val[(val["source"] == "real").to_numpy()].reset_index(drop=True)
    texts = list(val["text"])
    pooled = embed_texts(m.model, m.tokenizer_json, texts, int(cfg.model.max_length), cache_dir=cfg.get("cache_dir"),
                         cache_id=str(resolve_encoder_path(cfg.model.encoder)))
    rows = m.featurizer().transform(texts)
    keep = m.index_labels >= 0
    index = torch.nn.functional.normalize(m.index_emb.float(), dim=-1)[keep]
    lex_t, lex_labels = m.lexical_index()
    with torch.no_grad():
        l2, l4, l6 = m.model.heads(pooled, bag_inputs(rows))
        heads = path_log_probs(l2, l4, l6, m.parent4, m.parent2).exp().numpy()
        es, ei = (torch.nn.functional.normalize(pooled.float(), dim=-1) @ index.T).topk(n_neighbours, dim=-1)
        ls, li = torch.from_numpy((rows @ lex_t).toarray().astype(np.float32)).topk(n_neighbours, dim=-1)
    hp = m.hparams
    return {"heads": heads, "embed": (es.numpy(), m.index_labels[keep][ei].numpy()),
            "lexical": (ls.numpy(), lex_labels[li].numpy()), "y": encode_labels(val[["hs6"]], nom, unknown=1),
            "parent4": np.asarray(nom.hs6_parent4), "parent2": np.asarray(nom.hs4_parent2)[np.asarray(nom.hs6_parent4)],
            "mix": [round(float(x), 4) for x in m.mix.tolist()], "n": len(val),
            "knn": {"k": int(hp.retrieval_k), "T": float(hp.retrieval_temperature),
                    "lex_k": int(hp.lexical_k), "lex_T": float(hp.lexical_temperature)}}


def vote(sims: np.ndarray, labels: np.ndarray, n_classes: int, k: int, temperature: float) -> np.ndarray:
    """softmax(similarity / T) votes of the k nearest rows (``decoding.knn_class_probs``)."""
    s = sims[:, :k] / temperature
    w = np.exp(s - s.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    out = np.zeros((len(sims), n_classes))
    np.add.at(out, (np.arange(len(sims))[:, None], labels[:, :k]), w)
    return out


def mixed(c: dict, w, k: int | None = None, temperature: float | None = None) -> np.ndarray:
    n6 = c["heads"].shape[1]
    kn = c["knn"]
    p = w[0] * c["heads"]
    if w[1]:
        p = p + w[1] * vote(*c["embed"], n6, k or kn["k"], temperature or kn["T"])
    if w[2]:
        p = p + w[2] * vote(*c["lexical"], n6, k or kn["lex_k"], temperature or kn["lex_T"])
    return p / p.sum(1, keepdims=True)


def aggregate(p: np.ndarray, parent: np.ndarray, how: str) -> np.ndarray:
    out = np.zeros((p.shape[0], parent.max() + 1))
    (np.add if how == "sum" else np.maximum).at(out.T, parent, p.T)
    return out


def hits(p6: np.ndarray, c: dict, hs4: str = "max", alpha: float = 0.0) -> dict[str, np.ndarray]:
    """Per-row top-1/top-5 hits at HS2/HS4/HS6 (``hs4``: max = best path, sum = summed children)."""
    if alpha:
        p6 = p6 * aggregate(p6, c["parent4"], "sum")[:, c["parent4"]] ** alpha
    scores = {6: p6, 4: aggregate(p6, c["parent4"], hs4), 2: aggregate(p6, c["parent2"], hs4)}
    out = {}
    for lvl, col in ((2, 0), (4, 1), (6, 2)):
        top = np.argsort(-scores[lvl], axis=1, kind="stable")[:, :5]
        y = c["y"][:, col]
        out[f"hs{lvl}@1"], out[f"hs{lvl}@5"] = top[:, 0] == y, (top == y[:, None]).any(1)
    return out


def grid(step: float = 0.1) -> list[tuple[float, float, float]]:
    n = int(round(1 / step))
    return [(a / n, b / n, (n - a - b) / n) for a in range(n, -1, -1) for b in range(n - a, -1, -1)]


def options(c: dict, repeats: int = 20, seed: int = 0) -> dict[str, dict]:
    """Accuracy (%) of every option on the run's real val rows (see the module docstring)."""
    pct = lambda h: {k: round(100 * float(v.mean()), 2) for k, v in h.items()}
    base = mixed(c, c["mix"])
    out = {"trained": pct(hits(base, c)), "hs4_sum": pct(hits(base, c, "sum"))}
    for a in (0.25, 0.5, 1.0, 2.0):
        out[f"rerank_{a}"] = pct(hits(base, c, alpha=a))
    for t in (0.02, 0.1, 0.2):
        out[f"knn_T{t}"] = pct(hits(mixed(c, c["mix"], temperature=t), c))
    for k in (10, 50):
        out[f"knn_k{k}"] = pct(hits(mixed(c, c["mix"], k=k), c))
    per_w = {w: hits(mixed(c, w), c) for w in grid()}
    best = max(per_w, key=lambda w: per_w[w]["hs6@1"].mean() + 1e-9 * w[0])
    out["mix_real"] = pct(per_w[best]) | {"weights": list(best)}
    base_hits, rng, gains = hits(base, c), np.random.default_rng(seed), {k: [] for k in KEYS}
    for _ in range(repeats):
        half = rng.random(len(c["y"])) < 0.5
        for fit, score in ((half, ~half), (~half, half)):
            w = max(per_w, key=lambda w: per_w[w]["hs6@1"][fit].mean() + 1e-9 * w[0])
            for k in KEYS:
                gains[k].append(100 * float(per_w[w][k][score].mean() - base_hits[k][score].mean()))
    out["mix_real_cv_gain"] = {k: round(statistics.mean(v), 2) for k, v in gains.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    from bacuda_research.core.io import write_text

    result = {}
    for run in args.runs:
        c = components(run)
        result[run.name] = {"real_val_rows": c["n"], "trained_mix": c["mix"], "options": options(c)}
    names = list(next(iter(result.values()))["options"])
    mean = {o: {k: round(statistics.mean(r["options"][o][k] for r in result.values()), 2) for k in KEYS} for o in names}
    out = {"runs": result, "mean_over_runs": mean}
    write_text(args.output, json.dumps(out, indent=1) + "\n")
    print("| option | " + " | ".join(KEYS) + " |")
    for o, v in mean.items():
        print(f"| {o} | " + " | ".join(f"{v[k]:.1f}" for k in KEYS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
