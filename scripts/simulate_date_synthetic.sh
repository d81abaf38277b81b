#!/usr/bin/env bash
# The date_synthetic simulation runs of experiments/simulation/date_synthetic/ (docs/simulation.md):
# the papers' protocol (fast-linear plan 100% -> 10%, 50 weeks, 31 days of history, 28-day
# validation), threads=1, seeds 0..2. Finished runs (DONE) are skipped, killed ones resume.
#   bash scripts/simulate_date_synthetic.sh random risky largest xgboost xgb_lr   # these strategies
set -euo pipefail
cd "$(dirname "$0")/.."
strategies=("${@:-random risky largest xgboost xgb_lr}")
for strategy in ${strategies[@]}; do
  for seed in 0 1 2; do
    python -m bacuda_research.cli.simulate data=date_synthetic strategy="$strategy" plan=fast_linear \
      simulation.weeks=50 seed="$seed" threads=1 \
      hydra.run.dir="experiments/simulation/date_synthetic/${strategy}-s${seed}"
  done
done
