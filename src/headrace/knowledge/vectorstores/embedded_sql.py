"""SQL of the embedded vector store: versioned writes, change replay and exact scans.

Every write transaction starts by bumping the collection's `version` (an UPDATE, so it takes
the row lock on PostgreSQL and the write lock on SQLite before anything else) and stamps the
rows it writes, and the tombstones of the keys it deletes, with that version.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.knowledge.vectorstores.ann import FloatMatrix
from headrace.store.tables.knowledge_index import StoredVector, VectorCollection, VectorTombstone

CHUNK = 500  # ids or keys per IN (...) list
STREAM_ROWS = 2048
VC, SV, VT = VectorCollection, StoredVector, VectorTombstone


@dataclass(frozen=True, slots=True)
class CollectionState:
    """A collection's row as read (or as just written) by a transaction."""

    epoch: str
    dim: int
    version: int
    next_key: int
    pruned_version: int
    size: int


_STATE_COLUMNS = (VC.epoch, VC.dim, VC.version, VC.next_key, VC.pruned_version, VC.size)


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """`values` in slices of at most `size`."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def to_bytes(vector: FloatMatrix) -> bytes:
    """A vector as little-endian float32 bytes."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blobs: Sequence[bytes], dim: int) -> FloatMatrix:
    """Stored vectors back as a float32 matrix."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    flat = np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32)
    return flat.reshape(len(blobs), dim)


async def read_state(session: AsyncSession, collection: str) -> CollectionState | None:
    """The committed state of a collection, or None when it does not exist."""
    row = (await session.execute(select(*_STATE_COLUMNS).where(VC.name == collection))).first()
    return CollectionState(*row) if row else None


async def bump(
    session: AsyncSession, collection: str, create_dim: int | None = None
) -> CollectionState | None:
    """Start a write: version + 1 (creating the collection when `create_dim` is given)."""
    statement = (
        update(VC)
        .where(VC.name == collection)
        .values(version=VC.version + 1)
        .returning(*_STATE_COLUMNS)
    )
    row = (await session.execute(statement)).first()
    if row is not None:
        return CollectionState(*row)
    if create_dim is None:
        return None
    state = CollectionState(uuid.uuid4().hex, create_dim, 1, 1, 0, 0)
    await session.execute(
        insert(VC).values(
            name=collection,
            epoch=state.epoch,
            dim=create_dim,
            version=1,
            next_key=1,
            pruned_version=0,
            size=0,
        )
    )
    return state


async def keys_of_ids(session: AsyncSession, collection: str, ids: Sequence[str]) -> dict[str, int]:
    """id -> key of the stored ones among `ids`."""
    found: dict[str, int] = {}
    for part in chunks(ids):
        rows = await session.execute(
            select(SV.id, SV.key).where(SV.collection == collection, SV.id.in_(part))
        )
        found.update({row_id: int(key) for row_id, key in rows})
    return found


async def write_rows(
    session: AsyncSession,
    collection: str,
    state: CollectionState,
    ids: Sequence[str],
    vectors: FloatMatrix,
    payloads: Sequence[dict[str, Any]],
) -> list[int]:
    """Insert or replace rows; returns their keys (new ids take fresh keys)."""
    existing = await keys_of_ids(session, collection, ids)
    next_key = state.next_key
    keys: list[int] = []
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for position, item_id in enumerate(ids):
        row = {
            "collection": collection,
            "id": item_id,
            "payload": payloads[position],
            "version": state.version,
            "vector": to_bytes(vectors[position]),
        }
        if item_id in existing:
            keys.append(existing[item_id])
            updates.append(row)
        else:
            keys.append(next_key)
            inserts.append({**row, "key": next_key})
            next_key += 1
    if updates:
        await session.execute(update(SV), updates)
    if inserts:
        await session.execute(insert(SV), inserts)
    if inserts:
        await session.execute(
            update(VC)
            .where(VC.name == collection)
            .values(next_key=next_key, size=VC.size + len(inserts))
        )
    return keys


async def delete_rows(
    session: AsyncSession, collection: str, state: CollectionState, conditions: Sequence[Any]
) -> list[int]:
    """Delete the rows matching any of `conditions`, leaving tombstones; returns their keys."""
    keys: set[int] = set()
    for condition in conditions:
        found = await session.scalars(select(SV.key).where(SV.collection == collection, condition))
        keys.update(int(key) for key in found)
    ordered = sorted(keys)
    for part in chunks(ordered):
        await session.execute(delete(SV).where(SV.collection == collection, SV.key.in_(part)))
    if ordered:
        await session.execute(
            insert(VT),
            [{"collection": collection, "key": key, "version": state.version} for key in ordered],
        )
        await session.execute(
            update(VC).where(VC.name == collection).values(size=VC.size - len(ordered))
        )
    return ordered


async def prune_tombstones(
    session: AsyncSession, collection: str, state: CollectionState, horizon: int
) -> None:
    """Forget tombstones older than `horizon` versions (older index files then rebuild)."""
    limit = state.version - horizon
    if limit <= state.pruned_version:
        return
    await session.execute(delete(VT).where(VT.collection == collection, VT.version <= limit))
    await session.execute(update(VC).where(VC.name == collection).values(pruned_version=limit))


async def drop_collection(session: AsyncSession, collection: str) -> None:
    """Remove a collection's rows, tombstones and state."""
    await session.execute(delete(SV).where(SV.collection == collection))
    await session.execute(delete(VT).where(VT.collection == collection))
    await session.execute(delete(VC).where(VC.name == collection))


async def payloads_of_keys(
    session: AsyncSession, collection: str, keys: Sequence[int]
) -> dict[int, tuple[str, dict[str, Any]]]:
    """key -> (id, payload) of the stored ones among `keys`."""
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for part in chunks(list(keys)):
        rows = await session.execute(
            select(SV.key, SV.id, SV.payload).where(SV.collection == collection, SV.key.in_(part))
        )
        found.update({int(key): (row_id, payload) for key, row_id, payload in rows})
    return found


async def stream_vectors(
    session: AsyncSession, collection: str, dim: int, condition: Any
) -> AsyncIterator[tuple[list[int], list[str], FloatMatrix]]:
    """The rows matching `condition` in batches: keys, ids and vectors."""
    result = await session.stream(
        select(SV.key, SV.id, SV.vector)
        .where(SV.collection == collection, condition)
        .execution_options(yield_per=STREAM_ROWS)
    )
    async for batch in result.partitions(STREAM_ROWS):
        keys = [int(row[0]) for row in batch]
        ids = [row[1] for row in batch]
        yield keys, ids, from_bytes([row[2] for row in batch], dim)


async def tombstones_since(session: AsyncSession, collection: str, version: int) -> list[int]:
    """Keys deleted by writes newer than `version`."""
    rows = await session.scalars(
        select(VT.key).where(VT.collection == collection, VT.version > version)
    )
    return [int(key) for key in rows]


async def checksum(session: AsyncSession, collection: str) -> tuple[int, int]:
    """(count, sum of keys) of the stored rows: compared with the same over an index."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(SV.key), 0)).where(
                SV.collection == collection
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def stream_payloads(
    session: AsyncSession, collection: str
) -> AsyncIterator[dict[int, tuple[str, dict[str, Any]]]]:
    """key -> (id, payload) of every row, in batches."""
    result = await session.stream(
        select(SV.key, SV.id, SV.payload)
        .where(SV.collection == collection)
        .execution_options(yield_per=STREAM_ROWS)
    )
    async for batch in result.partitions(STREAM_ROWS):
        yield {int(key): (row_id, payload) for key, row_id, payload in batch}
