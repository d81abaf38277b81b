"""bacuda_research: deep-learning research framework for customs data analytics.

Rooms: ``data/`` (schema, validation, features, datamodules), ``models/`` (nn.Modules and the
XGBoost stage), ``modules/`` (LightningModules), ``metrics/``, ``hs/`` (HS-code classification),
``cli/`` (console entry points). Heavy libraries are imported lazily so that CLIs start fast.
"""

__version__ = "0.1.0"
