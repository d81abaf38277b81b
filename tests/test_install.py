"""The install contract: a light, torch-free base package; training behind the `train` extra."""

from __future__ import annotations

import importlib.util
import tomllib

import pytest

from bacuda_research.core.paths import REPO_ROOT as ROOT


def test_base_dependencies_are_torch_free_and_dev_has_everything():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    for heavy in ("torch", "lightning", "hydra", "transformers", "wandb"):
        assert heavy not in base, heavy
    extras = project["optional-dependencies"]
    assert any(d.startswith("torch") for d in extras["train"])
    assert "onnxruntime" in " ".join(extras["score"])
    assert "train" in " ".join(extras["dev"]) and "score" in " ".join(extras["dev"])


def test_training_command_without_the_train_extra_names_the_install_line(monkeypatch):
    from bacuda_research.cli import require_train_extra

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(SystemExit, match=r"bacuda-train needs the training stack \(torch not installed\).*\[train\]"):
        require_train_extra("bacuda-train")
