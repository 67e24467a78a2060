"""Question-classifier and parameter-extractor nodes through HTTP in both response modes."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer
from tests.support.sse import names, read_stream
from tests.support.upstream import Reply, ScriptedUpstream

WEATHER = '{"category_id": "1", "category_name": "Questions about the weather"}'


async def test_weather_branch_streaming(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app("wf-classify-extract-0.3.0.yml")
    scripted.script(
        Reply(text=WEATHER),
        Reply(tool_calls=[("extract_parameters", '{"city": "Paris", "days": "3"}')]),
    )
    body = {
        "inputs": {"question": "Weather in Paris for 3 days?"},
        "user": "q",
        "response_mode": "streaming",
    }
    async with server.client(handle.key) as client:
        async with client.stream("POST", "/v1/workflows/run", json=body) as response:
            frames = await read_stream(response)
    assert names(frames) == [
        "ping",
        "workflow_started",
        "node_started",
        "node_finished",  # start
        "node_started",
        "node_finished",  # classify
        "node_started",
        "node_finished",  # extract
        "node_started",
        "node_finished",  # weather end
        "workflow_finished",
    ]
    started = [f.data["data"]["node_id"] for f in frames if f.name == "node_started" and f.data]
    assert started == ["start", "classify", "extract", "weather_end"]
    finished = frames[-1].data["data"]  # type: ignore[index]
    assert finished["status"] == "succeeded"
    assert finished["outputs"] == {
        "city": "Paris",
        "days": 3,
        "ok": 1,
        "class": "Questions about the weather",
    }
    assert scripted.requests[1].json["tools"][0]["function"]["name"] == "extract_parameters"


async def test_other_branch_blocking(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app("wf-classify-extract-0.3.0.yml")
    scripted.script(Reply(text='{"category_id": "2"}'))
    async with server.client(handle.key) as client:
        response = await client.post(
            "/v1/workflows/run", json={"inputs": {"question": "Tell a joke"}, "user": "q"}
        )
    data = response.json()["data"]
    assert data["status"] == "succeeded" and data["outputs"] == {
        "text": "Not about weather: Tell a joke"
    }
    assert data["total_steps"] == 4 and len(scripted.requests) == 1
