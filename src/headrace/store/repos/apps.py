"""Workspaces, apps and API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.crypto import hash_key, new_api_key
from headrace.store.tables import ApiToken, App, Workspace
from headrace.store.tables.base import utcnow

DEFAULT_WORKSPACE = "Default workspace"


class AppRepo:
    """Reads and writes apps, their workspace and their keys."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def default_workspace(self) -> Workspace:
        """The oldest workspace, created on first use."""
        row = await self.session.scalar(select(Workspace).order_by(Workspace.created_at).limit(1))
        if row is None:
            row = Workspace(name=DEFAULT_WORKSPACE)
            self.session.add(row)
            await self.session.flush()
        return row

    async def workspace(self, workspace_id: str) -> Workspace | None:
        """A workspace by id."""
        return await self.session.get(Workspace, workspace_id)

    async def create_app(self, workspace_id: str, mode: str, name: str, **fields: Any) -> App:
        """Insert an app."""
        app = App(workspace_id=workspace_id, mode=mode, name=name, **fields)
        self.session.add(app)
        await self.session.flush()
        return app

    async def get(self, app_id: str) -> App | None:
        """An app by id."""
        return await self.session.get(App, app_id)

    async def list(self) -> list[App]:
        """Every app, oldest first."""
        return list(await self.session.scalars(select(App).order_by(App.created_at)))

    async def create_key(self, workspace_id: str, app_id: str | None, kind: str) -> str:
        """Mint a key (`app-…` or `dataset-…`); only its hash is stored."""
        key = new_api_key("app-" if kind == "app" else "dataset-")
        self.session.add(
            ApiToken(
                workspace_id=workspace_id,
                app_id=app_id,
                type=kind,
                token_hash=hash_key(key),
                hint=key[:8] + "…" + key[-4:],
            )
        )
        await self.session.flush()
        return key

    async def find_key(self, key: str, kind: str) -> ApiToken | None:
        """The token row for a presented key of the given scope."""
        return await self.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_key(key), ApiToken.type == kind)
        )

    async def touch_key(self, token_id: str) -> None:
        """Record use of a key, at most once a minute."""
        now = utcnow()
        await self.session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .where(
                (ApiToken.last_used_at.is_(None))
                | (ApiToken.last_used_at < now - timedelta(minutes=1))
            )
            .values(last_used_at=now)
        )
