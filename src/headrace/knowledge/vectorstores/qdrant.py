"""A vector store on Qdrant (`qdrant-client`), local or remote.

Where it runs is `qdrant-client`'s choice of arguments:

* a server: `QdrantVectorStore(url="http://qdrant:6333", api_key=...)` (extra keyword
  arguments go to `AsyncQdrantClient`, e.g. `prefer_grpc=True`, `timeout=30`);
* embedded, persisted: `QdrantVectorStore(path="/data/qdrant")` (one process per path: the
  local mode locks its folder, and runs its work on the event loop);
* embedded, in memory: `QdrantVectorStore(location=":memory:")` (the default).

Collections are created on the first upsert with cosine distance and the vectors' dimension,
under the name given (Dify's `Vector_index_<dataset>_Node` names work; Qdrant refuses names
holding any of `< > : " / \\ | ? *`).
Qdrant point ids must be unsigned integers or UUIDs, so a point's id is the UUIDv5 of the
string id and the string itself travels in the payload under `ID_FIELD` (removed again from
returned payloads). Filters become Qdrant payload conditions: strings and booleans exact
matches, numbers a closed range `[v, v]` (so `1` matches `1.0`), `None` "is null", a list a
`should` of its values. Two Qdrant semantics remain: a stored array matches a filter on any
of its elements, and a dotted key addresses a nested field.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from headrace.knowledge.vectorstores.base import (
    Filter,
    Hit,
    VectorItem,
    rank_hits,
    similarity_score,
)
from headrace.knowledge.vectorstores.filters import Scalar, normalize

ID_FIELD = "__headrace_id__"
ID_NAMESPACE = uuid.UUID("6f1d3c0e-1f55-4b51-9c51-8e2b0f6a7c10")
BATCH = 256


def point_id(item_id: str) -> str:
    """The Qdrant point id of a string id."""
    return str(uuid.uuid5(ID_NAMESPACE, item_id))


def _condition(key: str, wanted: Scalar) -> models.Condition:
    if wanted is None:
        return models.IsNullCondition(is_null=models.PayloadField(key=key))
    if isinstance(wanted, bool | str):
        return models.FieldCondition(key=key, match=models.MatchValue(value=wanted))
    return models.FieldCondition(key=key, range=models.Range(gte=wanted, lte=wanted))


def to_qdrant_filter(filter: dict[str, list[Scalar]]) -> models.Filter | None:
    """The Qdrant filter of a normalised payload filter (None when there is nothing to check)."""
    must: list[models.Condition] = []
    for key, values in filter.items():
        if len(values) > 1 and all(isinstance(v, str) for v in values):
            strings = [v for v in values if isinstance(v, str)]
            must.append(models.FieldCondition(key=key, match=models.MatchAny(any=strings)))
        elif len(values) == 1:
            must.append(_condition(key, values[0]))
        else:
            must.append(models.Filter(should=[_condition(key, v) for v in values]))
    return models.Filter(must=must) if must else None


class QdrantVectorStore:
    """`VectorStore` on a Qdrant server or on qdrant-client's embedded local mode."""

    def __init__(
        self,
        location: str | None = None,
        url: str | None = None,
        path: str | None = None,
        *,
        indexed_fields: Sequence[str] = (),
        **client_options: Any,
    ) -> None:
        if location is None and url is None and path is None:
            location = ":memory:"
        self.client = AsyncQdrantClient(location=location, url=url, path=path, **client_options)
        self.indexed_fields = tuple(indexed_fields)
        self._dims: dict[str, int] = {}

    async def _dim(self, collection: str) -> int | None:
        """The collection's vector size, or None when it does not exist."""
        if collection in self._dims:
            return self._dims[collection]
        if not await self.client.collection_exists(collection):
            return None
        info = await self.client.get_collection(collection)
        vectors = info.config.params.vectors
        if not isinstance(vectors, models.VectorParams):
            raise ValueError(f"collection {collection!r} does not hold one unnamed vector")
        self._dims[collection] = int(vectors.size)
        return self._dims[collection]

    async def _ensure(self, collection: str, dim: int) -> None:
        existing = await self._dim(collection)
        if existing is None:
            await self.client.create_collection(
                collection,
                vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
            )
            for name in self.indexed_fields:
                await self.client.create_payload_index(
                    collection, name, field_schema=models.PayloadSchemaType.KEYWORD
                )
            self._dims[collection] = dim
        elif existing != dim:
            raise ValueError(
                f"collection {collection!r} holds vectors of dimension {existing}, not {dim}"
            )

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> None:
        """Insert or replace `items` by id; creates the collection on first use."""
        latest = list({item.id: item for item in items}.values())
        if not latest:
            return
        dim = len(latest[0].vector)
        if dim == 0 or any(len(item.vector) != dim for item in latest):
            raise ValueError("vectors of one upsert must share one non-zero dimension")
        await self._ensure(collection, dim)
        for start in range(0, len(latest), BATCH):
            points = [
                models.PointStruct(
                    id=point_id(item.id),
                    vector=[float(x) for x in item.vector],
                    payload={**item.payload, ID_FIELD: item.id},
                )
                for item in latest[start : start + BATCH]
            ]
            await self.client.upsert(collection, points=points, wait=True)

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove these ids (unknown ones are ignored)."""
        if not ids or await self._dim(collection) is None:
            return
        wanted: list[models.ExtendedPointId] = [point_id(item_id) for item_id in set(ids)]
        await self.client.delete(
            collection, points_selector=models.PointIdsList(points=wanted), wait=True
        )

    async def delete_where(self, collection: str, key: str, value: Any) -> None:
        """Remove every vector whose payload matches `{key: value}`."""
        wanted = normalize({key: value})
        query = to_qdrant_filter(wanted)
        if query is None or not wanted[key] or await self._dim(collection) is None:
            return
        await self.client.delete(
            collection, points_selector=models.FilterSelector(filter=query), wait=True
        )

    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        top_k: int,
        filter: Filter | None = None,
    ) -> list[Hit]:
        """The `top_k` nearest vectors whose payload matches `filter`, best first."""
        wanted = normalize(filter)
        if top_k <= 0 or any(not values for values in wanted.values()):
            return []
        dim = await self._dim(collection)
        if dim is None:
            return []
        if len(vector) != dim:
            raise ValueError(f"expected a vector of dimension {dim}, got {len(vector)}")
        response = await self.client.query_points(
            collection,
            query=[float(x) for x in vector],
            query_filter=to_qdrant_filter(wanted),
            limit=top_k,
            with_payload=True,
        )
        hits = []
        for point in response.points:
            payload = dict(point.payload or {})
            item_id = str(payload.pop(ID_FIELD, point.id))
            hits.append(Hit(item_id, similarity_score(float(point.score)), payload))
        return rank_hits(hits, top_k)

    async def drop(self, collection: str) -> None:
        """Remove the collection (no error when it does not exist)."""
        self._dims.pop(collection, None)
        if await self.client.collection_exists(collection):
            await self.client.delete_collection(collection)

    async def aclose(self) -> None:
        """Close the client (the local mode releases its folder)."""
        await self.client.close()
