"""Model cards (``MODEL_CARD.md``) for bundles: intended use, data, metrics, parity, limits.

Everything in a card comes from the manifest fields (training report, export-time parity check),
so the card states only what the bundle can back up.
"""

from __future__ import annotations

from typing import Any, Mapping

DATE_METRICS = ("test/precision@1", "test/precision@2", "test/precision@5", "test/precision@10",
                "test/revenue@1", "test/revenue@5", "test/revenue@10", "test/auc",
                "test/rev/revenue@1", "test/rev/revenue@10")
HS_METRICS = ("test/hs6/acc@1", "test/hs6/acc@5", "test/hs4/acc@1", "test/hs2/acc@1", "test/hs6/macro_f1",
              "bench/all/hs6/acc@1", "bench/all/hs6/acc@5", "bench/all/hs2/acc@1")


def _metrics_table(metrics: Mapping[str, Any] | None, keys: tuple[str, ...]) -> str:
    if not metrics:
        return "No training report was found next to the checkpoint: metrics unknown.\n"
    rows = [(k, metrics[k]) for k in keys if metrics.get(k) is not None]
    if not rows:
        return "The training report holds none of the headline metrics.\n"
    lines = ["| metric | value |", "|---|---:|"] + [f"| {k} | {float(v):.4f} |" for k, v in rows]
    return "\n".join(lines) + "\n\nAll metrics of the run are in `manifest.json` (`training.metrics`).\n"


def _common(fields: Mapping[str, Any]) -> dict[str, str]:
    t = fields["training"]
    cfg = t.get("config") or {}
    data_name = (cfg.get("data") or {}).get("name", "unknown")
    parity = fields["parity"]
    diffs = ", ".join(f"{k} {v:.2e}" for k, v in parity["max_abs_diff"].items())
    return {
        "created": fields["created"], "data_name": data_name, "data_sha256": t.get("data_sha256") or "unknown",
        "git_sha": t.get("git_sha") or "unknown", "seed": str(t.get("seed", "unknown")),
        "ckpt": f"{t['checkpoint']['file']} (sha256 {t['checkpoint']['sha256']})",
        "parity": f"{parity['inputs']}: max |ONNX Runtime - PyTorch| {diffs} (tolerance {parity['tolerance']:g}).",
        "choices": ", ".join(f"{k}={v}" for k, v in (t.get("hydra_choices") or {}).items()) or "n/a",
    }


def date_card(fields: Mapping[str, Any], features: Mapping[str, Any], predictor: Any) -> str:
    c = _common(fields)
    t = fields["training"]
    split = t.get("data") or {}
    split_lines = "".join(
        f"- {s}: {v['rows']} declarations, illicit rate {v['illicit_rate']:.3f}, {v['first_date']} to {v['last_date']}\n"
        for s, v in split.items() if isinstance(v, dict) and "rows" in v)
    m = fields["model"]
    net = m["net"]
    return f"""# DATE fraud-detection model (bacuda_research bundle)

Exported {c['created']} from checkpoint {c['ckpt']}; code {c['git_sha']}, seed {c['seed']}, choices: {c['choices']}.

## Model
DATE (Kim et al., KDD 2020): an XGBoost tree stage ({m['trees']} trees, {m['leaves'] - 1} leaves reached in
training) whose leaves are embedded (dim {net.get('dim')}), self-attended and pooled with importer/item-aware
attention, then two heads: the illicit logit (ranking) and the revenue score.

- network settings: {', '.join(f'{k}={v}' for k, v in net.items())}
- risk flags: {features.get('risk_flags')}; {len(features.get('importer_vocab', {}))} importers and
  {len(features.get('item_vocab', {}))} tariff codes known from training

## Intended use
Ranking customs import declarations for inspection: officers look at the top n% by `rank`
(illicit logit) or `revenue_rank`; `explanation` gives the decision rules of the leaves the model
attended to most. A decision-support score, not a decision: every selection needs an officer.

## Data
Training data: `{c['data_name']}` (sha256 `{c['data_sha256']}`), split by declaration date:
{split_lines or '- split sizes unknown (no training report)'}
Input files must follow the training schema (`scoring.json`: column mapping, date format
`{predictor.schema.date_format}`, {predictor.schema.tariff_digits}-digit tariff codes); they are validated with
the training rules and refused with an error naming file, column and rows.

## Metrics (test split of the training run)
{_metrics_table(t.get('metrics'), DATE_METRICS)}
## Export parity
{c['parity']}

## Limits
- Scores are relative: ranks compare declarations within one scored file, and the precision/revenue
  figures above hold for data like the training data only. Retrain when trade patterns drift.
- Importers and tariff codes unseen in training get the "unseen" embedding (index 0), and leaves
  never reached in training get a zero embedding: such rows are scored from the remaining signal.
- Risk flags and vocabularies are frozen at training time (`features.json`, `vocabularies.json`).
- The bundle contains training identifiers (importer ids, risky office/declarant/importer
  categories): treat it as confidential as the training data.
- The manifest proves integrity (sha256 per file), not authorship: record the sha256 of
  `manifest.json` when you receive a bundle.

## Use
    pip install bacuda_research[score]
    bacuda-score BUNDLE declarations.csv scores.csv     # or .parquet / .jsonl
"""


def hs_card(fields: Mapping[str, Any], n_classes: Mapping[int, int], encoder: str, retrieval: bool,
            lexical: Mapping[str, Any] | None = None) -> str:
    c = _common(fields)
    lex = ""
    if lexical:
        lex = (f"\nLexical side: hashed TF-IDF of word 1-2-grams and character 3-5-grams ({lexical['features']:,} "
               "buckets, IDF from training)"
               + (f"; a {lexical['dim']}-wide bag of n-gram embeddings joined to the encoder vector before the heads"
                  if lexical["dim"] else "")
               + (f"; a kNN vote over {lexical['index_rows']:,} training texts' TF-IDF rows" if lexical["index_rows"] else "")
               + " (`lexical.safetensors`).")
    mix = (fields.get("model") or {}).get("mix")
    if mix:
        lex += (f"\nFinal HS6 probabilities: {mix['heads']:.2f} x heads + {mix['embedding_knn']:.2f} x embedding kNN + "
                f"{mix['lexical_knn']:.2f} x lexical kNN (weights chosen on the validation split at training).")
    t = fields["training"]
    counts = (t.get("data") or {}).get("counts") or {}
    count_lines = "".join(f"- {k}: {v}\n" for k, v in counts.items())
    return f"""# HS-code classifier (bacuda_research bundle)

Exported {c['created']} from checkpoint {c['ckpt']}; code {c['git_sha']}, seed {c['seed']}, choices: {c['choices']}.

## Model
A transformer encoder ({encoder}) with mean/CLS pooling and three heads (HS2: {n_classes[2]}, HS4:
{n_classes[4]}, HS6: {n_classes[6]} classes), decoded as whole HS2 -> HS4 -> HS6 paths
{'mixed with a kNN vote over training vectors (`retrieval.safetensors`)' if retrieval else '(no retrieval vote)'}.{lex}

## Intended use
Suggesting HS6 codes for free-text goods descriptions (with optional attributes and category path),
top-k with path probabilities and nomenclature texts, for a classification officer to confirm.

## Data
Training data: `{c['data_name']}` (sha256 `{c['data_sha256']}`).
{count_lines}
## Metrics (from the training run)
{_metrics_table(t.get('metrics'), HS_METRICS)}
## Export parity
{c['parity']}

## Limits
- Only codes of the bundled nomenclature (`labels.json`) can be suggested; national codes beyond
  HS6 are out of scope.
- Inputs longer than the token cap are truncated; languages and text styles absent from training
  are weaker.
- The probabilities are model confidences, not calibrated error rates.
- The manifest proves integrity (sha256 per file), not authorship.

## Use
    pip install bacuda_research[score]
    bacuda-score BUNDLE descriptions.csv suggestions.jsonl     # a 'text' column; top-5 by default
"""
