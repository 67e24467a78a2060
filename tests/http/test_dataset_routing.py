"""Single-retrieval mode: the app's model (or the node's routing model) picks one dataset
through function calling, and only that dataset is searched and cited."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.conftest import CHAT_DSL, LiveServer
from tests.http.test_documents import knowledge_chatflow, wait_indexed
from tests.support.upstream import Reply, ScriptedUpstream

from headrace.admin import import_app, new_app_key

CORPORA = {
    "Rivers": ("Facts about rivers, lakes and fresh water.", "Rivers carry rain to the sea."),
    "Deserts": ("", "Deserts get little rain in a year."),
}


@pytest.fixture
async def datasets(server: LiveServer, dataset_key: str) -> dict[str, str]:
    """Two indexed economy datasets, by name -> id."""
    ids = {}
    async with server.client(dataset_key) as client:
        for name, (description, text) in CORPORA.items():
            dataset = (
                await client.post("/v1/datasets", json={"name": name, "description": description})
            ).json()
            created = (
                await client.post(
                    f"/v1/datasets/{dataset['id']}/document/create-by-text",
                    json={"name": name.lower(), "text": text, "indexing_technique": "economy"},
                )
            ).json()
            assert (await wait_indexed(client, dataset["id"], created["batch"]))[
                "indexing_status"
            ] == "completed"
            ids[name] = dataset["id"]
    return ids


def _tool(dataset_id: str) -> str:
    return "dataset_" + dataset_id.replace("-", "_")


async def _chat(server: LiveServer, app_id: str, query: str) -> dict[str, Any]:
    key = await new_app_key(server.container.db, app_id)
    async with server.client(key) as client:
        reply = await client.post(
            "/v1/chat-messages", json={"inputs": {}, "query": query, "user": "u"}
        )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def _single_mode_chat_app(server: LiveServer, datasets: dict[str, str]) -> str:
    config = {
        **CHAT_DSL["model_config"],
        "pre_prompt": "Answer briefly.",
        "dataset_configs": {
            "retrieval_model": "single",
            "datasets": {
                "datasets": [{"dataset": {"enabled": True, "id": i}} for i in datasets.values()]
            },
        },
        "retriever_resource": {"enabled": True},
    }
    dsl = yaml.safe_dump({**CHAT_DSL, "model_config": config})
    c = server.container
    return (await import_app(c.db, dsl, c.cipher)).id


async def test_chat_app_searches_only_the_dataset_the_model_picks(
    server: LiveServer, scripted: ScriptedUpstream, datasets: dict[str, str]
) -> None:
    app_id = await _single_mode_chat_app(server, datasets)
    scripted.script(
        Reply(tool_calls=[(_tool(datasets["Deserts"]), '{"query": "rain"}')]),
        Reply(text="Very little."),
    )
    reply = await _chat(server, app_id, "How much rain falls?")
    routing, answering = scripted.requests_for("/v1/chat/completions")[:2]
    tools = {t["function"]["name"]: t["function"] for t in routing.json["tools"]}
    assert set(tools) == {_tool(i) for i in datasets.values()}
    assert tools[_tool(datasets["Rivers"])]["description"] == CORPORA["Rivers"][0]
    assert tools[_tool(datasets["Deserts"])]["description"] == (
        "useful for when you want to answer queries about the Deserts"
    )
    assert routing.json["messages"][-1] == {"role": "user", "content": "How much rain falls?"}
    resources = reply["metadata"]["retriever_resources"]
    assert [r["dataset_name"] for r in resources] == ["Deserts"]
    assert "Deserts get little rain" in answering.json["messages"][0]["content"]
    assert "Rivers carry rain" not in answering.json["messages"][0]["content"]
    assert reply["answer"] == "Very little."


async def test_no_dataset_is_searched_when_the_model_picks_none(
    server: LiveServer, scripted: ScriptedUpstream, datasets: dict[str, str]
) -> None:
    app_id = await _single_mode_chat_app(server, datasets)
    scripted.script(Reply(text="No knowledge base fits."), Reply(text="I do not know."))
    reply = await _chat(server, app_id, "Who won the match?")
    answering = scripted.requests_for("/v1/chat/completions")[1]
    assert reply["metadata"].get("retriever_resources", []) == []
    assert "rain" not in answering.json["messages"][0]["content"]


async def test_knowledge_retrieval_node_routes_in_single_mode(
    server: LiveServer, scripted: ScriptedUpstream, datasets: dict[str, str]
) -> None:
    c = server.container
    router = "{model: {provider: openai, name: gpt-4o-mini, mode: chat, completion_params: {}}}"
    dsl = knowledge_chatflow(list(datasets.values()), mode="single", config=router)
    app_id = (await import_app(c.db, dsl, c.cipher)).id
    scripted.script(
        Reply(tool_calls=[(_tool(datasets["Rivers"]), '{"query": "rain"}')]),
        Reply(text="To the sea."),
    )
    reply = await _chat(server, app_id, "Where does rain go?")
    answering = scripted.requests_for("/v1/chat/completions")[1]
    resources = reply["metadata"]["retriever_resources"]
    assert [r["dataset_name"] for r in resources] == ["Rivers"]
    context = answering.json["messages"][0]["content"]
    assert context.strip() == "Context: Rivers carry rain to the sea."
