"""A vector store needing no server: rows in the default database, ANN index files on disk.

The database is the source of truth (`knowledge_vectors`, float32 bytes + JSON payload). Each
collection larger than `exact_threshold` is searched through a usearch HNSW index kept in
memory and in `index_dir`; it is loaded lazily, updated in place by this process's writes and
brought up to date from the database when the collection's version moved on (a crash before
the file was saved, another worker's writes): rows and tombstones newer than the index are
replayed. It is rebuilt from scratch when its file is missing or unreadable, when the
collection was re-created, when the tombstones it needs were pruned, or when, after loading or
replaying, its (count, sum of keys) disagrees with the database's.

Small collections, and filters too selective for the ANN candidates, are searched exactly with
numpy over the matching database rows. Index work runs in threads, one lock per collection.

A search of a large collection usually touches no database: the collection's state is
re-read at most every `state_ttl` seconds (this process's writes are seen at once; other
workers' writes within that time, as in near-real-time search engines), and the ids and
payloads of hits come from a map kept beside the index (filled when the index is loaded,
entries dropped when their rows are rewritten, misses read from the database).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import exc, true

from headrace.knowledge.vectorstores import embedded_sql as sql
from headrace.knowledge.vectorstores.ann import AnnIndex, FloatMatrix, HnswParams, as_matrix, cosine
from headrace.knowledge.vectorstores.base import (
    Filter,
    Hit,
    VectorItem,
    rank_hits,
    similarity_score,
)
from headrace.knowledge.vectorstores.filters import Scalar, matches, normalize, sql_condition
from headrace.store.db import Database
from headrace.store.tables.knowledge_index import StoredVector

MAX_CANDIDATES = 4096


class EmbeddedVectorStore:
    """`VectorStore` over the default database with per-collection usearch index files.

    `exact_threshold`: collections of at most this many vectors are always searched exactly.
    `autosave_changes`: save an index file once this many vectors changed since the last save
    (and on `flush()`/`aclose()`); what a crash loses is replayed from the database.
    `overfetch`: a filtered search first asks the ANN for `top_k * overfetch` (at least 64)
    candidates. `exact_budget`: when too few candidates match, the filter's rows are scanned
    exactly if they look to be at most this many, else more candidates are fetched (up to
    4096, then the scan anyway). `tombstone_horizon`: deletions are remembered for this many
    writes of a collection; an index file older than that is rebuilt instead of replayed.
    `state_ttl`: seconds a search may reuse the collection state it last read.
    `payload_cache`: most rows whose ids and payloads are kept in memory per collection.
    """

    def __init__(
        self,
        db: Database,
        index_dir: Path,
        *,
        exact_threshold: int = 1000,
        autosave_changes: int = 1000,
        overfetch: int = 10,
        exact_budget: int = 10_000,
        tombstone_horizon: int = 100_000,
        params: HnswParams | None = None,
        state_ttl: float = 0.5,
        payload_cache: int = 250_000,
    ) -> None:
        self.db = db
        self.index_dir = Path(index_dir)
        self.exact_threshold = exact_threshold
        self.autosave_changes = autosave_changes
        self.overfetch = overfetch
        self.exact_budget = exact_budget
        self.tombstone_horizon = tombstone_horizon
        self.params = params or HnswParams()
        self.state_ttl = state_ttl
        self.payload_cache = payload_cache
        self._states: dict[str, tuple[float, sql.CollectionState | None]] = {}
        self._writes: dict[str, int] = {}  # writes of this process per collection
        self._indexes: dict[str, AnnIndex] = {}
        self._unsaved: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.rebuilds = 0  # how many indexes were built from the database (for tests, metrics)

    @property
    def _dialect(self) -> str:
        return self.db.engine.dialect.name

    def _lock(self, collection: str) -> asyncio.Lock:
        return self._locks.setdefault(collection, asyncio.Lock())

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> None:
        """Insert or replace `items` by id (the last of repeated ids wins)."""
        latest = {item.id: item for item in items}
        if not latest:
            return
        ids = list(latest)
        dim = len(latest[ids[0]].vector)
        if dim == 0:
            raise ValueError("vectors must not be empty")
        vectors = as_matrix([latest[item_id].vector for item_id in ids], dim)
        payloads = [dict(latest[item_id].payload) for item_id in ids]
        for attempt in range(3):
            try:
                state, keys = await self._write(collection, dim, ids, vectors, payloads)
                break
            except exc.IntegrityError:  # another writer created the collection first
                if attempt == 2:
                    raise
        self._forget_state(collection)
        await self._apply(collection, state, keys, vectors, [])

    async def _write(
        self,
        collection: str,
        dim: int,
        ids: list[str],
        vectors: FloatMatrix,
        payloads: list[dict[str, Any]],
    ) -> tuple[sql.CollectionState, list[int]]:
        async with self.db.session() as session:
            state = await sql.bump(session, collection, create_dim=dim)
            assert state is not None
            if state.dim != dim:
                raise ValueError(
                    f"collection {collection!r} holds vectors of dimension {state.dim}, not {dim}"
                )
            return state, await sql.write_rows(session, collection, state, ids, vectors, payloads)

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove these ids (unknown ones are ignored)."""
        wanted = list(dict.fromkeys(ids))
        if wanted:
            await self._delete(collection, [StoredVector.id.in_(p) for p in sql.chunks(wanted)])

    async def delete_where(self, collection: str, key: str, value: Any) -> None:
        """Remove every vector whose payload matches `{key: value}`."""
        condition = sql_condition(StoredVector.payload, normalize({key: value}), self._dialect)
        await self._delete(collection, [condition])

    async def _delete(self, collection: str, conditions: list[Any]) -> None:
        async with self.db.session() as session:
            state = await sql.bump(session, collection)
            if state is None:
                return
            keys = await sql.delete_rows(session, collection, state, conditions)
            if not keys:  # nothing matched: leave the version alone (indexes stay current)
                await session.rollback()
                return
            if state.version - state.pruned_version > 2 * self.tombstone_horizon:
                await sql.prune_tombstones(session, collection, state, self.tombstone_horizon)
        self._forget_state(collection)
        await self._apply(collection, state, [], None, keys)

    async def _apply(
        self,
        collection: str,
        state: sql.CollectionState,
        keys: list[int],
        vectors: FloatMatrix | None,
        removed: list[int],
    ) -> None:
        """Apply this process's committed write to a loaded index when it is the next version."""
        async with self._lock(collection):
            ann = self._indexes.get(collection)
            if ann is None or ann.epoch != state.epoch or ann.version != state.version - 1:
                return  # not loaded, or others wrote in between: the next search replays

            def work() -> None:
                with ann.lock:
                    ann.remove(removed)
                    if vectors is not None:
                        ann.upsert(keys, vectors)
                    ann.version = state.version

            await asyncio.to_thread(work)
            await self._note_changes(collection, ann, len(keys) + len(removed))
            await self._tune_if_grown(ann)

    async def drop(self, collection: str) -> None:
        """Remove the collection, its rows and its index files."""
        async with self._lock(collection):
            async with self.db.session() as session:
                await sql.drop_collection(session, collection)
            self._forget_state(collection)
            self._indexes.pop(collection, None)
            self._unsaved.pop(collection, None)
            await asyncio.to_thread(AnnIndex.remove_files, self.index_dir, collection)

    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        top_k: int,
        filter: Filter | None = None,
    ) -> list[Hit]:
        """The `top_k` nearest vectors whose payload matches `filter`, best first."""
        wanted = normalize(filter)
        if top_k <= 0:
            return []
        state = await self._state(collection)
        if state is None:
            return []
        query = as_matrix(vector, state.dim)
        if state.size <= self.exact_threshold:
            return await self._exact(collection, state.dim, query, top_k, wanted)
        ann = await self._fresh(collection, state)
        if ann is None:
            return []
        return await self._search_ann(collection, ann, query, top_k, wanted)

    async def _state(self, collection: str) -> sql.CollectionState | None:
        """The collection's state, read again once `state_ttl` has passed."""
        now = time.monotonic()
        cached = self._states.get(collection)
        if cached is not None and cached[0] > now:
            return cached[1]
        generation = self._writes.get(collection, 0)
        async with self.db.sessions() as session:
            state = await sql.read_state(session, collection)
        # A write of this process that finished meanwhile may be newer than what was read:
        # caching it would hide that write from this process's searches for `state_ttl`.
        if self._writes.get(collection, 0) == generation:
            self._states[collection] = (now + self.state_ttl, state)
        return state

    def _forget_state(self, collection: str) -> None:
        """After a write of this process: drop the cached state, and keep any read under way
        from caching the state it read before."""
        self._writes[collection] = self._writes.get(collection, 0) + 1
        self._states.pop(collection, None)

    async def _search_ann(
        self,
        collection: str,
        ann: AnnIndex,
        query: FloatMatrix,
        top_k: int,
        wanted: dict[str, list[Scalar]],
    ) -> list[Hit]:
        """HNSW candidates, filtered; a selective filter ends in an exact scan of its rows."""
        count = top_k if not wanted else max(top_k * self.overfetch, 64)
        while True:
            keys, similarity = await self._ann_search(ann, query, count)
            rows = await self._payloads(collection, ann, keys.tolist())
            hits = [
                Hit(rows[key][0], similarity_score(float(score)), dict(rows[key][1]))
                for key, score in zip(keys.tolist(), similarity.tolist(), strict=True)
                if key in rows and matches(rows[key][1], wanted)
            ]
            if len(hits) >= top_k or len(keys) >= ann.size:
                return rank_hits(hits, top_k)
            # Too few matches among the candidates: scan the filter's rows exactly when they
            # look few (or the ANN has no more to give), else ask the ANN for more.
            estimate = (len(hits) + 1) / max(1, len(keys)) * ann.size
            if estimate <= self.exact_budget or count >= min(ann.size, MAX_CANDIDATES):
                return await self._exact(collection, ann.dim, query, top_k, wanted)
            count = min(count * 4, MAX_CANDIDATES, ann.size)

    async def _payloads(
        self, collection: str, ann: AnnIndex, keys: list[int]
    ) -> dict[int, tuple[str, dict[str, Any]]]:
        """(id, payload) of these keys: from the index's map, misses from the database."""
        known = ann.payloads
        found = {key: known[key] for key in keys if key in known}
        missing = [key for key in keys if key not in found]
        if not missing:
            return found
        version = ann.version
        async with self.db.sessions() as session:
            fetched = await sql.payloads_of_keys(session, collection, missing)
        found.update(fetched)
        # Keep them unless a write reached the index meanwhile (it may have replaced them);
        # a busy index lock just means they are read again next time.
        if len(known) < self.payload_cache and ann.lock.acquire(blocking=False):
            try:
                if ann.version == version:
                    known.update(fetched)
            finally:
                ann.lock.release()
        return found

    async def _ann_search(self, ann: AnnIndex, query: FloatMatrix, count: int) -> tuple[Any, Any]:
        def work() -> tuple[Any, Any]:
            with ann.lock:
                return ann.search(query, count)

        return await asyncio.to_thread(work)

    async def _exact(
        self,
        collection: str,
        dim: int,
        query: FloatMatrix,
        top_k: int,
        wanted: dict[str, list[Scalar]],
    ) -> list[Hit]:
        """Brute force with numpy over the rows matching the filter, streamed in batches."""
        condition = sql_condition(StoredVector.payload, wanted, self._dialect) if wanted else true()
        best: list[tuple[float, str, int]] = []  # (score, id, key)
        async with self.db.sessions() as session:
            batches = sql.stream_vectors(session, collection, dim, condition)
            async for keys, ids, matrix in batches:
                scores = cosine(query, matrix)
                keep = np.argpartition(-scores, top_k - 1)[:top_k] if len(scores) > top_k else None
                chosen = range(len(scores)) if keep is None else keep.tolist()
                best.extend((float(scores[i]), ids[i], keys[i]) for i in chosen)
                best = sorted(best, key=lambda entry: (-entry[0], entry[1]))[:top_k]
            rows = await sql.payloads_of_keys(session, collection, [key for _, _, key in best])
        hits = [
            Hit(item_id, similarity_score(score), rows[key][1])
            for score, item_id, key in best
            if key in rows
        ]
        return rank_hits(hits, top_k)

    async def _fresh(self, collection: str, seen: sql.CollectionState) -> AnnIndex | None:
        """The collection's index, loaded, replayed or rebuilt to match the database."""
        async with self._lock(collection):
            ann = self._indexes.get(collection)
            if ann is not None and ann.epoch == seen.epoch and ann.version >= seen.version:
                return ann  # as new as the state this search read (or newer: own writes)
            async with self.db.sessions() as session:
                state = await sql.read_state(session, collection)
            if state is None:
                self._indexes.pop(collection, None)
                return None
            if ann is not None and ann.epoch == state.epoch and ann.version == state.version:
                return ann
            loaded = False
            if ann is None or ann.epoch != state.epoch:
                ann = await asyncio.to_thread(
                    AnnIndex.load, self.index_dir, collection, state.epoch, self.params
                )
                loaded = True
            usable = (
                ann is not None
                and ann.dim == state.dim
                and state.pruned_version <= ann.version <= state.version
            )
            if ann is None or not usable or not await self._replay(collection, ann, loaded):
                ann = await self._rebuild(collection, state)
            if loaded or not ann.payloads:
                await self._preload_payloads(collection, ann)
            await self._tune_if_grown(ann)
            self._indexes[collection] = ann
            return ann

    @staticmethod
    async def _tune_if_grown(ann: AnnIndex) -> None:
        """Choose the index's search expansion again once it has doubled in size."""
        if ann.needs_tuning():

            def work() -> None:
                with ann.lock:
                    ann.tune()

            await asyncio.to_thread(work)

    async def _preload_payloads(self, collection: str, ann: AnnIndex) -> None:
        """Fill the index's payload map (rows read may be newer than the index: a later
        replay of those writes drops them again)."""
        if ann.size > self.payload_cache:
            return
        async with self.db.sessions() as session:
            async for batch in sql.stream_payloads(session, collection):
                ann.payloads.update(batch)

    async def _replay(self, collection: str, ann: AnnIndex, verify: bool) -> bool:
        """Apply the writes newer than the index; False when it then disagrees with the rows."""
        async with self.db.sessions() as session:
            before = await sql.read_state(session, collection)
            if before is None:
                return False
            removed = await sql.tombstones_since(session, collection, ann.version)
            await asyncio.to_thread(self._locked_remove, ann, removed)
            changes = len(removed)
            changed = sql.stream_vectors(
                session, collection, before.dim, StoredVector.version > ann.version
            )
            async for keys, _ids, matrix in changed:
                changes += len(keys)
                await asyncio.to_thread(self._locked_upsert, ann, keys, matrix)
            stored = await sql.checksum(session, collection)
            after = await sql.read_state(session, collection)
        ann.version = before.version
        settled = after is not None and after.version == before.version
        if settled and (verify or changes) and stored != await self._checksum(ann):
            return False
        await self._note_changes(collection, ann, changes)
        return True

    @staticmethod
    def _locked_upsert(ann: AnnIndex, keys: list[int], matrix: FloatMatrix) -> None:
        with ann.lock:
            ann.upsert(keys, matrix)

    @staticmethod
    def _locked_remove(ann: AnnIndex, keys: list[int]) -> None:
        with ann.lock:
            ann.remove(keys)

    @staticmethod
    async def _checksum(ann: AnnIndex) -> tuple[int, int]:
        def work() -> tuple[int, int]:
            with ann.lock:
                return ann.checksum()

        return await asyncio.to_thread(work)

    async def _rebuild(self, collection: str, state: sql.CollectionState) -> AnnIndex:
        """A new index of every stored row, saved to disk."""
        ann = AnnIndex(state.dim, state.epoch, state.version, self.params)
        async with self.db.sessions() as session:
            batches = sql.stream_vectors(session, collection, state.dim, true())
            async for keys, _ids, matrix in batches:
                await asyncio.to_thread(self._locked_upsert, ann, keys, matrix)
        self.rebuilds += 1
        await self._save(collection, ann)
        return ann

    async def _note_changes(self, collection: str, ann: AnnIndex, changes: int) -> None:
        self._unsaved[collection] = self._unsaved.get(collection, 0) + changes
        if self._unsaved[collection] >= self.autosave_changes:
            await self._save(collection, ann)

    async def _save(self, collection: str, ann: AnnIndex) -> None:
        def work() -> None:
            with ann.lock:
                ann.save(self.index_dir, collection)

        await asyncio.to_thread(work)
        self._unsaved[collection] = 0

    async def flush(self) -> None:
        """Save every index with changes not yet on disk."""
        for collection, ann in list(self._indexes.items()):
            if self._unsaved.get(collection):
                async with self._lock(collection):
                    await self._save(collection, ann)

    async def aclose(self) -> None:
        """Save pending index changes and forget the in-memory indexes."""
        await self.flush()
        self._indexes.clear()
