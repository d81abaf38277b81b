"""Shared fixtures. Tests run in-process (composing conf/ with Hydra's compose API) because
every subprocess pays ~5-9 s of imports here."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATE_FILE = "data/date-synthetic/surrogate-imports-declarations.csv"


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory) -> Path:
    """One cache (generated data, XGBoost stages) per test session, never the user's."""
    path = tmp_path_factory.mktemp("bacuda_cache")
    os.environ["BACUDA_CACHE_DIR"] = str(path)
    return path


@pytest.fixture
def compose_small():
    """Compose the train config on small synthetic data, CSV logging only."""
    from bacuda_research.core.config import compose

    def _compose(*overrides: str):
        other_data = any(o.startswith("data=") and o != "data=synthetic" for o in overrides)
        small = [] if other_data else ["data.synthetic.rows=6000"]
        return compose(["logger=csv", *small, *overrides])

    return _compose


# a tiny DATE run (1 epoch, two boosters, dense branch): trained once per session, exported to a bundle
TINY_DATE = ("model=date", "data.synthetic.rows=3000", "trainer.max_epochs=1", "model.xgb.n_estimators=12",
             "model.xgb.max_depth=3", "model.xgb_revenue.n_estimators=4", "model.net.dense=true",
             "data.batch_size=128", "trainer.enable_progress_bar=false", "threads=1")


@pytest.fixture(scope="session")
def tiny_date_export(tmp_path_factory):
    """(run folder, report, bundle folder, manifest) of a tiny DATE run; tests copy before changing them."""
    from bacuda_research.bundle.export import export_model
    from bacuda_research.core.config import compose
    from bacuda_research.run import run

    root = tmp_path_factory.mktemp("date_export")
    report = run(compose(["logger=csv", *TINY_DATE]), root / "run")
    manifest = export_model(root / "run", root / "bundle")
    return root / "run", report, root / "bundle", manifest


def shared_file(relative: str) -> Path:
    """A shared data file, or skip the test with the reason."""
    from bacuda_research.core.paths import shared_path

    path = shared_path(relative)
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (set BACUDA_SHARED_DIR or place ../shared beside the repo)")
    return path


# ---------------------------------------------------------------------------------------- strict mode
# CI has everything a test may need (a C compiler, ../shared, the MiniLM package): there a skip means
# something broke (e.g. a compile error in our own kernel source, a moved data file), so
# BACUDA_TEST_STRICT=1 (.ci/run sets it) turns every skip into a failure that keeps its reason.
STRICT = os.environ.get("BACUDA_TEST_STRICT") == "1"


def _strict(rep) -> None:
    if STRICT and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"skipped, but BACUDA_TEST_STRICT=1 expects everything here: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _strict(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _strict(outcome.get_result())


def rehash_bundle(folder: Path, extra: dict | None = None) -> None:
    """Recompute a bundle's manifest entries after a test tampered with its files (what an attacker
    who can edit the folder would do); ``extra`` adds or replaces entries as given."""
    import hashlib
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    for rel, meta in manifest["files"].items():
        if isinstance(meta, dict) and (folder / rel).is_file():
            data = (folder / rel).read_bytes()
            meta.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest["files"].update(extra or {})
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def score_input(report: dict, path: Path, rows: int = 40) -> Path:
    """A small declarations file (labels dropped) from a run's own data."""
    import pandas as pd

    pd.read_csv(report["data"]["path"], dtype=str).drop(columns=["illicit", "revenue"]).head(rows).to_csv(path, index=False)
    return path
