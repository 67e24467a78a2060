"""`headrace worker`: indexing jobs run by Celery worker processes over a Redis broker.

A worker is killed with SIGKILL while it waits on the embedding upstream mid-indexing; a new
worker takes the document over once the dead worker's lease lapses, and nothing is lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import LiveServer
from tests.jobs.conftest import Workers
from tests.support.upstream import Reply, ScriptedUpstream

TEXT = "\n\n".join(
    [
        "Rivers carry water from the hills down to the sea.",
        "Glaciers are slow rivers of ice that carve valleys.",
        "Deserts receive very little rain across the year.",
    ]
)


async def _status(client: Any, dataset_id: str, batch: str) -> dict[str, Any]:
    body = (await client.get(f"/v1/datasets/{dataset_id}/documents/{batch}/indexing-status")).json()
    return dict(body["data"][0])


async def _wait(predicate: Any, what: str, workers: Workers, timeout: float = 60) -> None:
    for _ in range(int(timeout / 0.1)):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker output:\n{workers.logs()}")


async def _create(client: Any, name: str) -> tuple[str, str]:
    dataset = (
        await client.post(
            "/v1/datasets",
            json={
                "name": name,
                "indexing_technique": "high_quality",
                "embedding_model_provider": "openai",
                "embedding_model": "text-embedding-3-small",
            },
        )
    ).json()
    created = await client.post(
        f"/v1/datasets/{dataset['id']}/document/create-by-text",
        json={
            "name": "nature.txt",
            "text": TEXT,
            "indexing_technique": "high_quality",
            "process_rule": {
                "mode": "custom",
                "rules": {
                    "pre_processing_rules": [],
                    "segmentation": {"separator": "\\n\\n", "max_tokens": 100},
                },
            },
        },
    )
    assert created.status_code == 200, created.text
    return dataset["id"], created.json()["batch"]


async def test_worker_indexes_queued_documents(
    server: LiveServer, workers: Workers, dataset_key: str
) -> None:
    async with server.client(dataset_key) as client:
        dataset_id, batch = await _create(client, "Queued")  # queued before any worker runs
        await asyncio.sleep(0.5)
        assert (await _status(client, dataset_id, batch))["indexing_status"] == "waiting"
        workers.start()

        async def done() -> bool:
            return (await _status(client, dataset_id, batch))["indexing_status"] == "completed"

        await _wait(done, "indexing by the worker", workers)
        hits = (
            await client.post(
                f"/v1/datasets/{dataset_id}/retrieve",
                json={
                    "query": "ice carving valleys",
                    "retrieval_model": {"search_method": "semantic_search", "top_k": 1},
                },
            )
        ).json()
    assert "Glaciers" in hits["records"][0]["segment"]["content"]
    assert not server.container.live  # the server itself ran nothing


async def test_killed_worker_loses_nothing(
    server: LiveServer, scripted: ScriptedUpstream, workers: Workers, dataset_key: str
) -> None:
    scripted.script_embeddings(Reply(hang=True))  # the first worker gets stuck mid-indexing
    first = workers.start()
    async with server.client(dataset_key) as client:
        dataset_id, batch = await _create(client, "Durable")

        async def stuck() -> bool:
            return bool(scripted.requests_for("/v1/embeddings"))

        await _wait(stuck, "the first worker to reach the embedding call", workers)
        first.kill()
        first.wait()
        assert (await _status(client, dataset_id, batch))["indexing_status"] == "indexing"
        workers.start()

        async def done() -> bool:
            return (await _status(client, dataset_id, batch))["indexing_status"] == "completed"

        await _wait(done, "a second worker to take the document over", workers)
        status = await _status(client, dataset_id, batch)
        segments = (
            await client.get(f"/v1/datasets/{dataset_id}/documents/{status['id']}/segments")
        ).json()
    assert status["completed_segments"] == status["total_segments"] == 3
    assert sorted(s["position"] for s in segments["data"]) == [1, 2, 3]
    # The hung call and the second worker's one call: the document was indexed once more.
    assert len(scripted.requests_for("/v1/embeddings")) == 2
