#!/usr/bin/env bash
# Regenerate the committed DATE tables from the run reports, then the README results section.
#   bash scripts/make_date_tables.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
d=experiments/date_synthetic
$py scripts/make_table.py $d/date --group experiment model.name features.risk_flags \
  --experiments date_synthetic date_synthetic_oof date_synthetic_paper --out $d/date_table \
  --title "DATE on the shared DATE-schema file (DATE reference split; date_rev = the same checkpoint ranked by the revenue head)"
$py scripts/make_table.py $d/baselines --out $d/baselines_table \
  --title "Baselines on the shared DATE-schema file (DATE reference split, 5 seeds)"
$py scripts/make_table.py $d/date --group experiment model.name \
  --experiments date_synthetic date_synthetic_no_self_attention date_synthetic_no_attention_network \
  date_synthetic_no_fusion date_synthetic_no_revenue --out $d/ablations_table \
  --metrics test/precision@1 test/precision@2 test/precision@5 test/precision@10 test/revenue@1 test/revenue@2 test/revenue@5 test/revenue@10 test/auc \
  --title "DATE ablations (reference risk flags)"
if [ -d experiments/generalization ]; then
  $py scripts/make_table.py experiments/generalization --group data.path model.name --out experiments/generalization/table \
    --metrics test/precision@1 test/precision@5 test/revenue@1 test/revenue@2 test/revenue@5 test/revenue@10 test/auc \
    --title "Other data: our generator at data seeds 11-13 (100k rows each), experiment=date_synthetic data.path=... (reference flags)"
fi
$py scripts/readme_results.py
