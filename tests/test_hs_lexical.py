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


TRICKY = ["", "   ", "a", "ab", "abc", "Frozen  BONELESS\tbeef > 80 %", "İstanbul ǅ ß straße", "牛肉 冷冻 无骨",
          "thịt bò đông lạnh", "x" * 70, "t-shirts, of cotton; knitted\n(other)", "ΑΒΓ αβγ 12.5kg"]


def test_featurizer_equals_the_scikit_learn_reference_bitwise():
    """hs.tfidf reimplements HashingVectorizer + normalize in NumPy: checkpoints trained with the
    scikit-learn version must score the same, so the features must be identical to the bit."""
    from sklearn.feature_extraction import text as sk_text  # scikit-learn: a train dependency
    from sklearn.preprocessing import normalize
    from sklearn.utils import murmurhash3_32 as sk_murmur

    from bacuda_research.hs.tfidf import murmurhash3_32

    keys = TRICKY + [t[:n] for t in TRICKY for n in range(1, 9)]
    assert murmurhash3_32([k.encode() for k in keys]).tolist() == [sk_murmur(k, seed=0) for k in keys]
    texts = TRICKY + TEXTS
    bits = 8
    common = dict(n_features=2 ** bits, alternate_sign=False, norm=None, lowercase=True)
    import scipy.sparse as sp

    ref = sp.hstack([sk_text.HashingVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b",
                                               **common).transform(texts),
                     sk_text.HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), **common).transform(texts)],
                    format="csr", dtype=np.float32)
    f = LexicalFeaturizer(bits=bits)
    got = f.counts(texts)
    assert (got.indptr == ref.indptr).all() and (got.indices == ref.indices).all() and (got.data == ref.data).all()
    f.fit(texts)
    ref.data = np.log1p(ref.data) * f.idf[ref.indices]
    ref = normalize(ref).astype(np.float32)
    x = f.transform(texts)
    assert (x.indices == ref.indices).all() and x.data.tobytes() == ref.data.tobytes()
    assert x[0].nnz == 0 and x[1].nnz == 0  # empty texts: empty rows, no NaN


def test_bag_sum_matches_embedding_bag():
    from bacuda_research.hs.tfidf import bag_sum

    f = LexicalFeaturizer(bits=8).fit(TEXTS)
    texts = ["", "frozen beef", "", "welded steel tubes of cotton", ""]
    bag = torch.nn.EmbeddingBag(2 * 2 ** 8, 5, mode="sum")
    b = bag_inputs(f.transform(texts))
    want = bag(b["lex_ids"], b["lex_offsets"], per_sample_weights=b["lex_weights"]).detach().numpy()
    got = bag_sum(bag.weight.detach().numpy(), f.rows(texts))
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert not got[0].any() and not got[-1].any()
