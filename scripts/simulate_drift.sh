#!/usr/bin/env bash
# The drift runs of experiments/simulation/synthetic_drift/ and synthetic_nodrift/ (docs/simulation.md):
# the ICDMW protocol (10% of every week, 50 weeks) on the embedded generator with its concept drift on
# (data=synthetic_drift) and, as the control, off (data=synthetic); threads=1, seeds 0..2.
# Finished runs (DONE) are skipped, killed ones resume.
#   bash scripts/simulate_drift.sh xgboost random xgb_random apt adapt   # these strategies
set -euo pipefail
cd "$(dirname "$0")/.."
strategies=("${@:-xgboost random xgb_random apt adapt}")
for strategy in ${strategies[@]}; do
  for data in synthetic_drift synthetic; do
    folder="$data"; [ "$data" = synthetic ] && folder=synthetic_nodrift
    for seed in 0 1 2; do
      python -m bacuda_research.cli.simulate data="$data" strategy="$strategy" plan=constant \
        plan.final_rate=10 simulation.weeks=50 seed="$seed" threads=1 \
        hydra.run.dir="experiments/simulation/${folder}/${strategy}-s${seed}"
    done
  done
done
