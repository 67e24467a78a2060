"""Adding documents to datasets: store the content as an upload, create the document, and
queue its indexing in the background (spec §10.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from headrace.apps.uploads import keep_upload
from headrace.container import Container
from headrace.errors import InvalidParamError
from headrace.knowledge.process_rules import ProcessRuleError, parse_process_rule
from headrace.store.repos.documents import DocumentRepo
from headrace.store.tables import Dataset, DatasetDocument
from headrace.store.tables.base import new_id


@dataclass(frozen=True, slots=True)
class DocumentOptions:
    """The indexing options a creation request may carry."""

    process_rule: dict[str, Any] | None = None
    indexing_technique: str | None = None
    doc_form: str | None = None
    doc_language: str | None = None
    embedding_model: str | None = None
    embedding_model_provider: str | None = None
    retrieval_model: dict[str, Any] | None = None


def _rule(dataset: Dataset, options: DocumentOptions) -> dict[str, Any]:
    raw = options.process_rule or dataset.process_rule
    try:
        return parse_process_rule(raw).to_wire() if raw else parse_process_rule(None).to_wire()
    except ProcessRuleError as exc:
        raise InvalidParamError(str(exc)) from None


def _new_batch() -> str:
    return new_id().replace("-", "")[:20]


async def _store_upload(
    container: Container,
    session: AsyncSession,
    dataset: Dataset,
    content: tuple[str, bytes, str, str],
) -> str:
    """Store a document's content (name, bytes, extension, mime type) as an upload of the
    dataset's workspace; returns the upload's id."""
    name, data, extension, mime_type = content
    upload = await keep_upload(
        session,
        container.settings.upload_dir,
        f"{dataset.workspace_id}/datasets/{dataset.id}",
        data,
        workspace_id=dataset.workspace_id,
        app_id=None,
        name=name,
        extension=extension,
        mime_type=mime_type,
        created_by_role="account",
        created_by=dataset.created_by or "",
    )
    return upload.id


async def add_document(
    container: Container,
    dataset: Dataset,
    name: str,
    data: bytes,
    extension: str,
    mime_type: str,
    options: DocumentOptions,
) -> tuple[DatasetDocument, str]:
    """Create a document from bytes and queue its indexing; returns it and its batch id."""
    technique = options.indexing_technique or dataset.indexing_technique
    if technique is None:
        raise InvalidParamError("indexing_technique is required.")
    if technique not in ("high_quality", "economy"):
        raise InvalidParamError("Indexing technique is invalid.")
    rule = _rule(dataset, options)
    batch = _new_batch()
    async with container.db.session() as session:
        file_id = await _store_upload(
            container, session, dataset, (name, data, extension, mime_type)
        )
        attached = await session.merge(dataset)
        attached.indexing_technique = technique
        attached.process_rule = rule
        attached.data_source_type = attached.data_source_type or "upload_file"
        if options.embedding_model:
            attached.embedding_model = options.embedding_model
        if options.embedding_model_provider:
            attached.embedding_model_provider = options.embedding_model_provider
        if options.retrieval_model:
            attached.retrieval_model = options.retrieval_model
        document = await DocumentRepo(session).create(
            dataset_id=dataset.id,
            batch=batch,
            name=name,
            data_source_info={"upload_file_id": file_id},
            upload_file_id=file_id,
            process_rule=rule,
            doc_form=options.doc_form or "text_model",
            doc_language=options.doc_language or "English",
        )
    await container.jobs.index_document(document.id)
    return document, batch


async def replace_document(
    container: Container,
    dataset: Dataset,
    document: DatasetDocument,
    content: tuple[str, bytes, str, str] | None,
    options: DocumentOptions,
) -> str:
    """Give a document new content and/or rules and index it again; returns the new batch.

    `content` is (name, bytes, extension, mime type), or None to re-index with new rules only.
    """
    rule = _rule(dataset, options) if options.process_rule else document.process_rule
    batch = _new_batch()
    upload_id = document.upload_file_id
    if content is not None:
        async with container.db.session() as session:
            upload_id = await _store_upload(container, session, dataset, content)
    async with container.db.session() as session:
        attached = await session.merge(document)
        if content is not None:
            attached.name = content[0]
            attached.upload_file_id = upload_id
            attached.data_source_info = {"upload_file_id": upload_id}
        attached.process_rule = rule
        if options.doc_form:
            attached.doc_form = options.doc_form
        if options.doc_language:
            attached.doc_language = options.doc_language
        attached.batch = batch
        attached.indexing_status = "waiting"
        attached.error = None
        attached.completed_at = None
    await container.jobs.index_document(document.id)
    return batch
