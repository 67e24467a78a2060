"""One behavioural suite for every vector store: the embedded store (ANN and exact paths, on
SQLite and on PostgreSQL) and the Qdrant store (in memory and on disk, qdrant-client's local
mode)."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from headrace.knowledge.vectorstores import EmbeddedVectorStore, VectorItem, VectorStore
from headrace.knowledge.vectorstores.qdrant import QdrantVectorStore
from headrace.store.db import Database
from headrace.store.tables.knowledge_index import INDEX_METADATA

PG_URL = os.environ.get(
    "HEADRACE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


@asynccontextmanager
async def index_database(tmp_path: Path, backend: str) -> AsyncIterator[Database]:
    """A database holding the index tables: a temp SQLite file or a fresh PostgreSQL schema."""
    schema = None
    if backend == "postgres":
        import asyncpg

        schema = f"t_{uuid.uuid4().hex[:12]}"
        raw = PG_URL.replace("postgresql+asyncpg", "postgresql")
        conn = await asyncpg.connect(raw)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()
        db = Database(PG_URL, schema=schema)
    else:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(INDEX_METADATA.create_all)
        yield db
    finally:
        await db.aclose()
        if schema:
            conn = await asyncpg.connect(raw)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()


STORES = ["embedded-ann", "embedded-exact", "embedded-ann-pg", "qdrant-memory", "qdrant-path"]


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    kind: str = request.param
    if kind.startswith("qdrant"):
        qdrant = (
            QdrantVectorStore(path=str(tmp_path / "qdrant"))
            if kind == "qdrant-path"
            else QdrantVectorStore(location=":memory:")
        )
        yield qdrant
        await qdrant.aclose()
        return
    backend = "postgres" if kind.endswith("-pg") else "sqlite"
    async with index_database(tmp_path, backend) as db:
        threshold = 10_000 if kind == "embedded-exact" else 0
        embedded = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=threshold)
        yield embedded
        await embedded.aclose()


def unit(angle_degrees: float) -> list[float]:
    """A 4-d vector at this angle from (1, 0, 0, 0) in the first plane."""
    a = math.radians(angle_degrees)
    return [math.cos(a), math.sin(a), 0.0, 0.0]


async def seed(store: VectorStore, collection: str = "c1") -> None:
    await store.upsert(
        collection,
        [
            VectorItem("a", unit(0), {"doc": "d1", "n": 1, "flag": True}),
            VectorItem("b", unit(30), {"doc": "d1", "n": 2.5, "flag": False}),
            VectorItem("c", unit(60), {"doc": "d2", "n": "1", "tags": ["x"]}),
            VectorItem("d", unit(90), {"doc": "d3", "n": None}),
            VectorItem("e", unit(180), {"doc": "d3"}),
        ],
    )


async def test_search_orders_by_cosine_and_scores_are_clamped_cosines(store: VectorStore) -> None:
    await seed(store)
    hits = await store.search("c1", unit(10), top_k=5)
    assert [hit.id for hit in hits] == ["a", "b", "c", "d", "e"]
    for hit, angle in zip(hits, [10, 20, 50, 80, 170], strict=True):
        expected = max(0.0, math.cos(math.radians(angle)))
        assert hit.score == pytest.approx(expected, abs=1e-4)
        assert 0.0 <= hit.score <= 1.0
    assert hits[0].payload == {"doc": "d1", "n": 1, "flag": True}
    assert [hit.id for hit in await store.search("c1", unit(10), top_k=2)] == ["a", "b"]
    assert await store.search("c1", unit(10), top_k=0) == []


async def test_missing_collection_and_wrong_dimension(store: VectorStore) -> None:
    assert await store.search("nope", unit(0), top_k=3) == []
    await store.delete("nope", ["x"])
    await store.delete_where("nope", "doc", "d1")
    await store.drop("nope")
    await seed(store)
    with pytest.raises(ValueError):
        await store.search("c1", [1.0, 0.0], top_k=3)
    with pytest.raises(ValueError):
        await store.upsert("c1", [VectorItem("z", [1.0, 0.0, 0.0], {})])


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"doc": "d1"}, ["a", "b"]),
        ({"doc": ["d1", "d3"]}, ["a", "b", "d", "e"]),
        ({"doc": "d1", "flag": False}, ["b"]),
        ({"flag": True}, ["a"]),
        ({"n": 1}, ["a"]),  # the string "1" and the boolean True are not the number 1
        ({"n": 1.0}, ["a"]),
        ({"n": [2.5, "1"]}, ["b", "c"]),
        ({"n": None}, ["d"]),
        ({"doc": []}, []),
        ({"doc": "zzz"}, []),
        ({"missing": "x"}, []),
    ],
)
async def test_filters(store: VectorStore, filter: dict[str, object], expected: list[str]) -> None:
    await seed(store)
    hits = await store.search("c1", unit(0), top_k=10, filter=filter)
    assert [hit.id for hit in hits] == expected


async def test_reupsert_replaces_vector_and_payload(store: VectorStore) -> None:
    await seed(store)
    await store.upsert("c1", [VectorItem("e", unit(5), {"doc": "d9"})])
    hits = await store.search("c1", unit(5), top_k=10)
    assert [hit.id for hit in hits][:2] == ["e", "a"]
    assert len(hits) == 5
    assert hits[0].payload == {"doc": "d9"}
    assert [hit.id for hit in await store.search("c1", unit(0), 10, {"doc": "d3"})] == ["d"]
    # repeated ids in one call: the last wins
    await store.upsert(
        "c1", [VectorItem("f", unit(0), {"v": 1}), VectorItem("f", unit(0), {"v": 2})]
    )
    assert (await store.search("c1", unit(0), 10, {"v": [1, 2]}))[0].payload == {"v": 2}


async def test_delete_and_delete_where(store: VectorStore) -> None:
    await seed(store)
    await store.delete("c1", ["a", "unknown"])
    assert [hit.id for hit in await store.search("c1", unit(0), 10)] == ["b", "c", "d", "e"]
    await store.delete_where("c1", "doc", "d3")
    assert [hit.id for hit in await store.search("c1", unit(0), 10)] == ["b", "c"]
    await store.delete_where("c1", "doc", ["d1", "d2"])
    assert await store.search("c1", unit(0), 10) == []
    await store.upsert("c1", [VectorItem("a", unit(0), {"doc": "again"})])
    assert [hit.id for hit in await store.search("c1", unit(0), 10)] == ["a"]


async def test_collections_are_separate_and_drop_removes_one(store: VectorStore) -> None:
    await seed(store, "c1")
    await store.upsert(
        "Vector_index_other collection_Node", [VectorItem("a", [0.0, 1.0], {"k": 1})]
    )
    assert [
        hit.id for hit in await store.search("Vector_index_other collection_Node", [0.0, 1.0], 5)
    ] == ["a"]
    await store.drop("c1")
    assert await store.search("c1", unit(0), 5) == []
    await store.upsert("c1", [VectorItem("x", [1.0, 0.0, 0.0], {})])  # a new dimension is fine
    assert [hit.id for hit in await store.search("c1", [1.0, 0.0, 0.0], 5)] == ["x"]
    assert len(await store.search("Vector_index_other collection_Node", [0.0, 1.0], 5)) == 1


async def test_larger_collection_with_filters(store: VectorStore) -> None:
    items = [VectorItem(f"v{i}", unit(i * 0.5), {"doc": f"d{i % 50}", "i": i}) for i in range(300)]
    await store.upsert("big", items)
    hits = await store.search("big", unit(0), top_k=5)
    assert [hit.id for hit in hits] == ["v0", "v1", "v2", "v3", "v4"]
    hits = await store.search("big", unit(0), top_k=4, filter={"doc": "d7"})
    assert [hit.id for hit in hits] == ["v7", "v57", "v107", "v157"]
    hits = await store.search("big", unit(100), top_k=3, filter={"doc": ["d1", "d2"]})
    assert [hit.id for hit in hits] == ["v201", "v202", "v152"]
    await store.delete_where("big", "doc", "d7")
    hits = await store.search("big", unit(0), top_k=10, filter={"doc": "d7"})
    assert hits == []
