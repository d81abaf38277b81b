"""DATE: Dual Attentive Tree-aware Embedding (Kim et al., KDD 2020) as a plain ``nn.Module``.

Input: for each declaration the global index of the leaf it reaches in each XGBoost tree, its
importer index and its item (tariff code) index (index 0 = unseen in training, a zero vector).
Output: the illicit probability and the (normalised log) revenue, plus the leaf attention weights
that explain the ranking.

Differences from the reference code, all deliberate: works for any number of trees (the reference
hard-wires 100), the self-attention is one batched kernel instead of many per-head products,
unseen importers/items really map to zero vectors (the reference's Xavier init overwrote them),
and no adversarial branch with weight 0 is computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_HAS_CPU_FLASH = hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu_backward")


def gather_rows(weight: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``embedding(index, weight, padding_idx=0)``, faster on CPU for many indices.

    Row 0 (unseen) is read as zeros and receives no gradient, as with ``padding_idx=0``; the
    backward is an ``index_add`` (~0.4 ms for 25,600 leaf lookups at batch 256, against ~2 ms for
    ``embedding_dense_backward``).
    """
    table = torch.cat((torch.zeros_like(weight[:1]), weight[1:]))
    return table.index_select(0, index.reshape(-1)).view(*index.shape, weight.shape[1])


def _split_heads(r: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, T, 3d) -> q, k, v as (B, h, T, d/h) views (no copy)."""
    b, t, d3 = r.shape
    return r.view(b, t, 3, heads, d3 // (3 * heads)).permute(2, 0, 3, 1, 4).unbind(0)


class _ReluFlashAttention(torch.autograd.Function):
    """``scaled_dot_product_attention`` of ReLU(pre) split into q, k, v, with a leaner backward on CPU.

    Forward and backward call the same ATen kernels as autograd does for ``F.relu`` followed by
    ``F.scaled_dot_product_attention`` (the CPU flash kernels and ``threshold_backward``), so values
    and gradients are bitwise identical (``tests/test_date.py``). What changes is the layout work in
    the backward: autograd stacks the q/k/v gradients into a (3, B, h, T, d/h) block, copies it
    back to (B, T, 3, h, d/h) for the view, then applies the ReLU mask in a third pass (~5 ms of a
    ~40 ms training step at batch 256, 100 leaves); here the mask is applied while writing each
    gradient straight into its place in the (B, T, 3d) layout (one pass).
    """

    @staticmethod
    def forward(ctx, pre: torch.Tensor, heads: int) -> torch.Tensor:
        r = torch.relu(pre)
        q, k, v = _split_heads(r, heads)
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, False)
        ctx.save_for_backward(r, out, lse)
        ctx.heads = heads
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        r, out, lse = ctx.saved_tensors
        q, k, v = _split_heads(r, ctx.heads)
        grads = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            grad_out, q, k, v, out, lse, 0.0, False)
        b, t, d3 = r.shape
        grad_pre = torch.empty_like(r, memory_format=torch.contiguous_format)
        mask, dest = r.view(b, t, 3, ctx.heads, -1), grad_pre.view(b, t, 3, ctx.heads, -1)
        for i, g in enumerate(grads):  # g: (B, h, T, d/h) -> (B, T, h, d/h), masked where ReLU was 0
            torch.ops.aten.threshold_backward.grad_input(g.transpose(1, 2), mask[:, :, i], 0, grad_input=dest[:, :, i])
        return grad_pre, None


def _call_native(name: str, tensors: tuple[torch.Tensor, ...], r: torch.Tensor, heads: int) -> None:
    """Run ``leaf_attention_<name>`` of the compiled kernel on contiguous float32 CPU tensors (r: the ReLU'd block)."""
    from bacuda_research.fraud.kernels import leaf_attention

    b, t, d3 = r.shape
    if not b:
        return
    dh = d3 // 3 // heads
    rc = getattr(leaf_attention(), f"leaf_attention_{name}")(
        *(x.data_ptr() for x in tensors), b, t, heads, dh, float(dh ** -0.5), torch.get_num_threads())
    if rc:
        raise RuntimeError(f"native leaf attention {name} failed (code {rc}) for shape {tuple(r.shape)}, heads={heads}")


def _native_attention(r: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The native kernel's forward on the ReLU'd (B, T, 3d) block: out (B, T, d), row max and 1/sum (B, h, T)."""
    b, t, d3 = r.shape
    out, mx, inv = r.new_empty(b, t, d3 // 3), r.new_empty(b, heads, t), r.new_empty(b, heads, t)
    _call_native("forward", (r, out, mx, inv), r, heads)
    return out, mx, inv


class _NativeLeafAttention(torch.autograd.Function):
    """ReLU(pre) split into q, k, v, then scaled dot-product attention, by ``kernels/leaf_attention.c``.

    Same function as ``F.relu`` + ``F.scaled_dot_product_attention`` (within float32 rounding: the
    kernel sums in another order and computes exp by its own polynomial), two to three times
    faster on CPU at DATE's shapes (head dim 4, 100 leaves; ``scripts/bench_date_step.py``).
    Results do not depend on the thread count. The backward recomputes the probabilities from the
    saved row max and 1/sum, and writes the gradient of ``pre`` (masked where the ReLU was 0)
    directly in its (B, T, 3d) layout.
    """

    @staticmethod
    def forward(ctx, pre: torch.Tensor, heads: int) -> torch.Tensor:
        r = torch.relu(pre).contiguous()
        out, mx, inv = _native_attention(r, heads)
        ctx.save_for_backward(r, out, mx, inv)
        ctx.heads = heads
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        r, out, mx, inv = ctx.saved_tensors
        grad_pre = torch.empty_like(r)
        _call_native("backward", (r, out, mx, inv, grad_out.contiguous(), grad_pre), r, ctx.heads)
        return grad_pre, None


_NATIVE_WARNED = False


def native_attention_available() -> bool:
    """Whether the native leaf-attention kernel builds and loads here (warns once when it does not)."""
    global _NATIVE_WARNED
    from bacuda_research.fraud.kernels import KernelUnavailable, leaf_attention

    try:
        leaf_attention()
        return True
    except KernelUnavailable as e:
        if not _NATIVE_WARNED:
            _NATIVE_WARNED = True
            import warnings

            warnings.warn(f"DATE: model.net.attention_kernel=native is unavailable, using PyTorch's attention "
                          f"(results differ in the last float32 bits): {e}", RuntimeWarning, stacklevel=3)
        return False


class LeafSelfAttention(nn.Module):
    """Multi-head self-attention over the tree leaves (the reference's variant).

    Q, K, V = ReLU(Linear(S)); scaled dot-product attention per head; ReLU(Linear(.)) on the
    concatenated heads; no residual.

    ``kernel``: "native" (default) computes ReLU + attention on CPU in float32 with the compiled
    kernel of ``bacuda_research/kernels`` (``_NativeLeafAttention``); "sdpa" with PyTorch's
    ``scaled_dot_product_attention`` (when training on CPU, through ``_ReluFlashAttention``: same
    kernels as autograd, leaner backward). GPUs, other dtypes, head dims above 16, ``torch.compile``
    and ONNX export always take the sdpa path, and so does "native" when no C compiler is found
    (with a warning).

    Shape: (B, T, d) -> (B, T, d)
    """

    #: use the lean CPU backward when it applies (tests switch it off to compare)
    fused_cpu_backward: bool = True

    def __init__(self, dim: int, heads: int, kernel: str = "native") -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        if kernel not in ("native", "sdpa"):
            raise ValueError(f"attention_kernel={kernel!r}: expected native or sdpa")
        self.heads, self.kernel = heads, kernel
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def uses_native(self, x: torch.Tensor) -> bool:
        """Whether a forward on ``x`` runs the native kernel."""
        return (self.kernel == "native" and x.device.type == "cpu" and x.dtype == torch.float32
                and self.out.in_features // self.heads <= 16 and not torch.compiler.is_compiling()
                and not torch.jit.is_tracing() and not torch.jit.is_scripting()
                and not torch.onnx.is_in_onnx_export() and type(x) is torch.Tensor  # not a fake/functional tensor
                and native_attention_available())

    def _fused(self, pre: torch.Tensor) -> bool:
        return (self.fused_cpu_backward and pre.requires_grad and torch.is_grad_enabled()
                and pre.device.type == "cpu" and pre.dtype in (torch.float32, torch.float64)
                and not torch.compiler.is_compiling() and _HAS_CPU_FLASH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        pre = self.qkv(x)
        if self.uses_native(pre):
            if pre.requires_grad and torch.is_grad_enabled():
                y = _NativeLeafAttention.apply(pre, self.heads)
            else:
                y = _native_attention(torch.relu(pre).contiguous(), self.heads)[0]
            return F.relu(self.out(y))
        if self._fused(pre):
            y = _ReluFlashAttention.apply(pre, self.heads)
            return F.relu(self.out(y.transpose(1, 2).reshape(b, t, d)))
        qkv = F.relu(pre).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # unbind, not qkv[0], qkv[1], qkv[2]: its backward is one stack instead of three zero-filled
        # copies of the whole (3, B, h, T, d/h) block (~3 ms of a 39 ms step at batch 256)
        q, k, v = qkv.unbind(0)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, h, T, d/h)
        return F.relu(self.out(y.transpose(1, 2).reshape(b, t, d)))


class LeafAttentionPooling(nn.Module):
    """Importer-and-item-aware attention over leaves: alpha_t = softmax_t(h . ReLU(W [leaf_t; q])).

    Shape: leaves (B, T, d), query (B, d) -> pooled (B, d), weights (B, T)
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(2 * dim, dim)
        self.h = nn.Parameter(torch.rand(dim, 1))

    def forward(self, leaves: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = query.unsqueeze(1).expand(-1, leaves.shape[1], -1)
        scores = (F.relu(self.project(torch.cat((q, leaves), dim=-1))) @ self.h).squeeze(-1)
        weights = torch.softmax(scores, dim=1)
        return (weights.unsqueeze(-1) * leaves).sum(dim=1), weights


class DATE(nn.Module):
    """The DATE network. Ablations of the paper are switches:

    - ``self_attention=False``: leaf embeddings go straight to pooling ("w/o self-attention");
    - ``attention_pooling=False``: leaves are summed ("w/o attention network");
    - ``fusion=False``: the hidden layer sees only the pooled leaves ("w/o fusion");
    - the revenue-task ablation is ``alpha=0`` in the loss (the LightningModule).

    ``leaf_bias=True`` (not in the paper) adds a wide part: a learned scalar per leaf and head,
    summed over trees, added to both heads (logistic regression on one-hot leaves, XGB+LR, inside
    DATE). Attention pooling averages leaf vectors, which cannot express the additive score of a
    boosted ensemble; the wide part can.

    ``dense_features=F`` (not in the paper; 0 = off) adds a branch over the F scaled numeric inputs
    of the tree stage to the fusion layer: depth-limited trees quantise magnitudes such as the
    declared taxes coarsely, and the revenue head needs them.

    ``revenue_head``: "direct" (the paper) reads the revenue score off the hidden layer; "hurdle"
    (not in the paper) returns ``sigmoid(illicit logit) * softplus(score)``: revenue is non-zero only
    on illicit declarations, so the expected revenue is P(illicit) times the revenue if illicit. The
    probability enters without gradient (the revenue loss does not move the classifier), so under the
    same MSE loss the head learns the conditional revenue and DATE_REV ranks by expected revenue.

    ``attention_kernel``: "native" | "sdpa", how the leaf self-attention is computed on CPU
    (:class:`LeafSelfAttention`); the same function either way, up to float32 rounding.

    ``layer_norm``: "slab" normalises jointly over the whole (trees x dim) block as the reference
    does; "token" normalises each leaf vector; "none" skips it.
    """

    def __init__(self, n_leaves: int, n_trees: int, n_importers: int, n_items: int, dim: int = 16,
                 heads: int = 4, self_attention: bool = True, attention_pooling: bool = True,
                 fusion: bool = True, layer_norm: str = "slab", dense_features: int = 0,
                 leaf_bias: bool = False, revenue_head: str = "direct", attention_kernel: str = "native") -> None:
        super().__init__()
        if revenue_head not in ("direct", "hurdle"):
            raise ValueError(f"revenue_head={revenue_head!r}: expected direct or hurdle")
        self.revenue_head = revenue_head
        self.self_attention, self.attention_pooling, self.fusion = self_attention, attention_pooling, fusion
        self.leaf_embedding = nn.Embedding(n_leaves, dim, padding_idx=0)
        self.importer_embedding = nn.Embedding(n_importers, dim, padding_idx=0)
        self.item_embedding = nn.Embedding(n_items, dim, padding_idx=0)
        self.self_att = LeafSelfAttention(dim, heads, attention_kernel) if self_attention else None
        if layer_norm == "slab":
            self.norm: nn.Module = nn.LayerNorm((n_trees, dim))
        elif layer_norm == "token":
            self.norm = nn.LayerNorm(dim)
        elif layer_norm == "none":
            self.norm = nn.Identity()
        else:
            raise ValueError(f"layer_norm={layer_norm!r}: expected slab, token or none")
        self.pool = LeafAttentionPooling(dim) if attention_pooling else None
        # optional dense branch: the (scaled) numeric inputs of the tree stage, fused with the rest
        self.dense = nn.Linear(dense_features, dim) if dense_features else None
        fused = (3 * dim if fusion else dim) + (dim if dense_features else 0)
        self.fusion_layer = nn.Linear(fused, dim)
        self.hidden = nn.Linear(dim, dim)
        self.cls_head = nn.Linear(dim, 1)
        self.rev_head = nn.Linear(dim, 1)
        # optional wide part: one learned scalar per leaf and head, summed over the trees
        self.leaf_bias = nn.Embedding(n_leaves, 2, padding_idx=0) if leaf_bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform on every matrix (as the reference), then zero the 'unseen' rows."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        with torch.no_grad():
            for emb in (self.leaf_embedding, self.importer_embedding, self.item_embedding):
                emb.weight[0].zero_()
            if self.leaf_bias is not None:
                self.leaf_bias.weight.zero_()

    @torch.no_grad()
    def init_from_trees(self, values: torch.Tensor, base: torch.Tensor) -> None:
        """Start the wide part at the tree stage's own predictions (``model.tree_init``).

        ``values`` (n_leaves, 2): each leaf's value in the illicit classifier (margin) and in the
        revenue regressor (already in the revenue head's units), 0 for the other booster's leaves;
        ``base`` (2,): the boosters' base margins. The heads' weights start at zero, so at step 0
        the illicit logit is XGBoost's margin and the revenue score the regressor's prediction;
        training then learns what the attentive part adds (zero-initialised residual branches).
        """
        if self.leaf_bias is None:
            raise ValueError("tree initialisation needs the wide part: set model.net.leaf_bias=true")
        if self.revenue_head != "direct":
            raise ValueError("tree initialisation sets the direct revenue head: set model.net.revenue_head=direct")
        self.leaf_bias.weight.copy_(values.to(self.leaf_bias.weight))
        self.leaf_bias.weight[0].zero_()
        for head, b in ((self.cls_head, base[0]), (self.rev_head, base[1])):
            head.weight.zero_()
            head.bias.fill_(float(b))

    def forward(self, leaves: torch.Tensor, importer: torch.Tensor, item: torch.Tensor,
                dense: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Shape: leaves (B, T) int, importer (B,), item (B,) ->
        illicit logit (B,), revenue score (B,), leaf weights (B, T).

        The predicted (normalised log) revenue is ``relu(revenue score)``, as in the reference; the
        score itself is returned because ranking by it breaks the ties that ReLU creates at 0 (the
        order of positive predictions is unchanged).
        """
        s = gather_rows(self.leaf_embedding.weight, leaves)
        if self.self_att is not None:
            s = self.norm(self.self_att(s))
        imp, itm = self.importer_embedding(importer), self.item_embedding(item)
        if self.pool is not None:
            pooled, weights = self.pool(s, imp * itm)
        else:
            pooled = s.sum(dim=1)
            weights = torch.full(leaves.shape, 1.0 / leaves.shape[1], device=s.device, dtype=s.dtype)
        z = torch.cat((imp, itm, pooled), dim=-1) if self.fusion else pooled
        if self.dense is not None:
            z = torch.cat((z, F.leaky_relu(self.dense(dense))), dim=-1)
        h = F.leaky_relu(self.hidden(F.leaky_relu(self.fusion_layer(z))))
        out = torch.cat((self.cls_head(h), self.rev_head(h)), dim=-1)
        if self.leaf_bias is not None:
            out = out + self.leaf_bias(leaves).sum(dim=1)
        logit, rev = out[:, 0], out[:, 1]
        if self.revenue_head == "hurdle":
            rev = torch.sigmoid(logit).detach() * F.softplus(rev)
        return logit, rev, weights
