"""HS-code classification: free-text goods descriptions -> ranked HS2/HS4/HS6 suggestions.

Rooms (each file readable in one sitting):

- ``nomenclature``: the HS 2022 label space (codes, texts, parent links) and code normalisation.
- ``text``: input composition (title + attributes + category), normalisation, noisy-title augmentation.
- ``corpus``: training corpora (HS 2022 texts, EU CN chains, any (text, code) file), the grouped split.
- ``tokenization``: WordPiece training (``tokenizers``) and loading a pretrained tokenizer.
- ``models``: ``HSClassifier`` (plain ``nn.Module``: Hugging Face encoder + HS2/HS4/HS6 heads).
- ``decoding``: hierarchy-consistent joint scoring of HS2 -> HS4 -> HS6 paths, kNN class scores.
- ``metrics``: top-k accuracy and macro-F1 per level (torchmetrics).
- ``module``: ``HSLitModule`` (losses, metrics, optimizers; checkpoint that describes itself).
- ``baselines``: TF-IDF + logistic regression, TF-IDF kNN, MiniLM kNN.
- ``predict``: ``HSPredictor`` behind ``bacuda-hs`` (run folder / ``.ckpt`` / bundle hook).
- ``pipeline``: ``run_hs(cfg, run_dir, loggers)``, what ``bacuda-train`` calls for ``model.family=hs``.
- ``synthetic``: generated nomenclature-shaped fixtures, so tests run without ``../shared``.

Heavy imports (torch, transformers) stay inside the modules that need them, so ``bacuda-hs``
starts quickly and ``import bacuda_research.hs`` costs nothing.
"""
