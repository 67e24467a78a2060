"""Structured JSON logging; every line carries the trace id of the request that caused it."""

from __future__ import annotations

import logging
import re
import sys
import time
from contextvars import ContextVar

import orjson

from headrace.ids import new_hex_id

trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)
_VALID_TRACE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def valid_trace_id(value: str | None) -> str | None:
    """The value if it is an acceptable trace id (spec §11.2), else None."""
    if value and _VALID_TRACE_ID.match(value):
        return value
    return None


def new_trace_id() -> str:
    """A generated trace id (32 hex characters)."""
    return new_hex_id()


class TraceIdFilter(logging.Filter):
    """Stamps each record with the trace id current when it was logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `record.trace_id`; never drops a record."""
        if not hasattr(record, "trace_id"):
            record.trace_id = trace_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record."""
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None) or trace_id_var.get(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's output as JSON lines to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TraceIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
