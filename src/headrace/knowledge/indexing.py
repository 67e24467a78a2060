"""Indexing a document in the background: parse → clean → split → store segments → index
(keyword always; vectors for high-quality datasets). Progress is written as it happens, a
failure leaves the document in `error` with its message, and documents left unfinished by a
stopped server are picked up again at start-up.

A job first takes a lease on its document in the coordination backend (renewed while it
runs), so the same document is never indexed twice at once, however often its job is
delivered; a document whose lease lapsed mid-indexing (its worker was killed) is queued again
by `requeue_abandoned`."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from headrace.extract import ExtractionError, extract_text_async
from headrace.knowledge.keyword import KeywordDoc
from headrace.knowledge.process_rules import (
    ProcessRuleError,
    default_process_rule,
    parse_process_rule,
)
from headrace.knowledge.splitters import Chunk, split_document
from headrace.knowledge.vectorstores.base import VectorItem
from headrace.store.blobs import LocalBlobStore
from headrace.store.repos.credentials import CredentialRepo
from headrace.store.repos.files import FileRepo
from headrace.store.tables import ChildChunk, Dataset, DatasetDocument, DocumentSegment
from headrace.store.tables.base import new_id, utcnow

if TYPE_CHECKING:
    from headrace.container import Container

log = logging.getLogger(__name__)
UNFINISHED = ("waiting", "parsing", "cleaning", "splitting", "indexing")
IN_PROGRESS = UNFINISHED[1:]
EMBED_BATCH = 256


class IndexingError(Exception):
    """A document that cannot be indexed; the message is shown as the document's error."""


async def embed_texts(
    container: Container, dataset: Dataset, texts: Sequence[str], input_type: str = "document"
) -> list[list[float]]:
    """Vectors of `texts` with the dataset's embedding model."""
    from headrace.knowledge.services import DEFAULT_EMBEDDING_MODEL, DEFAULT_EMBEDDING_PROVIDER
    from headrace.providers.registry import canonical_provider_id

    provider_id = dataset.embedding_model_provider or DEFAULT_EMBEDDING_PROVIDER
    model = dataset.embedding_model or DEFAULT_EMBEDDING_MODEL
    provider = container.knowledge.embeddings.get(provider_id)
    async with container.db.session() as session:
        credentials = await CredentialRepo(session, container.cipher).get(
            dataset.workspace_id, canonical_provider_id(provider_id)
        )
    vectors: list[list[float]] = []
    for start in range(0, len(texts), EMBED_BATCH):
        result = await provider.embed(
            texts[start : start + EMBED_BATCH],
            model,
            credentials or {},
            input_type=input_type,  # type: ignore[arg-type]
        )
        vectors.extend(result.vectors)
    return vectors


class DocumentIndexer:
    """Runs the indexing of documents of this process."""

    def __init__(self, container: Container) -> None:
        self.c = container

    async def _set(self, document_id: str, **fields: Any) -> None:
        async with self.c.db.session() as session:
            await session.execute(
                update(DatasetDocument).where(DatasetDocument.id == document_id).values(**fields)
            )

    async def _load(self, document_id: str) -> tuple[DatasetDocument, Dataset] | None:
        async with self.c.db.session() as session:
            document = await session.get(DatasetDocument, document_id)
            if document is None:
                return None
            dataset = await session.get(Dataset, document.dataset_id)
        return (document, dataset) if dataset is not None else None

    async def run(self, document_id: str) -> None:
        """Index one document unless another job holds it or it is no longer unfinished;
        failures are recorded on the document, never raised."""
        key, token = _lease_key(document_id), uuid.uuid4().hex
        ttl = self.c.settings.indexing_lease_seconds
        if not await self.c.runs.try_lock(key, token, ttl):
            log.info("document %s is being indexed elsewhere", document_id)
            return
        keeper = asyncio.create_task(self._keep_lease(key, token, ttl))
        try:
            await self._run_leased(document_id)
        finally:
            keeper.cancel()
            await self.c.runs.unlock(key, token)

    async def _keep_lease(self, key: str, token: str, ttl: float) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                if not await self.c.runs.try_lock(key, token, ttl):
                    log.warning("lost the indexing lease %s", key)
            except Exception:  # a coordination hiccup must not kill the job
                log.exception("renewing the indexing lease %s failed", key)

    async def _run_leased(self, document_id: str) -> None:
        loaded = await self._load(document_id)
        if loaded is None:
            return
        document, dataset = loaded
        if document.indexing_status not in UNFINISHED:
            return  # a duplicate delivery of a job that already ran
        started = time.perf_counter()
        try:
            await self._index(document, dataset)
        except asyncio.CancelledError:
            raise
        except (IndexingError, ExtractionError, ProcessRuleError) as exc:
            await self._set(
                document_id,
                indexing_status="error",
                error=getattr(exc, "message", str(exc)),
                stopped_at=utcnow(),
            )
            return
        except Exception as exc:
            log.exception("indexing document %s failed", document_id)
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            await self._set(
                document_id, indexing_status="error", error=message, stopped_at=utcnow()
            )
            return
        await self._set(
            document_id,
            indexing_status="completed",
            error=None,
            completed_at=utcnow(),
            indexing_latency=round(time.perf_counter() - started, 3),
        )

    async def _text(self, document: DatasetDocument) -> str:
        async with self.c.db.session() as session:
            upload = await FileRepo(session).upload(document.upload_file_id or "")
        if upload is None:
            raise IndexingError("The document's file is missing.")
        data = await LocalBlobStore(self.c.settings.upload_dir).get(upload.storage_key)
        return await extract_text_async(data, upload.name, upload.mime_type)

    async def _index(self, document: DatasetDocument, dataset: Dataset) -> None:
        await self._set(
            document.id, indexing_status="parsing", processing_started_at=utcnow(), error=None
        )
        text = await self._text(document)
        rule = (
            parse_process_rule(document.process_rule)
            if document.process_rule
            else default_process_rule()
        )
        await self._set(document.id, indexing_status="cleaning", parsing_completed_at=utcnow())
        # `split_document` applies the rule's cleaning before splitting.
        await self._set(document.id, indexing_status="splitting", cleaning_completed_at=utcnow())
        chunks = await asyncio.to_thread(split_document, text, rule)
        if not chunks:
            raise IndexingError("The document has no text to index.")
        await self._set(document.id, indexing_status="indexing", splitting_completed_at=utcnow())
        segments = await self._store_segments(document, chunks)
        await self.index_segments(dataset, document, segments)
        async with self.c.db.session() as session:
            await session.execute(
                update(DocumentSegment)
                .where(DocumentSegment.document_id == document.id)
                .values(status="completed", completed_at=utcnow())
            )
            await session.execute(
                update(DatasetDocument)
                .where(DatasetDocument.id == document.id)
                .values(
                    word_count=sum(c.word_count for c in chunks),
                    tokens=sum(c.tokens for c in chunks),
                )
            )

    async def _store_segments(
        self, document: DatasetDocument, chunks: list[Chunk]
    ) -> list[tuple[DocumentSegment, list[ChildChunk]]]:
        """Replace the document's segments (re-indexing starts clean)."""
        await self.remove_document_index(document.dataset_id, document.id)
        stored: list[tuple[DocumentSegment, list[ChildChunk]]] = []
        async with self.c.db.session() as session:
            await session.execute(delete(ChildChunk).where(ChildChunk.document_id == document.id))
            await session.execute(
                delete(DocumentSegment).where(DocumentSegment.document_id == document.id)
            )
            now = utcnow()
            for chunk in chunks:
                segment = DocumentSegment(
                    id=new_id(),
                    dataset_id=document.dataset_id,
                    document_id=document.id,
                    position=chunk.position,
                    content=chunk.content,
                    word_count=chunk.word_count,
                    tokens=chunk.tokens,
                    index_node_hash=chunk.index_node_hash,
                    status="indexing",
                    indexing_at=now,
                    keywords=[],
                )
                segment.index_node_id = segment.id
                children = [
                    ChildChunk(
                        id=new_id(),
                        segment_id=segment.id,
                        document_id=document.id,
                        dataset_id=document.dataset_id,
                        position=child.position,
                        content=child.content,
                        word_count=child.word_count,
                    )
                    for child in chunk.children
                ]
                session.add(segment)
                stored.append((segment, children))
            await session.flush()  # parents first: child rows reference them
            session.add_all([child for _, children in stored for child in children])
        return stored

    async def index_segments(
        self,
        dataset: Dataset,
        document: DatasetDocument,
        segments: Sequence[tuple[DocumentSegment, Sequence[ChildChunk]]],
    ) -> None:
        """Put segments into the keyword index, and into the vector store for high quality."""
        collection = dataset.id
        await self.c.knowledge.keyword.add_many(
            collection,
            [
                KeywordDoc(s.id, s.content, {"document_id": document.id, "segment_id": s.id})
                for s, _ in segments
                if s.enabled
            ],
        )
        if dataset.indexing_technique != "high_quality":
            return
        units: list[tuple[str, str, str]] = []  # (vector id, segment id, text)
        for segment, children in segments:
            if not segment.enabled:
                continue
            if children:
                units.extend((c.id, segment.id, c.content) for c in children)
            else:
                units.append((segment.id, segment.id, segment.content))
        if not units:
            return
        vectors = await embed_texts(self.c, dataset, [u[2] for u in units])
        await self.c.knowledge.vectors.upsert(
            collection,
            [
                VectorItem(vid, vector, {"document_id": document.id, "segment_id": sid})
                for (vid, sid, _), vector in zip(units, vectors, strict=True)
            ],
        )

    async def remove_document_index(self, dataset_id: str, document_id: str) -> None:
        """Drop a document from the keyword index and the vector store."""
        await self.c.knowledge.keyword.delete_where(dataset_id, "document_id", document_id)
        await self.c.knowledge.vectors.delete_where(dataset_id, "document_id", document_id)

    async def _with_status(self, statuses: Sequence[str]) -> list[str]:
        async with self.c.db.session() as session:
            return list(
                await session.scalars(
                    select(DatasetDocument.id).where(DatasetDocument.indexing_status.in_(statuses))
                )
            )

    async def resume_unfinished(self) -> int:
        """Queue every unfinished document (at start-up); returns how many were queued.

        Jobs of documents still held by a live worker end at once on its lease."""
        ids = await self._with_status(UNFINISHED)
        for document_id in ids:
            await self.c.jobs.index_document(document_id)
        return len(ids)

    async def requeue_abandoned(self) -> int:
        """Queue documents caught mid-indexing with no live lease (their worker died)."""
        queued = 0
        probe = uuid.uuid4().hex
        for document_id in await self._with_status(IN_PROGRESS):
            key = _lease_key(document_id)
            if await self.c.runs.try_lock(key, probe, 1.0):
                await self.c.runs.unlock(key, probe)
                await self.c.jobs.index_document(document_id)
                queued += 1
        return queued


def _lease_key(document_id: str) -> str:
    return f"indexing:{document_id}"
