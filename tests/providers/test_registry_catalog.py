"""Provider registry aliases and catalog prices."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal

import pytest

from headrace.providers.base import LLMProvider
from headrace.providers.catalog import model_info
from headrace.providers.errors import ModelNotSupportedError
from headrace.providers.local_llama import LocalLlamaProvider
from headrace.providers.openai_compat import OpenAICompatProvider
from headrace.providers.registry import ProviderRegistry, canonical_provider_id
from headrace.providers.types import LLMChunk, LLMRequest


class _Recorder:
    provider_id = "recorder"
    credential_keys: tuple[str, ...] = ()
    needs_credentials = False

    def __init__(self) -> None:
        self.closed = False

    async def stream(
        self, request: LLMRequest, credentials: Mapping[str, str]
    ) -> AsyncIterator[LLMChunk]:
        yield LLMChunk(text="x")

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def providers() -> tuple[OpenAICompatProvider, LocalLlamaProvider]:
    return OpenAICompatProvider(), LocalLlamaProvider()


@pytest.mark.parametrize(
    "raw",
    [
        "openai",
        "OpenAI",
        "langgenius/openai/openai",
        "langgenius/openai_api_compatible/openai_api_compatible",
        "openai_api_compatible",
        "ollama",
    ],
)
def test_openai_spellings_resolve_to_one_adapter(
    providers: tuple[OpenAICompatProvider, LocalLlamaProvider], raw: str
) -> None:
    openai, local = providers
    registry = ProviderRegistry([openai, local])
    assert registry.get(raw) is openai


def test_local_spellings_resolve_to_local_adapter(
    providers: tuple[OpenAICompatProvider, LocalLlamaProvider],
) -> None:
    openai, local = providers
    registry = ProviderRegistry([openai, local])
    assert registry.get("local") is local
    assert registry.get("llamacpp") is local
    assert registry.ids() == ["local", "openai"]


def test_unknown_provider_is_model_not_supported() -> None:
    registry = ProviderRegistry([OpenAICompatProvider()])
    with pytest.raises(ModelNotSupportedError, match="langgenius/anthropic/anthropic"):
        registry.get("langgenius/anthropic/anthropic")


def test_duplicate_provider_ids_are_refused() -> None:
    registry = ProviderRegistry([OpenAICompatProvider()])
    with pytest.raises(ValueError, match="duplicate provider id: openai"):
        registry.register(OpenAICompatProvider())
    with pytest.raises(ValueError, match="duplicate"):
        ProviderRegistry([LocalLlamaProvider(), LocalLlamaProvider()])


async def test_registry_closes_every_adapter() -> None:
    recorder = _Recorder()
    adapter: LLMProvider = recorder
    registry = ProviderRegistry([adapter, OpenAICompatProvider()])
    await registry.aclose()
    assert recorder.closed


def test_canonical_provider_id() -> None:
    assert canonical_provider_id(" langgenius/openai/openai ") == "openai"
    assert canonical_provider_id("langgenius/vllm/vllm") == "openai"
    assert canonical_provider_id("someone/custom/custom") == "custom"


@pytest.mark.parametrize("provider", ["openai", "langgenius/openai/openai"])
def test_catalog_prices_gpt_4o_mini(provider: str) -> None:
    info = model_info(provider, "gpt-4o-mini")
    assert info.context_size == 128000
    assert info.mode == "chat"
    assert info.pricing.input == Decimal("0.15")
    assert info.pricing.output == Decimal("0.6")
    assert info.pricing.unit == Decimal("0.000001")
    assert info.pricing.currency == "USD"
    # Cost of 1M prompt tokens at the per-token unit.
    assert info.pricing.input * info.pricing.unit * 1_000_000 == Decimal("0.15")


def test_catalog_completion_model_mode() -> None:
    assert model_info("openai", "gpt-3.5-turbo-instruct").mode == "completion"


@pytest.mark.parametrize(
    ("provider", "model", "context"),
    [
        ("langgenius/openai_api_compatible/openai_api_compatible", "my-finetune", 8192),
        ("local", "some.gguf", 2048),
        ("nobody-knows-this-provider", "x", 4096),
    ],
)
def test_catalog_defaults_cost_zero(provider: str, model: str, context: int) -> None:
    info = model_info(provider, model)
    assert info.name == model
    assert info.context_size == context
    assert info.pricing.input == Decimal(0)
    assert info.pricing.output == Decimal(0)
    assert info.pricing.currency == "USD"


def test_catalog_knows_the_bundled_local_model() -> None:
    info = model_info("local", "gemma3-270m")
    assert info.context_size == 32768
    assert info.pricing.input == Decimal(0)
