"""Search indexes of knowledge bases: stored vectors and keyword (full-text) entries.

These tables live on their own `INDEX_METADATA` (same naming convention as `Base`) until the
schema migration that adds them exists; integrating them means either dropping the
`metadata = INDEX_METADATA` line below (so they join `Base.metadata`) or adding
`INDEX_METADATA` to Alembic's `target_metadata`.

Not expressible here, created by `SqliteKeywordIndex.ensure_schema()`: the SQLite FTS5 table
`knowledge_keyword_fts` (external content over `knowledge_keyword_entries`, rowid = `key`)
and its shadow tables `knowledge_keyword_fts_*`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from headrace.store.tables.base import NAMING, Base, created_column, utcnow

INDEX_METADATA = MetaData(naming_convention=NAMING)

# JSONB on PostgreSQL: containment filters (`payload @> {...}`) served by a GIN index.
PayloadJSON = JSON().with_variant(JSONB(), "postgresql")
# A 64-bit key that is the rowid alias on SQLite (so FTS5 can use it as content_rowid).
RowKey = BigInteger().with_variant(Integer(), "sqlite")


class IndexBase(Base):
    """Abstract base putting the index tables on `INDEX_METADATA`."""

    __abstract__ = True
    metadata = INDEX_METADATA


class VectorCollection(IndexBase):
    """One vector collection: its dimension and the write counter that versions its ANN index.

    Every write transaction bumps `version` first (which also serialises writers of the
    collection); rows and tombstones carry the version that wrote them, so an index file that
    recorded version N catches up by replaying what is newer. `epoch` changes when the
    collection is dropped and re-created, which invalidates every index file of the old one.
    """

    __tablename__ = "knowledge_vector_collections"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))
    dim: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    next_key: Mapped[int] = mapped_column(BigInteger, default=1)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    pruned_version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = created_column()


class StoredVector(IndexBase):
    """A vector (float32 little-endian bytes) with its payload; the source of truth."""

    __tablename__ = "knowledge_vectors"
    __table_args__ = (
        UniqueConstraint("collection", "key", name="uq_knowledge_vectors_key"),
        Index("ix_knowledge_vectors_version", "collection", "version"),
        Index(
            "ix_knowledge_vectors_payload",
            "payload",
            postgresql_using="gin",
            postgresql_ops={"payload": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    collection: Mapped[str] = mapped_column(String(255), primary_key=True)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(PayloadJSON, default=dict)
    version: Mapped[int] = mapped_column(BigInteger)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class VectorTombstone(IndexBase):
    """The key of a deleted vector and the collection version that deleted it."""

    __tablename__ = "knowledge_vector_tombstones"
    __table_args__ = (Index("ix_knowledge_vector_tombstones_version", "collection", "version"),)

    collection: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class KeywordEntry(IndexBase):
    """A text indexed for keyword search: `terms` is its normalised token stream."""

    __tablename__ = "knowledge_keyword_entries"
    __table_args__ = (
        UniqueConstraint("collection", "id", name="uq_knowledge_keyword_entries_id"),
        Index(
            "ix_knowledge_keyword_entries_tsv",
            func.to_tsvector(literal_column("'simple'"), literal_column("terms")),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_knowledge_keyword_entries_payload",
            "payload",
            postgresql_using="gin",
            postgresql_ops={"payload": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    key: Mapped[int] = mapped_column(RowKey, primary_key=True, autoincrement=True)
    collection: Mapped[str] = mapped_column(String(255))
    id: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(PayloadJSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


INDEX_TABLES = [
    VectorCollection.__table__,
    StoredVector.__table__,
    VectorTombstone.__table__,
    KeywordEntry.__table__,
]
