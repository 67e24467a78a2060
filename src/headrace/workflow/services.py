"""What nodes may ask of the outside world, as small protocols the runner implements.

The engine imports no HTTP server, no SQL and no Redis: model access, file bytes, conversation
history and limits arrive through these ports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from headrace.providers.types import LLMChunk, LLMRequest


class ModelHandle(Protocol):
    """A provider bound to credentials."""

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMChunk]:
        """Stream a completion."""
        ...


class ModelAccess(Protocol):
    """Binds provider ids of the DSL to ready-to-call models."""

    async def bind(self, provider_id: str) -> ModelHandle:
        """The model handle for a provider (raises a DomainError when unavailable)."""
        ...


class FileAccess(Protocol):
    """Reads the bytes behind file objects and stores files nodes produce."""

    async def read(self, file: Mapping[str, Any]) -> bytes:
        """The file's content."""
        ...

    async def save(self, data: bytes, filename: str, mime_type: str) -> dict[str, Any]:
        """Store produced bytes; returns the file object that refers to them."""
        ...


@dataclass(frozen=True, slots=True)
class HistoryTurn:
    """One earlier query/answer pair of a conversation."""

    query: str
    answer: str


class ConversationAccess(Protocol):
    """Earlier turns of the conversation a chatflow run belongs to."""

    async def history(self, limit: int) -> list[HistoryTurn]:
        """The newest `limit` turns, oldest first."""
        ...


class KnowledgeAccess(Protocol):
    """Retrieval from the workspace's datasets (knowledge-retrieval nodes)."""

    async def retrieve(
        self,
        dataset_ids: list[str],
        query: str,
        settings: Mapping[str, Any],
        router: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Result items `{content, title, files, metadata}`, best first; with a `router`
        (provider, model name) the model picks the one dataset to search."""
        ...


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """Run limits (dsl.md §2.5)."""

    max_steps: int = 500
    max_execution_time: float = 1200.0
    max_call_depth: int = 5


@dataclass(slots=True)
class Services:
    """Everything nodes can use; fields a run does not need may stay None."""

    models: ModelAccess | None = None
    files: FileAccess | None = None
    conversation: ConversationAccess | None = None
    knowledge: KnowledgeAccess | None = None
    limits: EngineLimits = field(default_factory=EngineLimits)
    #: Per-node-type settings (e.g. egress policy for http-request, sandbox limits for code).
    settings: dict[str, Any] = field(default_factory=dict)
    #: Values never to show in events, stored runs or logs (secret environment variables).
    secrets: frozenset[str] = frozenset()
    #: The node registry, for containers that run sub-graphs (typed loosely: it imports nodes).
    registry: Any = None
