"""The knowledge ports of one process: keyword index, vector store, embedding and rerank
models, built from settings (embedded defaults, Qdrant when configured)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from headrace.knowledge.keyword import KeywordIndex, keyword_index_for
from headrace.knowledge.vectorstores.base import VectorStore
from headrace.knowledge.vectorstores.embedded import EmbeddedVectorStore
from headrace.providers.embeddings import EmbeddingRegistry, default_embedding_registry
from headrace.providers.rerank import RerankRegistry, default_rerank_registry
from headrace.store.db import Database

DEFAULT_EMBEDDING_PROVIDER = "local"
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


@dataclass
class KnowledgeServices:
    """Indexes and models used by ingestion and retrieval."""

    keyword: KeywordIndex
    vectors: VectorStore
    embeddings: EmbeddingRegistry
    rerankers: RerankRegistry

    @classmethod
    def build(
        cls,
        db: Database,
        data_dir: Path,
        qdrant_url: str | None,
        qdrant_path: str | None,
        timeout: float,
        state_ttl: float,
    ) -> KnowledgeServices:
        """Embedded stores by default; Qdrant when a URL or path is configured."""
        vectors: VectorStore
        if qdrant_url or qdrant_path:
            from headrace.knowledge.vectorstores.qdrant import QdrantVectorStore

            vectors = QdrantVectorStore(url=qdrant_url, path=qdrant_path)
        else:
            vectors = EmbeddedVectorStore(db, data_dir / "vector-index", state_ttl=state_ttl)
        return cls(
            keyword=keyword_index_for(db),
            vectors=vectors,
            embeddings=default_embedding_registry(timeout),
            rerankers=default_rerank_registry(),
        )

    async def start(self) -> None:
        """Create what tables cannot declare (the full-text index)."""
        await self.keyword.ensure_schema()

    async def aclose(self) -> None:
        """Release clients and persist indexes."""
        await self.vectors.aclose()
        await self.keyword.aclose()
        await self.embeddings.aclose()
        await self.rerankers.aclose()
