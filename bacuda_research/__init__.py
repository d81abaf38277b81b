"""bacuda_research: deep-learning research framework for customs data analytics.

One folder per task, imports one way. A module may import from its own folder and from the
folders listed before its own tier, never after (function-local imports included;
``tests/test_imports.py`` parses every module and checks it):

1. ``core``          paths, config composition and resolvers, atomic I/O, ``report.json``, runtime
                     (seeds, threads, versions), Lightning helpers, ``TaskResult``, config identity,
                     the run-folder/checkpoint resolver
2. ``metrics``       selection metrics (Precision/Recall/F1/Revenue at the top n%, AUC)
3. ``declarations``  torch-free data domain: schema and validation, quality report, anonymisation,
                     DATE features, time split, the synthetic generator
4. ``fraud`` | ``hs`` the two tasks, siblings that never import each other: fraud detection (data
                     module, baselines, XGBoost tree stage, DATE network and its native kernel,
                     LightningModule and recipe, predictor, explanations) and HS classification
5. ``simulation``    the inspection-selection simulation: weekly budgets, labels revealed only for
                     what was inspected, selection strategies built on the fraud models, bandits
6. ``bundle``        bundle format, ONNX, model card, export and the torch-free runtime per task
7. ``run``           the spine: ``run(cfg, run_dir)`` and the registry of task runners
8. ``bench``         benchmark suites, result tables and plots
9. ``cli``           thin console entry points

Heavy libraries (torch, Lightning, transformers) are imported inside the functions that need them
where that buys start-up time, so the CLIs and the torch-free scoring runtime start fast.
"""

__version__ = "0.1.0"

# The import order above, as data (tiers; folders in one tier may not import each other).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",), ("metrics",), ("declarations",), ("fraud", "hs"), ("simulation",), ("bundle",), ("run",), ("bench",), ("cli",),
)
