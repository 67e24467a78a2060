"""Embeddings from OpenAI and every server speaking its `POST /embeddings` API.

Texts are sent in batches (64 per request by default) with a bounded number of requests in
flight per call, over one pooled HTTP session. Errors map as in the chat adapter:
401/403 and 5xx are `ProviderError`s, 429 a quota error, 404 or an unknown model
`ModelNotSupportedError`, a time-out `UpstreamTimeoutError`.
"""

from __future__ import annotations

import asyncio
import base64
from array import array
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from headrace.providers.embeddings import EmbeddingResult, InputType, l2_normalise
from headrace.providers.errors import (
    ProviderError,
)
from headrace.providers.openai_compat import DEFAULT_BASE_URL, map_http_error
from headrace.providers.upstream_http import SessionFactory, UpstreamHttp, bearer_endpoint
from headrace.providers.usage import estimate_tokens

_T = TypeVar("_T")


async def gather_or_cancel(coroutines: Sequence[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Run coroutines concurrently; on the first failure cancel the rest and re-raise it."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _decode_vector(raw: Any) -> list[float]:
    """A vector given as a JSON list of numbers or as base64 of little-endian float32."""
    if isinstance(raw, str):
        values = array("f")
        values.frombytes(base64.b64decode(raw))
        return values.tolist()
    if isinstance(raw, list):
        return [float(v) for v in raw]
    raise ProviderError(f"Malformed embedding from model provider: {str(raw)[:200]}")


def parse_embeddings(payload: Any, expected: int) -> tuple[list[list[float]], int | None]:
    """`(normalised vectors in input order, reported tokens)` of an `/embeddings` answer."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        got = len(data) if isinstance(data, list) else "no"
        raise ProviderError(f"Model provider returned {got} embeddings for {expected} inputs")
    ordered: list[list[float] | None] = [None] * expected
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise ProviderError("Malformed embedding from model provider")
        index = item.get("index", position)
        if not isinstance(index, int) or not 0 <= index < expected or ordered[index] is not None:
            raise ProviderError(f"Model provider returned an embedding with index {index!r}")
        ordered[index] = l2_normalise(_decode_vector(item.get("embedding")))
    vectors = [v for v in ordered if v is not None]
    usage = payload.get("usage")
    tokens: int | None = None
    if isinstance(usage, dict):
        raw = usage.get("prompt_tokens") or usage.get("total_tokens")
        tokens = int(raw) if raw is not None else None
    return vectors, tokens


class OpenAIEmbeddingProvider:
    """Embeds texts with OpenAI or any OpenAI-compatible server.

    Credentials are those of the chat adapter: `api_key` and/or `base_url` (default
    `https://api.openai.com/v1`, used exactly as given). `input_type` is not sent: the
    OpenAI API embeds queries and documents alike.
    """

    credential_keys: tuple[str, ...] = ("api_key", "base_url")
    needs_credentials = True

    def __init__(
        self,
        timeout: float = 60.0,
        *,
        batch_size: int = 64,
        max_concurrency: int = 4,
        max_connections: int = 64,
        provider_id: str = "openai",
        default_base_url: str | None = DEFAULT_BASE_URL,
        session_factory: SessionFactory | None = None,
    ) -> None:
        if batch_size < 1 or max_concurrency < 1:
            raise ValueError("batch_size and max_concurrency must be positive")
        self.provider_id = provider_id
        self._default_base_url = default_base_url
        self._batch_size = batch_size
        self._max_concurrency = max_concurrency
        self._http = UpstreamHttp(
            timeout, max_connections, label="Embedding", session_factory=session_factory
        )

    async def embed(
        self,
        texts: Sequence[str],
        model: str,
        credentials: Mapping[str, str],
        *,
        input_type: InputType = "document",
    ) -> EmbeddingResult:
        """Embed `texts` in order, `batch_size` per request, a few requests at a time."""
        url, headers = bearer_endpoint(
            credentials,
            self._default_base_url,
            "/embeddings",
            provider_id=self.provider_id,
            purpose="embeddings",
        )
        if not texts:
            return EmbeddingResult(vectors=[], dims=0, tokens=0)
        # The OpenAI API refuses empty strings; a lone space embeds as "nothing".
        inputs = [text if text else " " for text in texts]
        size = self._batch_size
        batches = [inputs[i : i + size] for i in range(0, len(inputs), size)]
        limit = asyncio.Semaphore(self._max_concurrency)

        failed = False

        async def run(batch: list[str]) -> tuple[list[list[float]], int]:
            nonlocal failed
            async with limit:
                # A batch that failed fails the call: those still waiting are not sent (the
                # failure reaches gather_or_cancel only after the slot it freed is taken).
                if failed:
                    raise asyncio.CancelledError
                try:
                    return await self._request(url, headers, model, batch)
                except BaseException:
                    failed = True
                    raise

        results = await gather_or_cancel([run(batch) for batch in batches])
        vectors = [vector for batch_vectors, _ in results for vector in batch_vectors]
        dims = len(vectors[0])
        if any(len(v) != dims for v in vectors):
            raise ProviderError("Model provider returned embeddings of different sizes")
        return EmbeddingResult(vectors=vectors, dims=dims, tokens=sum(t for _, t in results))

    async def _request(
        self, url: str, headers: dict[str, str], model: str, batch: list[str]
    ) -> tuple[list[list[float]], int]:
        body = orjson.dumps({"model": model, "input": batch, "encoding_format": "float"})
        payload = await self._http.post_json(
            url, body, headers, model=model, map_error=map_http_error
        )
        vectors, tokens = parse_embeddings(payload, len(batch))
        if tokens is None:
            tokens = sum(estimate_tokens(text) for text in batch)
        return vectors, tokens

    async def aclose(self) -> None:
        """Close the pooled HTTP session."""
        await self._http.aclose()
