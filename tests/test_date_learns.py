"""DATE learns, each ablation switch changes the network, and an interrupted run resumes to the
same result as an uninterrupted one.

The floor: a short run on the embedded synthetic data (6,000 rows, 10 epochs, 1 thread) must rank
clearly better than chance. Seeds 0-2 gave test AUC 0.715-0.727 and precision@5 3.8-4.3x the test
illicit rate (XGBoost alone: AUC 0.70 on these rows); the bounds below leave room for seed and
platform noise while a network that does not learn (AUC ~0.5, precision@5 ~ the base rate) fails.
"""

from __future__ import annotations

import json

import pytest
import torch

from bacuda_research.fraud.network import DATE
from bacuda_research.run import run

FLOOR = ("model=date", "data.synthetic.rows=6000", "trainer.max_epochs=10", "model.xgb.n_estimators=30",
         "model.xgb.max_depth=4", "data.batch_size=128", "trainer.enable_progress_bar=false", "threads=1")
MIN_TEST_AUC = 0.65
MIN_LIFT_AT_5 = 2.5  # precision@5 / test illicit rate


@pytest.fixture(scope="module")
def floor_run(tmp_path_factory):
    from bacuda_research.core.config import compose

    path = tmp_path_factory.mktemp("date_floor")
    return path, run(compose(["logger=csv", *FLOOR]), path)


def test_date_ranks_clearly_better_than_random(floor_run):
    _, report = floor_run
    m, base = report["metrics"], report["data"]["test"]["illicit_rate"]
    assert 0.03 < base < 0.2  # the synthetic data's illicit rate (the lift below is relative to it)
    assert m["test/auc"] > MIN_TEST_AUC, m["test/auc"]
    assert m["test/precision@5"] > MIN_LIFT_AT_5 * base, (m["test/precision@5"], base)
    assert m["val/auc"] > MIN_TEST_AUC, m["val/auc"]  # the epoch kept was chosen on validation
    assert report["best_epoch"] > 0  # training improved on the first epoch


# -- ablation switches --------------------------------------------------------------------------
SIZES = {"n_leaves": 50, "n_trees": 6, "n_importers": 9, "n_items": 7, "dim": 8, "heads": 2}


def _inputs(b: int = 32):
    g = torch.Generator().manual_seed(5)
    # indices from 1: index 0 is the zero "unseen" vector, which would hide the importer/item terms
    return (torch.randint(1, 50, (b, 6), generator=g), torch.randint(1, 9, (b,), generator=g),
            torch.randint(1, 7, (b,), generator=g))


def _full_and_ablated(switch: str) -> tuple[DATE, DATE]:
    """The full network and the ablated one carrying the same weights for everything they share,
    so that any difference in output comes from the switch alone."""
    torch.manual_seed(0)
    full = DATE(**SIZES, attention_kernel="sdpa")
    ablated = DATE(**SIZES, attention_kernel="sdpa", **{switch: False})
    state = full.state_dict()
    if switch == "fusion":  # fusion concatenates (importer, item, pooled): keep the pooled columns
        state["fusion_layer.weight"] = state["fusion_layer.weight"][:, 2 * SIZES["dim"]:]
    own = ablated.state_dict()
    ablated.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)
    gone = {"self_attention": "self_att.", "attention_pooling": "pool.", "fusion": None}[switch]
    assert {k for k in state if k not in own} == {k for k in state if gone and k.startswith(gone)}
    return full.eval(), ablated.eval()


@pytest.mark.parametrize("switch", ["self_attention", "attention_pooling", "fusion"])
def test_each_ablation_switch_changes_the_output(switch):
    full, ablated = _full_and_ablated(switch)
    x = _inputs()
    with torch.no_grad():
        (lf, rf, wf), (la, ra, wa) = full(*x), ablated(*x)
    assert (lf - la).abs().max() > 1e-3 and (rf - ra).abs().max() > 1e-3
    if switch == "attention_pooling":  # sum pooling: uniform leaf weights instead of attention
        assert torch.allclose(wa, torch.full_like(wa, 1 / 6)) and not torch.allclose(wf, wa)
    with torch.no_grad():  # and the ablated network still depends on the leaves (not a constant)
        assert (la - ablated(x[0].flip(0), x[1], x[2])[0]).abs().max() > 1e-4


def test_alpha_zero_trains_without_the_revenue_loss():
    """model.alpha only enters training: with alpha=0 the revenue head gets no gradient from the
    loss, and the same network trained on the same batches ends with other outputs."""
    from bacuda_research.fraud.module import DATEModule

    g = torch.Generator().manual_seed(3)
    leaves, imp, itm = _inputs(64)
    illicit = (torch.rand(64, generator=g) < 0.3).float()
    batch = {"leaves": leaves, "importer": imp, "item": itm, "illicit": illicit,
             "revenue_norm": illicit * torch.rand(64, generator=g)}

    def trained(alpha: float):
        torch.manual_seed(0)
        module = DATEModule(net={**SIZES, "attention_kernel": "sdpa"}, alpha=alpha,
                            optimizer={"name": "adamw", "lr": 0.01, "weight_decay": 0.0})
        opt = module.configure_optimizers()
        grads = []
        for _ in range(3):
            loss, cls_loss, rev_loss, _, _ = module._losses(batch)
            assert torch.allclose(loss, cls_loss + alpha * rev_loss) and rev_loss > 0
            opt.zero_grad()
            loss.backward()
            grads.append(module.net.rev_head.weight.grad.abs().sum().item())
            opt.step()
        with torch.no_grad():
            return module(batch), grads

    (logit0, rev0, _), grads0 = trained(0.0)
    (logit10, rev10, _), grads10 = trained(10.0)
    assert grads0 == [0.0, 0.0, 0.0] and min(grads10) > 0
    assert (logit0 - logit10).abs().max() > 1e-4 and (rev0 - rev10).abs().max() > 1e-3


def test_ablation_switches_reach_the_trained_network(tmp_path):
    """The config keys are what the run builds: a run with every switch off has none of the parts."""
    from bacuda_research.core.config import compose
    from bacuda_research.fraud.predictor import DATEPredictor

    overrides = ("model.net.self_attention=false", "model.net.attention_pooling=false", "model.net.fusion=false",
                 "model.alpha=0")
    small = ("model=date", "data.synthetic.rows=3000", "trainer.max_epochs=1", "model.xgb.n_estimators=12",
             "model.xgb.max_depth=3", "data.batch_size=128", "trainer.enable_progress_bar=false", "threads=1")
    report = run(compose(["logger=csv", *small, *overrides]), tmp_path)
    assert report["attention_kernel"] is None
    net = DATEPredictor.from_run(tmp_path).net
    assert net.self_att is None and net.pool is None and net.fusion is False
    assert net.fusion_layer.in_features == net.hidden.in_features  # the pooled vector alone
    ckpt = torch.load(tmp_path / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["hyper_parameters"]["alpha"] == 0


# -- resume ---------------------------------------------------------------------------------------
class _Interrupted(RuntimeError):
    pass


def test_interrupted_run_resumes_to_the_same_metrics(floor_run, tmp_path, monkeypatch):
    """Stopped at the start of its second epoch (after epoch 1's last.ckpt), the same command in the
    same folder resumes there and ends with exactly the uninterrupted run's metrics."""
    from lightning.pytorch.callbacks import Callback

    from bacuda_research.core import training
    from bacuda_research.core.config import compose

    epochs: list[int] = []

    class Watch(Callback):
        def __init__(self, stop_at: int | None):
            self.stop_at = stop_at

        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == self.stop_at:
                raise _Interrupted(f"stopped at epoch {self.stop_at}")
            epochs.append(trainer.current_epoch)

    stop_at = [1]
    build = training.build_trainer
    monkeypatch.setattr(training, "build_trainer",
                        lambda *a, callbacks=(), **kw: build(*a, callbacks=[*callbacks, Watch(stop_at[0])], **kw))
    _, whole = floor_run
    with pytest.raises(_Interrupted):
        run(compose(["logger=csv", *FLOOR]), tmp_path)
    assert epochs == [0] and (tmp_path / "checkpoints" / "last.ckpt").exists()
    assert not (tmp_path / "DONE").exists() and not (tmp_path / "report.json").exists()

    epochs.clear()
    stop_at[0] = None
    resumed = run(compose(["logger=csv", *FLOOR]), tmp_path)
    assert epochs == list(range(1, 10))  # it resumed: epoch 0 was not trained again
    assert set(resumed["metrics"]) == set(whole["metrics"])
    differ = {k: (whole["metrics"][k], resumed["metrics"][k]) for k in whole["metrics"]
              if resumed["metrics"][k] != whole["metrics"][k]}
    assert not differ, differ
    assert resumed["best_epoch"] == whole["best_epoch"]
    assert json.loads((tmp_path / "report.json").read_text())["metrics"] == whole["metrics"]
