"""What both SQL keyword indexes share: rows in `knowledge_keyword_entries`, upserts, deletes.

A text's `terms` column holds its collection term and its tokenised terms, space-separated;
each back end indexes that column (FTS5 through triggers, PostgreSQL through a GIN index on
`to_tsvector('simple', terms)`) and ranks matches its own way (`_ranked`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.knowledge.keyword.base import KeywordDoc
from headrace.knowledge.keyword.tokenize import collection_term, document_terms, query_terms
from headrace.knowledge.vectorstores.base import Filter, Hit
from headrace.knowledge.vectorstores.filters import Scalar, normalize, sql_condition
from headrace.store.db import Database
from headrace.store.tables.base import utcnow
from headrace.store.tables.knowledge_index import KeywordEntry

ROWS_PER_STATEMENT = 400
KE = KeywordEntry

# Both dialects' INSERT constructs offer the same `on_conflict_do_update`.
_DIALECT_INSERT: dict[str, Callable[[Any], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


class SqlKeywordIndex:
    """Shared part of the SQLite and PostgreSQL keyword indexes (not used directly)."""

    dialect = ""

    def __init__(self, db: Database) -> None:
        if db.engine.dialect.name != self.dialect:
            raise ValueError(f"{type(self).__name__} needs a {self.dialect} database")
        self.db = db

    async def ensure_schema(self) -> None:
        """Create what the tables cannot declare (idempotent)."""

    def _upsert(self, rows: list[dict[str, Any]]) -> Any:
        """One INSERT .. ON CONFLICT DO UPDATE for `rows`, in this index's dialect."""
        statement = _DIALECT_INSERT[self.dialect](KE).values(rows)
        return statement.on_conflict_do_update(
            index_elements=[KE.collection, KE.id],
            set_={
                "text": statement.excluded.text,
                "terms": statement.excluded.terms,
                "payload": statement.excluded.payload,
                "updated_at": statement.excluded.updated_at,
            },
        )

    async def _ranked(
        self,
        session: AsyncSession,
        collection: str,
        terms: list[str],
        top_k: int,
        condition: Any,
    ) -> list[tuple[str, dict[str, Any], float]]:
        """(id, payload, relevance >= 0) of the best matches, best first."""
        raise NotImplementedError

    async def add(
        self, collection: str, id: str, text: str, payload: dict[str, Any] | None = None
    ) -> None:
        """Index one text, replacing the one stored under the same id."""
        await self.add_many(collection, [KeywordDoc(id, text, dict(payload or {}))])

    async def add_many(self, collection: str, docs: Sequence[KeywordDoc]) -> None:
        """Index several texts in one transaction (the last of repeated ids wins)."""
        latest = list({doc.id: doc for doc in docs}.values())
        if not latest:
            return
        prefix = collection_term(collection)
        now = utcnow()
        rows = [
            {
                "collection": collection,
                "id": doc.id,
                "text": doc.text,
                "terms": " ".join([prefix, *document_terms(doc.text)]),
                "payload": dict(doc.payload),
                "updated_at": now,
            }
            for doc in latest
        ]
        async with self.db.session() as session:
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                await session.execute(self._upsert(rows[start : start + ROWS_PER_STATEMENT]))

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove these ids (unknown ones are ignored)."""
        wanted = list(dict.fromkeys(ids))
        async with self.db.session() as session:
            for start in range(0, len(wanted), ROWS_PER_STATEMENT):
                part = wanted[start : start + ROWS_PER_STATEMENT]
                await session.execute(
                    delete(KE).where(KE.collection == collection, KE.id.in_(part))
                )

    async def delete_where(self, collection: str, key: str, value: Any) -> None:
        """Remove every text whose payload matches `{key: value}`."""
        condition = sql_condition(KE.payload, normalize({key: value}), self.dialect)
        async with self.db.session() as session:
            await session.execute(delete(KE).where(KE.collection == collection, condition))

    async def drop(self, collection: str) -> None:
        """Remove every text of the collection."""
        async with self.db.session() as session:
            await session.execute(delete(KE).where(KE.collection == collection))

    async def search(
        self, collection: str, query: str, top_k: int, filter: Filter | None = None
    ) -> list[Hit]:
        """The `top_k` most relevant texts matching `filter`, best first (scores: see base)."""
        wanted: dict[str, list[Scalar]] = normalize(filter)
        terms = query_terms(query)
        if top_k <= 0 or not terms:
            return []
        condition = sql_condition(KE.payload, wanted, self.dialect)
        async with self.db.sessions() as session:
            ranked = await self._ranked(session, collection, terms, top_k, condition)
        best = max((relevance for _, _, relevance in ranked), default=0.0)
        return [
            Hit(item_id, relevance / best if best > 0 else 1.0, payload)
            for item_id, payload, relevance in ranked
        ]

    async def aclose(self) -> None:
        """Nothing to release: the database belongs to the caller."""
