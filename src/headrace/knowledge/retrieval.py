"""Retrieval from a dataset: keyword, semantic or hybrid search (weighted scores or a rerank
model), `top_k` and `score_threshold` (spec §10.4, §10.6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headrace.knowledge.indexing import embed_texts
from headrace.knowledge.metadata_filter import metadata_matches
from headrace.knowledge.vectorstores.base import Hit
from headrace.providers.registry import canonical_provider_id
from headrace.store.repos.credentials import CredentialRepo
from headrace.store.repos.documents import DocumentRepo
from headrace.store.tables import Dataset

if TYPE_CHECKING:
    from headrace.container import Container

DEFAULT_TOP_K = 4


@dataclass(frozen=True, slots=True)
class ScoredSegment:
    """A segment id with its retrieval score and, for parent-child indexes, matched children."""

    segment_id: str
    score: float
    child_ids: tuple[tuple[str, float], ...] = ()


def _best_per_segment(hits: list[Hit]) -> dict[str, ScoredSegment]:
    """Collapse vector hits (segments or their child chunks) to one entry per segment."""
    best: dict[str, ScoredSegment] = {}
    for hit in hits:
        segment_id = str(hit.payload.get("segment_id") or hit.id)
        child = () if hit.id == segment_id else ((hit.id, hit.score),)
        known = best.get(segment_id)
        if known is None:
            best[segment_id] = ScoredSegment(segment_id, hit.score, child)
        else:
            best[segment_id] = ScoredSegment(
                segment_id, max(known.score, hit.score), known.child_ids + child
            )
    return best


async def retrieve(
    container: Container, dataset: Dataset, query: str, model: Mapping[str, Any] | None
) -> list[ScoredSegment]:
    """The best segments for `query` under the retrieval settings (dataset's by default)."""
    settings = {**(dataset.retrieval_model or {}), **(model or {})}
    method = settings.get("search_method") or "semantic_search"
    if dataset.indexing_technique != "high_quality":
        method = "keyword_search"
    top_k = int(settings.get("top_k") or DEFAULT_TOP_K)
    fetch = max(top_k * 4, 20)
    knowledge = container.knowledge
    keyword: dict[str, ScoredSegment] = {}
    semantic: dict[str, ScoredSegment] = {}
    if method in ("keyword_search", "full_text_search", "hybrid_search"):
        hits = await knowledge.keyword.search(dataset.id, query, fetch)
        keyword = {h.id: ScoredSegment(h.id, h.score) for h in hits}
    if method in ("semantic_search", "hybrid_search"):
        (vector,) = await embed_texts(container, dataset, [query], input_type="query")
        semantic = _best_per_segment(await knowledge.vectors.search(dataset.id, vector, fetch))
    if method == "hybrid_search":
        results = await _combine(container, dataset, query, settings, keyword, semantic)
    else:
        results = list((semantic or keyword).values())
    if settings.get("score_threshold_enabled") and settings.get("score_threshold") is not None:
        threshold = float(settings["score_threshold"])
        results = [r for r in results if r.score >= threshold]
    filtering = settings.get("metadata_filtering_conditions")
    if filtering and (filtering.get("conditions") or []):
        results = await _filter_by_metadata(container, results, filtering)
    results.sort(key=lambda r: (-r.score, r.segment_id))
    return results[:top_k]


async def _filter_by_metadata(
    container: Container, results: list[ScoredSegment], filtering: Mapping[str, Any]
) -> list[ScoredSegment]:
    async with container.db.session() as session:
        repo = DocumentRepo(session)
        segments = await repo.segments_by_ids([r.segment_id for r in results])
        documents = await repo.documents_by_ids([s.document_id for s in segments.values()])
    allowed = {
        d.id for d in documents.values() if metadata_matches(d.doc_metadata or {}, filtering)
    }
    return [
        r
        for r in results
        if r.segment_id in segments and segments[r.segment_id].document_id in allowed
    ]


async def _combine(
    container: Container,
    dataset: Dataset,
    query: str,
    settings: Mapping[str, Any],
    keyword: dict[str, ScoredSegment],
    semantic: dict[str, ScoredSegment],
) -> list[ScoredSegment]:
    ids = list(dict.fromkeys([*semantic, *keyword]))
    if settings.get("reranking_enable") and settings.get("reranking_mode") != "weighted_score":
        reranked = await _rerank(container, dataset, query, settings, ids)
        if reranked is not None:
            return reranked
    weights = settings.get("weights") or {}
    vector_weight = float((weights.get("vector_setting") or {}).get("vector_weight", 0.7))
    keyword_weight = float((weights.get("keyword_setting") or {}).get("keyword_weight", 0.3))
    combined = []
    for segment_id in ids:
        vs = semantic.get(segment_id)
        ks = keyword.get(segment_id)
        score = vector_weight * (vs.score if vs else 0.0) + keyword_weight * (
            ks.score if ks else 0.0
        )
        combined.append(ScoredSegment(segment_id, round(score, 6), vs.child_ids if vs else ()))
    return combined


async def _rerank(
    container: Container, dataset: Dataset, query: str, settings: Mapping[str, Any], ids: list[str]
) -> list[ScoredSegment] | None:
    model = settings.get("reranking_model") or {}
    provider_id = model.get("reranking_provider_name")
    name = model.get("reranking_model_name")
    if not provider_id or not name or not ids:
        return None
    reranker = container.knowledge.rerankers.get(str(provider_id))
    async with container.db.session() as session:
        segments = await DocumentRepo(session).segments_by_ids(ids)
        credentials = await CredentialRepo(session, container.cipher).get(
            dataset.workspace_id, canonical_provider_id(str(provider_id))
        )
    ordered = [i for i in ids if i in segments]
    result = await reranker.rerank(
        query, [segments[i].content for i in ordered], str(name), credentials or {}
    )
    return [
        ScoredSegment(segment_id, float(score))
        for segment_id, score in zip(ordered, result.scores, strict=True)
        if score is not None
    ]
