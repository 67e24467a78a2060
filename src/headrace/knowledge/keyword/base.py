"""The keyword-index contract: full-text search over segment texts.

Scores are normalised to [0, 1] per query: the engine's relevance (FTS5 BM25, PostgreSQL
`ts_rank_cd`) divided by the best one among the results, so the first hit scores 1.0 and
the others say how close they come to it. They order results; they are not comparable from
one query to another. Filters mean what they mean for vector stores (see `vectorstores.base`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from headrace.knowledge.vectorstores.base import Filter, Hit


@dataclass(frozen=True, slots=True)
class KeywordDoc:
    """One text to index: its id (unique within a collection), the text and a JSON payload."""

    id: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class KeywordIndex(Protocol):
    """Collections of texts searched by keywords, with payload filters."""

    async def ensure_schema(self) -> None:
        """Create what the tables cannot declare (idempotent)."""
        ...

    async def add(
        self, collection: str, id: str, text: str, payload: dict[str, Any] | None = None
    ) -> None:
        """Index one text, replacing the one stored under the same id."""
        ...

    async def add_many(self, collection: str, docs: Sequence[KeywordDoc]) -> None:
        """Index several texts in one transaction (the last of repeated ids wins)."""
        ...

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove these ids (unknown ones are ignored)."""
        ...

    async def delete_where(self, collection: str, key: str, value: Any) -> None:
        """Remove every text whose payload matches `{key: value}` (a list value means "in")."""
        ...

    async def search(
        self, collection: str, query: str, top_k: int, filter: Filter | None = None
    ) -> list[Hit]:
        """The `top_k` most relevant texts matching `filter`, best first."""
        ...

    async def drop(self, collection: str) -> None:
        """Remove every text of the collection."""
        ...

    async def aclose(self) -> None:
        """Release resources (the database stays open: it is shared)."""
        ...
