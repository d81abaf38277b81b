"""Bundles for deployment: export a trained run (``bacuda-export``) and score it without torch
(``bacuda-score``).

- ``format``: atomic bundle writing, the manifest (sha256 per file), verification (torch-free);
- ``export``: ``export_model(run, outdir)`` for a DATE or HS run; ``date_export``/``hs_export`` per task;
- ``runtime``: ``load_bundle(folder)``; ``date_runtime``/``hs_runtime`` score with ONNX Runtime,
  XGBoost and this package's torch-free feature code (``onnx``: the session helper);
- ``card``: the Markdown model card; ``common``: training record, versions, the ONNX export call.

The runtime modules import none of torch, Lightning, Hydra or transformers (a test runs them with
``import torch`` failing).
"""
