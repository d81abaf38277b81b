"""Re-score a trained HS run from its checkpoint: calibration refit, int8 lexical table, and what they change.

    python scripts/hs_rescore.py experiments/hs/real/hs_minilm_s0 --int8 --write-calibration \
        --output experiments/hs/real/hs_minilm_s0/rescore.json

Recomputes the HS6 path probabilities of the run's own val, test, real-description and smoke-set rows
(the run's config and seed rebuild the same splits; vectors come from the run's embedding cache
when the encoder is frozen, else they are recomputed), then:

- reports the accuracies of every set (``accuracy``), the real validation rows on their own as
  ``val_real/...`` (reports of runs trained before ``val/real/...`` existed lack them);
- fits the calibration temperature with today's ``hs.task.fit_calibration`` (Brier score on the
  real-description val rows; the first runs used the log-likelihood on all val rows) and reports ECE before/after and the
  coverage-accuracy table per split; ``--write-calibration`` stores that temperature in
  ``checkpoints/model.ckpt`` (what ``bacuda-hs`` and ``bacuda-export`` read);
- ``--mixture-rows real|all``: chooses the (heads, embedding kNN, lexical kNN) weights again with
  today's ``hs.train.choose_mixture`` on those validation rows (``model.mixture.rows``; runs trained
  before that key chose on all val rows), stores them in ``checkpoints/model.ckpt`` (so ``bacuda-hs``
  and an exported bundle use them) and scores everything with them through ``hs.task.evaluate_all``
  (the training run's own scoring: the output's ``metrics`` hold every metric the report has, the
  real validation rows, per language and the smoke set included, and the prediction CSVs are
  rewritten), which ``hs_real_table.py`` shows instead of the report's;
- ``--int8``: rounds every used row of the lexical bag table to int8 codes times a float32 scale (as
  training does since ``hs.train.prune_lexical`` rounds to int8; older runs rounded to float16),
  writes ``checkpoints/model_int8.ckpt`` and reports every accuracy before and after, so "equal
  accuracy" is a measurement.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from omegaconf import OmegaConf

from bacuda_research.core.config import register_resolvers
from bacuda_research.core.io import write_text
from bacuda_research.hs.embedding import embed_texts
from bacuda_research.hs.module import HSLitModule
from bacuda_research.hs.models import resolve_encoder_path
from bacuda_research.hs.corpus import load_benchmark
from bacuda_research.hs.data import real_rows
from bacuda_research.hs.task import (attach_calibration, build_data, calibration_report, evaluate, evaluate_all,
                                     fit_calibration)
from bacuda_research.hs.tfidf import dequantize, int8_rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--int8", action="store_true", help="also measure (and write) the int8-table checkpoint")
    p.add_argument("--write-calibration", action="store_true", help="store the refitted temperature in model.ckpt")
    p.add_argument("--mixture-rows", choices=["all", "real"], default=None,
                   help="choose the mixture weights again on these val rows and store them in model.ckpt")
    args = p.parse_args(argv)
    register_resolvers()
    cfg = OmegaConf.load(args.run / ".hydra" / "config.yaml")
    ckpt = args.run / "checkpoints" / "model.ckpt"
    module = HSLitModule.from_checkpoint_file(ckpt)
    nom, splits, _, _ = build_data(cfg.data, int(cfg.seed))
    has_bench = bool(cfg.data.benchmark) and Path(cfg.data.benchmark).is_file()
    bench = load_benchmark(cfg.data.benchmark, nom) if has_bench else None
    sets = {k: splits[k] for k in ("val", "test", "real") if k in splits} | ({"bench": bench} if bench is not None else {})
    real_val = real_rows(splits["val"])  # the real goods descriptions among the validation rows (``val_real/...``)
    # A frozen pretrained encoder's vectors come from the run's cache; a trained one's are recomputed.
    frozen = bool(cfg.model.encoder) and int(cfg.model.trainable_layers) == 0
    cache = {"cache_dir": cfg.get("cache_dir"), "cache_id": str(resolve_encoder_path(cfg.model.encoder))} if frozen else {}
    pooled = {k: embed_texts(module.model, module.tokenizer_json, list(v["text"]), int(cfg.model.max_length), **cache)
              for k, v in sets.items()}
    lex = {k: module.featurizer().transform(list(v["text"])) for k, v in sets.items()} if module.has_lexical else {}

    def scores(m: HSLitModule) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {k: torch.cat([m.path_probs(pooled[k][s:s + 512], lex[k][s:s + 512] if lex else None)
                                  for s in range(0, len(df), 512)]) for k, df in sets.items()}

    def accuracies(probs: dict[str, torch.Tensor]) -> dict[str, float]:
        scored = [(probs[k], df, k) for k, df in sets.items()]
        if real_val.any():  # a slice of the val scores, not scored again
            scored.append((probs["val"][torch.from_numpy(real_val)], sets["val"][real_val], "val_real"))
        return {key: round(v, 5) for p, df, k in scored for key, v in evaluate(p, df, nom, k).items() if "acc@" in key}

    mixture = None
    if args.mixture_rows:
        mixture = rechoose_mixture(module, cfg, sets["val"], pooled["val"], lex.get("val"), nom, args.mixture_rows)
    probs = scores(module)
    old_t = (module.calibration or {}).get("temperature")
    fitted = fit_calibration(probs["val"], sets["val"], nom)
    temperature = fitted["temperature"]
    calib = {k: calibration_report(probs[k], df, nom, temperature) for k, df in sets.items() if k != "bench"}
    out = {"checkpoint": ckpt.name, "temperature_before": old_t, "calibration": fitted,
           "ece": {k: v["metrics"] for k, v in calib.items()}, "coverage": {k: v["coverage"] for k, v in calib.items()},
           "accuracy": accuracies(probs)}
    if mixture is not None:
        by_text = {t: probs[k][i] for k, df in sets.items() for i, t in enumerate(df["text"])}
        out["mixture"] = mixture
        out["metrics"], _ = evaluate_all(lambda texts: torch.stack([by_text[t] for t in texts]), nom, splits,
                                         bench, args.run, cfg.get("predictions_file"))
    if args.write_calibration or mixture is not None:
        attach_calibration(ckpt, out["calibration"] if args.write_calibration else None,
                           module.mix if mixture is not None else None)
    if args.int8:
        w = module.model.lexical.weight
        q, scale = int8_rows(w.detach().numpy())
        with torch.no_grad():
            w.copy_(torch.from_numpy(dequantize(q, scale)))
        after = accuracies(scores(module))
        state = torch.load(str(ckpt), map_location="cpu", weights_only=True)
        state["state_dict"]["model.lexical.weight"] = w.detach().clone()
        torch.save(state, str(ckpt.with_name("model_int8.ckpt")))
        diff = {k: round(after[k] - out["accuracy"][k], 5) for k in after}
        out["int8"] = {"checkpoint": "model_int8.ckpt", "accuracy": after, "after_minus_before": diff,
                       "max_abs_change": max(abs(v) for v in diff.values())}
        print(f"int8 table: max |change| of any accuracy {out['int8']['max_abs_change']:.5f}")
    write_text(args.output, json.dumps(out, indent=1) + "\n")
    print(f"temperature {old_t} -> {temperature:.3f} (Brier on val) -> {args.output}")
    return 0


def rechoose_mixture(module: HSLitModule, cfg, val, pooled_val: torch.Tensor, lex_val, nom, rows_cfg: str) -> dict:
    """``hs.train.choose_mixture`` on ``rows_cfg`` val rows (sets ``module.mix``; ``main`` stores it)."""
    from bacuda_research.hs.data import encode_labels
    from bacuda_research.hs.train import choose_mixture, mixture_rows

    before = [round(float(x), 4) for x in module.mix.tolist()]
    rows, rows_name = mixture_rows(val, rows_cfg)
    chosen = choose_mixture(module, pooled_val, lex_val, encode_labels(val, nom)[:, 2],
                            float(cfg.model.mixture.step), rows, rows_name)
    print(f"mixture {before} -> {chosen['weights']} (chosen on {rows_name}, {chosen['n']} rows)")
    return {"weights_before": before, **chosen}


if __name__ == "__main__":
    raise SystemExit(main())
