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

from bacuda_research.fraud.attention_op import MAX_HEAD_DIM, attention as native_attention


def gather_rows(weight: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``embedding(index, weight, padding_idx=0)``, faster on CPU for many indices.

    Row 0 (unseen) is read as zeros and receives no gradient, as with ``padding_idx=0``; the
    backward is an ``index_add`` (~0.4 ms for 25,600 leaf lookups at batch 256, against ~2 ms for
    ``embedding_dense_backward``).
    """
    table = torch.cat((torch.zeros_like(weight[:1]), weight[1:]))
    return table.index_select(0, index.reshape(-1)).view(*index.shape, weight.shape[1])


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

    ``kernel``: "native" (default) computes ReLU + attention with the custom op
    ``torch.ops.bacuda.leaf_self_attention`` (``fraud/attention_op.py``, the compiled kernel of
    ``fraud/kernels``: CPU, float32, head dim <= 16); "sdpa" with PyTorch's
    ``F.scaled_dot_product_attention``, which is also the fallback for everything the kernel does
    not cover (GPUs, other dtypes, head dims above 16) and for "native" when the kernel cannot be
    built here (decided once, at construction, with a warning). Tracing, ``torch.compile`` and ONNX
    export see the custom op like any other.

    Shape: (B, T, d) -> (B, T, d)
    """

    def __init__(self, dim: int, heads: int, kernel: str = "native") -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        if kernel not in ("native", "sdpa"):
            raise ValueError(f"attention_kernel={kernel!r}: expected native or sdpa")
        self.heads, self.kernel = heads, kernel
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.native = kernel == "native" and dim // heads <= MAX_HEAD_DIM and native_attention_available()

    def uses_native(self, x: torch.Tensor) -> bool:
        """Whether a forward on ``x`` runs the native kernel."""
        return self.native and x.device.type == "cpu" and x.dtype == torch.float32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        pre = self.qkv(x)
        if self.uses_native(pre):
            y = native_attention(pre, self.heads)
        else:
            # unbind, not qkv[0], qkv[1], qkv[2]: its backward is one stack instead of three zero-filled
            # copies of the whole (3, B, h, T, d/h) block
            q, k, v = F.relu(pre).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
            y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)  # (B, h, T, d/h) -> (B, T, d)
        return F.relu(self.out(y))


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
        h, weights = self.embed(leaves, importer, item, dense)
        return (*self.heads(h, leaves), weights)

    def heads(self, h: torch.Tensor, leaves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shape: hidden (B, dim), leaves (B, T) -> illicit logit (B,), revenue score (B,)."""
        out = torch.cat((self.cls_head(h), self.rev_head(h)), dim=-1)
        if self.leaf_bias is not None:
            out = out + self.leaf_bias(leaves).sum(dim=1)
        logit, rev = out[:, 0], out[:, 1]
        if self.revenue_head == "hurdle":
            rev = torch.sigmoid(logit).detach() * F.softplus(rev)
        return logit, rev

    def embed(self, leaves: torch.Tensor, importer: torch.Tensor, item: torch.Tensor,
              dense: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The hidden vector both heads read (after the hidden layer's LeakyReLU) and the leaf
        attention weights. Shape: leaves (B, T), importer (B,), item (B,) -> (B, dim), (B, T).
        The inspection-selection strategies (BADGE, bATE) use it as the declaration's embedding."""
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
        return F.leaky_relu(self.hidden(F.leaky_relu(self.fusion_layer(z)))), weights
