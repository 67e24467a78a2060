"""`fetch` against a real Starlette app served by uvicorn on loopback (allowed by policy)."""

from __future__ import annotations

import asyncio
import gzip
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from headrace.workflow.http_fetch import (
    EMPTY_API_KEY_MESSAGE,
    MAX_BINARY_BYTES,
    MAX_TEXT_BYTES,
    AuthorizationConfigError,
    BinaryBody,
    FetchError,
    FilePart,
    FormDataBody,
    HttpCall,
    JsonBody,
    NoBody,
    RawTextBody,
    UrlEncodedBody,
    auth_header,
    fetch,
    parse_kv_lines,
)
from headrace.workflow.ssrf import EgressPolicy, EgressRefusedError

LOOPBACK = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1"}))
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class EchoServer:
    """Records every request it receives; routes answer according to their query string."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        methods = ALL_METHODS
        self.app = Starlette(
            routes=[
                Route("/echo", self.echo, methods=methods),
                Route("/status/{code:int}", self.status, methods=methods),
                Route("/redirect", self.redirect, methods=methods),
                Route("/chain/{n:int}", self.chain, methods=methods),
                Route("/sleep", self.sleep),
                Route("/bytes", self.bytes),
                Route("/multi-header", self.multi_header),
            ]
        )

    async def record(self, request: Request) -> dict[str, Any]:
        body = await request.body()
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": [
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers.raw
            ],
            "body": body,
        }
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            parts: list[tuple[str, Any]] = []
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    parts.append((key, (value.filename, value.content_type, data)))
                else:
                    parts.append((key, value))
            entry["form"] = parts
        self.received.append(entry)
        return entry

    def header(self, name: str, index: int = -1) -> list[str]:
        return [v for k, v in self.received[index]["headers"] if k == name]

    async def echo(self, request: Request) -> Response:
        await self.record(request)
        return Response('{"ok": true}', media_type="application/json")

    async def status(self, request: Request) -> Response:
        await self.record(request)
        code = request.path_params["code"]
        return Response(f"status {code}", status_code=code, media_type="text/plain")

    async def redirect(self, request: Request) -> Response:
        await self.record(request)
        code = int(request.query_params.get("code", "302"))
        return Response(status_code=code, headers={"location": request.query_params["to"]})

    async def chain(self, request: Request) -> Response:
        await self.record(request)
        n = request.path_params["n"]
        if n == 0:
            return Response("done", media_type="text/plain")
        return Response(status_code=302, headers={"location": f"/chain/{n - 1}"})

    async def sleep(self, request: Request) -> Response:
        await asyncio.sleep(float(request.query_params["s"]))
        return Response("slept", media_type="text/plain")

    async def bytes(self, request: Request) -> Response:
        q = request.query_params
        data = q.get("text", "").encode(q.get("charset", "utf-8")) or bytes(
            i % 256 for i in range(int(q.get("n", "0")))
        )
        if "fill" in q:
            data = q["fill"].encode() * int(q["n"])
        headers = {}
        if "disposition" in q:
            headers["content-disposition"] = q["disposition"]
        if "gzip" in q:
            data = gzip.compress(data)
            headers["content-encoding"] = "gzip"
        media = q.get("type") or None
        if "stream" in q:

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(data), 65536):
                    yield data[start : start + 65536]

            return StreamingResponse(chunks(), media_type=media, headers=headers)
        return Response(data, media_type=media, headers=headers)

    async def multi_header(self, request: Request) -> Response:
        response = Response("x", media_type="text/plain")
        response.headers.append("x-multi", "one")
        response.headers.append("x-multi", "two")
        return response


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[EchoServer, str]]:
    server = EchoServer()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(server.app, log_level="warning", lifespan="off", access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "test server did not start"
        time.sleep(0.01)
    yield server, f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def srv(live: tuple[EchoServer, str]) -> EchoServer:
    live[0].received.clear()
    return live[0]


@pytest.fixture
def base(live: tuple[EchoServer, str]) -> str:
    return live[1]


# --- helpers -----------------------------------------------------------------------------------


def test_parse_kv_lines() -> None:
    text = "Accept: application/json\n\n  X-Empty  \nX-Url: http://a:b/c\r\n:skipped\nX-Sp :  v \n"
    assert parse_kv_lines(text) == [
        ("Accept", "application/json"),
        ("X-Empty", ""),
        ("X-Url", "http://a:b/c"),
        ("X-Sp", "v"),
    ]
    assert parse_kv_lines("") == []


def test_auth_header() -> None:
    assert auth_header("bearer", "tok", None) == ("Authorization", "Bearer tok")
    assert auth_header("basic", "user:pw", "") == ("Authorization", "Basic dXNlcjpwdw==")
    assert auth_header("basic", "already-encoded", None) == (
        "Authorization",
        "Basic already-encoded",
    )
    assert auth_header("custom", "k123", "X-Api-Key") == ("X-Api-Key", "k123")
    for empty in ("", "  "):
        with pytest.raises(AuthorizationConfigError) as info:
            auth_header("bearer", empty, None)
        assert info.value.message == EMPTY_API_KEY_MESSAGE
    assert EMPTY_API_KEY_MESSAGE == (
        "API key is required for authorization but was empty. Please provide a valid API key."
    )
    with pytest.raises(AuthorizationConfigError, match="Unsupported"):
        auth_header("digest", "k", None)


# --- methods, params, headers ------------------------------------------------------------------


@pytest.mark.parametrize("method", [*ALL_METHODS, "get", "Post"])
async def test_every_method(srv: EchoServer, base: str, method: str) -> None:
    result = await fetch(HttpCall(method, f"{base}/echo"), LOOPBACK)
    assert result.status_code == 200
    assert srv.received[-1]["method"] == method.upper()
    assert result.body_text == ("" if method == "HEAD" else '{"ok": true}')
    assert result.file is None


async def test_unknown_method_is_refused(srv: EchoServer, base: str) -> None:
    with pytest.raises(FetchError, match="Unsupported HTTP method"):
        await fetch(HttpCall("TRACE", f"{base}/echo"), LOOPBACK)
    assert srv.received == []


async def test_params_are_appended_with_duplicates(srv: EchoServer, base: str) -> None:
    params = [("a", "2"), ("a", "3"), ("q", "x y&z"), ("e", "")]
    await fetch(HttpCall("GET", f"{base}/echo?a=1", params=params), LOOPBACK)
    assert srv.received[-1]["query"] == "a=1&a=2&a=3&q=x+y%26z&e="


async def test_headers_are_sent_in_order_with_duplicates(srv: EchoServer, base: str) -> None:
    headers = [("X-Dup", "1"), ("X-Dup", "2"), ("X-Unicode", "héllo"), ("User-Agent", "hr/1")]
    await fetch(HttpCall("GET", f"{base}/echo", headers=headers), LOOPBACK)
    assert srv.header("x-dup") == ["1", "2"]
    assert srv.header("user-agent") == ["hr/1"]
    assert srv.header("x-unicode") == ["héllo".encode().decode("latin-1")]


async def test_non_2xx_is_a_result(srv: EchoServer, base: str) -> None:
    result = await fetch(HttpCall("POST", f"{base}/status/503"), LOOPBACK)
    assert (result.status_code, result.body_text) == (503, "status 503")


async def test_response_headers_are_lowercased_and_joined(base: str) -> None:
    result = await fetch(HttpCall("GET", f"{base}/multi-header"), LOOPBACK)
    assert result.headers["x-multi"] == "one, two"
    assert result.headers["content-type"] == "text/plain; charset=utf-8"


# --- bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "sent"),
    [
        (JsonBody('{"a": [1, "é"]}'), "application/json", '{"a": [1, "é"]}'.encode()),
        (RawTextBody("plain\ntext é"), "text/plain", "plain\ntext é".encode()),
        (
            UrlEncodedBody([("a", "1"), ("a", "2"), ("s", "x y/é")]),
            "application/x-www-form-urlencoded",
            b"a=1&a=2&s=x+y%2F%C3%A9",
        ),
        (BinaryBody(b"\x00\x01\xffbin", "image/png"), "image/png", b"\x00\x01\xffbin"),
    ],
)
async def test_simple_bodies(
    srv: EchoServer, base: str, body: Any, content_type: str, sent: bytes
) -> None:
    await fetch(HttpCall("POST", f"{base}/echo", body=body), LOOPBACK)
    assert srv.header("content-type") == [content_type]
    assert srv.received[-1]["body"] == sent
    assert srv.header("content-length") == [str(len(sent))]


@pytest.mark.parametrize("body", [None, NoBody(), BinaryBody(b"")])
async def test_no_body(srv: EchoServer, base: str, body: Any) -> None:
    await fetch(HttpCall("POST", f"{base}/echo", body=body), LOOPBACK)
    assert srv.received[-1]["body"] == b""
    assert srv.header("content-type") == []


async def test_binary_without_mime_has_no_content_type(srv: EchoServer, base: str) -> None:
    await fetch(HttpCall("PUT", f"{base}/echo", body=BinaryBody(b"raw")), LOOPBACK)
    assert srv.received[-1]["body"] == b"raw"
    assert srv.header("content-type") == []


async def test_header_content_type_wins(srv: EchoServer, base: str) -> None:
    headers = [("content-type", "application/vnd.api+json"), ("Content-Length", "999")]
    call = HttpCall("POST", f"{base}/echo", headers=headers, body=JsonBody("{}"))
    await fetch(call, LOOPBACK)
    assert srv.header("content-type") == ["application/vnd.api+json"]
    assert srv.header("content-length") == ["2"]


async def test_form_data_fields_and_files(srv: EchoServer, base: str) -> None:
    body = FormDataBody(
        fields=[("name", "Ada"), ("name", "Lovelace"), ("note", 'quo"te é')],
        files=[
            FilePart("doc", "report.pdf", b"%PDF-1.4 \x00\xff", "application/pdf"),
            FilePart("doc", "ünï.txt", b"hello", "text/plain"),
        ],
    )
    # A multipart Content-Type without a boundary is replaced by ours.
    headers = [("Content-Type", "multipart/form-data")]
    await fetch(HttpCall("POST", f"{base}/echo", headers=headers, body=body), LOOPBACK)
    (content_type,) = srv.header("content-type")
    assert content_type.startswith("multipart/form-data; boundary=")
    assert srv.received[-1]["form"] == [
        ("name", "Ada"),
        ("name", "Lovelace"),
        ("note", 'quo"te é'),
        ("doc", ("report.pdf", "application/pdf", b"%PDF-1.4 \x00\xff")),
        ("doc", ("ünï.txt", "text/plain", b"hello")),
    ]


async def test_empty_form_data(srv: EchoServer, base: str) -> None:
    await fetch(HttpCall("POST", f"{base}/echo", body=FormDataBody()), LOOPBACK)
    assert srv.received[-1]["form"] == []


# --- responses ---------------------------------------------------------------------------------


async def test_declared_charset_is_used(base: str) -> None:
    url = f"{base}/bytes?text=café&charset=latin-1&type=text/plain;+charset=iso-8859-1"
    result = await fetch(HttpCall("GET", url), LOOPBACK)
    assert result.body_text == "café"


async def test_bad_utf8_is_replaced(base: str) -> None:
    url = f"{base}/bytes?text=café&charset=latin-1&type=application/json"
    result = await fetch(HttpCall("GET", url), LOOPBACK)
    assert (result.body_text, result.file) == ("caf\ufffd", None)


@pytest.mark.parametrize(
    "mime", ["text/csv", "application/xml", "application/problem+json", "application/atom+xml"]
)
async def test_textual_types_are_text(base: str, mime: str) -> None:
    result = await fetch(HttpCall("GET", f"{base}/bytes?text=hi&type={quote(mime)}"), LOOPBACK)
    assert (result.body_text, result.file) == ("hi", None)


async def test_binary_type_is_a_file(base: str) -> None:
    result = await fetch(HttpCall("GET", f"{base}/bytes?n=300&type=image/png"), LOOPBACK)
    assert result.body_text == ""
    assert result.file is not None
    assert result.file.mime_type == "image/png"
    assert result.file.data == bytes(i % 256 for i in range(300))
    assert result.file.filename == "bytes"


async def test_attachment_is_a_file_with_its_filename(base: str) -> None:
    disposition = "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"
    url = f"{base}/bytes?text=plain&type=text/plain&disposition={quote(disposition)}"
    result = await fetch(HttpCall("GET", url), LOOPBACK)
    assert result.body_text == ""
    assert result.file is not None
    assert (result.file.filename, result.file.mime_type) == ("résumé.txt", "text/plain")
    assert result.file.data == b"plain"


async def test_untyped_response_is_sniffed(base: str) -> None:
    text = await fetch(HttpCall("GET", f"{base}/bytes?text=just+text"), LOOPBACK)
    assert (text.body_text, text.file) == ("just text", None)
    binary = await fetch(HttpCall("GET", f"{base}/bytes?n=64"), LOOPBACK)
    assert binary.file is not None
    assert binary.file.mime_type == "application/octet-stream"


# --- size limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", ["", "&stream=1", "&gzip=1"])
async def test_text_limit(base: str, extra: str) -> None:
    ok = await fetch(
        HttpCall("GET", f"{base}/bytes?fill=a&n={MAX_TEXT_BYTES}&type=text/plain{extra}"), LOOPBACK
    )
    assert len(ok.body_text) == MAX_TEXT_BYTES
    url = f"{base}/bytes?fill=a&n={MAX_TEXT_BYTES + 1}&type=text/plain{extra}"
    with pytest.raises(FetchError, match=r"Response is larger than the 1 MiB limit for text"):
        await fetch(HttpCall("GET", url), LOOPBACK)


@pytest.mark.parametrize("extra", ["", "&stream=1"])
async def test_binary_limit(base: str, extra: str) -> None:
    ok = await fetch(
        HttpCall("GET", f"{base}/bytes?n={MAX_BINARY_BYTES}&type=video/mp4{extra}"), LOOPBACK
    )
    assert ok.file is not None and len(ok.file.data) == MAX_BINARY_BYTES
    url = f"{base}/bytes?n={MAX_BINARY_BYTES + 1}&type=video/mp4{extra}"
    with pytest.raises(FetchError, match=r"Response is larger than the 10 MiB limit for binary"):
        await fetch(HttpCall("GET", url), LOOPBACK)


async def test_untyped_text_over_text_limit(base: str) -> None:
    url = f"{base}/bytes?fill=a&n={MAX_TEXT_BYTES + 1}&stream=1"
    with pytest.raises(FetchError, match=r"larger than the 1 MiB limit for text"):
        await fetch(HttpCall("GET", url), LOOPBACK)


# --- timeouts and connection failures ----------------------------------------------------------


async def test_read_timeout(base: str) -> None:
    with pytest.raises(
        FetchError, match=r"Timed out reading the response from 127.0.0.1 after 0.3s"
    ):
        await fetch(HttpCall("GET", f"{base}/sleep?s=3", timeout=(5, 0.3, 5)), LOOPBACK)


async def test_zero_timeouts_fall_back_to_maxima(base: str) -> None:
    result = await fetch(HttpCall("GET", f"{base}/sleep?s=0.1", timeout=(0, 0, 0)), LOOPBACK)
    assert result.body_text == "slept"


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match=r"Failed to connect to 127.0.0.1"):
        await fetch(HttpCall("GET", f"http://127.0.0.1:{port}/"), LOOPBACK)


async def test_slow_dns_is_a_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()

    async def never(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(30)

    monkeypatch.setattr(loop, "getaddrinfo", never)
    with pytest.raises(FetchError, match=re.escape("Timed out resolving host 'slow.example'")):
        await fetch(HttpCall("GET", "http://slow.example/", timeout=(0.2, 1, 1)), EgressPolicy())


async def test_unresolvable_host() -> None:
    with pytest.raises(
        FetchError, match=re.escape("Failed to resolve host 'no-such-host.invalid'")
    ):
        await fetch(HttpCall("GET", "http://no-such-host.invalid/"), EgressPolicy())


# --- redirects ---------------------------------------------------------------------------------


async def test_redirects_are_followed(srv: EchoServer, base: str) -> None:
    result = await fetch(HttpCall("GET", f"{base}/chain/3"), LOOPBACK)
    assert (result.status_code, result.body_text) == (200, "done")
    assert [r["path"] for r in srv.received] == ["/chain/3", "/chain/2", "/chain/1", "/chain/0"]


async def test_redirect_limit(srv: EchoServer, base: str) -> None:
    policy = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1"}), max_redirects=2)
    assert (await fetch(HttpCall("GET", f"{base}/chain/2"), policy)).body_text == "done"
    srv.received.clear()
    with pytest.raises(FetchError, match="Too many redirects: more than 2"):
        await fetch(HttpCall("GET", f"{base}/chain/3"), policy)
    assert len(srv.received) == 3


async def test_zero_max_redirects_returns_the_redirect(srv: EchoServer, base: str) -> None:
    policy = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1"}), max_redirects=0)
    result = await fetch(HttpCall("GET", f"{base}/chain/1"), policy)
    assert (result.status_code, result.headers["location"]) == (302, "/chain/0")
    assert len(srv.received) == 1


@pytest.mark.parametrize(
    ("method", "code", "next_method", "keeps_body"),
    [
        ("POST", 303, "GET", False),
        ("PUT", 303, "GET", False),
        ("POST", 302, "GET", False),
        ("POST", 301, "GET", False),
        ("PUT", 302, "PUT", True),
        ("POST", 307, "POST", True),
        ("PATCH", 308, "PATCH", True),
        ("HEAD", 303, "HEAD", False),
    ],
)
async def test_redirect_methods(
    srv: EchoServer, base: str, method: str, code: int, next_method: str, keeps_body: bool
) -> None:
    body = None if method == "HEAD" else JsonBody('{"x": 1}')
    url = f"{base}/redirect?code={code}&to=/echo"
    result = await fetch(HttpCall(method, url, body=body), LOOPBACK)
    assert result.status_code == 200
    first, second = srv.received
    assert first["method"] == method
    assert second["method"] == next_method
    assert second["body"] == (b'{"x": 1}' if keeps_body else b"")
    content_type = [v for k, v in second["headers"] if k == "content-type"]
    assert content_type == (["application/json"] if keeps_body else [])


async def test_redirect_to_other_origin_drops_credentials(srv: EchoServer, base: str) -> None:
    port = base.rsplit(":", 1)[1]
    policy = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1", "localhost"}))
    headers = [("Authorization", "Bearer secret"), ("Cookie", "a=b"), ("X-Keep", "1")]
    url = f"{base}/redirect?to=http://localhost:{port}/echo"
    await fetch(HttpCall("GET", url, headers=headers), policy)
    first, second = srv.received
    assert ("authorization", "Bearer secret") in first["headers"]
    names = {k for k, _ in second["headers"]}
    assert "authorization" not in names and "cookie" not in names
    assert ("x-keep", "1") in second["headers"]
    assert ("host", f"localhost:{port}") in second["headers"]


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.2:{port}/echo",
        "http://0x7f000002:{port}/echo",
        "http://[::1]:{port}/echo",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ],
)
async def test_redirect_to_private_target_is_refused(
    srv: EchoServer, base: str, target: str
) -> None:
    port = base.rsplit(":", 1)[1]
    url = f"{base}/redirect?to={target.format(port=port)}"
    with pytest.raises(EgressRefusedError) as info:
        await fetch(HttpCall("GET", url), LOOPBACK)
    assert "Refused" in info.value.message
    assert [r["path"] for r in srv.received] == ["/redirect"]


async def test_default_policy_refuses_loopback_before_sending(srv: EchoServer, base: str) -> None:
    with pytest.raises(EgressRefusedError, match="loopback"):
        await fetch(HttpCall("GET", f"{base}/echo"), EgressPolicy())
    assert srv.received == []


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        ('inline; filename="../../etc/evil.sh"', "evil.sh"),
        ('attachment; filename="C:\\\\temp\\\\x.bin"', "x.bin"),
        ("attachment", "bytes"),
    ],
)
async def test_file_names_are_sanitised(base: str, disposition: str, filename: str) -> None:
    url = f"{base}/bytes?text=x&type=text/plain&disposition={quote(disposition)}"
    result = await fetch(HttpCall("GET", url), LOOPBACK)
    assert result.file is not None
    assert result.file.filename == filename


async def test_credentials_in_url_are_refused(srv: EchoServer, base: str) -> None:
    url = base.replace("http://", "http://user:pw@") + "/echo"
    with pytest.raises(EgressRefusedError, match="credentials"):
        await fetch(HttpCall("GET", url), LOOPBACK)
    assert srv.received == []
