"""Completion apps through HTTP: both modes, input validation, stop, wrong-mode routes."""

from __future__ import annotations

from typing import Any

from tests.conftest import COMPLETION_DSL, LiveServer
from tests.support.sse import names, parse_frames, read_stream
from tests.support.upstream import Reply, ScriptedUpstream


async def test_blocking_completion(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app(COMPLETION_DSL)
    scripted.script(Reply(chunks=["Bonjour", " le monde"], usage=(8, 4)))
    async with server.client(handle.key) as client:
        response = await client.post(
            "/v1/completion-messages",
            json={"inputs": {"text": "Hello world"}, "user": "bob", "response_mode": "blocking"},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == [
        "event",
        "task_id",
        "id",
        "message_id",
        "mode",
        "answer",
        "metadata",
        "created_at",
    ]
    assert body["mode"] == "completion" and body["answer"] == "Bonjour le monde"
    assert body["metadata"]["usage"]["total_tokens"] == 12
    sent = scripted.requests[0].json["messages"]
    assert sent == [{"role": "user", "content": "Translate to French: Hello world"}]


async def test_streaming_completion_keys(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app(COMPLETION_DSL)
    scripted.script(Reply(chunks=["Salut"]))
    async with (
        server.client(handle.key) as client,
        client.stream(
            "POST",
            "/v1/completion-messages",
            json={"inputs": {"text": "Hi"}, "user": "bob", "response_mode": "streaming"},
        ) as response,
    ):
        frames = await read_stream(response)
    assert names(frames) == ["ping", "message", "message_end"]
    message = frames[1].data
    assert message is not None
    assert list(message) == [
        "event",
        "message_id",
        "created_at",
        "task_id",
        "id",
        "answer",
        "from_variable_selector",
    ]
    end = frames[2].data
    assert end is not None and "conversation_id" not in end


async def test_required_input_and_chat_routes_refused(server: LiveServer, make_app: Any) -> None:
    handle = await make_app(COMPLETION_DSL)
    async with server.client(handle.key) as client:
        missing = await client.post("/v1/completion-messages", json={"inputs": {}, "user": "bob"})
        chat = await client.post(
            "/v1/chat-messages", json={"inputs": {}, "query": "x", "user": "bob"}
        )
        conversations = await client.get("/v1/conversations", params={"user": "bob"})
    assert missing.status_code == 400
    assert missing.json() == {
        "code": "invalid_param",
        "message": "text is required in input form",
        "status": 400,
    }
    assert chat.status_code == 400 and chat.json()["code"] == "not_chat_app"
    assert conversations.json()["code"] == "not_chat_app"


async def test_stop_completion(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app(COMPLETION_DSL)
    scripted.script(Reply(chunks=["x"] * 20, delay_between=0.2))
    async with (
        server.client(handle.key) as client,
        client.stream(
            "POST",
            "/v1/completion-messages",
            json={"inputs": {"text": "Hi"}, "user": "bob", "response_mode": "streaming"},
        ) as response,
    ):
        text = ""
        stopped = False
        async for chunk in response.aiter_text():
            text += chunk
            if not stopped and '"event":"message"' in text:
                task_id = next(f for f in parse_frames(text) if f.name == "message").data["task_id"]  # type: ignore[index]
                stop = await client.post(
                    f"/v1/completion-messages/{task_id}/stop", json={"user": "bob"}
                )
                assert stop.json() == {"result": "success"}
                stopped = True
    frames = parse_frames(text)
    assert frames[-1].name == "message_end"
    assert sum(1 for f in frames if f.name == "message") < 20
