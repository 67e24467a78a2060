"""Wire shapes of knowledge objects (spec §10): datasets, documents, segments, tags."""

from __future__ import annotations

from typing import Any

from headrace.providers.registry import canonical_provider_id
from headrace.store.tables import Dataset, DatasetDocument, DocumentSegment, Tag
from headrace.store.tables.base import to_unix

DEFAULT_RETRIEVAL: dict[str, Any] = {
    "search_method": "semantic_search",
    "reranking_enable": False,
    "reranking_mode": None,
    "reranking_model": {"reranking_provider_name": "", "reranking_model_name": ""},
    "weights": None,
    "top_k": 4,
    "score_threshold_enabled": False,
    "score_threshold": None,
}


def plugin_id(provider: str | None) -> str | None:
    """A provider id in the full plugin form (`langgenius/openai/openai`)."""
    if not provider:
        return None
    if "/" in provider:
        return provider
    name = canonical_provider_id(provider)
    return f"langgenius/{name}/{name}"


def retrieval_dict(dataset: Dataset) -> dict[str, Any]:
    """`retrieval_model_dict`; economy datasets always search by keyword."""
    model = {**DEFAULT_RETRIEVAL, **(dataset.retrieval_model or {})}
    if dataset.indexing_technique == "economy":
        model["search_method"] = "keyword_search"
    return model


def dataset_body(
    dataset: Dataset, counts: tuple[int, int, int], tags: list[Tag], fields: list[Any]
) -> dict[str, Any]:
    """DatasetDetail."""
    documents, available, words = counts
    return {
        "id": dataset.id,
        "name": dataset.name,
        "description": dataset.description,
        "provider": dataset.provider,
        "permission": dataset.permission,
        "data_source_type": dataset.data_source_type,
        "indexing_technique": dataset.indexing_technique,
        "app_count": 0,
        "document_count": documents,
        "word_count": words,
        "created_by": dataset.created_by,
        "author_name": None,
        "created_at": to_unix(dataset.created_at),
        "updated_by": None,
        "updated_at": to_unix(dataset.updated_at),
        "embedding_model": dataset.embedding_model,
        "embedding_model_provider": plugin_id(dataset.embedding_model_provider),
        "embedding_available": True,
        "retrieval_model_dict": retrieval_dict(dataset),
        "summary_index_setting": {
            "enable": False,
            "model_name": None,
            "model_provider_name": None,
            "summary_prompt": None,
        },
        "tags": [{"id": t.id, "name": t.name, "type": t.type} for t in tags],
        "doc_form": dataset.doc_form,
        "external_knowledge_info": {
            "external_knowledge_id": None,
            "external_knowledge_api_id": None,
            "external_knowledge_api_name": None,
            "external_knowledge_api_endpoint": None,
        },
        "external_retrieval_model": None,
        "doc_metadata": [{"id": f.id, "name": f.name, "type": f.type} for f in fields],
        "built_in_field_enabled": dataset.built_in_field_enabled,
        "pipeline_id": None,
        "runtime_mode": "general",
        "chunk_structure": None,
        "icon_info": {"icon_type": None, "icon": None, "icon_background": None, "icon_url": None},
        "is_published": False,
        "total_documents": documents,
        "total_available_documents": available,
        "enable_api": dataset.enable_api,
        "is_multimodal": False,
    }


def display_status(document: DatasetDocument) -> str:
    """`display_status` of a document."""
    if document.archived:
        return "archived"
    status = document.indexing_status
    if status == "waiting":
        return "queuing"
    if status in ("parsing", "cleaning", "splitting", "indexing"):
        return "indexing"
    if status in ("paused", "error"):
        return status
    return "available" if document.enabled else "disabled"


def _ts(value: Any) -> int | None:
    return to_unix(value) if value is not None else None


def document_body(document: DatasetDocument) -> dict[str, Any]:
    """Document (list/create shape)."""
    return {
        "id": document.id,
        "position": document.position,
        "data_source_type": document.data_source_type,
        "data_source_info": document.data_source_info,
        "data_source_detail_dict": document.data_source_info,
        "dataset_process_rule_id": None,
        "name": document.name,
        "created_from": document.created_from,
        "created_by": None,
        "created_at": to_unix(document.created_at),
        "tokens": document.tokens,
        "indexing_status": document.indexing_status,
        "error": document.error,
        "enabled": document.enabled,
        "disabled_at": _ts(document.disabled_at),
        "disabled_by": None,
        "archived": document.archived,
        "display_status": display_status(document),
        "word_count": document.word_count,
        "hit_count": document.hit_count,
        "doc_form": document.doc_form,
        "doc_metadata": [
            {"id": key, "name": key, "type": "string", "value": value}
            for key, value in (document.doc_metadata or {}).items()
        ],
        "summary_index_status": None,
        "need_summary": False,
    }


def segment_body(segment: DocumentSegment, child_chunks: list[Any] | None = None) -> dict[str, Any]:
    """Segment."""
    return {
        "id": segment.id,
        "position": segment.position,
        "document_id": segment.document_id,
        "content": segment.content,
        "sign_content": segment.content,
        "answer": segment.answer,
        "word_count": segment.word_count,
        "tokens": segment.tokens,
        "keywords": segment.keywords,
        "index_node_id": segment.index_node_id,
        "index_node_hash": segment.index_node_hash,
        "hit_count": segment.hit_count,
        "enabled": segment.enabled,
        "disabled_at": None,
        "disabled_by": None,
        "status": segment.status,
        "created_by": None,
        "created_at": to_unix(segment.created_at),
        "updated_at": to_unix(segment.updated_at),
        "updated_by": None,
        "indexing_at": _ts(segment.indexing_at),
        "completed_at": _ts(segment.completed_at),
        "error": segment.error,
        "stopped_at": None,
        "child_chunks": child_chunks or [],
        "attachments": [],
        "summary": None,
    }
