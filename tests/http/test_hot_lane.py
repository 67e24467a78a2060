"""The hot lane answers the busiest endpoints as the full stack would: same bodies, trace id
and version headers, error bodies; browsers (with `Origin`) still get CORS headers."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from fastapi import Request
from fastapi.responses import Response
from tests.conftest import LiveServer

from headrace.errors import InvalidParamError
from headrace.http.errors import install_error_handlers
from headrace.http.hot_lane import HotLaneAPI
from headrace.http.middleware import TraceMiddleware

BODY = {"inputs": {}, "query": "hi", "user": "ivy", "response_mode": "blocking"}


async def test_with_and_without_origin_same_answer(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    async with server.client(handle.key) as client:
        plain = await client.post("/v1/chat-messages", json=BODY)
        browser = await client.post(
            "/v1/chat-messages", json=BODY, headers={"Origin": "https://example.com"}
        )
    for response in (plain, browser):
        assert response.status_code == 200
        assert response.json()["answer"]
        assert len(response.headers["x-trace-id"]) == 32
        assert response.headers["x-version"]
        assert response.headers["content-type"] == "application/json"
    assert set(plain.json()) == set(browser.json())
    assert "access-control-allow-origin" not in plain.headers
    assert browser.headers["access-control-allow-origin"] == "*"
    assert "x-trace-id" in browser.headers["access-control-expose-headers"].lower()


async def test_errors_answer_with_the_contract_body(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    async with server.client("app-not-a-key") as client:
        unauthorized = await client.post(
            "/v1/chat-messages", json=BODY, headers={"X-Trace-Id": "t-401"}
        )
    async with server.client(handle.key) as client:
        bad_json = await client.post(
            "/v1/chat-messages", content=b"{", headers={"Content-Type": "application/json"}
        )
    assert unauthorized.status_code == 401
    assert unauthorized.json()["code"] == "unauthorized"
    assert unauthorized.headers["x-trace-id"] == "t-401"
    assert unauthorized.headers["www-authenticate"].startswith("Bearer")
    assert bad_json.status_code == 400
    assert bad_json.json() == {
        "code": "bad_request",
        "message": "Invalid JSON payload received or JSON payload is empty.",
        "status": 400,
    }


def _lane_app() -> HotLaneAPI:
    """A bare hot-lane app with endpoints that fail in both ways an endpoint can."""

    async def domain_failure(request: Request) -> Response:
        raise InvalidParamError("nope")

    async def crash(request: Request) -> Response:
        raise RuntimeError("boom")

    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")

    app = HotLaneAPI(env_name="TESTING")
    app.serve_hot("/v1", [("/domain", domain_failure), ("/crash", crash), ("/echo", echo)])
    install_error_handlers(app)
    app.add_middleware(TraceMiddleware, env_name="TESTING")
    return app


async def test_endpoint_failures_and_body_replay() -> None:
    transport = httpx.ASGITransport(app=_lane_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        domain = await client.post("/v1/domain", json={})
        crash = await client.post("/v1/crash", json={})
        # The trace id comes from the body, which the endpoint must still read whole.
        echo = await client.post("/v1/echo", json={"trace_id": "from-body", "x": 1})
        # Not a hot path, and not POST: the full stack answers (404 / 405 as the contract).
        missing = await client.post("/v1/elsewhere", json={})
    assert domain.status_code == 400
    assert domain.json() == {"code": "invalid_param", "message": "nope", "status": 400}
    assert crash.status_code == 500
    assert crash.json() == {"message": "Internal Server Error", "code": "unknown", "status": 500}
    assert crash.headers["x-env"] == "TESTING"
    assert orjson.loads(echo.content) == {"trace_id": "from-body", "x": 1}
    assert echo.headers["x-trace-id"] == "from-body"
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
