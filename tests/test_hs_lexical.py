"""Hashed TF-IDF side: IDF fit, tensor round trip of the kNN index, votes and the EmbeddingBag input."""

from __future__ import annotations

import numpy as np
import torch

from bacuda_research.hs.lexical import (LexicalFeaturizer, bag_inputs, bag_rows, csr_to_tensors, lexical_knn_probs,
                                        tensors_to_csr)

TEXTS = ["frozen boneless beef", "fresh bovine meat with bone", "cotton t-shirts knitted", "steel tubes welded"]


def test_featurizer_rows_are_unit_norm_and_idf_travels_as_a_tensor():
    f = LexicalFeaturizer(bits=10).fit(TEXTS)
    x = f.transform(TEXTS)
    assert x.shape == (4, 2 * 2 ** 10)
    np.testing.assert_allclose(np.sqrt(x.multiply(x).sum(1)).A1, 1.0, rtol=1e-5)
    again = LexicalFeaturizer(bits=10, idf=torch.from_numpy(f.idf)).transform(TEXTS)
    assert abs(again - x).max() == 0


def test_index_round_trip_and_votes_pick_the_lexical_neighbour():
    f = LexicalFeaturizer(bits=10).fit(TEXTS)
    index = f.transform(TEXTS)
    t = csr_to_tensors(index)
    back = tensors_to_csr(t["indptr"], t["indices"], t["data"], index.shape[1])
    assert abs(back - index).max() < 1e-3  # float16 values
    labels = torch.tensor([0, 1, 2, -1])  # the last row has no HS6 and never votes
    p = lexical_knn_probs(f.transform(["boneless beef frozen", "welded steel tubes"]), back, labels, 3, k=2)
    assert p.argmax(1).tolist()[0] == 0 and torch.allclose(p.sum(1), torch.ones(2))
    assert p[1].sum() > 0.99 and p.shape == (2, 3)


def test_bag_inputs_round_trip():
    f = LexicalFeaturizer(bits=8).fit(TEXTS)
    x = f.transform(TEXTS)
    assert abs(bag_rows(bag_inputs(x), x.shape[1]) - x).max() == 0
    bag = torch.nn.EmbeddingBag(x.shape[1], 3, mode="sum")
    b = bag_inputs(x)
    assert bag(b["lex_ids"], b["lex_offsets"], per_sample_weights=b["lex_weights"]).shape == (4, 3)
