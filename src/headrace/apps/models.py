"""Access to models for use-cases: resolve the adapter and the workspace's credentials."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from headrace.crypto import CredentialCipher
from headrace.providers.base import LLMProvider, collect
from headrace.providers.errors import ProviderCredentialsMissingError
from headrace.providers.registry import ProviderRegistry, canonical_provider_id
from headrace.providers.types import LLMChunk, LLMRequest, PromptMessage
from headrace.single_flight import SingleFlight
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


CREDENTIALS_TTL = 5.0


class CredentialCache:
    """Decrypted credentials per (workspace, provider), kept a few seconds: every turn binds a
    model, and a database round trip plus a decryption per turn is measurable."""

    def __init__(self, ttl: float = CREDENTIALS_TTL) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, dict[str, str] | None]] = {}

    def get(self, key: tuple[str, str]) -> tuple[bool, dict[str, str] | None]:
        """(found, credentials) for a fresh entry."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: tuple[str, str], value: dict[str, str] | None) -> None:
        """Remember credentials (or their absence)."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)


class ModelGateway:
    """Finds the adapter for a provider id and the workspace's credentials for it."""

    def __init__(
        self,
        db: Database,
        providers: ProviderRegistry,
        cipher: CredentialCipher,
        cache: CredentialCache | None = None,
    ) -> None:
        self.db = db
        self.providers = providers
        self.cipher = cipher
        self.cache = cache or CredentialCache(ttl=0)
        self._flights: SingleFlight[dict[str, str] | None] = SingleFlight()

    async def bind(self, workspace_id: str, provider_id: str) -> BoundModel:
        """The bound model, or `provider_not_initialize` when credentials are missing."""
        provider = self.providers.get(provider_id)
        key = (workspace_id, canonical_provider_id(provider_id))
        found, credentials = self.cache.get(key)
        if not found:
            # When the entry expires, every request in flight misses at once: one reads.
            credentials = await self._flights.do(key, lambda: self._load(key))
        if credentials is None and provider.needs_credentials:
            raise ProviderCredentialsMissingError()
        return BoundModel(provider, credentials or {})

    async def _load(self, key: tuple[str, str]) -> dict[str, str] | None:
        async with self.db.session() as session:
            credentials = await CredentialRepo(session, self.cipher).get(*key)
        self.cache.put(key, credentials)
        return credentials
