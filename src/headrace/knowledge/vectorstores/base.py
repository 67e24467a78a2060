"""The vector-store contract shared by every back end.

Scores: every store returns the cosine similarity of the query and the stored vector, clamped
to [0, 1] (`max(0, cos)`). That is what Dify's own stores report (pgvector's `1 - cosine
distance`, Qdrant's cosine score), so a `score_threshold` tuned on Dify keeps its meaning here;
the clamp only removes the (rare, for real embeddings) negative similarities.

Filters: a mapping of payload key to wanted value. Every key must match (AND); a value that
is a list means "any of these" (IN). Values compare by JSON type: a string never equals a
number, `True` never equals `1`, and `1 == 1.0`. `None` matches a stored JSON null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Filter = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class VectorItem:
    """One vector to store: its id (unique within a collection), the vector and a JSON payload."""

    id: str
    vector: list[float]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the stored id, a score in [0, 1] (higher is closer) and the payload."""

    id: str
    score: float
    payload: dict[str, Any]


def similarity_score(cosine: float) -> float:
    """The public score of a cosine similarity: clamped to [0, 1] (NaN from a zero vector is 0)."""
    if math.isnan(cosine):
        return 0.0
    return min(1.0, max(0.0, cosine))


def rank_hits(hits: Sequence[Hit], top_k: int) -> list[Hit]:
    """The `top_k` best hits, best first; ties are ordered by id so results are deterministic."""
    return sorted(hits, key=lambda hit: (-hit.score, hit.id))[: max(0, top_k)]


@runtime_checkable
class VectorStore(Protocol):
    """Collections of vectors with JSON payloads, searched by cosine similarity."""

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> None:
        """Insert or replace `items` (by id); creates the collection on first use."""
        ...

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove the vectors with these ids (unknown ids are ignored)."""
        ...

    async def delete_where(self, collection: str, key: str, value: Any) -> None:
        """Remove every vector whose payload matches `{key: value}` (a list value means "in")."""
        ...

    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        top_k: int,
        filter: Filter | None = None,
    ) -> list[Hit]:
        """The `top_k` nearest vectors matching `filter`, best first ([] if no collection)."""
        ...

    async def drop(self, collection: str) -> None:
        """Remove the collection and everything in it (no error when it does not exist)."""
        ...

    async def aclose(self) -> None:
        """Release files, clients and threads; persist whatever is cached."""
        ...
