"""Transport of the `http-request` node: one guarded HTTP call, redirects followed by hand.

`fetch` vets the target (and every redirect target) with an `EgressPolicy`, sends the request
through an `EgressTransport` (connections only to vetted addresses), enforces the response size
limits while streaming and classifies the response as text or file (dsl.md §4.10).
"""

from __future__ import annotations

import base64
import codecs
import email.message
import mimetypes
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote, urlencode

import httpx

from headrace.workflow.ssrf import (
    EgressPolicy,
    HostResolutionError,
    check_target,
    egress_client,
    parse_target,
)

MAX_TEXT_BYTES = 1024 * 1024
MAX_BINARY_BYTES = 10 * 1024 * 1024
#: System maxima (seconds): connect, read, write. Zero/negative values in a call fall back here.
DEFAULT_TIMEOUT = (10.0, 600.0, 600.0)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
EMPTY_API_KEY_MESSAGE = (
    "API key is required for authorization but was empty. Please provide a valid API key."
)
#: MIME types whose bodies are text; any other declared type makes the response a file.
_TEXT_MIME = re.compile(
    r"text/.+|.+\+(json|xml)|application/(json|xml|(x-)?javascript|ecmascript"
    r"|x-www-form-urlencoded|x-ndjson|(x-)?yaml)"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTENT_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})
#: Dropped when a redirect leaves the origin (Host would name the wrong server).
_ORIGIN_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "host"})


class FetchError(Exception):
    """The request could not be completed (timeout, connection, size limit, redirects...)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class AuthorizationConfigError(FetchError):
    """The node's authorization settings cannot produce a header."""


@dataclass(frozen=True)
class NoBody:
    """Body type `none`."""


@dataclass(frozen=True)
class JsonBody:
    """Body type `json`: the already rendered (and repaired) JSON text."""

    text: str


@dataclass(frozen=True)
class RawTextBody:
    """Body type `raw-text`."""

    text: str


@dataclass(frozen=True)
class UrlEncodedBody:
    """Body type `x-www-form-urlencoded` (duplicate keys kept, in order)."""

    fields: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class FilePart:
    """One file part of a multipart body."""

    name: str
    filename: str
    data: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class FormDataBody:
    """Body type `form-data`: text fields first, then file parts."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)


@dataclass(frozen=True)
class BinaryBody:
    """Body type `binary`: the file's bytes (Content-Type = `mime_type` when given)."""

    data: bytes
    mime_type: str | None = None


BodySpec = NoBody | JsonBody | RawTextBody | UrlEncodedBody | FormDataBody | BinaryBody


@dataclass
class HttpCall:
    """One rendered request of the `http-request` node."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    params: list[tuple[str, str]] = field(default_factory=list)
    body: BodySpec | None = None
    timeout: tuple[float | None, float | None, float | None] = DEFAULT_TIMEOUT
    ssl_verify: bool = True


@dataclass(frozen=True)
class FetchedFile:
    """A response body treated as a file."""

    filename: str
    mime_type: str
    data: bytes


@dataclass
class HttpResult:
    """The final response: lower-cased header names, repeated headers joined with `, `."""

    status_code: int
    headers: dict[str, str]
    body_text: str
    file: FetchedFile | None


def parse_kv_lines(text: str) -> list[tuple[str, str]]:
    """Parse the node's `headers`/`params` text: `key:value` lines, split on the first `:`.

    Blank lines and lines with an empty key are skipped; `key` alone gives an empty value.
    """
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip():
            pairs.append((key.strip(), value.strip()))
    return pairs


def auth_header(auth_type: str, api_key: str, header: str | None = None) -> tuple[str, str]:
    """The header for `authorization.type = api-key`; `auth_type` is bearer, basic or custom."""
    if not api_key or not api_key.strip():
        raise AuthorizationConfigError(EMPTY_API_KEY_MESSAGE)
    name = (header or "").strip() or "Authorization"
    kind = auth_type.strip().lower()
    if kind == "bearer":
        return name, f"Bearer {api_key}"
    if kind == "basic":
        if ":" in api_key:
            return name, "Basic " + base64.b64encode(api_key.encode()).decode("ascii")
        return name, f"Basic {api_key}"
    if kind == "custom":
        return name, api_key
    raise AuthorizationConfigError(f"Unsupported authorization type: {auth_type!r}")


def _part_head(boundary: str, name: str, filename: str | None, mime: str | None) -> bytes:
    def quote(value: str) -> str:  # as browsers do for form-data names
        return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")

    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{quote(name)}"'
    if filename is not None:
        head += (
            f'; filename="{quote(filename)}"\r\nContent-Type: {mime or "application/octet-stream"}'
        )
    return (head + "\r\n\r\n").encode()


def _multipart(body: FormDataBody) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    out = bytearray()
    for name, value in body.fields:
        out += _part_head(boundary, name, None, None) + value.encode() + b"\r\n"
    for part in body.files:
        out += _part_head(boundary, part.name, part.filename, part.mime_type) + part.data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _encode_body(body: BodySpec | None) -> tuple[bytes | None, str | None]:
    """The body bytes and the Content-Type implied by the body type."""
    if isinstance(body, JsonBody):
        return body.text.encode(), "application/json"
    if isinstance(body, RawTextBody):
        return body.text.encode(), "text/plain"
    if isinstance(body, UrlEncodedBody):
        return urlencode(body.fields).encode(), "application/x-www-form-urlencoded"
    if isinstance(body, FormDataBody):
        return _multipart(body)
    if isinstance(body, BinaryBody):
        return body.data, body.mime_type
    return None, None


def _request_headers(call: HttpCall) -> tuple[list[tuple[str, str]], bytes | None]:
    content, implied_type = _encode_body(call.body)
    headers = [(k, v) for k, v in call.headers if k.lower() != "content-length"]
    declared = next((v for k, v in headers if k.lower() == "content-type"), None)
    if implied_type is None:
        return headers, content
    multipart = implied_type.startswith("multipart/form-data")
    if multipart and declared and declared.strip().lower().startswith("multipart/form-data"):
        # A declared multipart type cannot name our boundary: ours replaces it.
        headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
        declared = None
    if declared is None:
        headers.append(("Content-Type", implied_type))
    return headers, content


def _with_params(url: str, params: list[tuple[str, str]]) -> httpx.URL:
    """`url` with `params` appended to its own query (duplicates and order kept)."""
    parsed, _, _ = parse_target(url)
    if not params:
        return parsed
    extra = urlencode(params).encode("ascii")
    query = parsed.query + b"&" + extra if parsed.query else extra
    return parsed.copy_with(query=query)


def _timeout(call: HttpCall) -> httpx.Timeout:
    connect, read, write = (
        value if value and value > 0 else default
        for value, default in zip(call.timeout, DEFAULT_TIMEOUT, strict=True)
    )
    return httpx.Timeout(connect=connect, read=read, write=write, pool=connect)


@contextmanager
def _request_errors(host: str, timeout: httpx.Timeout) -> Iterator[None]:
    """Map transport failures to `FetchError` messages naming the host and the limit hit."""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        raise FetchError(f"Timed out connecting to {host} after {timeout.connect:g}s") from exc
    except httpx.ReadTimeout as exc:
        raise FetchError(
            f"Timed out reading the response from {host} after {timeout.read:g}s"
        ) from exc
    except httpx.WriteTimeout as exc:
        raise FetchError(
            f"Timed out sending the request to {host} after {timeout.write:g}s"
        ) from exc
    except httpx.TimeoutException as exc:
        raise FetchError(f"Request to {host} timed out") from exc
    except httpx.ConnectError as exc:
        raise FetchError(f"Failed to connect to {host}: {exc or type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"Request to {host} failed: {exc or type(exc).__name__}") from exc
    except HostResolutionError as exc:
        raise FetchError(exc.message) from exc


def _mime(headers: httpx.Headers) -> str:
    return str(headers.get("content-type", "")).split(";", 1)[0].strip().lower()


def _looks_like_file(headers: httpx.Headers) -> bool | None:
    """True/False from the headers; None when there is no Content-Type to judge by."""
    disposition = headers.get("content-disposition", "").lower()
    if "attachment" in disposition or "filename" in disposition:
        return True
    mime = _mime(headers)
    return None if not mime else not _TEXT_MIME.fullmatch(mime)


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _decode(data: bytes, charset: str | None) -> str:
    try:
        codec = codecs.lookup(charset).name if charset else "utf-8"
    except LookupError:
        codec = "utf-8"
    return data.decode(codec, errors="replace")


def _file(headers: httpx.Headers, url: httpx.URL, data: bytes) -> FetchedFile:
    message = email.message.Message()
    message["content-disposition"] = headers.get("content-disposition", "")
    filename = message.get_filename() or unquote(url.path.rsplit("/", 1)[-1])
    filename = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    mime = _mime(headers)
    if not mime:
        mime = (filename and mimetypes.guess_type(filename)[0]) or "application/octet-stream"
    if not filename:
        filename = "file" + (mimetypes.guess_extension(mime) or "")
    return FetchedFile(filename=filename, mime_type=mime, data=data)


def _human(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB" if size % (1024 * 1024) == 0 else f"{size} bytes"


async def _read(
    response: httpx.Response, url: httpx.URL, method: str, text_limit: int, binary_limit: int
) -> HttpResult:
    headers = {key: ", ".join(response.headers.get_list(key)) for key in response.headers}
    is_file = _looks_like_file(response.headers)
    limit = text_limit if is_file is False else max(text_limit, binary_limit)
    kind = "text" if is_file is False else "binary"
    too_large = f"Response is larger than the {_human(limit)} limit for {kind} responses"
    length = response.headers.get("content-length", "")
    encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
    if length.isdigit() and int(length) > limit and not encoded:
        raise FetchError(too_large)
    data = bytearray()
    if method != "HEAD":
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > limit:
                raise FetchError(too_large)
    if is_file is None:
        is_file = _looks_binary(bytes(data))
        if not is_file and len(data) > text_limit:
            raise FetchError(
                f"Response is larger than the {_human(text_limit)} limit for text responses"
            )
    if is_file:
        return HttpResult(
            response.status_code, headers, "", _file(response.headers, url, bytes(data))
        )
    return HttpResult(
        response.status_code, headers, _decode(bytes(data), response.charset_encoding), None
    )


def _next_hop(
    response: httpx.Response, url: httpx.URL, method: str
) -> tuple[httpx.URL, str] | None:
    """The redirect target and method, or None when the response is not a redirect."""
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    try:
        target = url.join(location)
    except httpx.InvalidURL as exc:
        raise FetchError(f"Invalid redirect location {location!r}: {exc}") from exc
    code = response.status_code
    if (code == 303 and method != "HEAD") or (code in (301, 302) and method == "POST"):
        method = "GET"
    return target, method


async def fetch(
    call: HttpCall,
    policy: EgressPolicy,
    *,
    client: httpx.AsyncClient | None = None,
    max_text_bytes: int = MAX_TEXT_BYTES,
    max_binary_bytes: int = MAX_BINARY_BYTES,
) -> HttpResult:
    """Perform `call` under `policy`, following up to `policy.max_redirects` redirects by hand.

    Every hop (the first URL and each redirect target) is checked with `check_target` and
    connected through the vetting transport. Redirects: 303 (and 301/302 after POST) become GET
    without body; `max_redirects=0` returns the 3xx response itself; more than `max_redirects`
    redirects is a `FetchError`. Non-2xx responses are results, not errors.

    Without `client` a fresh `egress_client(policy, verify=call.ssl_verify)` is used and closed.
    A supplied client is used as is (its own TLS settings apply; build it with `egress_client`
    to keep the connect-time address vetting that defeats DNS rebinding).

    Raises `EgressRefusedError` for a refused target, `FetchError` for everything else.
    """
    method = call.method.strip().upper()
    if method not in METHODS:
        raise FetchError(f"Unsupported HTTP method: {call.method!r}")
    timeout = _timeout(call)
    headers, content = _request_headers(call)
    url = _with_params(call.url, call.params)
    own = client is None
    active = egress_client(policy, verify=call.ssl_verify) if client is None else client
    try:
        for _ in range(max(policy.max_redirects, 0) + 1):
            host = url.host
            with _request_errors(host, timeout):
                await check_target(str(url), policy, timeout=timeout.connect)
                raw_headers = [(k.encode(), v.encode()) for k, v in headers]
                request = active.build_request(
                    method, url, headers=raw_headers, content=content, timeout=timeout
                )
                response = await active.send(request, stream=True, follow_redirects=False)
                try:
                    hop = _next_hop(response, url, method) if policy.max_redirects > 0 else None
                    if hop is None:
                        return await _read(response, url, method, max_text_bytes, max_binary_bytes)
                finally:
                    await response.aclose()
            target, new_method = hop
            if new_method != method:
                method, content = new_method, None
                headers = [(k, v) for k, v in headers if k.lower() not in _CONTENT_HEADERS]
            if (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
                headers = [(k, v) for k, v in headers if k.lower() not in _ORIGIN_HEADERS]
            url = target
        raise FetchError(f"Too many redirects: more than {policy.max_redirects}")
    finally:
        if own:
            await active.aclose()
