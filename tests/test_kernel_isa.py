"""The native kernel gives the same bits whatever instruction set it is built for (SSE2, AVX2+FMA,
AVX-512, ...): a run re-made on another CPU reproduces every metric (``bacuda-bench --check``)."""

from __future__ import annotations

import ctypes

import pytest
import torch

from bacuda_research.fraud import kernels

# (B, T, heads, head dim): DATE's shape, row/key counts that are not multiples of the 16 lanes, one leaf
SHAPES = [(8, 100, 4, 4), (3, 17, 1, 8), (5, 33, 2, 16), (2, 1, 4, 4), (4, 50, 3, 5)]


def run(lib: ctypes.CDLL, pre: torch.Tensor, heads: int, grad: torch.Tensor) -> list[torch.Tensor]:
    """Forward (out, row max, 1/sum) and backward (grad of pre) of one build, 2 threads."""
    b, t, d3 = pre.shape
    dh = d3 // 3 // heads
    out, mx, inv = torch.empty(b, t, d3 // 3), torch.empty(b, heads, t), torch.empty(b, heads, t)
    gpre = torch.empty_like(pre)
    assert lib.leaf_attention_forward(pre.data_ptr(), out.data_ptr(), mx.data_ptr(), inv.data_ptr(),
                                      b, t, heads, dh, dh ** -0.5, 2) == 0
    assert lib.leaf_attention_backward(pre.data_ptr(), out.data_ptr(), mx.data_ptr(), inv.data_ptr(),
                                       grad.data_ptr(), gpre.data_ptr(), b, t, heads, dh, dh ** -0.5, 2) == 0
    return [out, mx, inv, gpre]


def inputs(shape: tuple[int, int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    b, t, heads, dh = shape
    g = torch.Generator().manual_seed(b * 1000 + t)
    pre = torch.randn(b, t, 3 * heads * dh, generator=g) * 3  # negatives (ReLU) and a wide range of scores
    pre[..., : heads * dh] *= 4  # large scores: exp reaches far below the row max (and its clamp at -87)
    return pre, torch.randn(b, t, heads * dh, generator=g)


def outputs(lib: ctypes.CDLL) -> list[list[torch.Tensor]]:
    return [run(lib, pre, s[2], grad) for s in SHAPES for pre, grad in [inputs(s)]]


def bitwise_equal(a: list[list[torch.Tensor]], b: list[list[torch.Tensor]]) -> bool:
    # compare the float32 bit patterns (torch.equal would call -0.0 == 0.0 and NaN != NaN)
    return all(torch.equal(x.view(torch.int32), y.view(torch.int32)) for xs, ys in zip(a, b) for x, y in zip(xs, ys))


def test_builds_for_every_instruction_set_this_cpu_runs_are_bitwise_equal():
    marches = kernels.cpu_marches()
    if not marches:
        pytest.skip("not an x86-64 CPU: no instruction-set levels to compare")
    # the baseline (SSE2), AVX2+FMA and AVX-512 where this CPU runs them; v2 (SSE4.2) is the default on AVX2 CPUs
    chosen = [m for m in ("x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4") if m in marches]
    assert len(chosen) >= 2, f"this x86-64 CPU runs only {marches}: nothing to compare the baseline with"
    reference = outputs(kernels.build("x86-64"))
    compared = []
    for march in chosen[1:]:
        assert bitwise_equal(outputs(kernels.build(march)), reference), f"-march={march} differs from -march=x86-64"
        compared.append(march)
    assert bitwise_equal(outputs(kernels.leaf_attention()), reference)  # the build the model uses
    print(f"bitwise equal to -march=x86-64 on {len(SHAPES)} shapes (forward and backward): {', '.join(compared)}, "
          f"and the default build ({kernels.build_info()['flags']})")


def test_the_comparison_sees_fused_multiply_adds(monkeypatch):
    """The shapes above are sensitive enough: a build that lets the compiler fuse multiply-adds
    (what the kernel used to be built with) does not reproduce the baseline's bits."""
    if "x86-64-v3" not in kernels.cpu_marches():
        pytest.skip("this CPU has no FMA instructions")
    reference = outputs(kernels.build("x86-64"))
    monkeypatch.setattr(kernels, "FLAGS", [f for f in kernels.FLAGS if f != "-ffp-contract=off"] + ["-ffp-contract=fast"])
    assert not bitwise_equal(outputs(kernels.build("x86-64-v3")), reference)


def test_flags_never_change_rounding():
    for march in ("default", None, "x86-64-v3"):
        f = kernels.flags(march)
        assert "-ffp-contract=off" in f
        assert not any(x in f for x in ("-ffast-math", "-Ofast", "-ffp-contract=fast", "-march=native"))
        assert not any(x.startswith(("-funsafe", "-fassociative", "-freciprocal")) for x in f)
