"""DDP correctness of DATE training and evaluation, with 2 CPU processes (gloo).

The processes are forked (Lightning's ``ddp_fork``) from the test process: no re-import, about a
second per launch. The trainer is built from ``conf/trainer/ddp.yaml`` (strategy and devices as
configured, only the launcher switched to fork). Choices that make "2 processes at batch b/2 = 1
process at batch b" exact up to float rounding: the global batch is the same rows (one seeded
permutation, rank r takes the r-th half, ``TensorBatches``), the losses are means and DDP averages
gradients, gradient clipping runs on the averaged gradients, DATE has no dropout, and the optimizer
(Ranger) is deterministic given the gradients.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch

from bacuda_research.fraud.datamodule import DeclarationsDataModule, TensorBatches
from bacuda_research.fraud.module import DATEModule

N_TRAIN, N_EVAL, BATCH = 640, 300, 32  # 640 / 32 = 20 optimizer steps in one epoch
# Largest weight difference allowed between 2 processes at batch 16 and 1 at batch 32 after 20 steps;
# the documentation states this figure (test_the_documented_tolerance_is_the_tested_one).
# Measured at 1 thread: 5.96e-8 with the native leaf-attention kernel (the default), 2.98e-8 with
# sdpa, i.e. one float32 rounding step of the largest weights; the bound leaves room for another compiler.
DDP_WEIGHT_TOLERANCE = 1e-7


def _split(n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    leaves = torch.randint(0, 64, (n, 10), generator=g).to(torch.int16)
    illicit = ((leaves[:, 0] % 3 == 0) ^ (torch.rand(n, generator=g) < 0.1)).float()
    revenue = illicit * torch.rand(n, generator=g) * 100
    return {"leaves": leaves, "importer": torch.randint(0, 20, (n,), generator=g),
            "item": torch.randint(0, 15, (n,), generator=g), "illicit": illicit, "revenue": revenue,
            "revenue_norm": torch.log1p(revenue) / 5, "row": torch.arange(n)}


@pytest.fixture(scope="module")
def splits():
    g = torch.Generator().manual_seed(0)
    return {"train": _split(N_TRAIN, g), "valid": _split(N_EVAL, g), "test": _split(N_EVAL, g)}


def _datamodule(splits, batch_size: int) -> DeclarationsDataModule:
    dm = DeclarationsDataModule(data={"batch_size": batch_size}, features={})
    dm.splits = {"prebuilt": None}  # tensors are given; setup() has nothing to load
    for name, tensors in splits.items():
        dm.set_tensors(name, tensors)
    return dm


def _module() -> DATEModule:
    torch.manual_seed(0)
    return DATEModule(net={"n_leaves": 64, "n_trees": 10, "n_importers": 20, "n_items": 15, "dim": 8, "heads": 2},
                      grad_clip=1.0)


def _trainer(tmp_path, devices: int, **kw):
    from bacuda_research.core.config import compose
    from bacuda_research.core.training import build_trainer

    cfg = compose(["trainer=ddp", "logger=csv"])
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 2
    strategy = "ddp_fork" if devices > 1 else "auto"
    return build_trainer(cfg, tmp_path, False, accelerator="cpu", devices=devices, strategy=strategy,
                         enable_checkpointing=False, enable_progress_bar=False, **kw)


@pytest.fixture
def one_thread():
    # forked children must not inherit an OpenMP pool (libgomp is not fork-safe); both runs use
    # the same thread count, so their per-row scores are bitwise comparable
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=r".*(sync_dist|num_workers|does not have many workers).*")
    yield
    torch.set_num_threads(before)


def test_tensor_batches_shard_global_batches():
    t = {"row": torch.arange(23)}
    one = [b["row"] for b in TensorBatches(t, 6, True, seed=3)]
    ranks = [[b["row"] for b in TensorBatches(t, 3, True, seed=3, rank=r, world=2)] for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(one)  # equal counts: no rank waits on a collective
    for k, batch in enumerate(one):  # global batch k = rank 0's half + rank 1's half, same order
        assert torch.equal(torch.cat([ranks[0][k], ranks[1][k]]), batch)
    # evaluation: the single-process batches, dealt round-robin; every row exactly once
    ev = [[b["row"] for b in TensorBatches(t, 5, False, rank=r, world=2)] for r in (0, 1)]
    assert sorted(torch.cat(ev[0] + ev[1]).tolist()) == list(range(23))
    assert [b.tolist() for b in ev[0]] == [list(range(0, 5)), list(range(10, 15)), list(range(20, 23))]
    # fewer batches than ranks: smaller batches so that every rank has rows
    tiny = [list(TensorBatches({"row": torch.arange(3)}, 8, False, rank=r, world=2)) for r in (0, 1)]
    assert all(len(x) == 1 for x in tiny)


def test_ddp_two_processes_match_one(tmp_path, splits, one_thread):
    # training: 1 process at batch b vs 2 processes at b/2, 20 steps from the same initial weights
    single, double = _module(), _module()
    _trainer(tmp_path / "t1", 1, max_epochs=1, limit_val_batches=0).fit(single, datamodule=_datamodule(splits, BATCH))
    _trainer(tmp_path / "t2", 2, max_epochs=1, limit_val_batches=0).fit(
        double, datamodule=_datamodule(splits, BATCH // 2))
    assert single.global_step == N_TRAIN // BATCH == 20  # (the forked ranks' step counters stay there)
    w1, w2 = single.state_dict(), double.state_dict()
    diff = max((w1[k] - w2[k]).abs().max().item() for k in w1)
    assert diff < DDP_WEIGHT_TOLERANCE, diff
    assert any((w1[k] - _module().state_dict()[k]).abs().max() > 1e-3 for k in w1)  # it did train

    # evaluation: one checkpoint, scored by 1 and by 2 processes over the whole val and test splits
    ckpt = tmp_path / "model.ckpt"
    torch.save({"state_dict": single.state_dict()}, ckpt)
    results = {}
    for devices in (1, 2):
        module = _module()
        module.load_state_dict(torch.load(ckpt, weights_only=True)["state_dict"])
        trainer = _trainer(tmp_path / f"e{devices}", devices)
        dm = _datamodule(splits, 64)
        results[devices] = {**trainer.validate(module, datamodule=dm, verbose=False)[0],
                            **trainer.test(module, datamodule=dm, verbose=False)[0]}
    one, two = results[1], results[2]
    assert set(one) == set(two) and {"val/f1@mean", "test/f1@mean", "val/auc", "test/rev/revenue@5"} <= set(one)
    selection = {k: v for k, v in one.items() if not k.endswith("/loss")}
    assert selection == {k: two[k] for k in selection}  # bit-identical (no sampler padding rows)
    for k in ("val/loss", "test/loss"):  # a weighted mean: summed in another order
        assert two[k] == pytest.approx(one[k], rel=1e-6)
    # the figures (pytest -s shows them)
    print(f"\nDDP 2 processes vs 1: max weight difference after 20 steps {diff:.2e}; "
          f"{len(selection)} selection metrics bit-identical (val/f1@mean {one['val/f1@mean']:.6f}, "
          f"test/f1@mean {one['test/f1@mean']:.6f}); loss rel. diff "
          f"{max(abs(two[k] - one[k]) / abs(one[k]) for k in ('val/loss', 'test/loss')):.1e}")


def test_only_rank_zero_writes_run_outputs(tmp_path, compose_small, monkeypatch):
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from bacuda_research.run import run

    cfg = compose_small("model=risky", "debug=fast")
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    report = run(cfg, tmp_path / "rank1")
    written = {p.name for p in (tmp_path / "rank1").rglob("*") if p.is_file()}
    assert not written & {"report.json", "DONE", "predictions.csv", "explanations.jsonl"}, written
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    report0 = run(cfg, tmp_path / "rank0")
    assert (tmp_path / "rank0" / "report.json").exists() and (tmp_path / "rank0" / "predictions.csv").exists()
    assert report["metrics"] == report0["metrics"] and report0["metrics"]["val/auc"] > 0.5  # every rank computes them


DOC_SENTENCE = re.compile(r"end\s+within\s+([0-9.]+e-?[0-9]+)\s+of\s+each\s+other")


def test_the_documented_tolerance_is_the_tested_one():
    """README.md (or docs/*.md after the docs rewrite) states the figure test_ddp_two_processes_match_one uses."""
    root = Path(__file__).resolve().parents[1]
    stated = {}
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        if doc.exists():
            for m in DOC_SENTENCE.finditer(doc.read_text()):
                stated[f"{doc.relative_to(root)}: {m.group(0)}"] = float(m.group(1))
    assert stated, "no 'end within <figure> of each other' sentence in README.md or docs/*.md"
    assert all(v == DDP_WEIGHT_TOLERANCE for v in stated.values()), (stated, DDP_WEIGHT_TOLERANCE)
