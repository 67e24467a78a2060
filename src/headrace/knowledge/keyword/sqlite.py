"""Keyword index on SQLite FTS5, ranked by BM25.

`knowledge_keyword_fts` is an external-content FTS5 table over `knowledge_keyword_entries`
(rowid = `key`), kept in step by three triggers, so any write to the entries, through this
class or not, updates the full-text index in the same transaction. A query matches the
collection's term AND any of the query's terms; BM25 (FTS5's `bm25()`, lower is better) orders
the matches and its negation is the relevance that `search` normalises.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import column, func, literal_column, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.knowledge.keyword.common import KE, SqlKeywordIndex
from headrace.knowledge.keyword.tokenize import collection_term

FTS_TABLE = "knowledge_keyword_fts"
ENTRIES = KE.__tablename__
TOKENIZER = "unicode61 remove_diacritics 0 categories 'L* M* N* Co'"

SCHEMA = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    f"terms, content='{ENTRIES}', content_rowid='key', tokenize=\"{TOKENIZER}\")",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON {ENTRIES} BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, terms) VALUES (new.key, new.terms); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON {ENTRIES} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, terms) VALUES ('delete', old.key, old.terms); "
    "END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE ON {ENTRIES} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, terms) VALUES ('delete', old.key, old.terms); "
    f"INSERT INTO {FTS_TABLE}(rowid, terms) VALUES (new.key, new.terms); END",
]
"""The DDL `ensure_schema` runs (a migration can run the same statements)."""

_FTS = table(FTS_TABLE, column("rowid"))


def fts5_available(connection: Any) -> bool:
    """Whether this SQLite (a DB-API connection) was compiled with FTS5."""
    row = connection.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')").fetchone()
    return bool(row and row[0])


def match_expression(collection: str, terms: list[str]) -> str:
    """The FTS5 query: the collection's term and any of `terms` (all quoted)."""
    alternatives = " OR ".join(f'"{term}"' for term in terms)
    return f'"{collection_term(collection)}" AND ({alternatives})'


class SqliteKeywordIndex(SqlKeywordIndex):
    """`KeywordIndex` on SQLite FTS5 with BM25 ranking."""

    dialect = "sqlite"

    async def ensure_schema(self) -> None:
        """Create the FTS5 table and its triggers; index existing entries when new."""
        async with self.db.engine.begin() as conn:
            existed = (
                await conn.execute(
                    text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
                    {"name": FTS_TABLE},
                )
            ).first() is not None
            for statement in SCHEMA:
                await conn.execute(text(statement))
            if not existed:
                await conn.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"))

    async def _ranked(
        self,
        session: AsyncSession,
        collection: str,
        terms: list[str],
        top_k: int,
        condition: Any,
    ) -> list[tuple[str, dict[str, Any], float]]:
        """Matches by BM25 (negated so that higher is better)."""
        rank = func.bm25(literal_column(FTS_TABLE))
        statement = (
            select(KE.id, KE.payload, rank)
            .select_from(_FTS)
            .join(KE, KE.key == _FTS.c.rowid)
            .where(
                literal_column(FTS_TABLE).op("MATCH")(match_expression(collection, terms)),
                KE.collection == collection,
                condition,
            )
            .order_by(rank, KE.id)
            .limit(top_k)
        )
        rows = await session.execute(statement)
        return [(item_id, payload, max(0.0, -float(score))) for item_id, payload, score in rows]
