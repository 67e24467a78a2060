"""Chatflow branches, failures, stop and concurrent turns through HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import LiveServer
from tests.support.sse import names, parse_frames, read_stream
from tests.support.upstream import Reply, ScriptedUpstream


def answer_of(frames: list[Any]) -> str:
    return "".join(f.data["answer"] for f in frames if f.name == "message" and f.data)


async def _stream(client: Any, body: dict[str, Any]) -> list[Any]:
    async with client.stream(
        "POST", "/v1/chat-messages", json={**body, "response_mode": "streaming"}
    ) as response:
        assert response.status_code == 200
        return await read_stream(response)


async def test_branching_answers(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app("chatflow-branches.yml")
    async with server.client(handle.key) as client:
        sunny = await _stream(client, {"inputs": {}, "query": "How is the weather?", "user": "bo"})
        await server.container.drain()  # the new conversation's title call comes first
        scripted.script(Reply(chunks=["Deep ", "thoughts."]))
        thinking = await _stream(client, {"inputs": {}, "query": "Tell me a story", "user": "bo"})
    assert answer_of(sunny) == "It is sunny. Bye."
    assert answer_of(thinking) == "Let me think... Deep thoughts. Done. Bye."
    ran = [f.data["data"]["node_id"] for f in sunny if f.name == "node_started" and f.data]
    assert ran == ["start", "route", "sunny", "bye"]
    thought_nodes = [
        f.data["data"]["node_id"] for f in thinking if f.name == "node_started" and f.data
    ]
    assert thought_nodes == ["start", "route", "think", "thought", "bye"]
    # The static prefix of the streaming answer arrives before the model's first token.
    messages = [f.data for f in thinking if f.name == "message" and f.data]
    assert (
        messages[0]["answer"] == "Let me think... "
        and messages[0]["from_variable_selector"] is None
    )
    assert messages[1]["from_variable_selector"] == ["think", "text"]
    assert names(thinking)[-2:] == ["message_end", "workflow_finished"]


async def test_failed_turn_ends_with_error_after_workflow_finished(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app("chatflow-memory.yml")
    scripted.script(Reply(status=500, error={"message": "upstream exploded"}))
    async with server.client(handle.key) as client:
        frames = await _stream(client, {"inputs": {}, "query": "hi", "user": "bo"})
        await server.container.drain()
        conversation_id = frames[1].data["conversation_id"]  # type: ignore[index]
        scripted.script(Reply(status=500, error={"message": "upstream exploded"}))
        blocking = await client.post(
            "/v1/chat-messages", json={"inputs": {}, "query": "again", "user": "bo"}
        )
        history = (
            await client.get(
                "/v1/messages", params={"user": "bo", "conversation_id": conversation_id}
            )
        ).json()
    sequence = names(frames)
    assert sequence[-3:] == ["node_finished", "workflow_finished", "error"]
    failed_node = frames[-3].data["data"]  # type: ignore[index]
    assert failed_node["node_id"] == "llm" and failed_node["status"] == "failed"
    finished = frames[-2].data["data"]  # type: ignore[index]
    assert finished["status"] == "failed" and "upstream exploded" in finished["error"]
    error = frames[-1].data
    assert error is not None and error["code"] == "invalid_param" and error["status"] == 400
    assert error["message"].startswith("Run failed: ") and "upstream exploded" in error["message"]
    assert blocking.status_code == 400 and blocking.json()["message"].startswith("Run failed: ")
    (stored,) = history["data"]
    assert stored["status"] == "error" and "upstream exploded" in stored["error"]


async def test_stop_gives_workflow_finished_then_message_end(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app("chatflow-memory.yml")
    scripted.script(Reply(chunks=["a", "b", "c", "d", "e", "f"], delay_between=0.3))
    async with server.client(handle.key) as client:
        body = {"inputs": {}, "query": "slow", "user": "bo", "response_mode": "streaming"}
        async with client.stream("POST", "/v1/chat-messages", json=body) as response:
            text = ""
            stopped = False
            async for chunk in response.aiter_text():
                text += chunk
                if not stopped and '"from_variable_selector":["llm","text"]' in text:
                    task_id = next(f for f in parse_frames(text) if f.name == "message").data[
                        "task_id"
                    ]  # type: ignore[index]
                    stop = await client.post(
                        f"/v1/chat-messages/{task_id}/stop", json={"user": "bo"}
                    )
                    assert stop.json() == {"result": "success"}
                    stopped = True
    frames = parse_frames(text)
    assert names(frames)[-2:] == ["workflow_finished", "message_end"]
    assert frames[-2].data["data"]["status"] == "stopped"  # type: ignore[index]
    run_id = frames[-2].data["workflow_run_id"]  # type: ignore[index]
    async with server.client(handle.key) as client:
        run = (await client.get(f"/v1/workflows/run/{run_id}")).json()
    assert run["status"] == "stopped"


async def test_concurrent_turns_keep_every_conversation_variable_update(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app("chatflow-memory.yml")
    async with server.client(handle.key) as client:
        first = (
            await client.post("/v1/chat-messages", json={"inputs": {}, "query": "q0", "user": "bo"})
        ).json()
        conversation_id = first["conversation_id"]
        await server.container.drain()
        scripted.script(*[Reply(text=f"r{i}", delay_before_first=0.1) for i in range(4)])
        turns = [
            client.post(
                "/v1/chat-messages",
                json={
                    "inputs": {},
                    "query": f"q{i}",
                    "user": "bo",
                    "conversation_id": conversation_id,
                },
            )
            for i in range(1, 5)
        ]
        results = await asyncio.gather(*turns)
        variables = (
            await client.get(
                f"/v1/conversations/{conversation_id}/variables", params={"user": "bo"}
            )
        ).json()
    assert all(r.status_code == 200 for r in results)
    (topics,) = variables["data"]
    import json

    assert sorted(json.loads(topics["value"])) == ["q0", "q1", "q2", "q3", "q4"]


FILES_CHATFLOW = """
app: {mode: advanced-chat, name: Show files}
kind: app
version: 0.6.0
workflow:
  features: {file_upload: {enabled: true, allowed_file_types: [image], number_limits: 3}}
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: []}}
    - {id: show, data: {type: answer, title: Show, answer: 'You sent {{#sys.files#}}'}}
    edges:
    - {source: start, sourceHandle: source, target: show}
"""


async def test_answer_files_arrive_in_message_end(server: LiveServer, workflow_app: Any) -> None:
    handle = await workflow_app(FILES_CHATFLOW)
    image = {"type": "image", "transfer_method": "remote_url", "url": "https://example.com/cat.png"}
    async with server.client(handle.key) as client:
        frames = await _stream(
            client, {"inputs": {}, "query": "look", "user": "bo", "files": [image]}
        )
    assert answer_of(frames) == "You sent ![cat.png](https://example.com/cat.png)"
    end = frames[-2].data
    assert end is not None and end["event"] == "message_end"
    (file,) = end["files"]
    assert (
        file["dify_model_identity"] == "__dify__file__"
        and file["url"] == "https://example.com/cat.png"
    )
    assert file["type"] == "image" and file["extension"] == ".png"
