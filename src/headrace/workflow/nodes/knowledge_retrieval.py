"""`knowledge-retrieval`: search the workspace's datasets (dsl.md §4.5); feed `result` to an
LLM's context to get citations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from headrace.workflow.model_calls import ModelConfig
from headrace.workflow.nodes.base import Node, NodeData, NodeError, NodeEvent, NodeResult
from headrace.workflow.variables import MISSING


class RetrievalConfig(NodeData):
    """`multiple_retrieval_config`."""

    top_k: int = 4
    score_threshold: float | None = None
    reranking_mode: str = "reranking_model"
    reranking_enable: bool = False
    reranking_model: dict[str, Any] | None = None
    weights: dict[str, Any] | None = None


class SingleRetrievalConfig(NodeData):
    """`single_retrieval_config`: the model that routes the query to one dataset."""

    model: ModelConfig | None = None


class KnowledgeRetrievalData(NodeData):
    """Configuration of a knowledge-retrieval node."""

    query_variable_selector: list[str] | None = None
    dataset_ids: list[str] = []
    retrieval_mode: str = "multiple"
    single_retrieval_config: SingleRetrievalConfig | None = None
    multiple_retrieval_config: RetrievalConfig | None = None


class KnowledgeRetrievalNode(Node):
    """Outputs `result`: retrieved segments with their citation metadata."""

    node_type = "knowledge-retrieval"
    data_model = KnowledgeRetrievalData

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Retrieve for the query."""
        data = self.data
        if not data.query_variable_selector:
            yield NodeResult()
            return
        query = self.pool.get(data.query_variable_selector)
        if query is MISSING or not isinstance(query, str):
            raise NodeError("Query variable is not string type.", "KnowledgeRetrievalNodeError")
        knowledge = self.ctx.services.knowledge
        if knowledge is None:
            raise NodeError(
                "Knowledge retrieval is not available in this run", "KnowledgeRetrievalNodeError"
            )
        config = data.multiple_retrieval_config or RetrievalConfig()
        reranking = config.reranking_model or {}
        settings: dict[str, Any] = {
            "search_method": "hybrid_search",
            "top_k": config.top_k,
            "score_threshold_enabled": config.score_threshold is not None,
            "score_threshold": config.score_threshold,
            "reranking_enable": config.reranking_enable,
            "reranking_mode": config.reranking_mode,
            "reranking_model": {
                "reranking_provider_name": reranking.get("reranking_provider_name")
                or reranking.get("provider"),
                "reranking_model_name": reranking.get("reranking_model_name")
                or reranking.get("model"),
            },
            "weights": config.weights,
        }
        router = None
        if data.retrieval_mode == "single":
            model = data.single_retrieval_config.model if data.single_retrieval_config else None
            if model is None:
                raise NodeError(
                    "Single retrieval needs single_retrieval_config.model to route the query",
                    "KnowledgeRetrievalNodeError",
                )
            router = (model.provider, model.name)
        result = (
            await knowledge.retrieve(list(data.dataset_ids), query, settings, router)
            if query.strip()
            else []
        )
        yield NodeResult(outputs={"result": result}, inputs={"query": query})
