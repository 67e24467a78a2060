"""Chatflow (advanced-chat) apps through HTTP: message events from Answer nodes, memory,
conversation variables, ordering of message_end and workflow_finished."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer
from tests.support.sse import names, read_stream
from tests.support.upstream import Reply, ScriptedUpstream

CHAT_WRAPPER = ["event", "conversation_id", "message_id", "created_at"]


async def test_two_turns_with_memory_and_conversation_variables(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app("chatflow-memory.yml")
    scripted.script(Reply(chunks=["Rivers ", "flow."], usage=(10, 2)))
    body = {
        "inputs": {"name": "Ada"},
        "query": "What do rivers do?",
        "user": "cleo",
        "response_mode": "streaming",
    }
    async with server.client(handle.key) as client:
        async with client.stream("POST", "/v1/chat-messages", json=body) as response:
            assert response.status_code == 200
            frames = await read_stream(response)
        await server.container.drain()
        first = [f.data for f in frames if f.data is not None]
        conversation_id = first[0]["conversation_id"]
        scripted.script(Reply(text="Into the sea."))
        second = await client.post(
            "/v1/chat-messages",
            json={
                "inputs": {},
                "query": "Where to?",
                "user": "cleo",
                "conversation_id": conversation_id,
            },
        )
        await server.container.drain()
        variables = (
            await client.get(
                f"/v1/conversations/{conversation_id}/variables", params={"user": "cleo"}
            )
        ).json()
        history = (
            await client.get(
                "/v1/messages", params={"user": "cleo", "conversation_id": conversation_id}
            )
        ).json()
    sequence = names(frames)
    assert sequence[:4] == ["ping", "workflow_started", "node_started", "node_finished"]
    assert sequence[-2:] == ["message_end", "workflow_finished"]
    messages = [f for f in first if f["event"] == "message"]
    assert "".join(m["answer"] for m in messages) == "Sure! Rivers flow. (turn 1)"
    streamed = [m for m in messages if m["from_variable_selector"] == ["llm", "text"]]
    assert [m["answer"] for m in streamed] == ["Rivers ", "flow."]
    assert list(messages[0]) == [*CHAT_WRAPPER, "task_id", "id", "answer", "from_variable_selector"]
    started = first[0]
    assert list(started) == [*CHAT_WRAPPER, "task_id", "workflow_run_id", "data"]
    assert started["data"]["inputs"]["sys.query"] == "What do rivers do?"
    assert "sys.conversation_id" not in started["data"]["inputs"]
    end = next(f for f in first if f["event"] == "message_end")
    assert end["metadata"]["usage"]["total_tokens"] == 12
    assert end["files"] == []
    reply = second.json()
    assert reply["mode"] == "advanced-chat" and reply["answer"] == "Sure! Into the sea. (turn 2)"
    assert reply["workflow_run_id"]
    sent = scripted.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"] == 'You help Ada. Topics so far: ["What do rivers do?"]'
    assert sent[2]["content"] == "Sure! Rivers flow. (turn 1)"
    (topics,) = variables["data"]
    assert topics["name"] == "topics" and topics["value_type"] == "array[string]"
    assert topics["value"] == '["What do rivers do?", "Where to?"]'
    assert [m["answer"] for m in history["data"]] == [
        "Sure! Rivers flow. (turn 1)",
        "Sure! Into the sea. (turn 2)",
    ]
