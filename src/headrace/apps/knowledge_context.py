"""Knowledge for apps: retrieve from several datasets, build the prompt context and the
`retriever_resources` citations (spec §6.1) shared by easy-UI apps and the knowledge-retrieval
node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headrace.apps.dataset_router import route_dataset
from headrace.container import Container
from headrace.knowledge.retrieval import DEFAULT_TOP_K, retrieve
from headrace.store.repos.datasets import DatasetRepo
from headrace.store.repos.documents import DocumentRepo


@dataclass(frozen=True, slots=True)
class Retrieved:
    """One retrieved segment with what citations show."""

    content: str
    resource: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RouterModel:
    """The model that picks the dataset in single-retrieval mode."""

    provider: str
    name: str


async def retrieve_many(
    container: Container,
    workspace_id: str,
    dataset_ids: Sequence[str],
    query: str,
    settings: Mapping[str, Any] | None,
    router: RouterModel | None = None,
) -> list[Retrieved]:
    """The best segments, best first, numbered as citations: over all the datasets, or with a
    `router`, from the one dataset it picks (searched with that dataset's own settings)."""
    settings = dict(settings or {})
    scored: list[tuple[float, str, str]] = []  # (score, dataset id, segment id)
    datasets = {}
    async with container.db.session() as session:
        repo = DatasetRepo(session)
        for dataset_id in dataset_ids:
            dataset = await repo.get(workspace_id, dataset_id)
            if dataset is not None:
                datasets[dataset.id] = dataset
    if router is not None and query.strip():
        candidates = list(datasets.values())
        chosen = candidates[0] if candidates else None
        if len(candidates) > 1:  # only a choice needs the model
            bound = await container.models.bind(workspace_id, router.provider)
            chosen = await route_dataset(bound, router.name, candidates, query)
        datasets = {chosen.id: chosen} if chosen is not None else {}
        own = (chosen.retrieval_model or {}) if chosen is not None else {}
        settings = {
            "top_k": own.get("top_k") or DEFAULT_TOP_K,
            "metadata_filtering_conditions": settings.get("metadata_filtering_conditions"),
        }
    top_k = int(settings.get("top_k") or DEFAULT_TOP_K)
    for dataset in datasets.values():
        if not query.strip():
            break
        for hit in await retrieve(container, dataset, query, settings):
            scored.append((hit.score, dataset.id, hit.segment_id))
    scored.sort(key=lambda item: (-item[0], item[2]))
    scored = scored[:top_k]
    async with container.db.session() as session:
        repo_docs = DocumentRepo(session)
        segments = await repo_docs.segments_by_ids([s for _, _, s in scored])
        documents = await repo_docs.documents_by_ids([s.document_id for s in segments.values()])
    results: list[Retrieved] = []
    for score, dataset_id, segment_id in scored:
        segment = segments.get(segment_id)
        if segment is None or not segment.enabled:
            continue
        document = documents.get(segment.document_id)
        if document is None or not document.enabled or document.archived:
            continue
        dataset = datasets[dataset_id]
        results.append(
            Retrieved(
                content=segment.content,
                resource={
                    "position": len(results) + 1,
                    "dataset_id": dataset.id,
                    "dataset_name": dataset.name,
                    "document_id": document.id,
                    "document_name": document.name,
                    "data_source_type": document.data_source_type,
                    "segment_id": segment.id,
                    "retriever_from": "api",
                    "score": score,
                    "hit_count": segment.hit_count,
                    "word_count": segment.word_count,
                    "segment_position": segment.position,
                    "index_node_hash": segment.index_node_hash,
                    "content": segment.content,
                    "page": None,
                    "doc_metadata": document.doc_metadata or None,
                    "title": document.name,
                    "files": [],
                    "summary": None,
                },
            )
        )
    return results


def context_text(items: Sequence[Retrieved]) -> str:
    """The context block given to the model."""
    return "\n".join(item.content for item in items)


def enabled_dataset_ids(dataset_configs: Mapping[str, Any] | None) -> list[str]:
    """Dataset ids of an easy-UI `dataset_configs` (and the legacy agent-mode dataset tools)."""
    datasets = ((dataset_configs or {}).get("datasets") or {}).get("datasets") or []
    ids = []
    for item in datasets:
        dataset = item.get("dataset") if isinstance(item, Mapping) else None
        if isinstance(dataset, Mapping) and dataset.get("enabled", True) and dataset.get("id"):
            ids.append(str(dataset["id"]))
    return ids
