"""Decoding, metrics and the network on tiny tensors (no data files, no pretrained weights)."""

from __future__ import annotations

import pytest
import torch

from bacuda_research.hs.decoding import hierarchical_scores, knn_class_probs, path_log_probs
from bacuda_research.hs.metrics import HSMetrics
from bacuda_research.hs.models import HSClassifier, freeze_encoder, small_bert_config

# 2 chapters, 3 headings, 5 subheadings
PARENT4 = torch.tensor([0, 0, 1, 2, 2])
PARENT2_OF4 = torch.tensor([0, 0, 1])
PARENT2 = PARENT2_OF4[PARENT4]


def test_path_probabilities_are_normalised_and_consistent():
    g = torch.Generator().manual_seed(0)
    l2, l4, l6 = torch.randn(7, 2, generator=g), torch.randn(7, 3, generator=g), torch.randn(7, 5, generator=g)
    probs = path_log_probs(l2, l4, l6, PARENT4, PARENT2).exp()
    torch.testing.assert_close(probs.sum(-1), torch.ones(7))
    s = hierarchical_scores(probs, PARENT4, PARENT2, 3, 2)
    top6 = s[6].argmax(-1)
    assert torch.equal(s[4].argmax(-1), PARENT4[top6])  # predicted HS6 lies under predicted HS4
    assert torch.equal(s[2].argmax(-1), PARENT2[top6])  # ... and under predicted HS2


def test_path_score_is_sum_of_level_log_probs():
    l2 = torch.tensor([[0.0, 2.0]])
    l4 = torch.tensor([[1.0, 0.0, 3.0]])
    l6 = torch.tensor([[0.5, 0.1, 0.2, 0.3, 0.4]])
    lp = path_log_probs(l2, l4, l6, PARENT4, PARENT2)
    joint = l6.log_softmax(-1) + l4.log_softmax(-1)[:, PARENT4] + l2.log_softmax(-1)[:, PARENT2]
    torch.testing.assert_close(lp, joint.log_softmax(-1))


def test_knn_votes():
    index = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.5, 0.5]])
    labels = torch.tensor([0, 0, 2, -1])  # the last row has no HS6 and must not vote
    p = knn_class_probs(torch.tensor([[1.0, 0.05]]), index, labels, n_classes=3, k=2, temperature=0.1)
    torch.testing.assert_close(p.sum(-1), torch.ones(1))
    assert p[0, 0] == pytest.approx(1.0)


def test_metrics_count_unknown_codes_as_wrong():
    m = HSMetrics({2: 2, 4: 3, 6: 5})
    probs = torch.eye(5)[[0, 3, 4]]
    s = hierarchical_scores(probs, PARENT4, PARENT2, 3, 2)
    targets = {6: torch.tensor([0, 3, 5]), 4: torch.tensor([0, 2, 2]), 2: torch.tensor([0, 1, 1])}  # 5 = unknown
    m.update(s, targets)
    out = m.compute("x")
    assert out["x/hs6/acc@1"] == pytest.approx(2 / 3)
    assert out["x/hs4/acc@1"] == pytest.approx(1.0)
    assert set(out) >= {"x/hs6/acc@5", "x/hs4/acc@3", "x/hs2/macro_f1", "x/hs6/macro_f1"}


def test_classifier_shapes_and_freezing():
    cfg = small_bert_config(50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            max_position_embeddings=16)
    model = HSClassifier(cfg, 2, 3, 5, head_hidden=8)
    ids = torch.randint(5, 50, (4, 6))
    mask = torch.ones_like(ids)
    mask[0, 3:] = 0
    l2, l4, l6 = model(ids, mask)
    assert l2.shape == (4, 2) and l4.shape == (4, 3) and l6.shape == (4, 5)
    # padding does not change a row's pooled vector (masked mean)
    model.eval()
    a = model.embed(ids[:1, :3], mask[:1, :3])
    b = model.embed(ids[:1], mask[:1])
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert freeze_encoder(model, 1) == 1
    trainable = {n for n, p in model.encoder.named_parameters() if p.requires_grad}
    assert trainable and all(".1." in n for n in trainable)
    freeze_encoder(model, 0)
    assert not any(p.requires_grad for p in model.encoder.parameters())


def test_metrics_update_restores_deterministic_flag_and_scales():
    """torchmetrics' deterministic bincount is [N, C**2]; the update lifts the flag and restores it."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        m = HSMetrics({2: 50, 4: 500, 6: 3000})  # the deterministic path would need ~18 GB here
        n = 200
        scores = {lvl: torch.rand(n, c) for lvl, c in ((2, 50), (4, 500), (6, 3000))}
        m.update(scores, {lvl: torch.randint(0, c, (n,)) for lvl, c in ((2, 50), (4, 500), (6, 3000))})
        assert torch.are_deterministic_algorithms_enabled()
        assert 0.0 <= m.compute("x")["x/hs6/acc@5"] <= 1.0
    finally:
        torch.use_deterministic_algorithms(before)
