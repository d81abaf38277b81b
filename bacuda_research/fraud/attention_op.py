"""The native leaf self-attention as a PyTorch custom op: ``torch.ops.bacuda.leaf_self_attention``.

``leaf_self_attention(pre, heads) -> (out, row_max, row_inv_sum)``: ReLU(pre) split into q, k, v
(``pre``: (B, T, 3d), float32 on CPU, head dim d/heads <= 16), then multi-head scaled dot-product
attention, computed by ``kernels/leaf_attention.c``; ``out`` is (B, T, d) with the heads
concatenated, the softmax's row max and 1/sum (B, heads, T) are what the backward
(``bacuda::leaf_self_attention_backward``, the same kernel) needs to recompute the probabilities.

Registered with a fake implementation (shapes only, for ``torch.compile``, ``torch.export`` and
meta tensors) and an autograd formula, so the model calls it like any ATen op; ONNX export gets
its translation from ``bacuda_research.bundle.date_export``. Same function as ``F.relu`` followed
by ``F.scaled_dot_product_attention`` within float32 rounding; the same bits on every CPU, thread
count and batch split.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["leaf_self_attention", "attention"]

MAX_HEAD_DIM = 16


def _check(pre: Tensor, heads: int) -> tuple[int, int, int, int]:
    if pre.dim() != 3 or heads < 1 or pre.shape[2] % (3 * heads):
        raise ValueError(f"leaf_self_attention: pre must be (B, T, 3 * heads * head_dim), got {tuple(pre.shape)} "
                         f"with heads={heads}")
    b, t, d3 = pre.shape
    dh = d3 // 3 // heads
    if pre.dtype != torch.float32 or dh > MAX_HEAD_DIM:
        raise ValueError(f"leaf_self_attention: float32 and head dim <= {MAX_HEAD_DIM} only "
                         f"(got {pre.dtype}, head dim {dh})")
    return b, t, d3 // 3, dh


def _run(name: str, tensors: tuple[Tensor, ...], b: int, t: int, heads: int, dh: int) -> None:
    """``leaf_attention_<name>`` of the compiled kernel on contiguous float32 CPU tensors."""
    from bacuda_research.fraud.kernels import leaf_attention

    if not b or not t:
        return
    rc = getattr(leaf_attention(), f"leaf_attention_{name}")(
        *(x.data_ptr() for x in tensors), b, t, heads, dh, float(dh ** -0.5), torch.get_num_threads())
    if rc:
        raise RuntimeError(f"native leaf attention {name} failed (code {rc}) for shape ({b}, {t}, {3 * heads * dh}), "
                           f"heads={heads}")


@torch.library.custom_op("bacuda::leaf_self_attention", mutates_args=(), device_types="cpu")
def leaf_self_attention(pre: Tensor, heads: int) -> tuple[Tensor, Tensor, Tensor]:
    b, t, d, dh = _check(pre, heads)
    pre = pre.contiguous()
    out, mx, inv = pre.new_empty(b, t, d), pre.new_empty(b, heads, t), pre.new_empty(b, heads, t)
    _run("forward", (pre, out, mx, inv), b, t, heads, dh)
    return out, mx, inv


@leaf_self_attention.register_fake
def _(pre: Tensor, heads: int) -> tuple[Tensor, Tensor, Tensor]:
    b, t, d, _dh = _check(pre, heads)
    return pre.new_empty(b, t, d), pre.new_empty(b, heads, t), pre.new_empty(b, heads, t)


@torch.library.custom_op("bacuda::leaf_self_attention_backward", mutates_args=(), device_types="cpu")
def leaf_self_attention_backward(grad_out: Tensor, pre: Tensor, out: Tensor, row_max: Tensor, row_inv_sum: Tensor,
                                 heads: int) -> Tensor:
    """Gradient w.r.t. ``pre`` (0 where the ReLU was 0), in ``pre``'s (B, T, 3d) layout."""
    b, t, _d, dh = _check(pre, heads)
    pre = pre.contiguous()
    grad_pre = torch.empty_like(pre)
    _run("backward", (pre, out.contiguous(), row_max.contiguous(), row_inv_sum.contiguous(), grad_out.contiguous(),
                      grad_pre), b, t, heads, dh)
    return grad_pre


@leaf_self_attention_backward.register_fake
def _(grad_out: Tensor, pre: Tensor, out: Tensor, row_max: Tensor, row_inv_sum: Tensor, heads: int) -> Tensor:
    _check(pre, heads)
    return torch.empty_like(pre, memory_format=torch.contiguous_format)


def _setup_context(ctx, inputs: tuple, output: tuple) -> None:
    pre, heads = inputs
    out, mx, inv = output
    ctx.save_for_backward(pre, out, mx, inv)
    ctx.heads = heads
    ctx.mark_non_differentiable(mx, inv)


def _backward(ctx, grad_out: Tensor, _grad_max: Tensor | None, _grad_inv: Tensor | None) -> tuple[Tensor | None, None]:
    pre, out, mx, inv = ctx.saved_tensors
    if grad_out is None:
        return None, None
    return leaf_self_attention_backward(grad_out, pre, out, mx, inv, ctx.heads), None


leaf_self_attention.register_autograd(_backward, setup_context=_setup_context)


def attention(pre: Tensor, heads: int) -> Tensor:
    """The op's output alone: ReLU(pre) -> multi-head attention, (B, T, 3d) -> (B, T, d)."""
    return leaf_self_attention(pre, heads)[0]
