"""ASGI entry point: `uvicorn --factory headrace.asgi:create` (settings from the environment)."""

from fastapi import FastAPI

from headrace.http.app import create_app
from headrace.logs import configure_logging
from headrace.settings import Settings


def create() -> FastAPI:
    """Build the app from `HEADRACE_*` environment variables."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings, freeze_heap=True)
