"""The inspection-selection simulation (``bacuda-simulate``; docs/simulation.md).

Every week a customs office inspects a budget of the new declarations and only what it inspects
gets a label. ``Simulator`` replays a labeled dataset that way: a ``LabelOracle`` holds the labels
and reveals them only for the selected declarations, strategies (random, risky, largest, XGBoost,
XGB+LR, DATE and the DATE-based explorers BADGE/bATE/gATE, fixed hybrids, and the bandit mixers
APT/ADAPT) choose the week's inspections from label-free batches, and the run folder records the
weekly metrics (normalised by the oracle bounds), the selections and the state to resume from.
"""
