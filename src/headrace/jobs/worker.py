"""`headrace worker`: a Celery worker process that indexes documents.

The process keeps one asyncio event loop in a thread with one started `Container`; Celery's
thread pool hands jobs to that loop. Every lease period the worker also sweeps for documents
whose indexing lease lapsed mid-way (their worker was killed) and queues them again, so a
killed worker loses nothing once any worker is running.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from headrace.admin import AdminError
from headrace.container import Container
from headrace.jobs.queue import INDEX_DOCUMENT_TASK, celery_app
from headrace.knowledge.indexing import DocumentIndexer
from headrace.logs import configure_logging
from headrace.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class WorkerRuntime:
    """The event loop and container shared by the jobs of one worker process."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="headrace-jobs", daemon=True
        )
        self.container = Container.build(settings)
        self._sweeper: Future[None] | None = None

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the worker's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def start(self) -> None:
        """Start the loop and the container (which queues unfinished documents)."""
        self._thread.start()
        self.call(self.container.start(migrate=False))
        self._sweeper = asyncio.run_coroutine_threadsafe(self._sweep_forever(), self.loop)

    async def _sweep_forever(self) -> None:
        interval = self.container.settings.indexing_lease_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                queued = await DocumentIndexer(self.container).requeue_abandoned()
            except Exception:  # the sweep retries next period
                log.exception("sweeping abandoned documents failed")
                continue
            if queued:
                log.info("queued %d abandoned documents again", queued)

    def index_document(self, document_id: str) -> None:
        """The body of the Celery task."""
        self.call(DocumentIndexer(self.container).run(document_id))

    def close(self) -> None:
        """Stop the sweep, release the container, stop the loop."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.call(self.container.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


def run_worker(settings: Settings, concurrency: int, loglevel: str) -> None:
    """Apply migrations, then consume indexing jobs until stopped (SIGTERM: warm shutdown)."""
    from headrace.store.db import upgrade

    if not settings.celery_broker_url:
        raise AdminError("HEADRACE_CELERY_BROKER_URL is not set: there is no queue to work on")
    configure_logging(settings.log_level)
    upgrade(settings.effective_database_url)
    runtime = WorkerRuntime(settings)
    runtime.start()
    app = celery_app(settings)
    app.task(name=INDEX_DOCUMENT_TASK)(runtime.index_document)
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--queues={settings.celery_queue}",
                f"--loglevel={loglevel}",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    finally:
        runtime.close()
