"""Knowledge bases: datasets, their documents, segments, child chunks, metadata fields, tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from headrace.store.tables.base import Base, created_column, id_column, updated_column


class Dataset(Base):
    """A knowledge base of one workspace."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_datasets_name"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(String(32), default="vendor")
    permission: Mapped[str] = mapped_column(String(32), default="only_me")
    data_source_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    indexing_technique: Mapped[str | None] = mapped_column(String(32), nullable=True)
    embedding_model: Mapped[str | None] = mapped_column(String(255), nullable=True)
    embedding_model_provider: Mapped[str | None] = mapped_column(String(255), nullable=True)
    retrieval_model: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    process_rule: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    doc_form: Mapped[str | None] = mapped_column(String(32), nullable=True)
    built_in_field_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    enable_api: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class DatasetDocument(Base):
    """A document of a dataset and its indexing progress."""

    __tablename__ = "dataset_documents"
    __table_args__ = (Index("ix_dataset_documents_dataset", "dataset_id", "created_at"),)

    id: Mapped[str] = id_column()
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    position: Mapped[int] = mapped_column(Integer, default=1)
    batch: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    data_source_type: Mapped[str] = mapped_column(String(32), default="upload_file")
    data_source_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    upload_file_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    process_rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_from: Mapped[str] = mapped_column(String(16), default="api")
    doc_form: Mapped[str] = mapped_column(String(32), default="text_model")
    doc_language: Mapped[str] = mapped_column(String(64), default="English")
    doc_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    indexing_status: Mapped[str] = mapped_column(String(32), default="waiting")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    indexing_latency: Mapped[float | None] = mapped_column(Float, nullable=True)
    processing_started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    parsing_completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    cleaning_completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    splitting_completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    paused_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class DocumentSegment(Base):
    """A chunk of a document, the unit of retrieval."""

    __tablename__ = "document_segments"
    __table_args__ = (Index("ix_document_segments_document", "document_id", "position"),)

    id: Mapped[str] = id_column()
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("dataset_documents.id"))
    position: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    index_node_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    index_node_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(32), default="waiting")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    indexing_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class ChildChunk(Base):
    """A child chunk of a parent segment (parent-child indexing)."""

    __tablename__ = "child_chunks"

    id: Mapped[str] = id_column()
    segment_id: Mapped[str] = mapped_column(ForeignKey("document_segments.id"), index=True)
    document_id: Mapped[str] = mapped_column(String(36))
    dataset_id: Mapped[str] = mapped_column(String(36))
    position: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    type: Mapped[str] = mapped_column(String(16), default="automatic")
    index_node_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class DatasetMetadataField(Base):
    """A metadata field defined on a dataset."""

    __tablename__ = "dataset_metadata_fields"
    __table_args__ = (UniqueConstraint("dataset_id", "name", name="uq_dataset_metadata_name"),)

    id: Mapped[str] = id_column()
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_column()


class Tag(Base):
    """A knowledge tag of a workspace."""

    __tablename__ = "tags"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16), default="knowledge")
    created_at: Mapped[datetime] = created_column()


class TagBinding(Base):
    """A tag attached to a dataset."""

    __tablename__ = "tag_bindings"
    __table_args__ = (UniqueConstraint("tag_id", "target_id", name="uq_tag_bindings_pair"),)

    id: Mapped[str] = id_column()
    tag_id: Mapped[str] = mapped_column(ForeignKey("tags.id"))
    target_id: Mapped[str] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = created_column()
