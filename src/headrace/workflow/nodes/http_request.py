"""`http-request`: a templated HTTP call through the egress guard (dsl.md §4.10)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from headrace.workflow.http_fetch import (
    BinaryBody,
    BodySpec,
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
from headrace.workflow.nodes.base import Node, NodeData, NodeError, NodeEvent, NodeResult
from headrace.workflow.ssrf import EgressError, EgressPolicy
from headrace.workflow.strategy import error_strategy, retry_policy
from headrace.workflow.templates import render
from headrace.workflow.variables import is_file


class BodyItem(NodeData):
    """One body entry."""

    key: str = ""
    type: str = "text"
    value: str = ""
    file: list[str] | None = None


class Body(NodeData):
    """The request body."""

    type: str = "none"
    data: list[BodyItem] | str = []


class AuthConfig(NodeData):
    """api-key authorization settings."""

    type: str = "bearer"
    api_key: str = ""
    header: str | None = None


class Authorization(NodeData):
    """Authorization settings."""

    type: str = "no-auth"
    config: AuthConfig | None = None


class Timeouts(NodeData):
    """Per-phase timeouts in seconds (0/null: the system maxima)."""

    connect: float | None = None
    read: float | None = None
    write: float | None = None


class HttpRequestData(NodeData):
    """Configuration of an http-request node."""

    method: str = "get"
    url: str = ""
    headers: str = ""
    params: str = ""
    body: Body | None = None
    authorization: Authorization = Authorization()
    timeout: Timeouts | None = None
    ssl_verify: bool | None = None


class HTTPResponseCodeError(NodeError):
    """A non-2xx response on a node that treats it as a failure."""


class HttpRequestNode(Node):
    """Outputs `status_code`, `body`, `headers`, `files`."""

    node_type = "http-request"
    data_model = HttpRequestData
    retryable = True

    def _policy(self) -> EgressPolicy:
        settings = self.ctx.services.settings
        return EgressPolicy(
            allow_private=bool(settings.get("http_allow_private", False)),
            allowed_hosts=frozenset(settings.get("http_allowed_hosts", frozenset())),
        )

    def _pairs(self, text: str) -> list[tuple[str, str]]:
        return [(render(k, self.pool), render(v, self.pool)) for k, v in parse_kv_lines(text)]

    async def _file_bytes(
        self, selector: list[str] | None
    ) -> list[tuple[Mapping[str, Any], bytes]]:
        value = self.pool.get(selector or [])
        files = value if isinstance(value, list) else [value]
        out = []
        for file in files:
            if not is_file(file):
                continue
            if self.ctx.services.files is None:
                raise NodeError("File access is not available in this run", "FileFetchError")
            out.append((file, await self.ctx.services.files.read(file)))
        return out

    async def _body(self) -> BodySpec:
        body = self.data.body
        if body is None or body.type == "none":
            return NoBody()
        items = [BodyItem(value=body.data)] if isinstance(body.data, str) else body.data
        if body.type in ("json", "raw-text"):
            text = render(items[0].value if items else "", self.pool)
            if body.type == "raw-text":
                return RawTextBody(text)
            try:
                return (
                    JsonBody(orjson.dumps(orjson.loads(text)).decode())
                    if text.strip()
                    else JsonBody("")
                )
            except orjson.JSONDecodeError as exc:
                raise NodeError(f"Failed to parse JSON: {exc}", "InvalidHttpBodyError") from None
        if body.type == "x-www-form-urlencoded":
            return UrlEncodedBody(
                [(render(i.key, self.pool), render(i.value, self.pool)) for i in items]
            )
        if body.type == "binary":
            files = await self._file_bytes(items[0].file if items else None)
            if not files:
                raise NodeError("Binary body needs a file variable", "InvalidHttpBodyError")
            file, data = files[0]
            return BinaryBody(data, str(file.get("mime_type") or "application/octet-stream"))
        if body.type == "form-data":
            fields, parts = [], []
            for item in items:
                key = render(item.key, self.pool)
                if item.type == "file":
                    for file, data in await self._file_bytes(item.file):
                        parts.append(
                            FilePart(
                                key,
                                str(file.get("filename") or key),
                                data,
                                str(file.get("mime_type") or "application/octet-stream"),
                            )
                        )
                else:
                    fields.append((key, render(item.value, self.pool)))
            return FormDataBody(fields, parts)
        raise NodeError(f"Unsupported body type: {body.type}", "InvalidHttpBodyError")

    def _headers(self) -> list[tuple[str, str]]:
        headers = self._pairs(self.data.headers)
        auth = self.data.authorization
        if auth.type == "api-key" and auth.config is not None:
            try:
                headers.append(
                    auth_header(
                        auth.config.type, render(auth.config.api_key, self.pool), auth.config.header
                    )
                )
            except FetchError as exc:
                raise NodeError(exc.message, "AuthorizationConfigError") from None
        return headers

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Send the request."""
        url = render(self.data.url, self.pool).strip()
        if not url:
            raise NodeError("url is required", "InvalidURLError")
        if not url.startswith(("http://", "https://")):
            raise NodeError("url should start with http:// or https://", "InvalidURLError")
        timeouts = self.data.timeout or Timeouts()
        call = HttpCall(
            method=self.data.method.upper(),
            url=url,
            headers=self._headers(),
            params=self._pairs(self.data.params),
            body=await self._body(),
            timeout=(timeouts.connect, timeouts.read, timeouts.write),
            ssl_verify=self.data.ssl_verify is not False,
        )
        try:
            result = await fetch(call, self._policy())
        except (FetchError, EgressError) as exc:
            raise NodeError(exc.message, type(exc).__name__) from None
        files: list[dict[str, Any]] = []
        if result.file is not None and self.ctx.services.files is not None:
            files.append(
                await self.ctx.services.files.save(
                    result.file.data, result.file.filename, result.file.mime_type
                )
            )
        outputs = {
            "status_code": result.status_code,
            "body": result.body_text,
            "headers": result.headers,
            "files": files,
        }
        process = {"request": f"{call.method} {url}", "headers": dict(call.headers)}
        if not 200 <= result.status_code < 300 and (
            error_strategy(self.spec.data) is not None
            or retry_policy(self.spec.data).max_retries > 0
        ):
            raise HTTPResponseCodeError(
                f"Request failed with status code {result.status_code}",
                "HTTPResponseCodeError",
                outputs=outputs,
            )
        yield NodeResult(outputs=outputs, process_data=process)
