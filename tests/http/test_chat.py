"""Chat apps through HTTP: both response modes, conversations, history, stop, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from tests.conftest import LiveServer
from tests.support.sse import PING, names, parse_frames, read_stream
from tests.support.upstream import Reply, ScriptedUpstream

CHAT_WRAPPER = ["event", "conversation_id", "message_id", "created_at"]
USAGE_KEYS = [
    "prompt_tokens",
    "prompt_unit_price",
    "prompt_price_unit",
    "prompt_price",
    "completion_tokens",
    "completion_unit_price",
    "completion_price_unit",
    "completion_price",
    "total_tokens",
    "total_price",
    "currency",
    "latency",
    "time_to_first_token",
    "time_to_generate",
]


def chat_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": {"name": "Ada"}, "query": "Hello there", "user": "alice"}
    body.update(overrides)
    return body


async def test_blocking_chat_returns_contract_body(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    scripted.script(Reply(chunks=["Hi ", "Ada", "!"], usage=(12, 3)))
    async with server.client(handle.key) as client:
        response = await client.post("/v1/chat-messages", json=chat_body(response_mode="blocking"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == [
        "event",
        "task_id",
        "id",
        "message_id",
        "conversation_id",
        "mode",
        "answer",
        "metadata",
        "created_at",
    ]
    assert body["event"] == "message" and body["mode"] == "chat"
    assert body["answer"] == "Hi Ada!"
    assert body["id"] == body["message_id"]
    usage = body["metadata"]["usage"]
    assert list(usage) == USAGE_KEYS
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        12,
        3,
        15,
    )
    # gpt-4o-mini: 0.15 / 0.6 USD per million tokens.
    assert usage["prompt_unit_price"] == "0.15" and usage["prompt_price_unit"] == "0.000001"
    assert usage["prompt_price"] == "0.0000018" and usage["completion_price"] == "0.0000018"
    assert usage["total_price"] == "0.0000036" and usage["currency"] == "USD"
    assert body["metadata"]["retriever_resources"] == []
    sent = scripted.requests[0].json
    assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0.1
    assert sent["messages"][0] == {"role": "system", "content": "You are a test assistant for Ada."}
    assert sent["messages"][-1]["content"] == "Hello there"


async def test_streaming_chat_event_order_and_keys(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    scripted.script(Reply(chunks=["One", " two"], usage=(5, 2)))
    async with (
        server.client(handle.key) as client,
        client.stream(
            "POST", "/v1/chat-messages", json=chat_body(response_mode="streaming")
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = await read_stream(response)
    assert frames[0].raw == PING
    assert names(frames) == ["ping", "message", "message", "message_end"]
    first = frames[1].data
    assert first is not None
    assert list(first) == [*CHAT_WRAPPER, "task_id", "id", "answer", "from_variable_selector"]
    assert [f.data["answer"] for f in frames[1:3] if f.data] == ["One", " two"]
    end = frames[3].data
    assert end is not None
    assert list(end) == [*CHAT_WRAPPER, "task_id", "id", "metadata", "files"]
    assert end["metadata"]["usage"]["total_tokens"] == 7
    assert {f.data["task_id"] for f in frames[1:] if f.data} == {first["task_id"]}
    # Frames are compact JSON on one line.
    assert frames[1].raw.startswith('data: {"event":"message","conversation_id":')


async def test_conversation_continues_with_history_and_is_named(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    scripted.script(
        Reply(text="First answer"), Reply(text="Rivers and lakes"), Reply(text="Second answer")
    )
    async with server.client(handle.key) as client:
        first = (
            await client.post("/v1/chat-messages", json=chat_body(query="Tell me about rivers"))
        ).json()
        conversation_id = first["conversation_id"]
        await server.container.drain()
        second = await client.post(
            "/v1/chat-messages",
            json=chat_body(
                query="And lakes?", conversation_id=conversation_id, inputs={"name": "ignored"}
            ),
        )
        assert second.json()["conversation_id"] == conversation_id
        await server.container.drain()
        listing = (await client.get("/v1/conversations", params={"user": "alice"})).json()
    history = scripted.requests[2].json["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert (
        history[1]["content"] == "Tell me about rivers" and history[2]["content"] == "First answer"
    )
    # Inputs of a continued conversation are the conversation's own.
    assert history[0]["content"].endswith("for Ada.")
    assert listing["data"][0]["id"] == conversation_id
    assert listing["data"][0]["name"] == "Rivers and lakes"
    assert listing["data"][0]["introduction"] == "Hi there"


async def test_unknown_and_foreign_conversations_are_404(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        first = (await client.post("/v1/chat-messages", json=chat_body())).json()
        unknown = await client.post(
            "/v1/chat-messages",
            json=chat_body(conversation_id="6d2c5a4e-9c1f-4a53-8f0a-0d7a0e6a1b11"),
        )
        foreign = await client.post(
            "/v1/chat-messages",
            json=chat_body(user="mallory", conversation_id=first["conversation_id"]),
        )
        malformed = await client.post("/v1/chat-messages", json=chat_body(conversation_id="nope"))
    for response in (unknown, foreign):
        assert response.status_code == 404
        assert response.json() == {
            "code": "conversation_not_exists",
            "message": "Conversation Not Exists.",
            "status": 404,
        }
    assert malformed.status_code == 400 and malformed.json()["code"] == "invalid_param"
    assert "conversation_id must be a valid UUID" in malformed.json()["message"]


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"inputs": {}, "user": "u"}, "invalid_param", "query"),
        ({"query": "hi", "user": "u"}, "invalid_param", "inputs"),
        ({"query": "", "inputs": {}, "user": "u"}, "invalid_param", "query is required"),
        ({"query": "hi", "inputs": {}}, "invalid_param", "Arg user must be provided."),
        (
            {"query": "hi", "inputs": {}, "user": "u", "response_mode": "fast"},
            "invalid_param",
            "response_mode",
        ),
        (
            {"query": "hi", "inputs": {"name": 5}, "user": "u"},
            "invalid_param",
            "(type 'text-input') name in input form must be a string",
        ),
        (
            {"query": "hi", "inputs": {"name": "x" * 21}, "user": "u"},
            "invalid_param",
            "name in input form must be less than 20 characters",
        ),
    ],
)
async def test_bad_chat_payloads(
    server: LiveServer, make_app: Any, body: dict[str, Any], code: str, fragment: str
) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        response = await client.post("/v1/chat-messages", json=body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == code and payload["status"] == 400
    assert fragment in payload["message"]


async def test_non_json_and_broken_json(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        form = await client.post("/v1/chat-messages", data={"query": "hi"})
        broken = await client.post(
            "/v1/chat-messages", content=b"{", headers={"Content-Type": "application/json"}
        )
    assert form.status_code == 415 and form.json()["code"] == "unsupported_media_type"
    assert broken.status_code == 400 and broken.json()["code"] == "bad_request"


async def test_provider_errors_blocking_and_streaming(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    scripted.script(
        Reply(
            status=401,
            error={"message": "Incorrect API key provided", "type": "invalid_request_error"},
        ),
        Reply(
            status=429,
            error={"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"},
        ),
        Reply(chunks=["partial"], error_mid_stream=True),
    )
    async with server.client(handle.key) as client:
        bad_key = await client.post("/v1/chat-messages", json=chat_body())
        quota = await client.post("/v1/chat-messages", json=chat_body())
        async with client.stream(
            "POST", "/v1/chat-messages", json=chat_body(response_mode="streaming")
        ) as response:
            frames = await read_stream(response)
    assert bad_key.status_code == 400 and bad_key.json()["code"] == "completion_request_error"
    assert "Incorrect API key provided" in bad_key.json()["message"]
    assert quota.status_code == 400 and quota.json()["code"] == "provider_quota_exceeded"
    assert names(frames) == ["ping", "message", "error"]
    error = frames[-1].data
    assert error is not None
    assert list(error) == [*CHAT_WRAPPER, "task_id", "code", "status", "message"]
    assert error["code"] == "completion_request_error" and error["status"] == 400


async def test_missing_credentials_is_provider_not_initialize(
    server: LiveServer, make_app: Any
) -> None:
    handle = await make_app(credentials=False)
    async with server.client(handle.key) as client:
        response = await client.post("/v1/chat-messages", json=chat_body())
    assert response.status_code == 400
    assert response.json()["code"] == "provider_not_initialize"


async def test_unknown_model_is_model_currently_not_support(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    scripted.script(
        Reply(
            status=404,
            error={"message": "The model `gpt-9` does not exist", "code": "model_not_found"},
        )
    )
    async with server.client(handle.key) as client:
        response = await client.post("/v1/chat-messages", json=chat_body())
    assert response.status_code == 400
    assert response.json()["code"] == "model_currently_not_support"


async def test_stop_ends_stream_with_partial_answer_and_persists(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    scripted.script(Reply(chunks=["a", "b", "c", "d", "e", "f"], delay_between=0.3))
    async with server.client(handle.key) as client:
        async with client.stream(
            "POST", "/v1/chat-messages", json=chat_body(response_mode="streaming")
        ) as response:
            frames_text = ""
            task_id = None
            async for chunk in response.aiter_text():
                frames_text += chunk
                if task_id is None and '"event":"message"' in frames_text:
                    first = next(f for f in parse_frames(frames_text) if f.name == "message")
                    assert first.data is not None
                    task_id = first.data["task_id"]
                    other = await client.post(
                        f"/v1/chat-messages/{task_id}/stop", json={"user": "mallory"}
                    )
                    assert other.json() == {"result": "success"}
                    await asyncio.sleep(0.4)
                    stop = await client.post(
                        f"/v1/chat-messages/{task_id}/stop", json={"user": "alice"}
                    )
                    assert stop.status_code == 200 and stop.json() == {"result": "success"}
        frames = parse_frames(frames_text)
        await server.container.drain()
        end = frames[-1].data
        assert end is not None and end["event"] == "message_end"
        answer = "".join(f.data["answer"] for f in frames if f.name == "message" and f.data)
        # mallory's stop was ignored (a second delta arrived); alice's stop cut the answer short.
        assert 2 <= len(answer) < 6
        history = (
            await client.get(
                "/v1/messages", params={"user": "alice", "conversation_id": end["conversation_id"]}
            )
        ).json()
    assert history["data"][0]["answer"] == answer
    assert history["data"][0]["status"] == "normal"


async def test_stop_unknown_task_succeeds(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        response = await client.post("/v1/chat-messages/no-such-task/stop", json={"user": "alice"})
        missing_user = await client.post("/v1/chat-messages/no-such-task/stop", json={})
    assert response.json() == {"result": "success"}
    assert missing_user.status_code == 400 and missing_user.json()["code"] == "invalid_param"


async def test_client_disconnect_does_not_lose_the_message(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    scripted.script(Reply(chunks=["keep ", "going ", "after ", "you ", "leave"], delay_between=0.1))
    async with server.client(handle.key) as client:
        async with client.stream(
            "POST", "/v1/chat-messages", json=chat_body(response_mode="streaming")
        ) as response:
            async for chunk in response.aiter_text():
                if '"event":"message"' in chunk:
                    conversation_id = orjson.loads(chunk.split("data: ", 2)[-1].split("\n")[0])[
                        "conversation_id"
                    ]
                    break
        # The stream is closed here; the run must finish and be saved anyway.
        await server.container.drain()
        history = (
            await client.get(
                "/v1/messages", params={"user": "alice", "conversation_id": conversation_id}
            )
        ).json()
    assert history["data"][0]["answer"] == "keep going after you leave"
    assert history["data"][0]["status"] == "normal"


async def test_ping_while_idle(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    server.container.settings.ping_interval = 0.2
    handle = await make_app()
    scripted.script(Reply(chunks=["slow"], delay_before_first=0.5))
    async with (
        server.client(handle.key) as client,
        client.stream(
            "POST", "/v1/chat-messages", json=chat_body(response_mode="streaming")
        ) as response,
    ):
        frames = await read_stream(response)
    sequence = names(frames)
    assert sequence[0] == "ping" and sequence[-2:] == ["message", "message_end"]
    assert sequence.count("ping") >= 2
    assert all(f.raw == PING for f in frames if f.name == "ping")


async def test_wrong_mode_routes(server: LiveServer, make_app: Any) -> None:
    chat = await make_app()
    async with server.client(chat.key) as client:
        completion = await client.post("/v1/completion-messages", json={"inputs": {}, "user": "u"})
        stop = await client.post("/v1/completion-messages/t/stop", json={"user": "u"})
    assert completion.status_code == 400 and completion.json()["code"] == "app_unavailable"
    assert stop.json()["code"] == "app_unavailable"


async def test_concurrency_limit_is_429(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    server.container.settings.app_max_active_requests = 1
    handle = await make_app()
    scripted.script(Reply(chunks=["slow"], delay_before_first=0.5))
    async with server.client(handle.key) as client:
        first = asyncio.create_task(client.post("/v1/chat-messages", json=chat_body()))
        await asyncio.sleep(0.2)
        second = await client.post("/v1/chat-messages", json=chat_body())
        assert (await first).status_code == 200
        third = await client.post("/v1/chat-messages", json=chat_body())
    assert second.status_code == 429
    assert second.json()["code"] == "too_many_requests"
    assert "The current maximum concurrent requests allowed for" in second.json()["message"]
    assert second.headers["retry-after"]
    assert third.status_code == 200
