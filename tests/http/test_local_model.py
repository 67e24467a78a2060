"""End to end with the real local Gemma 3 270M model (llama.cpp in-process, no network)."""

from __future__ import annotations

from importlib import resources

import pytest
from tests.conftest import LiveServer
from tests.support.sse import names, read_stream

from headrace.admin import import_app, new_app_key


@pytest.mark.slow
async def test_demo_app_streams_an_answer_from_the_local_model(server: LiveServer) -> None:
    text = resources.files("headrace").joinpath("demo", "demo-chat.yml").read_text("utf-8")
    app = await import_app(server.container.db, text)
    key = await new_app_key(server.container.db, app.id)
    body = {"inputs": {}, "query": "What is a river?", "user": "demo", "response_mode": "streaming"}
    async with server.client(key, timeout=120) as client:
        async with client.stream("POST", "/v1/chat-messages", json=body) as response:
            assert response.status_code == 200
            frames = await read_stream(response)
    sequence = names(frames)
    assert sequence[0] == "ping" and sequence[-1] == "message_end", sequence
    answer = "".join(f.data["answer"] for f in frames if f.name == "message" and f.data)
    assert answer.strip()
    usage = frames[-1].data["metadata"]["usage"]  # type: ignore[index]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_price"] == "0.0000000"
