"""The fraud-detection task: rank declarations by illicit probability and recoverable revenue.

- ``task``: ``run_fraud(cfg, run_dir, loggers)``, what ``bacuda-train`` runs for the declarations models;
- ``evaluation``: val/test metrics from scores, per-declaration prediction frames;
- ``datamodule``: file -> validated frame -> time split -> features -> whole-split tensors;
- ``declared_data``: the data side through a declared schema (``data.schema``, ``data.files``), no-revenue rules;
- ``baselines``: random, risky, XGBoost, XGBoost+LR, XGBoost revenue;
- ``xgb_stage``: the cached XGBoost stage of DATE (boosters, leaf numbering, leaf rules);
- ``inputs``: leaf/importer/item tensors and revenue outputs (torch-free; shared with the runtime);
- ``network``: the DATE ``nn.Module``; ``attention_op``: its native CPU leaf self-attention as the custom op
  ``bacuda::leaf_self_attention``, over the C kernel of ``kernels``;
- ``module``: ``DATEModule`` (LightningModule); ``recipe``: ``fit_date``, the DATE training recipe;
- ``predictor``: ``DATEPredictor`` (score raw files from a run folder or checkpoint);
- ``explain``: leaves as decision rules (torch-free).
- ``staleness``: a model fitted once, its metrics per calendar period after training (drift checks).

``inputs``, ``xgb_stage`` and ``explain`` import no torch: the bundle runtime uses them.
"""
