"""The installed console scripts ``bacuda-train`` and ``bacuda-eval`` run once each, as a user runs
them: a subprocess per command, exit code, ``report.json`` and ``DONE`` checked.

The scripts are the ones installed next to this interpreter; ``PYTHONPATH`` makes them import the
tree under test (an editable install may point at another checkout).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("data.synthetic.rows=3000", "threads=1", "model.xgb.n_estimators=12", "model.xgb.max_depth=3")


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.update(WANDB_MODE="disabled", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env  # BACUDA_CACHE_DIR: the session's cache (tests/conftest.py)


def _script(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    assert path, f"{name} is not installed next to {sys.executable} (pip install -e '.[dev]')"
    return path


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{argv[0]} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_scripts_import_the_tree_under_test(tmp_path):
    out = _run([sys.executable, "-c", "import bacuda_research; print(bacuda_research.__file__)"], tmp_path)
    assert Path(out.stdout.strip()).resolve().is_relative_to(ROOT)


@pytest.mark.slow
def test_bacuda_train_then_bacuda_eval(tmp_path):
    train_dir, eval_dir = tmp_path / "train", tmp_path / "eval"
    _run([_script("bacuda-train"), "debug=fast", *SMALL, f"hydra.run.dir={train_dir}"], tmp_path)
    assert (train_dir / "DONE").exists() and (train_dir / "checkpoints" / "best.ckpt").exists()
    report = json.loads((train_dir / "report.json").read_text())
    assert report["config"]["model"]["name"] == "date" and report["config"]["trainer"]["max_epochs"] == 1
    assert report["device"]["torch_threads"] == 1 and report["hydra_choices"]["debug"] == "fast"

    _run([_script("bacuda-eval"), f"model_path={train_dir}", "data=synthetic", "data.synthetic.rows=3000",
          "data.max_rows=4000", "threads=1", f"hydra.run.dir={eval_dir}"], tmp_path)
    assert (eval_dir / "DONE").exists() and (eval_dir / "predictions.csv").exists()
    ev = json.loads((eval_dir / "report.json").read_text())
    # the checkpoint scores the same test rows as at the end of training
    for key in ("test/auc", "test/precision@5", "test/revenue@5"):
        assert ev["metrics"][key] == pytest.approx(report["metrics"][key], abs=1e-9), key
