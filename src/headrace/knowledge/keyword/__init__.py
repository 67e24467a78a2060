"""Keyword (full-text) indexes over segment texts: SQLite FTS5 or PostgreSQL full-text."""

from headrace.knowledge.keyword.base import KeywordDoc, KeywordIndex
from headrace.knowledge.keyword.postgres import PostgresKeywordIndex
from headrace.knowledge.keyword.sqlite import SqliteKeywordIndex
from headrace.store.db import Database


def keyword_index_for(db: Database) -> KeywordIndex:
    """The keyword index for the database's dialect (call `ensure_schema()` once at start)."""
    if db.engine.dialect.name == "postgresql":
        return PostgresKeywordIndex(db)
    if db.engine.dialect.name == "sqlite":
        return SqliteKeywordIndex(db)
    raise ValueError(f"no keyword index for the {db.engine.dialect.name} dialect")


__all__ = [
    "KeywordDoc",
    "KeywordIndex",
    "PostgresKeywordIndex",
    "SqliteKeywordIndex",
    "keyword_index_for",
]
