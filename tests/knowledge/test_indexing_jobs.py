"""Indexing jobs hold a lease on their document: duplicates do nothing, and documents whose
lease lapsed mid-indexing are queued again by the sweep."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import update

from headrace.knowledge.indexing import DocumentIndexer
from headrace.store.tables import DatasetDocument
from tests.conftest import LiveServer
from tests.support.upstream import Reply, ScriptedUpstream

TEXT = "Rivers carry water to the sea.\n\nGlaciers carve valleys."


async def _document(client: Any) -> tuple[str, str]:
    dataset = (
        await client.post(
            "/v1/datasets",
            json={
                "name": "Leases",
                "indexing_technique": "high_quality",
                "embedding_model_provider": "openai",
                "embedding_model": "text-embedding-3-small",
            },
        )
    ).json()
    created = (
        await client.post(
            f"/v1/datasets/{dataset['id']}/document/create-by-text",
            json={"name": "n.txt", "text": TEXT, "indexing_technique": "high_quality"},
        )
    ).json()
    return dataset["id"], created["document"]["id"]


async def _wait_status(client: Any, dataset_id: str, document_id: str, wanted: str) -> None:
    for _ in range(200):
        doc = (await client.get(f"/v1/datasets/{dataset_id}/documents/{document_id}")).json()
        if doc.get("indexing_status") == wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"document never reached {wanted}: {doc}")


async def test_duplicate_jobs_index_a_document_once(
    server: LiveServer, scripted: ScriptedUpstream, dataset_key: str
) -> None:
    scripted.script_embeddings(Reply(delay_before_first=0.5))
    async with server.client(dataset_key) as client:
        dataset_id, document_id = await _document(client)
        for _ in range(3):  # delivered again while the first job runs
            await server.container.jobs.index_document(document_id)
        await _wait_status(client, dataset_id, document_id, "completed")
        await server.container.jobs.index_document(document_id)  # and after it finished
        await server.container.drain()
    assert len(scripted.requests_for("/v1/embeddings")) == 1


async def test_sweep_requeues_documents_whose_lease_lapsed(
    server: LiveServer, scripted: ScriptedUpstream, dataset_key: str
) -> None:
    c = server.container
    async with server.client(dataset_key) as client:
        dataset_id, document_id = await _document(client)
        await _wait_status(client, dataset_id, document_id, "completed")
        async with c.db.session() as session:  # as a worker killed mid-indexing leaves it
            await session.execute(
                update(DatasetDocument)
                .where(DatasetDocument.id == document_id)
                .values(indexing_status="indexing")
            )
        other = uuid.uuid4().hex
        assert await c.runs.try_lock(f"indexing:{document_id}", other, 30)
        assert await DocumentIndexer(c).requeue_abandoned() == 0  # a live worker holds it
        await c.runs.unlock(f"indexing:{document_id}", other)
        assert await DocumentIndexer(c).requeue_abandoned() == 1
        await _wait_status(client, dataset_id, document_id, "completed")
    assert len(scripted.requests_for("/v1/embeddings")) == 2
