"""Access to models for use-cases: resolve the adapter and the workspace's credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from headrace.crypto import CredentialCipher
from headrace.providers.base import LLMProvider, collect
from headrace.providers.errors import ProviderCredentialsMissingError
from headrace.providers.registry import ProviderRegistry, canonical_provider_id
from headrace.providers.types import LLMChunk, LLMRequest, PromptMessage
from headrace.store.db import Database
from headrace.store.repos.credentials import CredentialRepo


@dataclass(frozen=True, slots=True)
class BoundModel:
    """A provider adapter bound to credentials: ready to stream."""

    provider: LLMProvider
    credentials: dict[str, str]

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMChunk]:
        """Stream a completion."""
        return self.provider.stream(request, self.credentials)

    async def complete(self, model: str, prompt: str, max_tokens: int = 256) -> str:
        """A short non-streamed completion (titles, suggestions)."""
        request = LLMRequest(
            model=model,
            messages=(PromptMessage("user", prompt),),
            parameters={"max_tokens": max_tokens, "temperature": 0.2},
        )
        return (await collect(self.stream(request))).text


class ModelGateway:
    """Finds the adapter for a provider id and the workspace's credentials for it."""

    def __init__(self, db: Database, providers: ProviderRegistry, cipher: CredentialCipher) -> None:
        self.db = db
        self.providers = providers
        self.cipher = cipher

    async def bind(self, workspace_id: str, provider_id: str) -> BoundModel:
        """The bound model, or `provider_not_initialize` when credentials are missing."""
        provider = self.providers.get(provider_id)
        async with self.db.session() as session:
            credentials = await CredentialRepo(session, self.cipher).get(
                workspace_id, canonical_provider_id(provider_id)
            )
        if credentials is None and provider.needs_credentials:
            raise ProviderCredentialsMissingError()
        return BoundModel(provider, credentials or {})
