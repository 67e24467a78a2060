"""The ASGI application: routers, middleware and the error table, built from settings."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.telemetry import TelemetryConfig

from headrace import __version__
from headrace.container import Container
from headrace.http.dataset_api import child_chunks as child_routes
from headrace.http.dataset_api import datasets as dataset_routes
from headrace.http.dataset_api import documents as document_routes
from headrace.http.dataset_api import metadata as metadata_routes
from headrace.http.dataset_api import retrieval as retrieval_routes
from headrace.http.dataset_api import segments as segment_routes
from headrace.http.dataset_api import tags as tag_routes
from headrace.http.deps import AppKeyAuth, EndUserCache
from headrace.http.errors import install_error_handlers
from headrace.http.hot_lane import HotLaneAPI
from headrace.http.middleware import TraceMiddleware
from headrace.http.service_api import (
    app_info,
    conversation_variables,
    conversations,
    files,
    generate,
    messages,
    workflows,
)
from headrace.settings import Settings


def _telemetry(enabled: bool) -> TelemetryConfig:
    return {"tracing": enabled, "metrics": enabled, "logs": enabled}


def freeze_startup_heap() -> None:
    """Exempt everything alive after startup from the cyclic garbage collector.

    The server imports a large library set (models, extractors, vector stores): every full
    collection walked all of it, ~120 ms each, about a tenth of a busy server's CPU and a
    pause in every open stream. Objects made later are collected as usual.
    """
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    freeze_heap: bool = False,
) -> FastAPI:
    """Build the application; the container is created (or adopted) in the lifespan.

    `freeze_heap` (the server's entry point sets it) runs `freeze_startup_heap` once the
    container has started."""
    settings = settings or (container.settings if container else Settings())
    owns_container = container is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal container
        if container is None:
            container = Container.build(settings)
            await container.start()
        app.state.container = container
        if freeze_heap:
            freeze_startup_heap()
        try:
            yield
        finally:
            if owns_container:
                await container.aclose()

    app = HotLaneAPI(
        env_name=settings.env,
        title="Headrace Service API",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        # Off unless asked for: when on, every request first looks up the global providers.
        telemetry=_telemetry(settings.opentelemetry),
    )
    app.state.key_auth = AppKeyAuth()
    app.state.end_users = EndUserCache()
    if container is not None:
        app.state.container = container
    service = [
        app_info.router,
        generate.router,
        conversations.router,
        conversation_variables.router,
        messages.router,
        files.router,
        workflows.router,
    ]
    for router in service:
        app.include_router(router, prefix="/v1", tags=["service-api"])
    app.serve_hot("/v1", generate.hot_endpoints())
    # Tag routes first: `/datasets/tags` must not be taken for `/datasets/{dataset_id}`.
    knowledge = (
        tag_routes,
        dataset_routes,
        metadata_routes,
        document_routes,
        segment_routes,
        child_routes,
        retrieval_routes,
    )
    for router in (module.router for module in knowledge):
        app.include_router(router, prefix="/v1", tags=["knowledge-api"])

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/v1/openapi.json", title="Headrace API")

    install_error_handlers(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"],
        allow_headers=[
            "Content-Type",
            "X-App-Code",
            "X-App-Passport",
            "Authorization",
            "X-Trace-Id",
        ],
        expose_headers=["X-Version", "X-Env", "X-Trace-Id"],
    )
    app.add_middleware(TraceMiddleware, env_name=settings.env)
    return app
