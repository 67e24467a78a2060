"""The contract every model provider adapter implements.

Adapters implement streaming only; a blocking result is a fold over the stream
(`collect`). Credentials are a plain mapping decrypted by the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from headrace.providers.types import LLMChunk, LLMRequest, TokenUsage, ToolCall


class LLMProvider(Protocol):
    """A model provider: streams completions for a request."""

    provider_id: str
    #: Credential keys the provider understands, in the order operators usually give them.
    credential_keys: tuple[str, ...]
    #: Whether the provider can run without any configured credentials.
    needs_credentials: bool

    def stream(
        self, request: LLMRequest, credentials: Mapping[str, str]
    ) -> AsyncIterator[LLMChunk]:
        """Yield chunks as the upstream produces them; raise `ProviderError`s on failure."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections or loaded models."""
        ...


@dataclass(slots=True)
class Completion:
    """A whole completion folded from a stream."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: TokenUsage | None
    finish_reason: str | None


async def collect(chunks: AsyncIterator[LLMChunk]) -> Completion:
    """Fold a chunk stream into one `Completion`."""
    parts: list[str] = []
    calls: list[ToolCall] = []
    usage: TokenUsage | None = None
    finish: str | None = None
    async for chunk in chunks:
        parts.append(chunk.text)
        calls.extend(chunk.tool_calls)
        usage = chunk.usage or usage
        finish = chunk.finish_reason or finish
    return Completion("".join(parts), tuple(calls), usage, finish)
