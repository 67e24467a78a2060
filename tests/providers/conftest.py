"""Fixtures for provider tests: one scripted upstream per module, a fresh adapter per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from headrace.providers.openai_compat import OpenAICompatProvider
from tests.support.upstream import ScriptedUpstream


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


@pytest.fixture
def upstream(upstream_server: ScriptedUpstream) -> ScriptedUpstream:
    upstream_server.reset()
    return upstream_server


@pytest.fixture
async def provider() -> AsyncIterator[OpenAICompatProvider]:
    adapter = OpenAICompatProvider(timeout=5.0)
    yield adapter
    await adapter.aclose()
