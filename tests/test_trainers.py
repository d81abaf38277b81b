"""trainer=cpu|gpu|ddp and trainer.compile: every GPU setting runs through the same code on CPU."""

from __future__ import annotations

import pytest
import torch

from bacuda_research.core.config import compose
from bacuda_research.fraud.module import DATEModule
from bacuda_research.core.training import NOT_TRAINER_KEYS, build_trainer, compile_network


def _module() -> DATEModule:
    torch.manual_seed(0)
    return DATEModule(net={"n_leaves": 64, "n_trees": 10, "n_importers": 20, "n_items": 15, "dim": 8, "heads": 2})


def _batch(n: int = 48) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    illicit = (torch.rand(n, generator=g) < 0.3).float()
    return {"leaves": torch.randint(0, 64, (n, 10), generator=g).to(torch.int16),
            "importer": torch.randint(0, 20, (n,), generator=g), "item": torch.randint(0, 15, (n,), generator=g),
            "illicit": illicit, "revenue": illicit * 10, "revenue_norm": illicit * 0.5, "row": torch.arange(n)}


class _Batches(torch.utils.data.IterableDataset):
    def __iter__(self):
        for _ in range(3):
            yield _batch()


@pytest.mark.parametrize("name,precision,strategy", [("cpu", "32-true", None), ("gpu", "bf16-mixed", None),
                                                     ("ddp", "32-true", "ddp")])
def test_trainer_configs_compose_and_build(tmp_path, name, precision, strategy):
    cfg = compose([f"trainer={name}", "logger=csv"])
    assert cfg.trainer.precision == precision and cfg.trainer.get("strategy") == strategy
    assert cfg.trainer.accelerator == "auto" and set(NOT_TRAINER_KEYS) <= set(cfg.trainer)
    overrides = {"devices": 1, "strategy": "auto"} if strategy else {}
    trainer = build_trainer(cfg, tmp_path, False, **overrides)  # our keys never reach pl.Trainer
    assert trainer.precision == precision


def test_bf16_mixed_trains_on_cpu(tmp_path):
    # trainer=gpu's precision through the same module on CPU (autocast to bfloat16)
    cfg = compose(["trainer=gpu", "logger=csv"])
    module = _module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    trainer = build_trainer(cfg, tmp_path, False, accelerator="cpu", max_steps=3, enable_checkpointing=False,
                            enable_progress_bar=False, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(_Batches(), batch_size=None))
    assert trainer.global_step == 3 and torch.isfinite(trainer.callback_metrics["train/loss"])
    assert any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


# a torch.compile backend that records every call of the graphs it compiled (runs them eagerly)
GRAPH_CALLS: list[int] = []


def _counting_backend(gm, example_inputs):
    def run(*args):
        GRAPH_CALLS.append(1)
        return gm.forward(*args)
    return run


torch._dynamo.register_backend(_counting_backend, name="bacuda_test_counting")


def test_compile_option_compiles_keeps_outputs_and_checkpoint_names():
    cfg = compose(["trainer.compile.enabled=true", "trainer.compile.backend=bacuda_test_counting"])
    plain, compiled = _module(), _module()
    keys = list(compiled.state_dict())
    assert compile_network(compiled.net, cfg) is compiled.net  # in place (nn.Module.compile)
    batch = _batch()
    GRAPH_CALLS.clear()
    with torch.no_grad():
        a = plain(batch)
        assert not GRAPH_CALLS
        b = compiled(batch)
        first = len(GRAPH_CALLS)
        compiled(batch)
    assert first > 0 and len(GRAPH_CALLS) == 2 * first  # every call runs the compiled graphs
    assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(a, b))
    assert list(compiled.state_dict()) == keys  # nn.Module.compile: no "_orig_mod." prefix
    # disabled (the default): the network is returned untouched and runs eagerly
    GRAPH_CALLS.clear()
    net = _module().net
    assert compile_network(net, compose([])) is net and net._compiled_call_impl is None
    with torch.no_grad():
        net(batch["leaves"].int(), batch["importer"], batch["item"])
    assert not GRAPH_CALLS


def test_optuna_search_space_and_slurm_launcher_configs():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from bacuda_research.core.paths import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("train", ["hparams_search=date_optuna", "hydra/launcher=slurm"], return_hydra_config=True)
    sweeper, launcher = cfg.hydra.sweeper, cfg.hydra.launcher
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert sweeper.storage is None  # in memory (optuna 2.10's SQLite needs sqlalchemy<2)
    for key in sweeper.params:  # every searched key exists in the run config (a typo would be a new key)
        assert OmegaConf.select(cfg, key) is not None, key
    assert launcher._target_.endswith("SlurmLauncher") and launcher.tasks_per_node == 1


def test_keep_freed_memory_is_result_neutral():
    """The malloc switch sets glibc's thresholds on Linux, is off on request, and bench identity
    ignores it (committed runs stay 'done' whatever its value)."""
    import platform

    from bacuda_research.bench import suites as bench
    from bacuda_research.core.runtime import keep_freed_memory

    assert keep_freed_memory(False) is False
    assert keep_freed_memory(True) is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    a = {"malloc_keep_freed": True, "model": {"family": "date"}}
    assert bench.config_identity(a) == bench.config_identity({"model": {"family": "date"}})
