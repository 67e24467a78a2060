"""Conversation listing, paging, rename, delete and variables (spec §5.8)."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer
from tests.support.upstream import Reply, ScriptedUpstream

CONVERSATION_KEYS = ["id", "name", "inputs", "status", "introduction", "created_at", "updated_at"]


async def _start(client: Any, server: LiveServer, query: str, user: str = "carol") -> str:
    response = await client.post(
        "/v1/chat-messages", json={"inputs": {}, "query": query, "user": user}
    )
    assert response.status_code == 200, response.text
    await server.container.drain()
    return str(response.json()["conversation_id"])


async def test_listing_order_paging_and_privacy(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        ids = [await _start(client, server, f"question {i}") for i in range(3)]
        await _start(client, server, "someone else", user="dave")
        first = (await client.get("/v1/conversations", params={"user": "carol", "limit": 2})).json()
        second = (
            await client.get(
                "/v1/conversations",
                params={"user": "carol", "limit": 2, "last_id": first["data"][-1]["id"]},
            )
        ).json()
        ascending = (
            await client.get("/v1/conversations", params={"user": "carol", "sort_by": "created_at"})
        ).json()
        bad_cursor = await client.get(
            "/v1/conversations",
            params={"user": "carol", "last_id": "0d9e4b7c-1111-4a53-8f0a-0d7a0e6a1b11"},
        )
        bad_limit = await client.get("/v1/conversations", params={"user": "carol", "limit": 0})
        nobody = (await client.get("/v1/conversations", params={"user": "erin"})).json()
    assert [c["id"] for c in first["data"]] == [ids[2], ids[1]] and first["has_more"] is True
    assert [c["id"] for c in second["data"]] == [ids[0]] and second["has_more"] is False
    assert [c["id"] for c in ascending["data"]] == ids
    assert list(first["data"][0]) == CONVERSATION_KEYS
    assert (
        bad_cursor.status_code == 404
        and bad_cursor.json()["message"] == "Last Conversation Not Exists."
    )
    assert bad_limit.status_code == 400 and bad_limit.json()["code"] == "invalid_param"
    assert nobody == {"limit": 20, "has_more": False, "data": []}


async def test_rename_explicit_and_generated(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        conversation_id = await _start(client, server, "How do salmon climb rivers?")
        renamed = await client.post(
            f"/v1/conversations/{conversation_id}/name", json={"name": "Fish", "user": "carol"}
        )
        scripted.script(Reply(text='"Salmon Migration"'))
        generated = await client.post(
            f"/v1/conversations/{conversation_id}/name",
            json={"auto_generate": True, "user": "carol"},
        )
        blank = await client.post(
            f"/v1/conversations/{conversation_id}/name", json={"name": " ", "user": "carol"}
        )
        foreign = await client.post(
            f"/v1/conversations/{conversation_id}/name", json={"name": "x", "user": "dave"}
        )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Fish"
    assert list(renamed.json()) == CONVERSATION_KEYS
    assert generated.json()["name"] == "Salmon Migration"
    assert "How do salmon climb rivers?" in scripted.requests[-1].json["messages"][0]["content"]
    assert (
        blank.status_code == 400
        and "name is required when auto_generate is false" in blank.json()["message"]
    )
    assert foreign.status_code == 404 and foreign.json()["code"] == "conversation_not_exists"


async def test_delete_then_gone(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        conversation_id = await _start(client, server, "to be deleted")
        foreign = await client.request(
            "DELETE", f"/v1/conversations/{conversation_id}", json={"user": "dave"}
        )
        not_json = await client.request("DELETE", f"/v1/conversations/{conversation_id}")
        deleted = await client.request(
            "DELETE", f"/v1/conversations/{conversation_id}", json={"user": "carol"}
        )
        again = await client.request(
            "DELETE", f"/v1/conversations/{conversation_id}", json={"user": "carol"}
        )
        listing = (await client.get("/v1/conversations", params={"user": "carol"})).json()
        continue_ = await client.post(
            "/v1/chat-messages",
            json={"inputs": {}, "query": "hi", "user": "carol", "conversation_id": conversation_id},
        )
    assert foreign.status_code == 404
    assert not_json.status_code == 415
    assert deleted.status_code == 204 and deleted.content == b""
    assert again.status_code == 404
    assert listing["data"] == []
    assert continue_.status_code == 404


async def test_variables_of_a_chat_app_are_empty(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        conversation_id = await _start(client, server, "vars")
        ok = await client.get(
            f"/v1/conversations/{conversation_id}/variables", params={"user": "carol"}
        )
        bad_name = await client.get(
            f"/v1/conversations/{conversation_id}/variables",
            params={"user": "carol", "variable_name": "a b"},
        )
        unknown = await client.get(
            "/v1/conversations/0d9e4b7c-1111-4a53-8f0a-0d7a0e6a1b11/variables",
            params={"user": "carol"},
        )
        not_uuid = await client.get("/v1/conversations/abc/variables", params={"user": "carol"})
    assert ok.json() == {"limit": 20, "has_more": False, "data": []}
    assert bad_name.status_code == 400 and bad_name.json()["code"] == "invalid_param"
    assert unknown.status_code == 404 and unknown.json()["code"] == "conversation_not_exists"
    assert not_uuid.status_code in (404, 400)
