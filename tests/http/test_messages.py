"""Message history, feedback and suggested questions (spec §5.9)."""

from __future__ import annotations

from typing import Any

from tests.conftest import CHAT_DSL, LiveServer
from tests.support.upstream import Reply, ScriptedUpstream

MESSAGE_KEYS = [
    "id",
    "conversation_id",
    "parent_message_id",
    "inputs",
    "query",
    "answer",
    "feedback",
    "retriever_resources",
    "created_at",
    "agent_thoughts",
    "message_files",
    "status",
    "error",
]


async def _turns(client: Any, server: LiveServer, count: int) -> tuple[str, list[str]]:
    conversation_id = None
    message_ids = []
    for i in range(count):
        body: dict[str, Any] = {"inputs": {}, "query": f"q{i}", "user": "frank"}
        if conversation_id:
            body["conversation_id"] = conversation_id
        data = (await client.post("/v1/chat-messages", json=body)).json()
        conversation_id = data["conversation_id"]
        message_ids.append(data["message_id"])
        await server.container.drain()
    assert conversation_id is not None
    return conversation_id, message_ids


async def test_history_pages_backwards(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        conversation_id, ids = await _turns(client, server, 5)
        latest = (
            await client.get(
                "/v1/messages",
                params={"conversation_id": conversation_id, "user": "frank", "limit": 2},
            )
        ).json()
        older = (
            await client.get(
                "/v1/messages",
                params={
                    "conversation_id": conversation_id,
                    "user": "frank",
                    "limit": 2,
                    "first_id": latest["data"][0]["id"],
                },
            )
        ).json()
        empty = (
            await client.get("/v1/messages", params={"conversation_id": "", "user": "frank"})
        ).json()
        foreign = await client.get(
            "/v1/messages", params={"conversation_id": conversation_id, "user": "gina"}
        )
        bad_first = await client.get(
            "/v1/messages",
            params={
                "conversation_id": conversation_id,
                "user": "frank",
                "first_id": "0d9e4b7c-1111-4a53-8f0a-0d7a0e6a1b11",
            },
        )
        missing_param = await client.get("/v1/messages", params={"user": "frank"})
    assert [m["id"] for m in latest["data"]] == ids[3:5] and latest["has_more"] is True
    assert [m["id"] for m in older["data"]] == ids[1:3] and older["has_more"] is True
    assert list(latest["data"][0]) == MESSAGE_KEYS
    assert latest["data"][1]["query"] == "q4" and latest["data"][1]["answer"] == "Echo: q4"
    assert latest["data"][1]["parent_message_id"] == "00000000-0000-0000-0000-000000000000"
    assert empty == {"limit": 20, "has_more": False, "data": []}
    assert foreign.status_code == 404 and foreign.json()["code"] == "conversation_not_exists"
    assert (
        bad_first.status_code == 404 and bad_first.json()["message"] == "First Message Not Exists."
    )
    assert missing_param.status_code == 400


async def test_feedback_lifecycle(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        conversation_id, ids = await _turns(client, server, 1)
        message_id = ids[0]
        like = await client.post(
            f"/v1/messages/{message_id}/feedbacks", json={"rating": "like", "user": "frank"}
        )
        history = (
            await client.get(
                "/v1/messages", params={"conversation_id": conversation_id, "user": "frank"}
            )
        ).json()
        dislike = await client.post(
            f"/v1/messages/{message_id}/feedbacks",
            json={"rating": "dislike", "content": "meh", "user": "frank"},
        )
        listing = (await client.get("/v1/app/feedbacks")).json()
        foreign = await client.post(
            f"/v1/messages/{message_id}/feedbacks", json={"rating": "like", "user": "gina"}
        )
        remove = await client.post(
            f"/v1/messages/{message_id}/feedbacks", json={"rating": None, "user": "frank"}
        )
        remove_again = await client.post(
            f"/v1/messages/{message_id}/feedbacks", json={"rating": None, "user": "frank"}
        )
        bad_rating = await client.post(
            f"/v1/messages/{message_id}/feedbacks", json={"rating": "meh", "user": "frank"}
        )
        after = (await client.get("/v1/app/feedbacks")).json()
    assert like.json() == {"result": "success"}
    assert history["data"][0]["feedback"] == {"rating": "like"}
    assert dislike.status_code == 200
    item = listing["data"][0]
    assert (item["rating"], item["content"], item["message_id"], item["from_source"]) == (
        "dislike",
        "meh",
        message_id,
        "user",
    )
    assert len(item["created_at"]) == 19 and "T" in item["created_at"]
    assert foreign.status_code == 404 and foreign.json()["message"] == "Message Not Exists."
    assert remove.status_code == 200
    assert remove_again.status_code == 400
    assert remove_again.json()["message"] == "rating cannot be None when feedback not exists"
    assert bad_rating.status_code == 400
    assert after == {"data": []}


async def test_suggested_questions(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    disabled_dsl = {
        **CHAT_DSL,
        "model_config": {
            **CHAT_DSL["model_config"],
            "suggested_questions_after_answer": {"enabled": False},
        },
    }
    disabled = await make_app(disabled_dsl)
    async with server.client(handle.key) as client:
        _, ids = await _turns(client, server, 1)
        scripted.script(Reply(text='Sure: ["Why?", "How?", "When?"]'))
        first = await client.get(f"/v1/messages/{ids[0]}/suggested", params={"user": "frank"})
        cached = await client.get(f"/v1/messages/{ids[0]}/suggested", params={"user": "frank"})
        foreign = await client.get(f"/v1/messages/{ids[0]}/suggested", params={"user": "gina"})
        no_user = await client.get(f"/v1/messages/{ids[0]}/suggested")
    async with server.client(disabled.key) as client:
        off = await client.get(f"/v1/messages/{ids[0]}/suggested", params={"user": "frank"})
    assert first.json() == {"result": "success", "data": ["Why?", "How?", "When?"]}
    assert cached.json() == first.json()
    assert foreign.status_code == 404
    assert no_user.status_code == 400 and no_user.json()["message"] == "Arg user must be provided."
    assert off.status_code == 400 and off.json() == {
        "code": "bad_request",
        "message": "Suggested Questions Is Disabled.",
        "status": 400,
    }
