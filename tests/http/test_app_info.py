"""App information endpoints and the OpenAPI document (spec §1.1, §5.12)."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer

PARAMETER_KEYS = [
    "opening_statement",
    "suggested_questions",
    "suggested_questions_after_answer",
    "speech_to_text",
    "text_to_speech",
    "retriever_resource",
    "annotation_reply",
    "more_like_this",
    "user_input_form",
    "sensitive_word_avoidance",
    "file_upload",
    "system_parameters",
]


async def test_index_needs_no_auth(server: LiveServer) -> None:
    async with server.client() as client:
        response = await client.get("/v1/")
    assert response.status_code == 200
    body = response.json()
    assert (
        body["welcome"] == "Dify OpenAPI" and body["api_version"] == "v1" and body["server_version"]
    )
    assert response.headers["x-version"] == body["server_version"]
    assert response.headers["x-env"]


async def test_info_parameters_meta_site(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        info = (await client.get("/v1/info")).json()
        parameters = (await client.get("/v1/parameters")).json()
        meta = (await client.get("/v1/meta")).json()
        site = (await client.get("/v1/site")).json()
    assert info == {
        "name": "Test chat",
        "description": "a chat app for tests",
        "tags": [],
        "mode": "chat",
        "author_name": "",
    }
    assert list(parameters) == PARAMETER_KEYS
    assert parameters["opening_statement"] == "Hi there"
    assert parameters["suggested_questions"] == ["What can you do?"]
    assert parameters["suggested_questions_after_answer"] == {"enabled": True}
    assert parameters["speech_to_text"] == {"enabled": False}
    assert parameters["user_input_form"][0]["text-input"]["variable"] == "name"
    assert parameters["sensitive_word_avoidance"]["enabled"] is False
    assert parameters["system_parameters"]["file_size_limit"] == 15
    assert meta == {"tool_icons": {}}
    assert (
        site["title"] == "Test chat" and site["icon_url"] is None and "show_workflow_steps" in site
    )


async def test_openapi_and_docs(server: LiveServer) -> None:
    async with server.client() as client:
        spec = await client.get("/v1/openapi.json")
        docs = await client.get("/docs")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/v1/chat-messages",
        "/v1/completion-messages",
        "/v1/files/upload",
        "/v1/conversations",
    ):
        assert path in paths
    assert (
        "query"
        in paths["/v1/chat-messages"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ]["properties"]
    )
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_method_not_allowed(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        response = await client.get("/v1/chat-messages")
    assert response.status_code == 405
    assert response.json() == {
        "code": "method_not_allowed",
        "message": "The method is not allowed for the requested URL.",
        "status": 405,
    }
