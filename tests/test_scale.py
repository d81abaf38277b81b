"""Memory-lean tree stage outputs: chunked leaf ids and leaf indices in int16 (tiny data)."""

from __future__ import annotations

import numpy as np

from bacuda_research.fraud.xgb_stage import LeafEncoder, leaves


def test_chunked_leaf_ids_are_int16_and_equal_xgboost():
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.random((3000, 5), dtype=np.float32)
    booster = xgb.train({"max_depth": 4, "tree_method": "hist", "nthread": 1},
                        xgb.DMatrix(X, label=X[:, 0] > 0.5), num_boost_round=7)
    ids = leaves(booster, X, list("abcde"), chunk_rows=700)  # 5 chunks, the last one short
    direct = booster.predict(xgb.DMatrix(X, feature_names=list("abcde")), pred_leaf=True)
    assert ids.dtype == np.int16 and ids.shape == (3000, 7)
    assert np.array_equal(ids, direct.astype(np.int64))


def test_leaf_encoder_numbers_tree_by_tree_and_encodes_in_chunks():
    rng = np.random.default_rng(1)
    train = rng.integers(3, 20, (2000, 6)).astype(np.int16)
    enc = LeafEncoder().fit(train, chunk_rows=300)
    # reference numbering: per tree, the sorted distinct leaves reached in training, from 1 on
    nxt, table = 1, np.zeros_like(enc.table)
    for t in range(train.shape[1]):
        seen = np.unique(train[:, t])
        table[t, seen] = np.arange(nxt, nxt + len(seen))
        nxt += len(seen)
    assert np.array_equal(enc.table, table) and enc.n_leaves == nxt
    other = rng.integers(0, 30, (500, 6))  # unseen and out-of-table node ids -> 0
    out = enc.transform(other, chunk_rows=128)
    inside = other < table.shape[1]
    expect = np.where(inside, table[np.arange(6)[None, :], np.where(inside, other, 0)], 0)
    assert out.dtype == np.int16 and np.array_equal(out, expect)
    big = LeafEncoder(np.arange(40000, dtype=np.int32).reshape(2, -1))
    assert big.dtype == np.int32  # indices beyond int16 keep 32 bits
