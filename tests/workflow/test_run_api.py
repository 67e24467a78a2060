"""Workflow apps through HTTP: run endpoints in both modes, run detail, stop, logs."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer
from tests.support.sse import names, read_stream
from tests.support.upstream import Reply, ScriptedUpstream

NODE_STARTED_KEYS = [
    "id",
    "node_id",
    "node_type",
    "title",
    "index",
    "predecessor_node_id",
    "inputs",
    "inputs_truncated",
    "created_at",
    "extras",
    "iteration_id",
    "loop_id",
    "agent_strategy",
]
NODE_FINISHED_KEYS = [
    "id",
    "node_id",
    "node_type",
    "title",
    "index",
    "predecessor_node_id",
    "inputs",
    "inputs_truncated",
    "process_data",
    "process_data_truncated",
    "outputs",
    "outputs_truncated",
    "status",
    "error",
    "elapsed_time",
    "execution_metadata",
    "created_at",
    "finished_at",
    "files",
    "iteration_id",
    "loop_id",
]
FINISHED_KEYS = [
    "id",
    "workflow_id",
    "status",
    "outputs",
    "error",
    "elapsed_time",
    "total_tokens",
    "total_steps",
    "created_by",
    "created_at",
    "finished_at",
    "exceptions_count",
    "files",
]


async def test_streaming_llm_chain_event_order(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app("llm-chain.yml")
    scripted.script(Reply(chunks=["Rivers ", "flow."], usage=(20, 2)))
    body = {
        "inputs": {"question": "What do rivers do?"},
        "user": "wes",
        "response_mode": "streaming",
    }
    async with server.client(handle.key) as client:
        async with client.stream("POST", "/v1/workflows/run", json=body) as response:
            assert response.status_code == 200
            frames = await read_stream(response)
    assert names(frames) == [
        "ping",
        "workflow_started",
        "node_started",
        "node_finished",
        "node_started",
        "text_chunk",
        "text_chunk",
        "node_finished",
        "node_started",
        "node_finished",
        "workflow_finished",
    ]
    events = [f.data for f in frames if f.data is not None]
    started = events[0]
    assert list(started) == ["event", "workflow_run_id", "task_id", "data"]
    run_id = started["workflow_run_id"]
    assert started["data"]["id"] == run_id
    assert started["data"]["inputs"]["question"] == "What do rivers do?"
    assert started["data"]["inputs"]["sys.user_id"] == "wes"
    assert list(events[1]["data"]) == NODE_STARTED_KEYS
    assert list(events[2]["data"]) == NODE_FINISHED_KEYS
    chunks = [e for e in events if e["event"] == "text_chunk"]
    assert list(chunks[0]) == ["event", "workflow_run_id", "task_id", "data"]
    assert [c["data"]["text"] for c in chunks] == ["Rivers ", "flow."]
    assert chunks[0]["data"]["from_variable_selector"] == ["llm", "text"]
    llm_done = events[6]["data"]
    assert llm_done["node_type"] == "llm" and llm_done["status"] == "succeeded"
    assert llm_done["outputs"]["text"] == "Rivers flow."
    assert llm_done["execution_metadata"]["total_tokens"] == 22
    assert [e["data"]["index"] for e in events if e["event"] == "node_started"] == [1, 2, 3]
    finished = events[-1]["data"]
    assert list(finished) == FINISHED_KEYS
    assert finished["status"] == "succeeded" and finished["total_steps"] == 3
    assert finished["outputs"] == {"answer": "Rivers flow.", "question": "What do rivers do?"}
    assert finished["total_tokens"] == 22
    assert finished["created_by"] == {"id": finished["created_by"]["id"], "user": "wes"}
    assert {e["task_id"] for e in events} == {started["task_id"]}
    sent = scripted.requests[0].json["messages"]
    assert sent == [
        {"role": "system", "content": "Answer in a cheerful tone."},
        {"role": "user", "content": "What do rivers do?"},
    ]


async def test_blocking_run_and_run_detail(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app("llm-chain.yml")
    scripted.script(Reply(text="Downhill."))
    async with server.client(handle.key) as client:
        response = await client.post(
            "/v1/workflows/run", json={"inputs": {"question": "Where?"}, "user": "wes"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        detail = await client.get(f"/v1/workflows/run/{body['workflow_run_id']}")
        missing = await client.get("/v1/workflows/run/nope")
    assert list(body) == ["task_id", "workflow_run_id", "data"]
    data = body["data"]
    assert list(data) == [
        "id",
        "workflow_id",
        "status",
        "outputs",
        "error",
        "elapsed_time",
        "total_tokens",
        "total_steps",
        "created_at",
        "finished_at",
    ]
    assert data["status"] == "succeeded" and data["outputs"]["answer"] == "Downhill."
    run = detail.json()
    assert run["id"] == body["workflow_run_id"] and run["status"] == "succeeded"
    assert isinstance(run["inputs"], str) and '"question"' in run["inputs"]
    assert run["outputs"] == data["outputs"] and run["total_steps"] == 3
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_validation_and_version_errors(server: LiveServer, workflow_app: Any) -> None:
    handle = await workflow_app("llm-chain.yml")
    async with server.client(handle.key) as client:
        missing = await client.post("/v1/workflows/run", json={"inputs": {}, "user": "wes"})
        no_user = await client.post("/v1/workflows/run", json={"inputs": {"question": "x"}})
        bad_id = await client.post(
            "/v1/workflows/not-a-uuid/run", json={"inputs": {"question": "x"}, "user": "wes"}
        )
        unknown = await client.post(
            "/v1/workflows/6d2c5a4e-9c1f-4a53-8f0a-0d7a0e6a1b11/run",
            json={"inputs": {"question": "x"}, "user": "wes"},
        )
        chat_route = await client.post(
            "/v1/chat-messages", json={"inputs": {}, "query": "x", "user": "wes"}
        )
    assert missing.status_code == 400
    assert missing.json()["message"] == "question is required in input form"
    assert no_user.json()["message"] == "Arg user must be provided."
    assert bad_id.status_code == 400 and bad_id.json()["code"] == "workflow_id_format_error"
    assert unknown.status_code == 400 and unknown.json()["code"] == "workflow_not_found"
    assert chat_route.json()["code"] == "not_chat_app"
