"""The native leaf-attention kernel (bacuda_research/kernels): same function as PyTorch's attention,
independent of the thread count, and a clean fallback when it cannot be built."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bacuda_research.fraud import kernels
from bacuda_research.fraud import network as date_mod
from bacuda_research.fraud.network import DATE, LeafSelfAttention
from bacuda_research.fraud.attention_op import attention as native_attention

pytestmark = pytest.mark.skipif(not kernels.available(), reason="no working C compiler: the native kernel cannot be built")


def reference(pre: torch.Tensor, heads: int) -> torch.Tensor:
    """ReLU + multi-head scaled dot-product attention in float64, output (B, T, d)."""
    b, t, d3 = pre.shape
    d = d3 // 3
    q, k, v = F.relu(pre).view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4).unbind(0)
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)


@pytest.mark.parametrize("b,t,dim,heads", [(3, 100, 16, 4), (2, 1, 16, 4), (5, 17, 8, 1), (4, 33, 32, 2),
                                           (2, 16, 12, 3), (0, 10, 16, 4)])
def test_native_matches_pytorch_attention_and_gradients(b, t, dim, heads):
    torch.manual_seed(b * 1000 + t)
    pre64 = (torch.randn(b, t, 3 * dim, dtype=torch.float64) * 2).requires_grad_()  # negatives: ReLU mask
    pre64.data[:, :, : dim] *= 6  # large scores: the softmax's exp reaches far below its max
    pre32 = pre64.detach().float().requires_grad_()
    out = native_attention(pre32, heads)
    ref = reference(pre64, heads)
    assert out.shape == ref.shape == (b, t, dim)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(ref)
    out.backward(grad.float())
    ref.backward(grad)
    torch.testing.assert_close(pre32.grad.double(), pre64.grad, rtol=1e-4, atol=1e-5)
    assert (pre32.grad[pre32.detach() <= 0] == 0).all()  # no gradient through the ReLU's zeros


def test_native_results_do_not_depend_on_thread_count():
    torch.manual_seed(0)
    pre = torch.randn(7, 50, 48).requires_grad_()
    grad = torch.randn(7, 50, 16)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            pre.grad = None
            out = native_attention(pre, 4)
            out.backward(grad)
            results.append((out.detach().clone(), pre.grad.clone()))
    finally:
        torch.set_num_threads(threads)
    for out, g in results[1:]:
        assert torch.equal(out, results[0][0]) and torch.equal(g, results[0][1])


def test_model_routes_to_native_on_cpu_float32_only():
    att = LeafSelfAttention(16, 4)
    x = torch.zeros(2, 5, 48)
    assert att.uses_native(x)
    assert not att.uses_native(x.double())
    assert not LeafSelfAttention(16, 4, kernel="sdpa").uses_native(x)
    assert not LeafSelfAttention(64, 2).uses_native(torch.zeros(2, 5, 192))  # head dim 32 > 16
    with pytest.raises(ValueError, match="attention_kernel"):
        LeafSelfAttention(16, 4, kernel="flash")


def test_native_and_sdpa_train_the_same_network():
    """Three SGD steps of a small DATE: native and sdpa agree to float32 rounding; evaluation too.

    (SGD, not Adam: Adam's first steps move every weight by ~lr whatever its gradient's size, so a
    gradient of ~1e-9 whose rounding differs between the kernels could move a weight either way.)"""
    torch.manual_seed(3)
    nets = [DATE(n_leaves=300, n_trees=20, n_importers=30, n_items=20, attention_kernel=k) for k in ("native", "sdpa")]
    nets[1].load_state_dict(nets[0].state_dict())
    b = 64
    leaves = torch.randint(0, 300, (b, 20)).int()
    imp, itm = torch.randint(0, 30, (b,)), torch.randint(0, 20, (b,))
    y, r = (torch.rand(b) < 0.3).float(), torch.rand(b)
    losses = []
    for net in nets:
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        run = []
        for _ in range(3):
            logit, rev, _ = net(leaves, imp, itm)
            loss = F.binary_cross_entropy_with_logits(logit, y) + F.mse_loss(rev, r)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses.append(run)
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for p0, p1 in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(p0, p1, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(nets[0](leaves, imp, itm)[0], nets[1](leaves, imp, itm)[0], rtol=1e-4, atol=1e-5)


def test_switched_off_kernel_falls_back_to_sdpa_with_a_warning(monkeypatch):
    monkeypatch.setenv("BACUDA_NATIVE_KERNELS", "0")
    monkeypatch.setattr(date_mod, "_NATIVE_WARNED", False)
    torch.manual_seed(1)
    with pytest.warns(RuntimeWarning, match="BACUDA_NATIVE_KERNELS=0"):  # decided when the model is built
        net = DATE(n_leaves=50, n_trees=10, n_importers=5, n_items=5)
    sdpa = DATE(n_leaves=50, n_trees=10, n_importers=5, n_items=5, attention_kernel="sdpa")
    sdpa.load_state_dict(net.state_dict())
    leaves, ids = torch.randint(0, 50, (8, 10)), torch.zeros(8, dtype=torch.long)
    assert not net.self_att.uses_native(torch.zeros(1, 1, 48))
    assert torch.equal(net(leaves, ids, ids)[0], sdpa(leaves, ids, ids)[0])  # exactly PyTorch's path


def test_build_failure_names_the_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("BACUDA_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setattr(kernels, "_loaded", {})
    monkeypatch.setattr(kernels, "_failed", {})
    with pytest.raises(kernels.KernelUnavailable, match="no-such-cc"):
        kernels.leaf_attention()
    assert not list(tmp_path.iterdir())  # nothing half-written left in the cache


def test_build_is_cached_and_atomic(monkeypatch, tmp_path):
    monkeypatch.setenv("BACUDA_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(kernels, "_loaded", {})
    monkeypatch.setattr(kernels, "_failed", {})
    lib = kernels.leaf_attention()
    built = sorted(p.name for p in tmp_path.iterdir())
    assert len(built) == 1 and built[0].startswith("leaf_attention-") and built[0].endswith(".so")
    assert kernels.leaf_attention() is lib
    monkeypatch.setattr(kernels, "_loaded", {})
    kernels.leaf_attention()  # a new process finds the cached build
    assert sorted(p.name for p in tmp_path.iterdir()) == built


def test_bench_identity_of_runs_recorded_before_the_kernel():
    """Runs recorded before model.net.attention_kernel existed ran sdpa; without self-attention the key is moot."""
    from bacuda_research.bench.suites import config_identity

    def cfg(self_attention: bool, kernel: str | None) -> dict:
        net = {"self_attention": self_attention, **({"attention_kernel": kernel} if kernel else {})}
        return {"model": {"family": "date", "net": net}, "seed": 0}

    assert config_identity(cfg(True, "sdpa")) == config_identity(cfg(True, None))
    assert config_identity(cfg(True, "native")) != config_identity(cfg(True, None))
    assert config_identity(cfg(False, "native")) == config_identity(cfg(False, None))


def test_nan_scores_propagate_as_in_pytorch():
    """A NaN in a query or key makes the same outputs NaN as PyTorch's attention (never a silent 0)."""
    torch.manual_seed(5)
    pre = torch.randn(3, 12, 48).abs() + 0.1  # all positive: the ReLU keeps every value
    pre[0, 4, 2] = float("nan")  # a query of sample 0, head 0
    pre[1, 7, 16 + 5] = float("nan")  # a key of sample 1, head 1
    out = native_attention(pre, 4)
    ref = reference(pre.double(), 4)
    assert torch.equal(torch.isnan(out), torch.isnan(ref)) and torch.isnan(out).any()


def test_unwritable_cache_builds_in_a_temporary_folder(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BACUDA_KERNEL_CACHE", str(blocker / "kernels"))  # mkdir fails below a file
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(kernels.tempfile, "tempdir", None)  # re-read TMPDIR
    monkeypatch.setattr(kernels, "_loaded", {})
    monkeypatch.setattr(kernels, "_failed", {})
    kernels.leaf_attention()
    assert list((tmp_path / "tmp").glob("bacuda_research-kernels-*/leaf_attention-*.so"))


def test_custom_op_registration_fake_and_autograd_pass_opcheck():
    """torch.library.opcheck: schema, fake implementation (shapes, strides), autograd registration and
    AOT dispatch of the forward and backward ops; the fake implementation alone gives the right shapes."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    torch.manual_seed(2)
    pre = torch.randn(3, 10, 48, requires_grad=True)
    torch.library.opcheck(torch.ops.bacuda.leaf_self_attention.default, (pre, 4))
    out, mx, inv = torch.ops.bacuda.leaf_self_attention(pre.detach(), 4)
    torch.library.opcheck(torch.ops.bacuda.leaf_self_attention_backward.default,
                          (torch.randn(3, 10, 16), pre.detach(), out, mx, inv, 4))
    with FakeTensorMode():
        out, mx, inv = torch.ops.bacuda.leaf_self_attention(torch.empty(5, 7, 96), 2)
    assert out.shape == (5, 7, 32) and mx.shape == inv.shape == (5, 2, 7)
    with pytest.raises(ValueError, match="head dim"):
        torch.ops.bacuda.leaf_self_attention(torch.empty(1, 2, 3 * 34), 1)


def test_torch_compile_of_date_with_the_native_op_matches_eager():
    """The whole network compiles in one graph (no break at the self-attention), the graph calls the
    custom op, and training steps give what eager gives."""
    torch.manual_seed(4)
    net = DATE(n_leaves=300, n_trees=20, n_importers=30, n_items=20)
    assert net.self_att.native
    b = 32
    leaves = torch.randint(0, 300, (b, 20))
    imp, itm = torch.randint(0, 30, (b,)), torch.randint(0, 20, (b,))
    graphs = []

    def record(gm, example_inputs):
        graphs.append(str(gm.graph))
        return gm.forward

    torch._dynamo.reset()
    with torch.no_grad():
        torch.compile(net, backend=record, fullgraph=True)(leaves, imp, itm)
    assert len(graphs) == 1 and "bacuda.leaf_self_attention" in graphs[0]
    torch._dynamo.reset()
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    results = []
    for model in (net, compiled):
        net.zero_grad()
        logit, rev, w = model(leaves, imp, itm)
        (logit.square().mean() + rev.abs().mean()).backward()
        results.append([logit.detach(), rev.detach(), w.detach(), *(p.grad.clone() for p in net.parameters())])
    for eager, comp in zip(*results):
        torch.testing.assert_close(comp, eager, rtol=1e-6, atol=1e-7)
    torch._dynamo.reset()
