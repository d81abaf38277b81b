"""Round a trained HS run's lexical bag table to int8 rows and measure what that changes.

    python scripts/hs_requantize.py experiments/hs/real/hs_minilm_s0 --output experiments/hs/real/hs_minilm_s0/int8.json

Runs trained before ``hs.train.prune_lexical`` rounded to int8 (float16 rounding) keep a table a
bundle stores in float16. This writes ``checkpoints/model_int8.ckpt`` (the same model, every used
row as int8 codes times a float32 scale, so a bundle of it stores int8 and scores exactly like it)
and a JSON with the metrics of both checkpoints on the run's own val, test, real-description and
smoke-set rows (the same splits: the run's config and seed), so "equal accuracy" is a measurement.
Uses the run's embedding cache (``cache_dir``); the encoder is frozen, so vectors are the same.
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
from bacuda_research.hs.task import _benchmark, build_data, evaluate
from bacuda_research.hs.tfidf import dequantize, int8_rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    register_resolvers()
    cfg = OmegaConf.load(args.run / ".hydra" / "config.yaml")
    ckpt = args.run / "checkpoints" / "model.ckpt"
    module = HSLitModule.from_checkpoint_file(ckpt)
    nom, splits, _, _ = build_data(cfg.data, int(cfg.seed))
    bench = _benchmark(cfg.data, nom)
    sets = {k: splits[k] for k in ("val", "test", "real") if k in splits} | ({"bench": bench} if bench is not None else {})
    folder = str(resolve_encoder_path(cfg.model.encoder))
    pooled = {k: embed_texts(module.model, module.tokenizer_json, list(v["text"]), int(cfg.model.max_length),
                             cache_dir=cfg.get("cache_dir"), cache_id=folder) for k, v in sets.items()}
    lex = {k: module.featurizer().transform(list(v["text"])) for k, v in sets.items()}

    def metrics(m: HSLitModule) -> dict[str, float]:
        out: dict[str, float] = {}
        with torch.no_grad():
            for k, df in sets.items():
                probs = torch.cat([m.path_probs(pooled[k][s:s + 512], lex[k][s:s + 512])
                                   for s in range(0, len(df), 512)])
                out.update({key: round(v, 5) for key, v in evaluate(probs, df, nom, k).items() if "acc@" in key})
        return out

    before = metrics(module)
    w = module.model.lexical.weight
    q, scale = int8_rows(w.detach().numpy())
    with torch.no_grad():
        w.copy_(torch.from_numpy(dequantize(q, scale)))
    after = metrics(module)
    state = torch.load(str(ckpt), map_location="cpu", weights_only=True)
    state["state_dict"]["model.lexical.weight"] = w.detach().clone()
    out_ckpt = ckpt.with_name("model_int8.ckpt")
    torch.save(state, str(out_ckpt))
    diff = {k: round(after[k] - before[k], 5) for k in before}
    write_text(args.output, json.dumps({"checkpoint": str(ckpt.name), "int8_checkpoint": out_ckpt.name,
                                        "before": before, "after": after, "after_minus_before": diff,
                                        "max_abs_change": max(abs(v) for v in diff.values())}, indent=1) + "\n")
    print(f"max |change| of any accuracy: {max(abs(v) for v in diff.values()):.5f} -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
