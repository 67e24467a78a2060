"""OpenAIEmbeddingProvider against the scripted upstream over loopback; registry; metadata."""

from __future__ import annotations

import math
import socket
import struct
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from headrace.providers.embeddings import (
    EmbeddingRegistry,
    cosine,
    default_embedding_registry,
    embedding_model_info,
    l2_normalise,
)
from headrace.providers.errors import (
    ModelNotSupportedError,
    ProviderCredentialsMissingError,
    ProviderError,
    ProviderQuotaError,
    UpstreamTimeoutError,
)
from headrace.providers.local_embeddings import LocalEmbeddingProvider
from headrace.providers.openai_embeddings import OpenAIEmbeddingProvider, parse_embeddings
from tests.support.upstream import Reply, ScriptedUpstream, bag_of_words_vector

MODEL = "text-embedding-3-small"


@pytest.fixture
async def embedder() -> AsyncIterator[OpenAIEmbeddingProvider]:
    adapter = OpenAIEmbeddingProvider(timeout=5.0, batch_size=64)
    yield adapter
    await adapter.aclose()


def _creds(up: ScriptedUpstream, api_key: str = "sk-test") -> dict[str, str]:
    return {"api_key": api_key, "base_url": up.base_url}


def _is_float32(value: float) -> bool:
    return bool(struct.unpack("f", struct.pack("f", value))[0] == value)


def test_l2_normalise_gives_unit_float32_vectors() -> None:
    vector = l2_normalise([3.0, 4.0, 0.1])
    assert math.isclose(math.hypot(*vector), 1.0, rel_tol=1e-6)
    assert all(_is_float32(v) for v in vector)
    assert l2_normalise([0.0, 0.0]) == [0.0, 0.0]


def test_cosine_of_vectors() -> None:
    assert cosine([1.0, 0.0], [2.0, 0.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [0.0, 3.0]) == pytest.approx(0.0)
    assert cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
    with pytest.raises(ValueError):
        cosine([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("openai", "openai"),
        ("langgenius/openai/openai", "openai"),
        ("openai_api_compatible", "openai"),
        ("langgenius/openai_api_compatible/openai_api_compatible", "openai"),
        ("OpenAI", "openai"),
        ("local", "local"),
        ("langgenius/llamacpp/llamacpp", "local"),
    ],
)
def test_registry_resolves_every_spelling(spelling: str, expected: str) -> None:
    registry = default_embedding_registry()
    assert registry.get(spelling).provider_id == expected
    assert registry.ids() == ["local", "openai"]


def test_registry_refuses_unknown_and_duplicate_ids() -> None:
    registry = EmbeddingRegistry([OpenAIEmbeddingProvider()])
    with pytest.raises(ModelNotSupportedError, match="anthropic"):
        registry.get("langgenius/anthropic/anthropic")
    with pytest.raises(ValueError, match="duplicate"):
        registry.register(OpenAIEmbeddingProvider())
    registry.register(LocalEmbeddingProvider())
    assert registry.ids() == ["local", "openai"]


def test_model_metadata_from_data_files() -> None:
    small = embedding_model_info("langgenius/openai/openai", "text-embedding-3-small")
    assert (small.dims, small.max_input_tokens) == (1536, 8191)
    assert small.pricing.input == Decimal("0.02")
    assert small.pricing.unit == Decimal("0.000001")
    assert embedding_model_info("openai", "text-embedding-3-large").dims == 3072
    unknown = embedding_model_info("openai_api_compatible", "bge-m3")
    assert unknown.dims == 0 and unknown.pricing.input == Decimal("0")
    local = embedding_model_info("local", "all-MiniLM-L6-v2")
    assert (local.dims, local.max_input_tokens, local.pricing.input) == (384, 256, Decimal("0"))


async def test_embeds_in_order_with_normalised_vectors_and_usage(
    embedder: OpenAIEmbeddingProvider, upstream: ScriptedUpstream
) -> None:
    texts = ["the quick brown fox", "jumps over", "the lazy dog"]
    result = await embedder.embed(texts, MODEL, _creds(upstream))
    assert result.dims == 64
    assert result.tokens == 9  # the upstream counts words
    assert len(result.vectors) == 3
    for text, vector in zip(texts, result.vectors, strict=True):
        assert vector == pytest.approx(l2_normalise(bag_of_words_vector(text, 64)))
        assert math.isclose(math.hypot(*vector), 1.0, rel_tol=1e-6)
        assert all(_is_float32(v) for v in vector)
    [sent] = upstream.requests_for("/v1/embeddings")
    assert sent.json == {"model": MODEL, "input": texts, "encoding_format": "float"}
    assert sent.headers["authorization"] == "Bearer sk-test"


async def test_batches_requests_and_keeps_input_order(upstream: ScriptedUpstream) -> None:
    adapter = OpenAIEmbeddingProvider(timeout=5.0, batch_size=64)
    texts = [f"text number {i} word{i}" for i in range(150)]
    try:
        result = await adapter.embed(texts, MODEL, _creds(upstream))
    finally:
        await adapter.aclose()
    sent = upstream.requests_for("/v1/embeddings")
    assert sorted(len(r.json["input"]) for r in sent) == [22, 64, 64]
    assert sorted(t for r in sent for t in r.json["input"]) == sorted(texts)
    assert len(result.vectors) == 150
    for text, vector in zip(texts, result.vectors, strict=True):
        assert vector == pytest.approx(l2_normalise(bag_of_words_vector(text, 64)))
    assert result.tokens == 150 * 4


async def test_limits_requests_in_flight(upstream: ScriptedUpstream) -> None:
    adapter = OpenAIEmbeddingProvider(timeout=5.0, batch_size=2, max_concurrency=3)
    upstream.script_embeddings(*[Reply(delay_before_first=0.15) for _ in range(10)])
    try:
        result = await adapter.embed([f"t{i}" for i in range(20)], MODEL, _creds(upstream))
    finally:
        await adapter.aclose()
    assert len(upstream.requests_for("/v1/embeddings")) == 10
    assert upstream.embedding_peak == 3
    assert len(result.vectors) == 20


async def test_similar_texts_are_closer(
    embedder: OpenAIEmbeddingProvider, upstream: ScriptedUpstream
) -> None:
    texts = ["the cat sat on the mat", "a cat on a mat", "stock market prices fell"]
    cat, kitten, stocks = (await embedder.embed(texts, MODEL, _creds(upstream))).vectors
    assert cosine(cat, kitten) > cosine(cat, stocks)


async def test_request_dimensions_follow_the_upstream(upstream: ScriptedUpstream) -> None:
    wide = ScriptedUpstream(embedding_dims=256)
    adapter = OpenAIEmbeddingProvider(timeout=5.0)
    with wide:
        try:
            result = await adapter.embed(["hello"], MODEL, _creds(wide))
        finally:
            await adapter.aclose()
    assert result.dims == 256 and len(result.vectors[0]) == 256


async def test_empty_input_makes_no_request(
    embedder: OpenAIEmbeddingProvider, upstream: ScriptedUpstream
) -> None:
    result = await embedder.embed([], MODEL, _creds(upstream))
    assert (result.vectors, result.dims, result.tokens) == ([], 0, 0)
    assert upstream.requests == []


async def test_empty_strings_are_sent_as_a_space(
    embedder: OpenAIEmbeddingProvider, upstream: ScriptedUpstream
) -> None:
    result = await embedder.embed(["", "word"], MODEL, _creds(upstream))
    assert upstream.requests[0].json["input"] == [" ", "word"]
    assert result.vectors[0] == [0.0] * 64  # no words: the zero vector stays zero


async def test_missing_usage_is_estimated(
    embedder: OpenAIEmbeddingProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script_embeddings(Reply(usage="omit"))
    result = await embedder.embed(["abcdefgh", "abcd"], MODEL, _creds(upstream))
    assert result.tokens == 3  # about four characters per token


async def test_reported_usage_is_summed_over_batches(upstream: ScriptedUpstream) -> None:
    adapter = OpenAIEmbeddingProvider(timeout=5.0, batch_size=1)
    upstream.script_embeddings(Reply(usage=(5, 0)), Reply(usage=(7, 0)))
    try:
        result = await adapter.embed(["a", "b"], MODEL, _creds(upstream))
    finally:
        await adapter.aclose()
    assert result.tokens == 12


async def test_base_url_without_key_sends_no_authorization(
    embedder: OpenAIEmbeddingProvider, upstream: ScriptedUpstream
) -> None:
    await embedder.embed(["hi"], "bge-m3", {"base_url": upstream.base_url + "/"})
    assert "authorization" not in upstream.requests[0].headers


async def test_missing_credentials(embedder: OpenAIEmbeddingProvider) -> None:
    with pytest.raises(ProviderCredentialsMissingError):
        await embedder.embed(["hi"], MODEL, {})
    custom = OpenAIEmbeddingProvider(provider_id="custom", default_base_url=None)
    with pytest.raises(ProviderCredentialsMissingError, match="base_url"):
        await custom.embed(["hi"], MODEL, {"api_key": "sk"})


@pytest.mark.parametrize(
    ("status", "error", "expected", "match"),
    [
        (401, {"message": "Incorrect API key provided", "type": "invalid_request_error"},
         ProviderError, "^Incorrect API key provided$"),
        (429, {"message": "Rate limit reached", "type": "requests"},
         ProviderQuotaError, "Rate limit"),
        (404, {"message": "The model `nope` does not exist", "code": "model_not_found"},
         ModelNotSupportedError, "nope"),
        (500, None, ProviderError, r"^\[500\] Scripted failure 500$"),
    ],
)  # fmt: skip
async def test_error_mapping(
    embedder: OpenAIEmbeddingProvider,
    upstream: ScriptedUpstream,
    status: int,
    error: dict[str, str] | None,
    expected: type[Exception],
    match: str,
) -> None:
    upstream.script_embeddings(Reply(status=status, error=error))
    with pytest.raises(expected, match=match) as caught:
        await embedder.embed(["hi"], "nope", _creds(upstream))
    if expected is ProviderError:
        assert type(caught.value) is ProviderError


async def test_one_failing_batch_fails_the_call(upstream: ScriptedUpstream) -> None:
    adapter = OpenAIEmbeddingProvider(timeout=5.0, batch_size=1, max_concurrency=1)
    upstream.script_embeddings(Reply(), Reply(status=429))
    try:
        with pytest.raises(ProviderQuotaError):
            await adapter.embed(["a", "b", "c", "d"], MODEL, _creds(upstream))
    finally:
        await adapter.aclose()
    assert len(upstream.requests_for("/v1/embeddings")) == 2  # the rest were never sent


async def test_timeout(upstream: ScriptedUpstream) -> None:
    adapter = OpenAIEmbeddingProvider(timeout=0.3)
    upstream.script_embeddings(Reply(hang=True))
    try:
        with pytest.raises(UpstreamTimeoutError):
            await adapter.embed(["hi"], MODEL, _creds(upstream))
    finally:
        await adapter.aclose()


async def test_connection_refused_is_a_provider_error(
    embedder: OpenAIEmbeddingProvider,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProviderError, match="connect"):
        await embedder.embed(["hi"], MODEL, {"base_url": f"http://127.0.0.1:{port}/v1"})


def test_parse_embeddings_orders_by_index_and_checks_counts() -> None:
    payload = {
        "data": [{"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3.0, 0.0]}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    vectors, tokens = parse_embeddings(payload, 2)
    assert vectors == [[1.0, 0.0], [0.0, 1.0]] and tokens == 4
    with pytest.raises(ProviderError, match="1 embeddings for 2"):
        parse_embeddings({"data": [{"index": 0, "embedding": [1.0]}]}, 2)
    with pytest.raises(ProviderError, match="index"):
        parse_embeddings({"data": [{"index": 0, "embedding": [1.0]}] * 2}, 2)
    with pytest.raises(ProviderError, match="Malformed"):
        parse_embeddings({"data": [{"index": 0, "embedding": None}]}, 1)
    base64_vector = "AACAPwAAAAA="  # float32 [1.0, 0.0], little-endian
    assert parse_embeddings({"data": [{"embedding": base64_vector}]}, 1) == ([[1.0, 0.0]], None)
