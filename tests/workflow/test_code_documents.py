"""Code nodes (Python and JavaScript, sandboxed) and document extraction through HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from headrace.sandbox import sandbox_unavailable_reason
from tests.conftest import LiveServer
from tests.workflow.conftest import FIXTURES

pytestmark = pytest.mark.skipif(
    sandbox_unavailable_reason() is not None,
    reason=f"sandbox unavailable: {sandbox_unavailable_reason()}",
)


async def _upload(client: Any, name: str, data: bytes, mime: str) -> str:
    response = await client.post(
        "/v1/files/upload", files={"file": (name, data, mime)}, data={"user": "ana"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_extract_then_python_and_javascript(server: LiveServer, workflow_app: Any) -> None:
    handle = await workflow_app("code-and-documents.yml")
    async with server.client(handle.key) as client:
        file_id = await _upload(client, "notes.txt", b"rivers run deep\nand wide\n", "text/plain")
        doc = {"type": "document", "transfer_method": "local_file", "upload_file_id": file_id}
        response = await client.post(
            "/v1/workflows/run", json={"inputs": {"doc": doc}, "user": "ana"}
        )
    body = response.json()
    assert response.status_code == 200, body
    assert body["data"]["status"] == "succeeded", body["data"]["error"]
    assert body["data"]["outputs"] == {"words": 5, "lines": 3, "first": "RIVERS RUN DEEP"}


@pytest.mark.parametrize(
    ("language", "code", "fragment"),
    [
        ("python3", "def main():\n    return {'x': open('/etc/passwd').read()}\n", "not allowed"),
        (
            "python3",
            "import socket\ndef main():\n"
            "    socket.create_connection(('127.0.0.1', 5001))\n    return {'x': ''}\n",
            "not allowed",
        ),
        (
            "javascript",
            "function main() { return {x: require('fs').readFileSync('/etc/passwd', 'utf8')}; }",
            "not allowed",
        ),
    ],
)
async def test_sandbox_refusals_fail_the_run(
    server: LiveServer, workflow_app: Any, language: str, code: str, fragment: str
) -> None:
    document = yaml.safe_load((FIXTURES / "code-and-documents.yml").read_text("utf-8"))
    nodes = document["workflow"]["graph"]["nodes"]
    count = next(n for n in nodes if n["id"] == "count")
    count["data"].update(
        code=code,
        code_language=language,
        variables=[],
        outputs={"x": {"type": "string", "children": None}},
    )
    document["workflow"]["graph"]["nodes"] = [
        n for n in nodes if n["id"] not in ("extract", "shout")
    ]
    document["workflow"]["graph"]["nodes"][0]["data"]["variables"] = []
    document["workflow"]["graph"]["edges"] = [
        {"source": "start", "sourceHandle": "source", "target": "count"},
        {"source": "count", "sourceHandle": "source", "target": "end"},
    ]
    end = next(n for n in document["workflow"]["graph"]["nodes"] if n["id"] == "end")
    end["data"]["outputs"] = [{"value_selector": ["count", "x"], "variable": "x"}]
    handle = await workflow_app(yaml.safe_dump(document))
    async with server.client(handle.key) as client:
        response = await client.post("/v1/workflows/run", json={"inputs": {}, "user": "ana"})
    data = response.json()["data"]
    assert data["status"] == "failed"
    assert fragment in data["error"], data["error"]
