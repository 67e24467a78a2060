"""Declarative base and the column helpers every table shares."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from headrace.ids import new_id as new_id  # re-exported: the tables' id default

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC now: stored without zone, rendered as Unix seconds on the wire."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_unix(value: datetime) -> int:
    """Unix seconds of a stored (naive UTC) timestamp."""
    return int(value.replace(tzinfo=UTC).timestamp())


def from_unix(seconds: float) -> datetime:
    """The stored (naive UTC) form of Unix seconds."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Base of every table."""

    metadata = MetaData(naming_convention=NAMING)


def id_column() -> Mapped[str]:
    """Primary key column holding a UUID string."""
    return mapped_column(String(36), primary_key=True, default=new_id)


def created_column() -> Mapped[datetime]:
    """Creation timestamp."""
    return mapped_column(DateTime, default=utcnow, nullable=False)


def updated_column() -> Mapped[datetime]:
    """Last-update timestamp, refreshed by the ORM on every update."""
    return mapped_column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)
