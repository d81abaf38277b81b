"""Resume after ``kill -9`` (SIMULATION.md 6.6, 7): ``bacuda-simulate`` runs in a subprocess, is killed
with SIGKILL once it has committed a few weeks, and is run again in the same folder. The resumed run's
``weeks.csv`` and selections equal those of a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.test_simulation import SMALL, run_sim

ROOT = Path(__file__).resolve().parents[1]
# APT carries state from week to week (bandit weights, its baseline, the RNG draws): the strictest case
OVERRIDES = (*SMALL, "strategy=apt", "simulation.weeks=9")


def _weeks_done(folder: Path) -> int:
    try:
        return int(json.loads((folder / "state.json").read_text())["weeks_done"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")
def test_resume_after_kill_9_gives_the_same_weeks(tmp_path):
    run_sim(tmp_path, *OVERRIDES[len(SMALL):], name="whole")
    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               WANDB_MODE="disabled", HF_HUB_OFFLINE="1")
    argv = [sys.executable, "-m", "bacuda_research.cli.simulate", *OVERRIDES, f"hydra.run.dir={killed}"]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while _weeks_done(killed) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the kill ({proc.returncode}): {err[-2000:]!r}"
    assert not (killed / "DONE").exists() and _weeks_done(killed) >= 2

    run_sim(tmp_path, *OVERRIDES[len(SMALL):], name="killed")  # the same config, run again: resumes
    assert (killed / "DONE").exists()
    assert (tmp_path / "whole" / "weeks.csv").read_bytes() == (killed / "weeks.csv").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "whole" / "selections.parquet"),
                                  pd.read_parquet(killed / "selections.parquet"))
