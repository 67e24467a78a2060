"""End users: one per (app, `user` string) for Service API callers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.store.tables import EndUser

ANONYMOUS_SESSION = "DEFAULT-USER"
SERVICE_API = "service-api"


class EndUserRepo:
    """Get-or-create end users."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_or_create(self, workspace_id: str, app_id: str, user: str | None) -> EndUser:
        """The end user for `user`, or the shared anonymous one when `user` is empty."""
        session_id = user or ANONYMOUS_SESSION
        query = select(EndUser).where(
            EndUser.app_id == app_id, EndUser.type == SERVICE_API, EndUser.session_id == session_id
        )
        found = await self.session.scalar(query)
        if found is not None:
            return found
        row = EndUser(
            workspace_id=workspace_id,
            app_id=app_id,
            type=SERVICE_API,
            external_user_id=user or None,
            session_id=session_id,
            is_anonymous=not user,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            # Another request created it between our select and insert.
            found = await self.session.scalar(query)
            if found is None:
                raise
            return found
        return row
