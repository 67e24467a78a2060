"""Provider registry: maps provider ids (bare or plugin-style) to adapters.

DSL exports name providers bare (`openai`) or as plugin ids (`langgenius/openai/openai`);
both resolve to the same adapter. Aliases cover OpenAI-compatible plugins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Generic, Protocol, TypeVar

from headrace.providers.base import LLMProvider
from headrace.providers.errors import ModelNotSupportedError

#: Provider names served by another adapter.
ALIASES: dict[str, str] = {
    "openai_api_compatible": "openai",
    "azure_openai": "openai",
    "deepseek": "openai",
    "ollama": "openai",
    "vllm": "openai",
    "lm_studio": "openai",
    "llamacpp": "local",
}


def canonical_provider_id(raw: str) -> str:
    """Reduce `org/plugin/provider` or a bare name to the name Headrace registers.

    >>> canonical_provider_id("langgenius/openai_api_compatible/openai_api_compatible")
    'openai'
    """
    name = raw.strip().rsplit("/", 1)[-1].lower()
    return ALIASES.get(name, name)


class _Adapter(Protocol):
    provider_id: str

    async def aclose(self) -> None: ...


A = TypeVar("A", bound=_Adapter)


class AdapterRegistry(Generic[A]):
    """Adapters of one kind by provider id; duplicate ids fail at start-up, and ids resolve in
    any accepted spelling (bare, plugin-style, alias)."""

    #: Words of the messages: "duplicate {kind}provider id", "{noun} provider … not found."
    kind: ClassVar[str] = ""
    noun: ClassVar[str] = "Model"

    def __init__(self, providers: Iterable[A] = ()) -> None:
        self._providers: dict[str, A] = {}
        for provider in providers:
            self.register(provider)

    def register(self, provider: A) -> None:
        """Add an adapter; a second adapter with the same id is a start-up error."""
        if provider.provider_id in self._providers:
            raise ValueError(f"duplicate {self.kind}provider id: {provider.provider_id}")
        self._providers[provider.provider_id] = provider

    def get(self, raw_id: str) -> A:
        """The adapter for a provider id in any accepted spelling."""
        provider = self._providers.get(canonical_provider_id(raw_id))
        if provider is None:
            raise ModelNotSupportedError(f"{self.noun} provider {raw_id} not found.")
        return provider

    def ids(self) -> list[str]:
        """Registered provider ids."""
        return sorted(self._providers)

    async def aclose(self) -> None:
        """Close every adapter."""
        for provider in self._providers.values():
            await provider.aclose()


class ProviderRegistry(AdapterRegistry[LLMProvider]):
    """The LLM adapters of this process."""
