"""Where background jobs run: this process (default) or Celery workers (`headrace worker`).

A job names a document to index. Either way the document row is the source of truth, and
`DocumentIndexer.run` takes a lease on it first, so a job delivered twice, or re-queued by a
sweep while another worker is still on it, does nothing.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from headrace.container import Container
    from headrace.settings import Settings

INDEX_DOCUMENT_TASK = "headrace.index_document"


class JobQueue(Protocol):
    """Hands indexing jobs to whoever runs them."""

    async def index_document(self, document_id: str) -> None:
        """Have the document indexed (returns once the job is handed over)."""
        ...

    async def aclose(self) -> None:
        """Release broker connections."""
        ...


class InProcessJobs:
    """Jobs run as tasks of this process's event loop."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def index_document(self, document_id: str) -> None:
        """Start indexing in the background of this process."""
        from headrace.knowledge.indexing import DocumentIndexer

        self._container.spawn(DocumentIndexer(self._container).run(document_id))

    async def aclose(self) -> None:
        """Nothing to release (running jobs are drained by the container)."""


def celery_app(settings: Settings) -> Any:
    """The Celery application of a deployment, configured for at-least-once delivery."""
    from celery import Celery

    app = Celery("headrace", broker=settings.celery_broker_url)
    app.conf.update(
        task_default_queue=settings.celery_queue,
        # A job is acknowledged when it ends, so a killed worker's job is delivered again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout},
        worker_hijack_root_logger=False,
    )
    return app


class CeleryJobs:
    """Jobs published to the Celery broker, run by `headrace worker` processes."""

    def __init__(self, settings: Settings) -> None:
        self._app = celery_app(settings)
        self._queue = settings.celery_queue

    async def index_document(self, document_id: str) -> None:
        """Publish the job (the broker client blocks, so it runs in a thread)."""
        await asyncio.to_thread(
            self._app.send_task, INDEX_DOCUMENT_TASK, args=[document_id], queue=self._queue
        )

    async def aclose(self) -> None:
        """Close the broker connection pool."""
        await asyncio.to_thread(self._app.close)


def make_job_queue(container: Container) -> JobQueue:
    """Celery when a broker is configured, else this process."""
    if container.settings.celery_broker_url:
        return CeleryJobs(container.settings)
    return InProcessJobs(container)
