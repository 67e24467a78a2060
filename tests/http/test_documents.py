"""Knowledge documents through HTTP: create from text and files, indexing progress, listing,
reading and deleting (spec §10.2)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import docx
import pytest
from tests.conftest import LiveServer
from tests.support.upstream import ScriptedUpstream

RIVERS = (
    "Rivers flow downhill to the sea.\n\nDeltas form where rivers meet the sea.\n\n"
    "Lakes are still water."
)


async def wait_indexed(client: Any, dataset_id: str, batch: str) -> dict[str, Any]:
    for _ in range(200):
        status = (
            await client.get(f"/v1/datasets/{dataset_id}/documents/{batch}/indexing-status")
        ).json()
        if status["data"][0]["indexing_status"] in ("completed", "error"):
            return dict(status["data"][0])
        await asyncio.sleep(0.05)
    raise AssertionError(f"indexing did not finish: {status}")


RULE = {
    "mode": "custom",
    "rules": {
        "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
        "segmentation": {"separator": "\\n\\n", "max_tokens": 100, "chunk_overlap": 0},
    },
}


async def indexed_water(client: Any, dataset_id: str) -> dict[str, Any]:
    """Create the RIVERS document ("water", economy, RULE), wait until it is indexed, and
    return the create body."""
    created = (
        await client.post(
            f"/v1/datasets/{dataset_id}/document/create-by-text",
            json={
                "name": "water",
                "text": RIVERS,
                "indexing_technique": "economy",
                "process_rule": RULE,
            },
        )
    ).json()
    await wait_indexed(client, dataset_id, created["batch"])
    return dict(created)


@pytest.mark.parametrize("technique", ["economy", "high_quality"])
async def test_create_by_text_indexes_segments(
    server: LiveServer, dataset_key: str, technique: str
) -> None:
    async with server.client(dataset_key) as client:
        dataset = (
            await client.post(
                "/v1/datasets",
                json={
                    "name": f"Water {technique}",
                    "embedding_model_provider": "openai",
                    "embedding_model": "text-embedding-3-small",
                },
            )
        ).json()
        missing = await client.post(
            f"/v1/datasets/{dataset['id']}/document/create-by-text",
            json={"name": "rivers", "text": RIVERS},
        )
        created = await client.post(
            f"/v1/datasets/{dataset['id']}/document/create-by-text",
            json={
                "name": "rivers",
                "text": RIVERS,
                "indexing_technique": technique,
                "process_rule": RULE,
            },
        )
        assert created.status_code == 200, created.text
        body = created.json()
        status = await wait_indexed(client, dataset["id"], body["batch"])
        listing = (await client.get(f"/v1/datasets/{dataset['id']}/documents")).json()
        detail = (
            await client.get(f"/v1/datasets/{dataset['id']}/documents/{body['document']['id']}")
        ).json()
        refreshed = (await client.get(f"/v1/datasets/{dataset['id']}")).json()
    assert (
        missing.status_code == 400
        and missing.json()["message"] == "indexing_technique is required."
    )
    assert body["document"]["name"] == "rivers" and body["document"]["indexing_status"] == "waiting"
    assert body["document"]["display_status"] == "queuing"
    assert status["indexing_status"] == "completed", status["error"]
    assert status["total_segments"] == 3 and status["completed_segments"] == 3
    assert listing["total"] == 1 and listing["data"][0]["display_status"] == "available"
    assert detail["segment_count"] == 3
    assert detail["average_segment_length"] == detail["word_count"] // 3 > 0
    assert refreshed["document_count"] == 1 and refreshed["indexing_technique"] == technique


async def test_create_by_file_and_failures(server: LiveServer, dataset_key: str) -> None:
    async with server.client(dataset_key) as client:
        dataset = (
            await client.post(
                "/v1/datasets", json={"name": "Files", "indexing_technique": "economy"}
            )
        ).json()
        base = f"/v1/datasets/{dataset['id']}"
        markdown = await client.post(
            f"{base}/document/create-by-file",
            files={"file": ("notes.md", b"# Rivers\n\nThey flow.\n", "text/markdown")},
            data={"data": '{"indexing_technique": "economy"}'},
        )
        broken = await client.post(
            f"{base}/document/create-by-file",
            files={"file": ("bad.pdf", b"%PDF-1.4 broken", "application/pdf")},
        )
        unsupported = await client.post(
            f"{base}/document/create-by-file",
            files={"file": ("tool.exe", b"MZ", "application/octet-stream")},
        )
        no_file = await client.post(f"{base}/document/create-by-file", data={"data": "{}"})
        ok = await wait_indexed(client, dataset["id"], markdown.json()["batch"])
        failed = await wait_indexed(client, dataset["id"], broken.json()["batch"])
        bad_batch = await client.get(f"{base}/documents/nope/indexing-status")
        errors = (await client.get(f"{base}/documents", params={"status": "error"})).json()
        deleted = await client.delete(f"{base}/documents/{markdown.json()['document']['id']}")
        after = (await client.get(f"{base}/documents")).json()
        bad_meta = await client.get(
            f"{base}/documents/{broken.json()['document']['id']}", params={"metadata": "x"}
        )
    assert markdown.status_code == 200 and ok["indexing_status"] == "completed"
    assert failed["indexing_status"] == "error" and failed["error"] and "\n" not in failed["error"]
    assert unsupported.status_code == 400 and unsupported.json()["code"] == "invalid_param"
    assert no_file.status_code == 400 and no_file.json()["code"] == "no_file_uploaded"
    assert bad_batch.status_code == 404 and bad_batch.json()["message"] == "Documents not found."
    assert [d["name"] for d in errors["data"]] == ["bad.pdf"]
    assert deleted.status_code == 204 and [d["name"] for d in after["data"]] == ["bad.pdf"]
    assert bad_meta.status_code == 400 and bad_meta.json()["code"] == "invalid_metadata"


@pytest.mark.parametrize(
    ("technique", "method"),
    [
        ("economy", "keyword_search"),
        ("high_quality", "semantic_search"),
        ("high_quality", "hybrid_search"),
    ],
)
async def test_retrieve_modes(
    server: LiveServer, dataset_key: str, technique: str, method: str
) -> None:
    async with server.client(dataset_key) as client:
        dataset = (
            await client.post(
                "/v1/datasets",
                json={
                    "name": f"Search {method}",
                    "embedding_model_provider": "openai",
                    "embedding_model": "text-embedding-3-small",
                },
            )
        ).json()
        base = f"/v1/datasets/{dataset['id']}"
        created = (
            await client.post(
                f"{base}/document/create-by-text",
                json={
                    "name": "water",
                    "text": RIVERS,
                    "indexing_technique": technique,
                    "process_rule": RULE,
                },
            )
        ).json()
        await wait_indexed(client, dataset["id"], created["batch"])
        model = {
            "search_method": method,
            "reranking_enable": False,
            "top_k": 2,
            "score_threshold_enabled": False,
        }
        found = (
            await client.post(
                f"{base}/retrieve", json={"query": "deltas", "retrieval_model": model}
            )
        ).json()
        alias = await client.post(f"{base}/hit-testing", json={"query": "deltas"})
        empty = await client.post(f"{base}/retrieve", json={"query": " "})
    assert found["query"] == {"content": "deltas"}
    assert 1 <= len(found["records"]) <= 2
    top = found["records"][0]
    assert top["segment"]["content"] == "Deltas form where rivers meet the sea."
    assert top["segment"]["document"]["name"] == "water"
    assert 0 < top["score"] <= 1
    assert alias.status_code == 200 and alias.json()["records"]
    assert (
        empty.status_code == 400
        and empty.json()["message"] == "Query or attachment_ids is required"
    )


async def test_segments_edit_changes_retrieval(server: LiveServer, dataset_key: str) -> None:
    async with server.client(dataset_key) as client:
        dataset = (await client.post("/v1/datasets", json={"name": "Editable"})).json()
        base = f"/v1/datasets/{dataset['id']}"
        created = await indexed_water(client, dataset["id"])
        segments_url = f"{base}/documents/{created['document']['id']}/segments"
        listing = (await client.get(segments_url)).json()
        lakes = next(s for s in listing["data"] if s["content"].startswith("Lakes"))
        before = (await client.post(f"{base}/retrieve", json={"query": "glaciers"})).json()
        updated = await client.post(
            f"{segments_url}/{lakes['id']}",
            json={"segment": {"content": "Glaciers are rivers of ice."}},
        )
        after = (await client.post(f"{base}/retrieve", json={"query": "glaciers"})).json()
        added = await client.post(
            segments_url, json={"segments": [{"content": "Canals are built by people."}]}
        )
        invalid = await client.post(segments_url, json={"segments": []})
        canals = (await client.post(f"{base}/retrieve", json={"query": "canals"})).json()
        removed = await client.delete(f"{segments_url}/{lakes['id']}")
        final = (await client.post(f"{base}/retrieve", json={"query": "glaciers"})).json()
        fetched = await client.get(f"{segments_url}/{lakes['id']}")
    assert listing["total"] == 3 and [s["position"] for s in listing["data"]] == [1, 2, 3]
    assert before["records"] == []
    assert (
        updated.status_code == 200
        and updated.json()["data"]["content"] == "Glaciers are rivers of ice."
    )
    assert [r["segment"]["id"] for r in after["records"]] == [lakes["id"]]
    assert added.status_code == 200 and added.json()["data"][0]["position"] == 4
    assert invalid.status_code == 400 and "error" in invalid.json()
    assert canals["records"][0]["segment"]["content"] == "Canals are built by people."
    assert removed.status_code == 204 and final["records"] == []
    assert fetched.status_code == 404


async def test_chat_app_with_dataset_cites_sources(
    server: LiveServer, dataset_key: str, make_app: Any, scripted: ScriptedUpstream
) -> None:
    async with server.client(dataset_key) as client:
        dataset = (await client.post("/v1/datasets", json={"name": "Cited"})).json()
        await indexed_water(client, dataset["id"])
    from tests.conftest import CHAT_DSL

    config = {
        **CHAT_DSL["model_config"],
        "pre_prompt": "Answer briefly.",
        "dataset_configs": {
            "retrieval_model": "multiple",
            "top_k": 2,
            "datasets": {"datasets": [{"dataset": {"enabled": True, "id": dataset["id"]}}]},
        },
        "retriever_resource": {"enabled": True},
    }
    handle = await make_app({**CHAT_DSL, "model_config": config})
    async with server.client(handle.key) as client:
        blocking = (
            await client.post(
                "/v1/chat-messages",
                json={"inputs": {}, "query": "Where do deltas form?", "user": "u"},
            )
        ).json()
        history = (
            await client.get(
                "/v1/messages",
                params={"user": "u", "conversation_id": blocking["conversation_id"]},
            )
        ).json()
    resources = blocking["metadata"]["retriever_resources"]
    assert resources and resources[0]["position"] == 1
    assert resources[0]["dataset_id"] == dataset["id"] and resources[0]["document_name"] == "water"
    assert resources[0]["content"] == "Deltas form where rivers meet the sea."
    stored = history["data"][0]["retriever_resources"]
    assert stored[0]["message_id"] == blocking["message_id"] and stored[0]["position"] == 1
    assert stored[0]["segment_id"] == resources[0]["segment_id"]
    system = scripted.requests[0].json["messages"][0]["content"]
    assert "<context>" in system and "Deltas form where rivers meet the sea." in system
    assert system.endswith("Answer briefly.")


KNOWLEDGE_CHATFLOW = """
app: {{mode: advanced-chat, name: Knowledge chat}}
kind: app
version: 0.6.0
workflow:
  features: {{retriever_resource: {{enabled: true}}}}
  graph:
    nodes:
    - {{id: start, data: {{type: start, title: Start, variables: []}}}}
    - id: kr
      data:
        type: knowledge-retrieval
        title: Search
        query_variable_selector: [sys, query]
        dataset_ids: {dataset_ids}
        retrieval_mode: {mode}
        {mode}_retrieval_config: {config}
    - id: llm
      data:
        type: llm
        title: LLM
        model: {{provider: openai, name: gpt-4o-mini, mode: chat, completion_params: {{}}}}
        prompt_template:
        - {{role: system, text: 'Context: {{{{#context#}}}}'}}
        - {{role: user, text: '{{{{#sys.query#}}}}'}}
        context: {{enabled: true, variable_selector: [kr, result]}}
    - {{id: answer, data: {{type: answer, title: Answer, answer: '{{{{#llm.text#}}}}'}}}}
    edges:
    - {{source: start, target: kr}}
    - {{source: kr, target: llm}}
    - {{source: llm, target: answer}}
"""


def knowledge_chatflow(
    dataset_ids: list[str],
    mode: str = "multiple",
    config: str = "{top_k: 2, reranking_enable: false}",
) -> str:
    """A chatflow: knowledge-retrieval (in `mode`, with its `<mode>_retrieval_config`) into
    an LLM's context, then an answer."""
    return KNOWLEDGE_CHATFLOW.format(dataset_ids=dataset_ids, mode=mode, config=config)


async def test_chatflow_knowledge_retrieval_cites_sources(
    server: LiveServer, dataset_key: str, scripted: ScriptedUpstream
) -> None:
    from headrace.admin import import_app, new_app_key

    async with server.client(dataset_key) as client:
        dataset = (await client.post("/v1/datasets", json={"name": "Flow"})).json()
        await indexed_water(client, dataset["id"])
    container = server.container
    app = await import_app(container.db, knowledge_chatflow([dataset["id"]]), container.cipher)
    app_key = await new_app_key(container.db, app.id)
    async with server.client(app_key) as client:
        reply = (
            await client.post(
                "/v1/chat-messages", json={"inputs": {}, "query": "lakes", "user": "u"}
            )
        ).json()
    resources = reply["metadata"]["retriever_resources"]
    assert [r["content"] for r in resources] == ["Lakes are still water."]
    assert resources[0]["position"] == 1 and resources[0]["document_name"] == "water"
    system = scripted.requests[0].json["messages"][0]["content"]
    assert system.startswith("Context: Lakes are still water.")


async def test_document_status_actions(server: LiveServer, dataset_key: str) -> None:
    async with server.client(dataset_key) as client:
        dataset = (await client.post("/v1/datasets", json={"name": "Statuses"})).json()
        base = f"/v1/datasets/{dataset['id']}"
        created = await indexed_water(client, dataset["id"])
        ids = {"document_ids": [created["document"]["id"]]}

        async def hits() -> int:
            return len(
                (await client.post(f"{base}/retrieve", json={"query": "deltas"})).json()["records"]
            )

        found = await hits()
        disabled = await client.patch(f"{base}/documents/status/disable", json=ids)
        while_disabled = await hits()
        shown = (await client.get(f"{base}/documents")).json()["data"][0]["display_status"]
        await client.patch(f"{base}/documents/status/enable", json=ids)
        enabled_again = await hits()
        await client.patch(f"{base}/documents/status/archive", json=ids)
        archived = await hits()
        delete_archived = await client.delete(f"{base}/documents/{created['document']['id']}")
        bad = await client.patch(f"{base}/documents/status/explode", json=ids)
    assert found == 1 and disabled.json() == {"result": "success"}
    assert while_disabled == 0 and shown == "disabled"
    assert enabled_again == 1 and archived == 0
    assert (
        delete_archived.status_code == 403
        and delete_archived.json()["code"] == "archived_document_immutable"
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_action"


HIERARCHICAL = {
    "mode": "hierarchical",
    "rules": {
        "pre_processing_rules": [],
        "segmentation": {"separator": "\\n\\n", "max_tokens": 200},
        "parent_mode": "paragraph",
        "subchunk_segmentation": {"separator": ".", "max_tokens": 50},
    },
}


async def test_parent_child_retrieval_and_child_chunks(
    server: LiveServer, dataset_key: str
) -> None:
    text = "Rivers flow downhill. They reach the sea.\n\nLakes are still. Ponds are small."
    async with server.client(dataset_key) as client:
        dataset = (
            await client.post(
                "/v1/datasets",
                json={
                    "name": "Nested",
                    "embedding_model_provider": "openai",
                    "embedding_model": "text-embedding-3-small",
                },
            )
        ).json()
        base = f"/v1/datasets/{dataset['id']}"
        created = (
            await client.post(
                f"{base}/document/create-by-text",
                json={
                    "name": "nested",
                    "text": text,
                    "indexing_technique": "high_quality",
                    "doc_form": "hierarchical_model",
                    "process_rule": HIERARCHICAL,
                },
            )
        ).json()
        status = await wait_indexed(client, dataset["id"], created["batch"])
        segments_url = f"{base}/documents/{created['document']['id']}/segments"
        segments = (await client.get(segments_url)).json()["data"]
        lakes = next(s for s in segments if s["content"].startswith("Lakes"))
        children_url = f"{segments_url}/{lakes['id']}/child_chunks"
        children = (await client.get(children_url)).json()
        added = await client.post(children_url, json={"content": "Wetlands hold water"})
        found = (
            await client.post(
                f"{base}/retrieve",
                json={
                    "query": "wetlands hold water",
                    "retrieval_model": {"search_method": "semantic_search", "top_k": 1},
                },
            )
        ).json()
        child_id = added.json()["data"]["id"]
        patched = await client.patch(
            f"{children_url}/{child_id}", json={"content": "Marshes hold water"}
        )
        removed = await client.delete(f"{children_url}/{child_id}")
        after = (await client.get(children_url)).json()
    assert status["indexing_status"] == "completed" and len(segments) == 2
    # The subchunk separator is a hard delimiter and is dropped, as in Dify.
    assert [c["content"] for c in lakes["child_chunks"]] == ["Lakes are still", "Ponds are small"]
    assert children["total"] == 2 and children["total_pages"] == 1
    assert added.status_code == 200 and added.json()["data"]["type"] == "customized"
    record = found["records"][0]
    assert record["segment"]["id"] == lakes["id"]
    assert record["child_chunks"][0]["content"] == "Wetlands hold water"  # best child first
    assert patched.json()["data"]["content"] == "Marshes hold water"
    assert removed.status_code == 204 and after["total"] == 2


async def test_pdf_docx_and_markdown_uploads_index_and_retrieve(
    server: LiveServer, dataset_key: str
) -> None:
    from tests.extract.builders import make_pdf

    document = docx.Document()
    document.add_paragraph("Lakes are bodies of still water.")
    buffer = io.BytesIO()
    document.save(buffer)

    files = {
        "rivers.pdf": (
            make_pdf([["Rivers carry water to the sea."], ["Estuaries mix salt and fresh water."]]),
            "application/pdf",
        ),
        "lakes.docx": (
            buffer.getvalue(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        "ponds.md": (b"# Ponds\n\nPonds are small and shallow.\n", "text/markdown"),
    }
    async with server.client(dataset_key) as client:
        dataset = (
            await client.post(
                "/v1/datasets", json={"name": "Uploads", "indexing_technique": "economy"}
            )
        ).json()
        base = f"/v1/datasets/{dataset['id']}"
        batches = {}
        for name, (data, mime) in files.items():
            response = await client.post(
                f"{base}/document/create-by-file", files={"file": (name, data, mime)}
            )
            assert response.status_code == 200, response.text
            batches[name] = response.json()["batch"]
        statuses = {
            name: await wait_indexed(client, dataset["id"], batch)
            for name, batch in batches.items()
        }
        estuaries = (await client.post(f"{base}/retrieve", json={"query": "estuaries"})).json()
        lakes = (await client.post(f"{base}/retrieve", json={"query": "still water lakes"})).json()
        ponds = (await client.post(f"{base}/retrieve", json={"query": "shallow ponds"})).json()
    assert all(s["indexing_status"] == "completed" for s in statuses.values()), statuses
    assert estuaries["records"][0]["segment"]["document"]["name"] == "rivers.pdf"
    assert lakes["records"][0]["segment"]["document"]["name"] == "lakes.docx"
    assert ponds["records"][0]["segment"]["document"]["name"] == "ponds.md"


async def test_metadata_fields_and_document_values(server: LiveServer, dataset_key: str) -> None:
    async with server.client(dataset_key) as client:
        dataset = (await client.post("/v1/datasets", json={"name": "Meta"})).json()
        base = f"/v1/datasets/{dataset['id']}"
        created = await indexed_water(client, dataset["id"])
        field = await client.post(f"{base}/metadata", json={"type": "string", "name": "region"})
        duplicate = await client.post(f"{base}/metadata", json={"type": "string", "name": "region"})
        built_in_name = await client.post(
            f"{base}/metadata", json={"type": "string", "name": "source"}
        )
        field_id = field.json()["id"]
        document_id = created["document"]["id"]
        written = await client.post(
            f"{base}/documents/metadata",
            json={
                "operation_data": [
                    {
                        "document_id": document_id,
                        "metadata_list": [{"id": field_id, "name": "region", "value": "alps"}],
                    }
                ]
            },
        )
        listed = (await client.get(f"{base}/metadata")).json()
        renamed = (await client.patch(f"{base}/metadata/{field_id}", json={"name": "area"})).json()
        only = (
            await client.get(f"{base}/documents/{document_id}", params={"metadata": "only"})
        ).json()
        built_in = (await client.get(f"{base}/metadata/built-in")).json()
        enabled = await client.post(f"{base}/metadata/built-in/enable")
        removed = await client.delete(f"{base}/metadata/{field_id}")
        after = (await client.get(f"{base}/metadata")).json()
    assert field.status_code == 201 and field.json()["name"] == "region"
    assert (
        duplicate.status_code == 400
        and duplicate.json()["message"] == "Metadata name already exists."
    )
    assert built_in_name.json()["message"] == "Metadata name already exists in Built-in fields."
    assert written.json() == {"result": "success"}
    assert listed["doc_metadata"] == [
        {"id": field_id, "name": "region", "type": "string", "count": 1}
    ]
    assert renamed == {"id": field_id, "type": "string", "name": "area"}
    assert only["doc_metadata"][0]["name"] == "area" and only["doc_metadata"][0]["value"] == "alps"
    assert [f["name"] for f in built_in["fields"]] == [
        "document_name",
        "uploader",
        "upload_date",
        "last_update_date",
        "source",
    ]
    assert enabled.json() == {"result": "success"}
    assert removed.status_code == 204 and after == {
        "doc_metadata": [],
        "built_in_field_enabled": True,
    }


async def test_retrieve_with_metadata_filter(server: LiveServer, dataset_key: str) -> None:
    async with server.client(dataset_key) as client:
        dataset = (await client.post("/v1/datasets", json={"name": "Filtered"})).json()
        base = f"/v1/datasets/{dataset['id']}"
        field_id = (
            await client.post(f"{base}/metadata", json={"type": "string", "name": "region"})
        ).json()["id"]
        ids = {}
        for region in ("alps", "andes"):
            created = (
                await client.post(
                    f"{base}/document/create-by-text",
                    json={
                        "name": region,
                        "text": f"Mountain rivers of the {region}.",
                        "indexing_technique": "economy",
                    },
                )
            ).json()
            await wait_indexed(client, dataset["id"], created["batch"])
            ids[region] = created["document"]["id"]
            await client.post(
                f"{base}/documents/metadata",
                json={
                    "operation_data": [
                        {
                            "document_id": ids[region],
                            "metadata_list": [{"id": field_id, "name": "region", "value": region}],
                        }
                    ]
                },
            )
        model = {
            "search_method": "keyword_search",
            "top_k": 5,
            "metadata_filtering_conditions": {
                "logical_operator": "and",
                "conditions": [{"name": "region", "comparison_operator": "is", "value": "andes"}],
            },
        }
        unfiltered = (
            await client.post(f"{base}/retrieve", json={"query": "mountain rivers"})
        ).json()
        filtered = (
            await client.post(
                f"{base}/retrieve", json={"query": "mountain rivers", "retrieval_model": model}
            )
        ).json()
    assert {r["segment"]["document"]["name"] for r in unfiltered["records"]} == {"alps", "andes"}
    assert [r["segment"]["document"]["name"] for r in filtered["records"]] == ["andes"]


async def test_update_by_text_and_file(server: LiveServer, dataset_key: str) -> None:
    async with server.client(dataset_key) as client:
        dataset = (await client.post("/v1/datasets", json={"name": "Updated"})).json()
        base = f"/v1/datasets/{dataset['id']}"
        created = await indexed_water(client, dataset["id"])
        document_id = created["document"]["id"]
        by_text = await client.post(
            f"{base}/documents/{document_id}/update-by-text",
            json={"name": "ice", "text": "Glaciers grind rock."},
        )
        assert by_text.status_code == 200, by_text.text
        await wait_indexed(client, dataset["id"], by_text.json()["batch"])
        glaciers = (await client.post(f"{base}/retrieve", json={"query": "glaciers"})).json()
        deltas = (await client.post(f"{base}/retrieve", json={"query": "deltas"})).json()
        by_file = await client.patch(
            f"{base}/documents/{document_id}",
            files={"file": ("snow.md", b"Snow melts in spring.", "text/markdown")},
        )
        await wait_indexed(client, dataset["id"], by_file.json()["batch"])
        snow = (await client.post(f"{base}/retrieve", json={"query": "snow"})).json()
        wrong_type = await client.patch(
            f"{base}/documents/{document_id}",
            files={"file": ("x.exe", b"MZ", "application/octet-stream")},
        )
        no_name = await client.post(
            f"{base}/documents/{document_id}/update-by-text", json={"text": "x"}
        )
    assert by_text.json()["document"]["name"] == "ice"
    assert [r["segment"]["content"] for r in glaciers["records"]] == ["Glaciers grind rock."]
    assert deltas["records"] == []
    assert by_file.json()["document"]["name"] == "snow.md"
    assert snow["records"][0]["segment"]["document"]["name"] == "snow.md"
    assert wrong_type.status_code == 415 and wrong_type.json()["code"] == "unsupported_file_type"
    assert no_name.status_code == 400
