"""Knowledge API: dataset-key auth, datasets CRUD, tags (spec §2.3, §10.1)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import LiveServer

from headrace.admin import new_app_key, new_dataset_key

DETAIL_KEYS = {
    "id",
    "name",
    "description",
    "provider",
    "permission",
    "data_source_type",
    "indexing_technique",
    "app_count",
    "document_count",
    "word_count",
    "created_by",
    "author_name",
    "created_at",
    "updated_by",
    "updated_at",
    "embedding_model",
    "embedding_model_provider",
    "embedding_available",
    "retrieval_model_dict",
    "summary_index_setting",
    "tags",
    "doc_form",
    "external_knowledge_info",
    "external_retrieval_model",
    "doc_metadata",
    "built_in_field_enabled",
    "pipeline_id",
    "runtime_mode",
    "chunk_structure",
    "icon_info",
    "is_published",
    "total_documents",
    "total_available_documents",
    "enable_api",
    "is_multimodal",
}


@pytest.fixture
async def dataset_key(server: LiveServer) -> str:
    return await new_dataset_key(server.container.db)


async def test_dataset_key_auth(server: LiveServer, dataset_key: str, make_app: Any) -> None:
    handle = await make_app()
    async with server.client() as client:
        missing = await client.get("/v1/datasets")
        app_key = await client.get(
            "/v1/datasets", headers={"Authorization": f"Bearer {handle.key}"}
        )
        ok = await client.get("/v1/datasets", headers={"Authorization": f"Bearer {dataset_key}"})
    async with server.client(dataset_key) as client:
        wrong_scope = await client.get("/v1/info")
    assert dataset_key.startswith("dataset-") and len(dataset_key) == 32
    assert missing.status_code == 401
    assert app_key.status_code == 401 and app_key.json()["message"] == "Access token is invalid"
    assert wrong_scope.status_code == 401
    assert ok.status_code == 200 and ok.json() == {
        "data": [],
        "has_more": False,
        "limit": 20,
        "total": 0,
        "page": 1,
    }


async def test_dataset_crud(server: LiveServer, dataset_key: str) -> None:
    async with server.client(dataset_key) as client:
        created = await client.post(
            "/v1/datasets",
            json={"name": "Rivers", "description": "about rivers", "indexing_technique": "economy"},
        )
        duplicate = await client.post("/v1/datasets", json={"name": "Rivers"})
        too_long = await client.post("/v1/datasets", json={"name": "x" * 41})
        dataset_id = created.json()["id"]
        fetched = await client.get(f"/v1/datasets/{dataset_id}")
        patched = await client.patch(
            f"/v1/datasets/{dataset_id}", json={"description": "deltas too"}
        )
        await client.post("/v1/datasets", json={"name": "Lakes"})
        listing = (await client.get("/v1/datasets", params={"limit": 1})).json()
        search = (await client.get("/v1/datasets", params={"keyword": "riv"})).json()
        unknown = await client.get("/v1/datasets/6d2c5a4e-9c1f-4a53-8f0a-0d7a0e6a1b11")
        deleted = await client.delete(f"/v1/datasets/{dataset_id}")
        gone = await client.get(f"/v1/datasets/{dataset_id}")
    assert created.status_code == 200, created.text
    body = created.json()
    assert set(body) == DETAIL_KEYS
    assert (body["name"], body["indexing_technique"], body["document_count"]) == (
        "Rivers",
        "economy",
        0,
    )
    assert body["retrieval_model_dict"]["search_method"] == "keyword_search"
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "dataset_name_duplicate"
    assert too_long.status_code == 400 and too_long.json()["code"] == "invalid_param"
    assert fetched.json()["id"] == dataset_id
    assert (
        patched.json()["description"] == "deltas too"
        and patched.json()["partial_member_list"] == []
    )
    assert listing["total"] == 2 and len(listing["data"]) == 1 and listing["has_more"] is True
    assert listing["data"][0]["name"] == "Lakes"
    assert [d["name"] for d in search["data"]] == ["Rivers"]
    assert unknown.status_code == 404 and unknown.json()["message"] == "Dataset not found."
    assert deleted.status_code == 204 and deleted.content == b""
    assert gone.status_code == 404


async def test_tags(server: LiveServer, dataset_key: str) -> None:
    async with server.client(dataset_key) as client:
        dataset_id = (await client.post("/v1/datasets", json={"name": "Tagged"})).json()["id"]
        other_id = (await client.post("/v1/datasets", json={"name": "Plain"})).json()["id"]
        tag = (await client.post("/v1/datasets/tags", json={"name": "water"})).json()
        bound = await client.post(
            "/v1/datasets/tags/binding", json={"tag_ids": [tag["id"]], "target_id": dataset_id}
        )
        empty = await client.post(
            "/v1/datasets/tags/binding", json={"tag_ids": [], "target_id": dataset_id}
        )
        listed = (await client.get("/v1/datasets/tags")).json()
        renamed = (
            await client.patch("/v1/datasets/tags", json={"tag_id": tag["id"], "name": "rivers"})
        ).json()
        of_dataset = (await client.get(f"/v1/datasets/{dataset_id}/tags")).json()
        filtered = (await client.get("/v1/datasets", params={"tag_ids": tag["id"]})).json()
        unbound = await client.post(
            "/v1/datasets/tags/unbinding", json={"tag_id": tag["id"], "target_id": dataset_id}
        )
        after = (await client.get(f"/v1/datasets/{dataset_id}/tags")).json()
        removed = await client.request("DELETE", "/v1/datasets/tags", json={"tag_id": tag["id"]})
        final = (await client.get("/v1/datasets/tags")).json()
    assert tag["type"] == "knowledge" and tag["binding_count"] == "0"
    assert bound.status_code == 204
    assert empty.status_code == 400 and empty.json()["message"] == "Tag IDs is required."
    assert listed == [{"id": tag["id"], "name": "water", "type": "knowledge", "binding_count": "1"}]
    assert renamed["name"] == "rivers" and renamed["binding_count"] == "1"
    assert of_dataset == {"data": [{"id": tag["id"], "name": "rivers"}], "total": 1}
    assert [d["id"] for d in filtered["data"]] == [dataset_id] and other_id not in str(filtered)
    assert filtered["data"][0]["tags"][0]["name"] == "rivers"
    assert unbound.status_code == 204 and after["total"] == 0
    assert removed.status_code == 204 and final == []


async def test_cli_dataset_key_prints_key_alone(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "HEADRACE_DATA_DIR": str(tmp_path)}
    env.pop("HEADRACE_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "headrace.cli", "dataset", "key"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dataset-") and done.stdout.count("\n") == 1


async def test_app_keys_do_not_open_datasets(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    key = await new_app_key(server.container.db, handle.app_id)
    async with server.client(key) as client:
        response = await client.post("/v1/datasets", json={"name": "nope"})
    assert response.status_code == 401
