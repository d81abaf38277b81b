#!/usr/bin/env bash
# Does the DATE ordering hold on data never tuned on? Our own generator at several data seeds,
# through the same command a user runs on a new file (experiment=date_synthetic data.path=...).
#   bash scripts/generalization.sh 11 12 13
#   python scripts/make_table.py experiments/generalization --group data.path model.name model.revenue_ranking
set -euo pipefail
cd "$(dirname "$0")/.."
out=experiments/generalization
for s in "${@:-11 12 13}"; do
  file=$(python -c "from bacuda_research.declarations.synthetic import synthetic_file; print(synthetic_file('.cache/bacuda_research', rows=100000, seed=$s))")
  bacuda-train experiment=date_synthetic data.path="$file" threads=1 trainer.enable_progress_bar=false \
    predictions_file=null hydra.run.dir=$out/gen$s/date
  # the same network with DATE_REV ranked by the revenue head, as in the paper (model.revenue_ranking=head)
  bacuda-train experiment=date_synthetic data.path="$file" threads=1 trainer.enable_progress_bar=false \
    predictions_file=null model.revenue_ranking=head hydra.run.dir=$out/gen$s/date_head
  for m in xgboost xgb_lr xgb_revenue; do
    bacuda-train experiment=date_synthetic_baselines model=$m data.path="$file" hydra.run.dir=$out/gen$s/$m
  done
done
