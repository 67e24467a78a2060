"""Retrieval quality on a small labelled corpus: recall@5 of hybrid search with the local
all-MiniLM-L6-v2 embedding model (a quality bar, not a speed one)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tests.conftest import LiveServer

from headrace.admin import new_dataset_key

pytest.importorskip("sentence_transformers", reason="local embeddings need the [local] extra")
CORPUS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "knowledge" / "labelled.json").read_text()
)


@pytest.mark.slow
async def test_hybrid_recall_at_5_with_local_embeddings(server: LiveServer) -> None:
    key = await new_dataset_key(server.container.db)
    async with server.client(key, timeout=120) as client:
        dataset = (
            await client.post(
                "/v1/datasets",
                json={
                    "name": "Labelled",
                    "indexing_technique": "high_quality",
                    "embedding_model_provider": "local",
                    "embedding_model": "all-MiniLM-L6-v2",
                },
            )
        ).json()
        base = f"/v1/datasets/{dataset['id']}"
        batches = []
        for name, text in CORPUS["documents"].items():
            created = (
                await client.post(
                    f"{base}/document/create-by-text", json={"name": name, "text": text}
                )
            ).json()
            batches.append(created["batch"])
        for batch in batches:
            for _ in range(600):
                status = (await client.get(f"{base}/documents/{batch}/indexing-status")).json()[
                    "data"
                ][0]
                if status["indexing_status"] in ("completed", "error"):
                    break
                await asyncio.sleep(0.05)
            assert status["indexing_status"] == "completed", status["error"]
        model = {
            "search_method": "hybrid_search",
            "reranking_enable": False,
            "reranking_mode": "weighted_score",
            "weights": {
                "vector_setting": {"vector_weight": 0.7},
                "keyword_setting": {"keyword_weight": 0.3},
            },
            "top_k": 5,
            "score_threshold_enabled": False,
        }
        found = 0
        for item in CORPUS["queries"]:
            records = (
                await client.post(
                    f"{base}/retrieve", json={"query": item["query"], "retrieval_model": model}
                )
            ).json()["records"]
            names = [r["segment"]["document"]["name"] for r in records]
            found += item["relevant"] in names
    recall = found / len(CORPUS["queries"])
    assert recall >= 0.9, f"recall@5 {recall:.2f}"
