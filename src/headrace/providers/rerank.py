"""Rerank models behind the Jina/Cohere-style `POST {base_url}/rerank` API.

The request is `{model, query, documents, top_n}`; the answer lists `{index,
relevance_score}` under `results` (Jina, Cohere, vLLM, Xinference) or `data` (Voyage-style).
Scores come back in the order of the input documents. Provider ids resolve in any spelling:
`jina`, `langgenius/jina/jina`, `cohere`, `openai_api_compatible` (an OpenAI-compatible
server, which needs a `base_url`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from headrace.providers.errors import (
    ProviderError,
)
from headrace.providers.openai_compat import map_http_error
from headrace.providers.registry import AdapterRegistry
from headrace.providers.upstream_http import SessionFactory, UpstreamHttp, bearer_endpoint
from headrace.providers.usage import estimate_tokens

JINA_BASE_URL = "https://api.jina.ai/v1"
COHERE_BASE_URL = "https://api.cohere.com/v2"


@dataclass(frozen=True, slots=True)
class RerankResult:
    """Relevance scores in input order (None where the upstream left a document out)."""

    scores: list[float | None]
    tokens: int

    def order(self) -> list[int]:
        """Indices of the scored documents, most relevant first (ties keep input order)."""
        scored = [(i, s) for i, s in enumerate(self.scores) if s is not None]
        scored.sort(key=lambda pair: -pair[1])
        return [i for i, _ in scored]


class Reranker(Protocol):
    """A provider of rerank models."""

    provider_id: str
    credential_keys: tuple[str, ...]
    needs_credentials: bool

    async def rerank(
        self,
        query: str,
        documents: Sequence[str],
        model: str,
        credentials: Mapping[str, str],
        *,
        top_n: int | None = None,
    ) -> RerankResult:
        """Score `documents` against `query`; raise `ProviderError`s on failure."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections."""
        ...


def parse_rerank(payload: Any, count: int) -> list[float | None]:
    """Scores in input order from a `results` or `data` list of `{index, relevance_score}`."""
    items = None
    if isinstance(payload, dict):
        items = payload.get("results")
        if items is None:
            items = payload.get("data")
    if not isinstance(items, list):
        raise ProviderError("Rerank provider answered without results")
    scores: list[float | None] = [None] * count
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        raw = item.get("relevance_score", item.get("score")) if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < count:
            raise ProviderError(f"Rerank provider returned a result with index {index!r}")
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            raise ProviderError(f"Rerank provider returned a score of {raw!r}")
        scores[index] = float(raw)
    return scores


def _reported_tokens(payload: Any) -> int | None:
    """Token usage as Jina (`usage`), vLLM or Cohere (`meta.billed_units`) report it."""
    if not isinstance(payload, dict):
        return None
    usage = payload.get("usage")
    if isinstance(usage, dict):
        raw = usage.get("total_tokens") or usage.get("prompt_tokens")
        if isinstance(raw, int):
            return raw
    billed = (payload.get("meta") or {}).get("billed_units")
    if isinstance(billed, dict) and isinstance(billed.get("input_tokens"), int):
        return int(billed["input_tokens"])
    return None


def map_rerank_error(status: int, body: bytes, model: str) -> Exception:
    """Like the chat adapter's mapping, also reading FastAPI-style `{"detail": ...}` bodies."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and "error" not in payload and "message" not in payload:
        detail = payload.get("detail")
        if detail:
            message = detail if isinstance(detail, str) else orjson.dumps(detail).decode()
            body = orjson.dumps({"error": {"message": message}})
    return map_http_error(status, body, model)


class RerankProvider:
    """Reranks documents with a Jina/Cohere-style HTTP API.

    Credentials: `api_key` and/or `base_url` (default per vendor; an OpenAI-compatible
    server has none, so it needs `base_url`). `{base_url}/rerank` is called.
    """

    credential_keys: tuple[str, ...] = ("api_key", "base_url")
    needs_credentials = True

    def __init__(
        self,
        provider_id: str = "openai",
        default_base_url: str | None = None,
        *,
        timeout: float = 60.0,
        max_connections: int = 64,
        session_factory: SessionFactory | None = None,
    ) -> None:
        self.provider_id = provider_id
        self._default_base_url = default_base_url
        self._http = UpstreamHttp(
            timeout, max_connections, label="Rerank", session_factory=session_factory
        )

    async def rerank(
        self,
        query: str,
        documents: Sequence[str],
        model: str,
        credentials: Mapping[str, str],
        *,
        top_n: int | None = None,
    ) -> RerankResult:
        """Score every document (or the best `top_n`) against `query`, in input order."""
        url, headers = bearer_endpoint(
            credentials,
            self._default_base_url,
            "/rerank",
            provider_id=self.provider_id,
            purpose="reranking",
        )
        if not documents:
            return RerankResult(scores=[], tokens=0)
        count = len(documents)
        body = {
            "model": model,
            "query": query,
            "documents": list(documents),
            "top_n": count if top_n is None else max(1, min(top_n, count)),
        }
        payload = await self._http.post_json(
            url, orjson.dumps(body), headers, model=model, map_error=map_rerank_error
        )
        scores = parse_rerank(payload, count)
        tokens = _reported_tokens(payload)
        if tokens is None:
            tokens = count * estimate_tokens(query) + sum(estimate_tokens(d) for d in documents)
        return RerankResult(scores=scores, tokens=tokens)

    async def aclose(self) -> None:
        """Close the pooled HTTP session."""
        await self._http.aclose()


class RerankRegistry(AdapterRegistry[Reranker]):
    """The rerank adapters of this process."""

    kind = "rerank "
    noun = "Rerank model"


def default_rerank_registry(timeout: float = 60.0) -> RerankRegistry:
    """Jina and Cohere at their public endpoints, and OpenAI-compatible servers."""
    return RerankRegistry(
        [
            RerankProvider("jina", JINA_BASE_URL, timeout=timeout),
            RerankProvider("cohere", COHERE_BASE_URL, timeout=timeout),
            RerankProvider("openai", None, timeout=timeout),
        ]
    )
