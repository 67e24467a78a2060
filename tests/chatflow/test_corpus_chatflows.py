"""Conformance over the real advanced-chat exports in `shared/dsl-corpus/` (read in place):
every file imports (or is refused with the one-line later-issue error), round-trips, and every
file marked executable holds a two-turn conversation through HTTP without a 500."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import yaml

from headrace.admin import configure_provider, export_app, import_app, new_app_key
from headrace.dsl.loader import DslError, load_document
from tests.conftest import LiveServer
from tests.support.sse import names, read_stream

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "dsl-corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no DSL corpus at {CORPUS}")


def manifest() -> list[dict[str, str]]:
    if not CORPUS.is_dir():
        return []
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        return [
            row
            for row in csv.DictReader(handle, delimiter="\t")
            if row["app_mode"] == "advanced-chat"
        ]


ROWS = manifest()


def sample_inputs(document: dict[str, Any]) -> dict[str, Any]:
    """A value for every Start variable, by type."""
    nodes = document["workflow"]["graph"]["nodes"]
    start = next(n for n in nodes if (n.get("data") or {}).get("type") == "start")
    values: dict[str, Any] = {}
    for var in start["data"].get("variables") or []:
        kind = var.get("type")
        name = var["variable"]
        if kind == "number":
            values[name] = 1
        elif kind == "select":
            values[name] = (var.get("options") or ["x"])[0]
        elif kind == "checkbox":
            values[name] = True
        elif kind == "file":
            values[name] = {
                "type": "document",
                "transfer_method": "remote_url",
                "url": "https://example.com/a.txt",
            }
        elif kind == "file-list":
            values[name] = [
                {
                    "type": "document",
                    "transfer_method": "remote_url",
                    "url": "https://example.com/a.txt",
                }
            ]
        elif kind == "json_object":
            values[name] = {}
        else:
            values[name] = "test"
    return values


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
async def test_imports_round_trips_and_converses(
    server: LiveServer, scripted: Any, row: dict[str, str]
) -> None:
    text = (CORPUS / row["file"]).read_text("utf-8")
    try:
        document = load_document(text)
    except DslError as exc:
        message = str(exc)
        assert "\n" not in message and row["executable_without_external"] != "yes", message
        assert "node " in message, message
        return
    container = server.container
    await configure_provider(
        container.db,
        container.providers,
        container.cipher,
        "openai",
        {"api_key": "sk-test", "base_url": scripted.base_url},
    )
    app = await import_app(container.db, text, container.cipher)
    again = await import_app(
        container.db, await export_app(container.db, container.cipher, app.id), container.cipher
    )
    first_graph = document.workflow["graph"]  # type: ignore[index]
    second = load_document(await export_app(container.db, container.cipher, again.id)).workflow
    assert second is not None
    assert {n["id"]: n["data"] for n in first_graph["nodes"]} == {
        n["id"]: n["data"] for n in second["graph"]["nodes"]
    }
    if row["executable_without_external"] != "yes":
        return
    key = await new_app_key(container.db, app.id)
    inputs = sample_inputs(yaml.safe_load(yaml.safe_dump(document.raw)))
    conversation_id = None
    async with server.client(key, timeout=120) as client:
        for query in ("Hello", "And then?"):
            body: dict[str, Any] = {
                "inputs": inputs,
                "query": query,
                "user": "corpus",
                "response_mode": "streaming",
            }
            if conversation_id:
                body["conversation_id"] = conversation_id
            async with client.stream("POST", "/v1/chat-messages", json=body) as response:
                assert response.status_code != 500
                if response.status_code != 200:
                    detail = (await response.aread()).decode()
                    assert response.status_code == 400, detail
                    return
                frames = await read_stream(response)
            sequence = names(frames)
            assert sequence[0] == "ping" and sequence[1] == "workflow_started", sequence[:3]
            assert sequence[-1] in ("workflow_finished", "error", "message_end"), sequence[-3:]
            assert "workflow_finished" in sequence
            conversation_id = next(f.data["conversation_id"] for f in frames if f.data)
            await container.drain()


def test_corpus_has_advanced_chat_files() -> None:
    assert len(ROWS) >= 20
