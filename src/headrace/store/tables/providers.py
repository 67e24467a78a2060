"""Model provider credentials of a workspace, encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from headrace.store.tables.base import Base, created_column, id_column, updated_column


class ProviderCredential(Base):
    """One provider's credentials (a Fernet token of a JSON mapping)."""

    __tablename__ = "provider_credentials"
    __table_args__ = (
        UniqueConstraint("workspace_id", "provider", name="uq_provider_credentials_key"),
    )

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    provider: Mapped[str] = mapped_column(String(255))
    encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()
