"""`HEADRACE_OPENTELEMETRY`: off by default, so no request looks up OpenTelemetry's global
providers (FastAPI's native telemetry does, on every request, when on)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from opentelemetry import trace

from headrace.container import Container
from headrace.http.app import create_app


async def _lookups_per_request(container: Container, enabled: bool, monkeypatch: Any) -> int:
    calls = 0
    real = trace.get_tracer_provider

    def counting() -> Any:
        nonlocal calls
        calls += 1
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counting)
    container.settings.opentelemetry = enabled
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        before = calls
        response = await client.get("/v1/")
    assert response.status_code in (200, 401)
    return calls - before


@pytest.mark.parametrize(("enabled", "looked_up"), [(False, False), (True, True)])
async def test_requests_look_up_telemetry_only_when_enabled(
    container: Container, monkeypatch: Any, enabled: bool, looked_up: bool
) -> None:
    assert (await _lookups_per_request(container, enabled, monkeypatch) > 0) is looked_up
