"""The in-memory ANN index of one collection (usearch HNSW, cosine) and its files.

An index reflects the collection as of `version` (see `VectorCollection`). Files are named
`<digest>-<epoch>-<version>.usearch` and written to a temporary name then renamed, so a
file is always complete and says by its name which state it holds; loading takes the newest
file of the current epoch and the store replays what the database has beyond it.

Not thread-safe by itself: callers run its methods in a worker thread holding `lock`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from usearch.index import Index

FloatMatrix = npt.NDArray[np.float32]
KeyArray = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class HnswParams:
    """HNSW build and search parameters.

    Sized for recall@10 >= 0.95 on 384-dimension embeddings even when they are spread out
    (bench/bench_knowledge.py: random unit vectors, the hard case); smaller values lost a
    third of the true neighbours there.
    """

    connectivity: int = 32
    expansion_add: int = 256
    #: The most a search explores; `AnnIndex.tune` picks less where the data allows.
    expansion_search: int = 512
    #: Recall@10 a tuned expansion must reach on a sample of the index's own vectors.
    tune_recall: float = 0.995


def as_matrix(
    vectors: Sequence[float] | Sequence[Sequence[float]] | FloatMatrix, dim: int
) -> FloatMatrix:
    """`vectors` as a C-contiguous float32 matrix of `dim` columns; rejects NaN and infinity."""
    matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("vectors must not contain NaN or infinity")
    return matrix


def cosine(query: FloatMatrix, matrix: FloatMatrix) -> npt.NDArray[np.float32]:
    """Cosine similarity of one query row with every row of `matrix` (0 for zero vectors)."""
    q = query.reshape(-1)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(q))
    dots = matrix @ q
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.where(norms > 0, dots / norms, 0.0)
    return result.astype(np.float32)


def file_digest(collection: str) -> str:
    """The file-name stem of a collection (collection names may hold any character)."""
    return hashlib.sha256(collection.encode()).hexdigest()[:32]


@dataclass
class AnnIndex:
    """A usearch index of one collection plus the collection state it reflects."""

    dim: int
    epoch: str
    version: int = 0
    params: HnswParams = field(default_factory=HnswParams)
    index: Index | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: key -> (id, payload) of rows as this index knows them; a key leaves it when rewritten.
    payloads: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: The search expansion chosen by `tune` (None: `params.expansion_search`), and the size
    #: the index had then.
    expansion: int | None = None
    tuned_size: int = 0

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = Index(
                ndim=self.dim,
                metric="cos",
                dtype="f16",  # half the memory, faster distances, same recall (bench)
                connectivity=self.params.connectivity,
                expansion_add=self.params.expansion_add,
                expansion_search=self.params.expansion_search,
            )
        else:
            self._set_expansion(self.params.expansion_search)

    def _set_expansion(self, value: int) -> None:
        # usearch declares the setter apart from the getter, which mypy reads as read-only
        self._ix.expansion_search = value  # type: ignore[misc]

    @property
    def _ix(self) -> Index:
        assert self.index is not None
        return self.index

    @property
    def size(self) -> int:
        """How many live vectors the index holds."""
        return int(self._ix.size)

    def keys(self) -> KeyArray:
        """Every live key."""
        if self.size == 0:
            return np.zeros(0, dtype=np.uint64)
        return np.asarray(self._ix.keys[:], dtype=np.uint64)

    def checksum(self) -> tuple[int, int]:
        """(count, sum of keys): compared with the same aggregate over the database rows."""
        keys = self.keys()
        return len(keys), int(keys.sum(dtype=np.uint64)) if len(keys) else 0

    def remove(self, keys: Sequence[int] | KeyArray) -> None:
        """Drop these keys (absent ones are ignored)."""
        wanted = np.asarray(keys, dtype=np.uint64)
        if len(wanted):
            self._forget(wanted)
            self._ix.remove(wanted)

    def upsert(self, keys: Sequence[int] | KeyArray, vectors: FloatMatrix) -> None:
        """Add (or replace) vectors under these keys."""
        wanted = np.asarray(keys, dtype=np.uint64)
        if not len(wanted):
            return
        self._forget(wanted)
        present = np.asarray(self._ix.contains(wanted), dtype=bool).reshape(-1)
        if present.any():
            self._ix.remove(wanted[present])
        self._ix.add(wanted, as_matrix(vectors, self.dim))

    def _forget(self, keys: KeyArray) -> None:
        if self.payloads:
            for key in keys.tolist():
                self.payloads.pop(key, None)

    def search(
        self, vector: FloatMatrix, count: int, exact: bool = False
    ) -> tuple[KeyArray, npt.NDArray[np.float32]]:
        """The `count` nearest keys and their cosine similarities, best first."""
        count = min(count, self.size)
        if count <= 0:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
        self._set_expansion(max(self.expansion or self.params.expansion_search, 2 * count))
        matches = self._ix.search(vector.reshape(-1), count, exact=exact)
        keys = np.asarray(matches.keys, dtype=np.uint64)
        similarity = 1.0 - np.asarray(matches.distances, dtype=np.float32)
        return keys, similarity.astype(np.float32)

    def needs_tuning(self, minimum: int = 2000) -> bool:
        """Whether the index is large enough and has doubled since it was last tuned."""
        return self.size >= minimum and self.size >= 2 * self.tuned_size

    def tune(self, samples: int = 64, k: int = 10) -> int:
        """Pick the smallest search expansion (up to `params.expansion_search`) whose recall@k
        against exact search reaches `params.tune_recall` on probe queries.

        A probe is the normalised sum of two random stored vectors, so that like a real query
        it is not itself in the graph and lies where the data lies; its two parents (found
        too easily to judge by) are left out of both result lists. Data whose neighbourhoods
        HNSW navigates well (real embeddings) gets a small expansion and fast searches;
        spread-out data keeps more."""
        keys = self.keys()
        ceiling = self.params.expansion_search
        self.tuned_size = len(keys)
        if len(keys) <= 4 * samples:
            self.expansion = None
            return ceiling
        rng = np.random.default_rng(len(keys))
        parents = rng.choice(keys, (samples, 2), replace=True)
        stored = np.asarray(self._ix.get(parents.reshape(-1)), dtype=np.float32)
        probes = stored.reshape(samples, 2, self.dim).sum(axis=1)
        probes /= np.maximum(np.linalg.norm(probes, axis=1, keepdims=True), 1e-12)
        skip = [set(pair.tolist()) for pair in parents]
        truth = _without(self._ix.search(probes, k + 2, exact=True).keys, skip, k)
        total = sum(len(row) for row in truth)
        expansion = 32
        while expansion < ceiling:
            self._set_expansion(expansion)
            found = _without(self._ix.search(probes, k + 2).keys, skip, k)
            hits = sum(len(want & got) for want, got in zip(truth, found, strict=True))
            if hits >= self.params.tune_recall * total:
                break
            expansion *= 2
        self.expansion = min(expansion, ceiling)
        return self.expansion

    def save(self, directory: Path, collection: str) -> Path:
        """Write the index atomically, then remove older files of the collection."""
        directory.mkdir(parents=True, exist_ok=True)
        stem = file_digest(collection)
        target = directory / f"{stem}-{self.epoch}-{self.version}.usearch"
        temporary = directory / f".{stem}-{uuid.uuid4().hex}.tmp"
        try:
            self._ix.save(str(temporary))
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        for other in directory.glob(f"{stem}-{self.epoch}-*.usearch"):
            version = _file_version(other)
            if version is not None and version < self.version:
                with contextlib.suppress(FileNotFoundError):
                    other.unlink()
        return target

    @classmethod
    def load(
        cls, directory: Path, collection: str, epoch: str, params: HnswParams
    ) -> AnnIndex | None:
        """The newest readable index file of this epoch, or None; other epochs' files go."""
        candidates: list[tuple[int, Path]] = []
        for path in directory.glob(f"{file_digest(collection)}-*.usearch"):
            version = _file_version(path)
            if version is not None and path.stem.split("-")[1] == epoch:
                candidates.append((version, path))
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        for version, path in sorted(candidates, reverse=True):
            try:
                index = Index.restore(str(path))
            except (OSError, RuntimeError, ValueError):
                index = None
            if index is not None and int(index.ndim) > 0:
                return cls(int(index.ndim), epoch, version, params, index)
        return None

    @staticmethod
    def remove_files(directory: Path, collection: str) -> None:
        """Delete every index file of the collection."""
        for path in directory.glob(f"{file_digest(collection)}-*.usearch"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _without(rows: Any, skip: list[set[int]], k: int) -> list[set[int]]:
    """The first `k` keys of each result row that are not in that row's `skip` set."""
    return [
        set([key for key in row if key not in leave_out][:k])
        for row, leave_out in zip(np.asarray(rows).tolist(), skip, strict=True)
    ]


def _file_version(path: Path) -> int | None:
    try:
        return int(path.stem.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None
