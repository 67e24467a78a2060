"""The HNSW index picks its search expansion from probe queries: small where the data is easy
to navigate, larger where it is spread out, with recall held on queries it never saw."""

from __future__ import annotations

import numpy as np

from headrace.knowledge.vectorstores.ann import AnnIndex, HnswParams

DIM = 384
ROWS = 3000


def _unit(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def _low_rank(rows: int, seed: int) -> np.ndarray:
    """Vectors on an 8-dimensional subspace plus a little noise, as embeddings tend to be."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(0).standard_normal((8, DIM))
    return _unit(rng.standard_normal((rows, 8)) @ basis + 0.05 * rng.standard_normal((rows, DIM)))


def _spread(rows: int, seed: int) -> np.ndarray:
    return _unit(np.random.default_rng(seed).standard_normal((rows, DIM)))


def _index(vectors: np.ndarray) -> AnnIndex:
    ann = AnnIndex(DIM, "epoch", params=HnswParams())
    ann.upsert(np.arange(len(vectors), dtype=np.uint64), vectors)
    return ann


def _recall(ann: AnnIndex, vectors: np.ndarray, queries: np.ndarray) -> float:
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    found = 0
    for query, want in zip(queries, truth, strict=True):
        keys, _ = ann.search(query.reshape(1, -1), 10)
        found += len(set(keys.tolist()) & set(want.tolist()))
    return found / (10 * len(queries))


def test_easy_data_gets_a_small_expansion_and_keeps_recall() -> None:
    vectors = _low_rank(ROWS, 1)
    ann = _index(vectors)
    chosen = ann.tune()
    assert chosen < HnswParams().expansion_search and ann.expansion == chosen
    assert _recall(ann, vectors, _low_rank(50, 2)) >= 0.95


def test_spread_out_data_keeps_a_larger_expansion() -> None:
    easy = _index(_low_rank(ROWS, 1)).tune()
    vectors = _spread(ROWS, 3)
    ann = _index(vectors)
    assert ann.tune() > easy
    assert _recall(ann, vectors, _spread(50, 4)) >= 0.9


def test_tuning_waits_until_the_index_is_large_and_has_doubled() -> None:
    ann = _index(_low_rank(1000, 5))
    assert not ann.needs_tuning()
    ann.upsert(np.arange(1000, 2500, dtype=np.uint64), _low_rank(1500, 6))
    assert ann.needs_tuning()
    ann.tune()
    assert ann.tuned_size == 2500 and not ann.needs_tuning()
