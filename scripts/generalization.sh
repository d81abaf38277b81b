#!/usr/bin/env bash
# Does the DATE ordering hold on data never tuned on? Our own generator at several data seeds (one
# seed per file), through the same command a user runs on a new file (data.path=...), in both
# risk-flag modes, with the two revenue baselines every revenue claim is measured against.
#   bash scripts/generalization.sh 11 12 13 14      # resumable: a run folder with DONE is skipped
#   python scripts/make_table.py experiments/generalization --group data.path model.name model.revenue_ranking
#   python scripts/revenue_compare.py --generalization --threads 1   # paired bootstrap per file
# Folders: gen<seed>/<model> (reference flags), gen<seed>/<model>_oof (out-of-fold flags);
# gen<seed>/date_head is the reference-flag DATE ranked by its revenue head (the paper's DATE_REV);
# DATE's test_scores.parquet carries that head's score for every DATE run (column revenue_head).
set -euo pipefail
cd "$(dirname "$0")/.."
out=experiments/generalization
train() {  # train DIR ARGS...: one run unless DIR is done already
  local dir=$1; shift
  if [ -f "$dir/DONE" ]; then echo "done: $dir"; return; fi
  bacuda-train "$@" data.path="$file" hydra.run.dir="$dir"
}
for s in "${@:-11 12 13 14}"; do
  file=$(python -c "from bacuda_research.declarations.synthetic import synthetic_file; print(synthetic_file('.cache/bacuda_research', rows=100000, seed=$s))")
  for flags in reference out_of_fold; do
    sfx=$([ "$flags" = reference ] && echo "" || echo "_oof")
    exp=$([ "$flags" = reference ] && echo date_synthetic || echo date_synthetic_oof)
    train $out/gen$s/date$sfx experiment=$exp threads=1 trainer.enable_progress_bar=false \
      predictions_file=null scores_file=test_scores.parquet
    for m in xgboost xgb_lr xgb_revenue xgb_expected largest; do
      train $out/gen$s/$m$sfx experiment=date_synthetic_baselines model=$m features.risk_flags=$flags threads=1
    done
  done
  # the same network with DATE_REV ranked by the revenue head, as in the paper (model.revenue_ranking=head)
  train $out/gen$s/date_head experiment=date_synthetic threads=1 trainer.enable_progress_bar=false \
    predictions_file=null model.revenue_ranking=head
done
