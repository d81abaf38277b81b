"""Hierarchy-consistent decoding: scores of whole HS2 -> HS4 -> HS6 paths, and kNN class scores.

Every HS6 code defines exactly one valid path (its heading and chapter), so a path is scored by
``log p6(c) + log p4(parent4(c)) + log p2(parent2(c))`` and renormalised over all HS6 codes:
the result is "the normalised probability of the whole path". HS4/HS2 rankings are derived from
the HS6 path probabilities by taking, for each heading/chapter, its best path (``max``), so the
top HS6 always lies under the top HS4 and HS2 (a sum would rank a heading with many weak
children above the heading of the best path).
"""

from __future__ import annotations

import torch


def path_log_probs(logits2: torch.Tensor, logits4: torch.Tensor, logits6: torch.Tensor,
                   parent4: torch.Tensor, parent2: torch.Tensor) -> torch.Tensor:
    """Normalised log-probabilities of every HS6 path.

    Shape:
        logits2 ``[B, C2]``, logits4 ``[B, C4]``, logits6 ``[B, C6]``; parent4/parent2 ``[C6]``
        (heading/chapter index of each HS6) -> ``[B, C6]``
    """
    joint = (logits6.log_softmax(-1) + logits4.log_softmax(-1)[:, parent4]
             + logits2.log_softmax(-1)[:, parent2])
    return joint.log_softmax(-1)


def level_scores(path_probs: torch.Tensor, parent: torch.Tensor, n_parent: int) -> torch.Tensor:
    """Score of each parent code = its best child path (keeps rankings hierarchy-consistent).

    Shape:
        path_probs ``[B, C6]``, parent ``[C6]`` -> ``[B, n_parent]``
    """
    out = path_probs.new_zeros(path_probs.shape[0], n_parent)
    return out.scatter_reduce(1, parent.expand_as(path_probs), path_probs, reduce="amax", include_self=True)


def knn_class_probs(query: torch.Tensor, index: torch.Tensor, index_labels: torch.Tensor, n_classes: int,
                    k: int = 20, temperature: float = 0.05, chunk: int = 4096) -> torch.Tensor:
    """Class probabilities from the ``k`` nearest index rows by cosine similarity.

    Each neighbour votes with ``softmax(similarity / temperature)`` over the ``k`` neighbours;
    index rows with label ``-1`` (no HS6) never vote. Queries are processed in chunks to bound memory.

    Shape:
        query ``[B, H]``, index ``[N, H]``, index_labels ``[N]`` -> ``[B, n_classes]``
    """
    keep = index_labels >= 0
    index, index_labels = index[keep], index_labels[keep]
    index = torch.nn.functional.normalize(index.float(), dim=-1)
    k = min(k, index.shape[0])
    outs = []
    for q in torch.split(torch.nn.functional.normalize(query.float(), dim=-1), chunk):
        sims, idx = (q @ index.T).topk(k, dim=-1)
        weights = (sims / temperature).softmax(-1)
        probs = q.new_zeros(q.shape[0], n_classes)
        outs.append(probs.scatter_add_(1, index_labels[idx], weights))
    return torch.cat(outs) if outs else query.new_zeros(0, n_classes)


def hierarchical_scores(path_probs: torch.Tensor, parent4: torch.Tensor, parent2: torch.Tensor,
                        n_hs4: int, n_hs2: int) -> dict[int, torch.Tensor]:
    """``{2: [B, C2], 4: [B, C4], 6: [B, C6]}`` consistent scores from HS6 path probabilities."""
    return {6: path_probs, 4: level_scores(path_probs, parent4, n_hs4), 2: level_scores(path_probs, parent2, n_hs2)}
