"""Explicit wiring of one process: database, coordination, providers, shared state.

Built in the ASGI lifespan (or by the CLI); there are no import-time singletons.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from headrace.apps.models import CredentialCache, ModelGateway
from headrace.apps.run_stream import RunStream
from headrace.coord.base import RunRegistry
from headrace.coord.factory import make_registry
from headrace.crypto import CredentialCipher
from headrace.jobs.queue import JobQueue, make_job_queue
from headrace.knowledge.services import KnowledgeServices
from headrace.providers.local_llama import LocalLlamaProvider
from headrace.providers.openai_compat import OpenAICompatProvider
from headrace.providers.registry import ProviderRegistry
from headrace.settings import Settings
from headrace.store.db import Database
from headrace.workflow.nodes.builtin import builtin_registry
from headrace.workflow.nodes.registry import NodeRegistry


@dataclass
class Container:
    """Everything a request handler or a run needs, owned by one process."""

    settings: Settings
    db: Database
    runs: RunRegistry
    providers: ProviderRegistry
    cipher: CredentialCipher
    nodes: NodeRegistry
    #: Model access shared by every request (caches credentials for a few seconds).
    models: ModelGateway
    #: Keyword index, vector store, embedding and rerank models of knowledge bases.
    knowledge: KnowledgeServices
    #: Runs executing in this process, by task id.
    live: dict[str, RunStream] = field(default_factory=dict)
    #: Where indexing jobs go: this process, or Celery workers.
    jobs: JobQueue = field(init=False)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @classmethod
    def build(cls, settings: Settings, schema: str | None = None) -> Container:
        """Wire a container from settings (nothing is connected yet; see `start`)."""
        providers = ProviderRegistry(
            [
                OpenAICompatProvider(timeout=settings.provider_timeout),
                LocalLlamaProvider(n_ctx=settings.local_model_ctx),
            ]
        )
        db = Database(settings.effective_database_url, schema=schema)
        cipher = CredentialCipher(settings.secret_key)
        container = cls(
            settings=settings,
            db=db,
            runs=make_registry(settings.redis_url),
            providers=providers,
            cipher=cipher,
            nodes=builtin_registry(),
            models=ModelGateway(db, providers, cipher, CredentialCache()),
            knowledge=KnowledgeServices.build(
                db,
                settings.data_dir,
                settings.qdrant_url,
                settings.qdrant_path,
                settings.provider_timeout,
                settings.vector_state_ttl,
            ),
        )
        container.jobs = make_job_queue(container)
        return container

    async def start(self, migrate: bool = True) -> None:
        """Apply migrations, connect the coordination backend, resume unfinished indexing."""
        if migrate:
            await self.db.migrate()
        await self.runs.start()
        await self.knowledge.start()
        from headrace.knowledge.indexing import DocumentIndexer

        await DocumentIndexer(self).resume_unfinished()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background task that outlives the request which started it."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for background tasks (runs still streaming) to finish."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def aclose(self) -> None:
        """Finish background work and release every resource."""
        await self.drain()
        await self.jobs.aclose()
        await self.runs.aclose()
        await self.knowledge.aclose()
        await self.providers.aclose()
        await self.db.aclose()
