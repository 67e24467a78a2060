"""The embedded store's index life cycle: persistence, replay, rebuilds, other workers, recall."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, insert, select, update

from headrace.knowledge.vectorstores import EmbeddedVectorStore, VectorItem, embedded_sql
from headrace.knowledge.vectorstores.ann import file_digest
from headrace.knowledge.vectorstores.embedded_sql import to_bytes
from headrace.store.db import Database
from headrace.store.tables.knowledge_index import StoredVector, VectorCollection, VectorTombstone
from tests.knowledge.test_vectorstore_contract import index_database

DIM = 16


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with index_database(tmp_path, request.param) as database:
        yield database


def vectors(count: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def items(matrix: np.ndarray, prefix: str = "v", start: int = 0) -> list[VectorItem]:
    return [
        VectorItem(f"{prefix}{start + i}", row.tolist(), {"doc": f"d{(start + i) % 10}"})
        for i, row in enumerate(matrix)
    ]


def exact_ids(matrix: np.ndarray, ids: list[str], query: np.ndarray, k: int) -> list[str]:
    normed = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = normed @ (query / np.linalg.norm(query))
    return [ids[i] for i in np.argsort(-scores)[:k]]


def assert_close(found: list[str], want: list[str]) -> None:
    """ANN results: the same best hit and at most one other difference (builds may vary)."""
    assert found[0] == want[0] and len(set(found) & set(want)) >= len(want) - 1, (found, want)


def index_files(directory: Path, collection: str = "c") -> list[Path]:
    return sorted(directory.glob(f"{file_digest(collection)}-*.usearch"))


async def ann_ids(store: EmbeddedVectorStore, query: np.ndarray, k: int = 5) -> list[str]:
    return [hit.id for hit in await store.search("c", query.tolist(), k)]


async def test_index_persists_and_a_new_instance_loads_it(db: Database, tmp_path: Path) -> None:
    data = vectors(200)
    store = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0)
    await store.upsert("c", items(data))
    first = await ann_ids(store, data[3])
    assert first[0] == "v3" and store.rebuilds == 1
    await store.upsert("c", items(vectors(5, seed=1), "w"))
    await store.aclose()
    assert len(index_files(tmp_path / "ann")) == 1

    again = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0)
    assert await ann_ids(again, data[3]) == first
    assert again.rebuilds == 0
    await again.aclose()


async def test_missing_or_unreadable_file_is_rebuilt(db: Database, tmp_path: Path) -> None:
    data = vectors(100)
    store = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0)
    await store.upsert("c", items(data))
    expected = exact_ids(data, [f"v{i}" for i in range(100)], data[7], 5)
    assert_close(await ann_ids(store, data[7]), expected)
    await store.aclose()
    for path in index_files(tmp_path / "ann"):
        path.unlink()
    missing = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0)
    assert_close(await ann_ids(missing, data[7]), expected)
    assert missing.rebuilds == 1
    await missing.aclose()

    [path] = index_files(tmp_path / "ann")
    path.write_bytes(b"not an index at all")
    corrupt = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0)
    assert_close(await ann_ids(corrupt, data[7]), expected)
    assert corrupt.rebuilds == 1
    await corrupt.aclose()


async def test_unsaved_writes_after_a_crash_are_replayed(db: Database, tmp_path: Path) -> None:
    data = vectors(150)
    crashing = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0, autosave_changes=10**6)
    await crashing.upsert("c", items(data[:100]))
    await crashing.search("c", data[0].tolist(), 3)  # built and saved at this version
    await crashing.upsert("c", items(data[100:], start=100))
    await crashing.delete("c", ["v0"])
    await crashing.delete_where("c", "doc", "d5")
    # no aclose: the process died with only the old file on disk

    fresh = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0)
    ids = [f"v{i}" for i in range(150)]
    alive = [i for i in range(150) if i != 0 and i % 10 != 5]
    gone = {ids[i] for i in range(150) if i not in alive}
    for probe in (0, 5, 120, 149):
        want = exact_ids(data[alive], [ids[i] for i in alive], data[probe], 5)
        found = await ann_ids(fresh, data[probe])
        assert_close(found, want)
        assert not gone & set(found)
    assert fresh.rebuilds == 0  # replayed from the database, not rebuilt
    await fresh.aclose()


async def test_rows_written_behind_the_stores_back_force_a_rebuild(
    db: Database, tmp_path: Path
) -> None:
    data = vectors(60)
    store = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0)
    await store.upsert("c", items(data[:50]))
    await store.search("c", data[0].tolist(), 3)
    await store.aclose()
    async with db.session() as session:  # a writer that does not bump the version
        version = await session.scalar(select(VectorCollection.version))
        await session.execute(
            insert(StoredVector),
            [
                {
                    "collection": "c",
                    "id": f"x{i}",
                    "key": 1000 + i,
                    "payload": {},
                    "version": version,
                    "vector": to_bytes(data[50 + i]),
                }
                for i in range(10)
            ],
        )
    stale = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0)
    assert (await ann_ids(stale, data[55], 1)) == ["x5"]
    assert stale.rebuilds == 1
    await stale.aclose()


async def test_another_workers_writes_are_seen(db: Database, tmp_path: Path) -> None:
    data = vectors(80)
    one = EmbeddedVectorStore(db, tmp_path / "one", exact_threshold=0)
    two = EmbeddedVectorStore(db, tmp_path / "two", exact_threshold=0, state_ttl=0)
    await one.upsert("c", items(data[:40]))
    assert (await ann_ids(two, data[1], 1)) == ["v1"]
    await one.upsert("c", items(data[40:], start=40))
    await one.delete("c", ["v1"])
    await one.upsert("c", [VectorItem("v2", data[70].tolist(), {"doc": "moved"})])
    assert (await ann_ids(two, data[45], 1)) == ["v45"]
    assert "v1" not in await ann_ids(two, data[1], 5)
    near_70 = {hit.id: hit.payload for hit in await two.search("c", data[70].tolist(), 2)}
    assert near_70 == {"v2": {"doc": "moved"}, "v70": {"doc": "d0"}}  # payloads follow too
    assert two.rebuilds == 1  # the first build only; later writes were replayed
    await one.drop("c")
    assert await two.search("c", data[0].tolist(), 3) == []
    await one.aclose()
    await two.aclose()


async def test_other_workers_writes_are_seen_once_the_state_ttl_passed(
    db: Database, tmp_path: Path
) -> None:
    data = vectors(60)
    one = EmbeddedVectorStore(db, tmp_path / "one", exact_threshold=0)
    two = EmbeddedVectorStore(db, tmp_path / "two", exact_threshold=0, state_ttl=0.2)
    await one.upsert("c", items(data[:30]))
    assert (await ann_ids(two, data[1], 1)) == ["v1"]
    await one.upsert("c", items(data[30:], start=30))
    await two.upsert("c", [VectorItem("w", data[50].tolist(), {"doc": "own"})])
    assert set(await ann_ids(two, data[50], 2)) == {"w", "v50"}  # its own write: at once
    await asyncio.sleep(0.25)
    assert (await ann_ids(two, data[45], 1)) == ["v45"]
    await one.aclose()
    await two.aclose()


async def test_pruned_tombstones_and_a_recreated_collection_rebuild(
    db: Database, tmp_path: Path
) -> None:
    data = vectors(30)
    store = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0, tombstone_horizon=1)
    await store.upsert("c", items(data))
    await store.search("c", data[0].tolist(), 1)
    await store.aclose()
    writer = EmbeddedVectorStore(db, tmp_path / "other", exact_threshold=0, tombstone_horizon=1)
    for i in range(5):
        await writer.delete("c", [f"v{i}"])
    async with db.sessions() as session:
        pruned = await session.scalar(select(VectorCollection.pruned_version))
        left = await session.scalar(select(func.count()).select_from(VectorTombstone))
    assert pruned and left is not None and left < 5
    reader = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0, state_ttl=0)
    assert (await ann_ids(reader, data[3], 1)) != ["v3"]
    assert reader.rebuilds == 1
    await writer.drop("c")
    await writer.upsert("c", items(vectors(10, seed=9), "n"))
    assert (await ann_ids(reader, vectors(10, seed=9)[4], 1)) == ["n4"]
    await reader.aclose()
    await writer.aclose()


async def test_concurrent_writes_and_searches_stay_consistent(db: Database, tmp_path: Path) -> None:
    data = vectors(400)
    store = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0)
    await store.upsert("c", items(data[:50]))

    async def write(part: int) -> None:
        start = 50 + part * 50
        await store.upsert("c", items(data[start : start + 50], start=start))

    async def read(i: int) -> None:
        await store.search("c", data[i].tolist(), 5, filter={"doc": ["d1", "d2"]})

    await asyncio.gather(*(write(p) for p in range(7)), *(read(i) for i in range(10)))
    for probe in (0, 120, 399):
        assert (await ann_ids(store, data[probe], 1)) == [f"v{probe}"]
    async with db.sessions() as session:
        size = await session.scalar(select(VectorCollection.size))
    assert size == 400
    await store.aclose()


async def test_a_state_read_overtaken_by_a_write_is_not_cached(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search's state read that a write of this process overtakes must not be cached: it
    would hide the write from this process's searches for `state_ttl` (a search right after
    `upsert` returned missed the new vectors, now and then)."""
    data = vectors(20)
    store = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0, state_ttl=60)
    await store.upsert("c", items(data[:10]))
    await store.search("c", data[0].tolist(), 1)
    read_done, release = asyncio.Event(), asyncio.Event()
    real_read_state = embedded_sql.read_state

    async def held_read_state(session: Any, collection: str) -> Any:
        state = await real_read_state(session, collection)
        read_done.set()
        await release.wait()  # the write below commits and returns meanwhile
        return state

    store._states.clear()
    monkeypatch.setattr(embedded_sql, "read_state", held_read_state)
    searching = asyncio.ensure_future(store._state("c"))
    await read_done.wait()
    monkeypatch.setattr(embedded_sql, "read_state", real_read_state)
    await store.upsert("c", items(data[10:], start=10))
    release.set()
    stale = await searching
    assert stale is not None and stale.version == 1
    # Not kept: the next search reads the state again and sees the write (version 2).
    cached = store._states.get("c")
    assert cached is None or (cached[1] is not None and cached[1].version == 2)
    fresh = await store._state("c")
    assert fresh is not None and fresh.version == 2
    assert (await ann_ids(store, data[19], 1)) == ["v19"]
    await store.aclose()


async def test_dimension_is_fixed_per_collection(db: Database, tmp_path: Path) -> None:
    store = EmbeddedVectorStore(db, tmp_path / "ann")
    await store.upsert("c", items(vectors(3)))
    with pytest.raises(ValueError):
        await store.upsert("c", [VectorItem("x", [1.0, 2.0], {})])
    with pytest.raises(ValueError):
        await store.upsert("c", [VectorItem("x", [float("nan")] * DIM, {})])
    async with db.session() as session:
        await session.execute(update(VectorCollection).values(dim=DIM))
    await store.aclose()


async def test_recall_against_exact_search_and_selective_filters(
    tmp_path: Path,
) -> None:
    async with index_database(tmp_path, "sqlite") as db:
        dim = 64
        data = vectors(5000, seed=3, dim=dim)
        ids = [f"v{i}" for i in range(5000)]
        store = EmbeddedVectorStore(db, tmp_path / "ann", exact_threshold=0)
        batch = [
            VectorItem(ids[i], data[i].tolist(), {"doc": f"d{i % 10}", "rare": i % 500 == 0})
            for i in range(5000)
        ]
        for start in range(0, 5000, 1000):
            await store.upsert("c", batch[start : start + 1000])
        queries = vectors(50, seed=4, dim=dim)
        found = 0
        for query in queries:
            hits = await store.search("c", query.tolist(), 10)
            found += len({hit.id for hit in hits} & set(exact_ids(data, ids, query, 10)))
        assert found / 500 >= 0.95

        rare = [i for i in range(5000) if i % 500 == 0]
        for query in queries[:5]:  # ten matching rows: exact scan after the ANN comes up short
            hits = await store.search("c", query.tolist(), 5, filter={"rare": True})
            want = exact_ids(data[rare], [ids[i] for i in rare], query, 5)
            assert [hit.id for hit in hits] == want
        some = [i for i in range(5000) if i % 10 == 3]
        found = 0
        for query in queries[:10]:  # a tenth of the rows: mostly found among ANN candidates
            hits = await store.search("c", query.tolist(), 10, filter={"doc": "d3"})
            want = exact_ids(data[some], [ids[i] for i in some], query, 10)
            found += len({hit.id for hit in hits} & set(want))
            assert all(hit.payload["doc"] == "d3" for hit in hits) and len(hits) == 10
        assert found / 100 >= 0.9
        await store.aclose()
