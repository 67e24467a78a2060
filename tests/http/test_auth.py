"""App-key authentication failures in the contract's order (spec §2.2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from tests.conftest import LiveServer

from headrace.store.tables import App


async def test_auth_failures(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    async with server.client() as client:
        missing = await client.get("/v1/info")
        no_space = await client.get("/v1/info", headers={"Authorization": "Bearer"})
        basic = await client.get("/v1/info", headers={"Authorization": "Basic abc"})
        unknown = await client.get("/v1/info", headers={"Authorization": "Bearer app-unknown"})
        lower = await client.get("/v1/info", headers={"Authorization": f"bearer   {handle.key}"})
    assert missing.status_code == 401
    assert missing.json() == {
        "code": "unauthorized",
        "message": "Authorization header must be provided and start with 'Bearer'",
        "status": 401,
    }
    assert missing.headers["www-authenticate"] == 'Bearer realm="api"'
    assert no_space.status_code == 401
    assert basic.json()["message"] == "Authorization scheme must be 'Bearer'"
    assert unknown.json()["message"] == "Access token is invalid"
    assert lower.status_code == 200


async def test_disabled_and_abnormal_apps(server: LiveServer, make_app: Any) -> None:
    disabled = await make_app()
    abnormal = await make_app()
    async with server.container.db.session() as session:
        await session.execute(update(App).where(App.id == disabled.app_id).values(enable_api=False))
        await session.execute(update(App).where(App.id == abnormal.app_id).values(status="banned"))
    async with server.client(disabled.key) as client:
        off = await client.get("/v1/info")
    async with server.client(abnormal.key) as client:
        banned = await client.get("/v1/info")
    assert (
        off.status_code == 403
        and off.json()["message"] == "The app's API service has been disabled."
    )
    assert banned.status_code == 403 and banned.json()["message"] == "The app's status is abnormal."


async def test_keys_are_stored_hashed(server: LiveServer, make_app: Any) -> None:
    from sqlalchemy import select

    from headrace.store.tables import ApiToken

    handle = await make_app()
    async with server.container.db.session() as session:
        stored = list(await session.scalars(select(ApiToken.token_hash)))
    assert handle.key.startswith("app-") and len(handle.key) == 28
    assert handle.key not in stored and len(stored) == 1 and len(stored[0]) == 64
