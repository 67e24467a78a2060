"""RerankProvider against the scripted upstream over loopback; parsing; registry spellings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from headrace.providers.errors import (
    ModelNotSupportedError,
    ProviderCredentialsMissingError,
    ProviderError,
    ProviderQuotaError,
    UpstreamTimeoutError,
)
from headrace.providers.rerank import (
    JINA_BASE_URL,
    RerankProvider,
    RerankRegistry,
    RerankResult,
    default_rerank_registry,
    map_rerank_error,
    parse_rerank,
)
from tests.support.upstream import Reply, ScriptedUpstream

MODEL = "jina-reranker-v2-base-multilingual"
DOCUMENTS = [
    "Stock market prices fell sharply on Monday.",
    "The cat sat on the warm mat all afternoon.",
    "A small cat chased a mouse across the mat.",
    "Rain is expected over the weekend.",
]


@pytest.fixture
async def reranker() -> AsyncIterator[RerankProvider]:
    adapter = RerankProvider("openai", None, timeout=5.0)
    yield adapter
    await adapter.aclose()


def _creds(up: ScriptedUpstream) -> dict[str, str]:
    return {"api_key": "jina-test", "base_url": up.base_url}


async def test_scores_in_input_order_and_ranking(
    reranker: RerankProvider, upstream: ScriptedUpstream
) -> None:
    result = await reranker.rerank(
        "where is the cat on the mat", DOCUMENTS, MODEL, _creds(upstream)
    )
    assert len(result.scores) == 4
    assert result.order()[:2] == [1, 2]
    assert result.order()[-1] in (0, 3)
    scores = [s for s in result.scores if s is not None]
    assert len(scores) == 4 and all(0.0 <= s <= 1.0 for s in scores)
    # Query words {where, is, the, cat, on, mat}: document 1 has four, document 2 three.
    assert result.scores[1] == pytest.approx(4 / 6)
    assert result.scores[2] == pytest.approx(3 / 6)
    [sent] = upstream.requests_for("/v1/rerank")
    assert sent.json == {
        "model": MODEL,
        "query": "where is the cat on the mat",
        "documents": DOCUMENTS,
        "top_n": 4,
    }
    assert sent.headers["authorization"] == "Bearer jina-test"
    assert result.tokens > 0


async def test_top_n_leaves_the_rest_unscored(
    reranker: RerankProvider, upstream: ScriptedUpstream
) -> None:
    result = await reranker.rerank("cat mat", DOCUMENTS, MODEL, _creds(upstream), top_n=2)
    assert upstream.requests[0].json["top_n"] == 2
    assert result.scores[0] is None and result.scores[3] is None
    assert result.order() == [1, 2]


async def test_empty_documents_make_no_request(
    reranker: RerankProvider, upstream: ScriptedUpstream
) -> None:
    assert await reranker.rerank("q", [], MODEL, _creds(upstream)) == RerankResult([], 0)
    assert upstream.requests == []


async def test_reported_usage_is_used(reranker: RerankProvider, upstream: ScriptedUpstream) -> None:
    upstream.script_rerank(Reply(usage=(42, 0)))
    result = await reranker.rerank("cat", DOCUMENTS, MODEL, _creds(upstream))
    assert result.tokens == 42


async def test_missing_usage_is_estimated(
    reranker: RerankProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script_rerank(Reply(usage="omit"))
    result = await reranker.rerank("abcd", ["abcdefgh"], MODEL, _creds(upstream))
    assert result.tokens == 3


@pytest.mark.parametrize(
    ("status", "error", "expected", "match"),
    [
        (401, {"message": "Invalid API key"}, ProviderError, "^Invalid API key$"),
        (429, None, ProviderQuotaError, "Scripted failure 429"),
        (404, {"message": "no such model"}, ModelNotSupportedError, "nope"),
        (500, None, ProviderError, r"^\[500\] Scripted failure 500$"),
    ],
)
async def test_error_mapping(
    reranker: RerankProvider,
    upstream: ScriptedUpstream,
    status: int,
    error: dict[str, str] | None,
    expected: type[Exception],
    match: str,
) -> None:
    upstream.script_rerank(Reply(status=status, error=error))
    with pytest.raises(expected, match=match) as caught:
        await reranker.rerank("q", ["d"], "nope", _creds(upstream))
    if expected is ProviderError:
        assert type(caught.value) is ProviderError


def test_detail_bodies_are_read() -> None:
    body = orjson.dumps({"detail": "Model foo not found"})
    assert isinstance(map_rerank_error(422, body, "foo"), ModelNotSupportedError)
    error = map_rerank_error(400, orjson.dumps({"detail": [{"msg": "bad"}]}), "m")
    assert type(error) is ProviderError and "bad" in str(error)
    cohere = map_rerank_error(400, orjson.dumps({"message": "invalid request"}), "m")
    assert str(cohere) == "[400] invalid request"


async def test_timeout(upstream: ScriptedUpstream) -> None:
    adapter = RerankProvider("openai", None, timeout=0.3)
    upstream.script_rerank(Reply(hang=True))
    try:
        with pytest.raises(UpstreamTimeoutError):
            await adapter.rerank("q", ["d"], MODEL, _creds(upstream))
    finally:
        await adapter.aclose()


async def test_missing_credentials(reranker: RerankProvider) -> None:
    with pytest.raises(ProviderCredentialsMissingError):
        await reranker.rerank("q", ["d"], MODEL, {})
    with pytest.raises(ProviderCredentialsMissingError, match="base_url"):
        await reranker.rerank("q", ["d"], MODEL, {"api_key": "sk"})


class _NoNetwork(aiohttp.abc.AbstractResolver):
    """Resolves nothing: the request is seen by the trace hook, then fails to connect."""

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[Any]:
        raise OSError(f"no network for {host}")

    async def close(self) -> None:
        return None


async def test_vendor_default_base_url_is_used() -> None:
    seen: list[aiohttp.TraceRequestStartParams] = []

    async def on_start(_session: Any, _ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        seen.append(params)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    adapter = RerankProvider(
        "jina",
        JINA_BASE_URL,
        session_factory=lambda: aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=_NoNetwork()), trace_configs=[trace]
        ),
    )
    try:
        with pytest.raises(ProviderError, match=r"^Failed to connect to rerank provider"):
            await adapter.rerank("q", ["d"], MODEL, {"api_key": "jina-key"})
    finally:
        await adapter.aclose()
    assert str(seen[0].url) == "https://api.jina.ai/v1/rerank"
    assert seen[0].headers["Authorization"] == "Bearer jina-key"


def test_parse_accepts_results_or_data() -> None:
    results = {
        "results": [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.1}]
    }
    assert parse_rerank(results, 3) == [0.1, 0.9, None]
    data = {"data": [{"index": 0, "relevance_score": -1.5}, {"index": 1, "score": 2}]}
    assert parse_rerank(data, 2) == [-1.5, 2.0]
    with pytest.raises(ProviderError, match="without results"):
        parse_rerank({"object": "list"}, 1)
    with pytest.raises(ProviderError, match="index"):
        parse_rerank({"results": [{"index": 5, "relevance_score": 0.2}]}, 1)
    with pytest.raises(ProviderError, match="score"):
        parse_rerank({"results": [{"index": 0, "relevance_score": "high"}]}, 1)


def test_order_breaks_ties_by_input_order() -> None:
    assert RerankResult([0.5, None, 0.9, 0.5], 0).order() == [2, 0, 3]


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("jina", "jina"),
        ("langgenius/jina/jina", "jina"),
        ("cohere", "cohere"),
        ("langgenius/cohere/cohere", "cohere"),
        ("openai_api_compatible", "openai"),
        ("langgenius/openai_api_compatible/openai_api_compatible", "openai"),
        ("vllm", "openai"),
    ],
)
def test_registry_resolves_every_spelling(spelling: str, expected: str) -> None:
    assert default_rerank_registry().get(spelling).provider_id == expected


def test_registry_refuses_unknown_and_duplicate_ids() -> None:
    registry = RerankRegistry([RerankProvider("jina", JINA_BASE_URL)])
    assert registry.ids() == ["jina"]
    with pytest.raises(ModelNotSupportedError, match="voyage"):
        registry.get("voyage")
    with pytest.raises(ValueError, match="duplicate"):
        registry.register(RerankProvider("jina"))
