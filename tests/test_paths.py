"""Where files are found (README "Where files are found", ``bacuda_research.core.paths``).

The order is checked with a fake checkout / fake installed package; the last test builds the wheel
from the committed files and runs it from outside any checkout, as ``pip install .`` would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bacuda_research.core import paths

ENV = ("BACUDA_CONF_DIR", "BACUDA_PROJECT_DIR", "BACUDA_SHARED_DIR")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A checkout at tmp/repo (package in tmp/repo/bacuda_research), an installed copy at
    tmp/site-packages/bacuda_research, no env vars, working directory tmp/work/run."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    repo = tmp_path / "repo"
    (repo / "conf").mkdir(parents=True)
    (repo / "conf" / "train.yaml").write_text("seed: 0\n")
    (repo / "pyproject.toml").write_text("[project]\n")
    (repo / "bacuda_research").mkdir()
    installed = tmp_path / "site-packages" / "bacuda_research"
    (installed / "conf").mkdir(parents=True)
    cwd = tmp_path / "work" / "run"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    return {"tmp": tmp_path, "repo": repo, "installed": installed, "cwd": cwd}


def as_checkout(monkeypatch, fake) -> None:
    monkeypatch.setattr(paths, "PACKAGE_DIR", fake["repo"] / "bacuda_research")
    monkeypatch.setattr(paths, "CHECKOUT", paths.find_checkout(fake["repo"] / "bacuda_research"))


def as_installed(monkeypatch, fake) -> None:
    monkeypatch.setattr(paths, "PACKAGE_DIR", fake["installed"])
    monkeypatch.setattr(paths, "CHECKOUT", paths.find_checkout(fake["installed"]))


def test_a_checkout_is_recognised_and_an_installed_copy_is_not(fake):
    assert paths.find_checkout(fake["repo"] / "bacuda_research") == fake["repo"]
    assert paths.find_checkout(fake["installed"]) is None
    (fake["repo"] / "conf" / "train.yaml").unlink()  # a folder with a pyproject.toml is not enough
    assert paths.find_checkout(fake["repo"] / "bacuda_research") is None


def test_configs_env_then_checkout_then_packaged(fake, monkeypatch):
    as_checkout(monkeypatch, fake)
    assert paths.conf_dir() == fake["repo"] / "conf"
    as_installed(monkeypatch, fake)
    assert paths.conf_dir() == fake["installed"] / "conf"
    monkeypatch.setenv("BACUDA_CONF_DIR", "my_conf")  # relative: against the working directory
    assert paths.conf_dir() == fake["cwd"] / "my_conf"
    as_checkout(monkeypatch, fake)
    assert paths.conf_dir() == fake["cwd"] / "my_conf"


def test_project_folder_env_then_checkout_then_working_directory(fake, monkeypatch):
    as_checkout(monkeypatch, fake)
    assert paths.project_dir() == fake["repo"]
    as_installed(monkeypatch, fake)
    assert paths.project_dir() == fake["cwd"]
    monkeypatch.setenv("BACUDA_PROJECT_DIR", str(fake["tmp"] / "proj"))
    assert paths.project_dir() == fake["tmp"] / "proj"


def test_shared_env_alone_when_set(fake, monkeypatch):
    as_checkout(monkeypatch, fake)
    (fake["tmp"] / "shared").mkdir()  # exists beside the checkout, and still not used
    monkeypatch.setenv("BACUDA_SHARED_DIR", str(fake["tmp"] / "elsewhere"))
    assert paths.shared_candidates() == [fake["tmp"] / "elsewhere"]
    assert paths.shared_path("data/x.csv") == fake["tmp"] / "elsewhere" / "data" / "x.csv"


def test_shared_beside_the_checkout_then_cwd_then_parent(fake, monkeypatch):
    tmp, cwd = fake["tmp"], fake["cwd"]
    as_checkout(monkeypatch, fake)
    assert paths.shared_candidates() == [tmp / "shared", cwd / "shared", cwd.parent / "shared"]
    assert paths.shared_dir() == tmp / "shared"  # none exists: the first candidate, so errors name it
    (cwd.parent / "shared").mkdir()
    assert paths.shared_dir() == cwd.parent / "shared"
    (cwd / "shared").mkdir()
    assert paths.shared_dir() == cwd / "shared"
    (tmp / "shared").mkdir()
    assert paths.shared_dir() == tmp / "shared"
    as_installed(monkeypatch, fake)  # no checkout: the working directory's ./shared, then ../shared
    assert paths.shared_candidates() == [cwd / "shared", cwd.parent / "shared"]
    assert paths.shared_dir() == cwd / "shared"


def _git_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout:
        pytest.skip(f"not a git checkout: {root}")
    return [f for f in out.stdout.split("\0") if f and (root / f).is_file()]


def test_the_wheel_ships_the_configs_and_runs_outside_a_checkout(tmp_path):
    """Build the wheel from the committed files (as ``pip install .`` does; ~5 s), check it holds
    every conf/ YAML and the kernel source, and compose a config from it in a folder that is no
    checkout: packaged configs, working directory as project folder, no git SHA."""
    if paths.CHECKOUT is None:
        pytest.skip("runs from a checkout (builds the wheel from its files)")
    src = tmp_path / "src"
    files = _git_files(paths.CHECKOUT)
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(paths.CHECKOUT / f, src / f)
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", str(wheels), str(src)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("bacuda_research-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    confs = [f for f in files if f.startswith("conf/") and f.endswith(".yaml")]
    assert len(confs) > 30
    missing = [f for f in confs if f"bacuda_research/{f}" not in names]
    assert not missing, f"conf files not in the wheel: {missing}"
    kernels = [f for f in files if f.startswith("bacuda_research/fraud/kernels/") and f.endswith(".c")]
    assert kernels and all(k in names for k in kernels)

    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    run = tmp_path / "somewhere"
    run.mkdir()
    probe = (
        "import json; from omegaconf import OmegaConf; from bacuda_research.core import paths;"
        "from bacuda_research.core.config import compose; from bacuda_research.core.runtime import git_sha;"
        "cfg = compose(['experiment=date_synthetic_no_fusion']);"
        "print(json.dumps({'checkout': str(paths.CHECKOUT), 'conf': str(paths.CONF_DIR),"
        " 'project': str(paths.project_dir()), 'git_sha': git_sha(), 'fusion': cfg.model.net.fusion,"
        " 'trees': cfg.model.xgb.n_estimators}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ENV and k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=run, env={**env, "PYTHONPATH": str(site)},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"checkout": "None", "conf": str(site / "bacuda_research" / "conf"), "project": str(run),
                   "git_sha": None, "fusion": False, "trees": 50}
