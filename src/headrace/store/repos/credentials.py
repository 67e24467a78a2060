"""Provider credentials, encrypted at rest."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.crypto import CredentialCipher
from headrace.store.tables import ProviderCredential
from headrace.store.tables.base import utcnow


class CredentialRepo:
    """Workspace-default credentials per provider."""

    def __init__(self, session: AsyncSession, cipher: CredentialCipher) -> None:
        self.session = session
        self.cipher = cipher

    async def get(self, workspace_id: str, provider: str) -> dict[str, str] | None:
        """Decrypted credentials, or None when none are configured."""
        row = await self._row(workspace_id, provider)
        return None if row is None else self.cipher.decrypt(row.encrypted)

    async def put(self, workspace_id: str, provider: str, values: dict[str, str]) -> None:
        """Store (replace) a provider's credentials."""
        row = await self._row(workspace_id, provider)
        token = self.cipher.encrypt(values)
        if row is None:
            self.session.add(
                ProviderCredential(workspace_id=workspace_id, provider=provider, encrypted=token)
            )
        else:
            row.encrypted = token
            row.updated_at = utcnow()
        await self.session.flush()

    async def _row(self, workspace_id: str, provider: str) -> ProviderCredential | None:
        return await self.session.scalar(
            select(ProviderCredential).where(
                ProviderCredential.workspace_id == workspace_id,
                ProviderCredential.provider == provider,
            )
        )
