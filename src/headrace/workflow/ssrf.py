"""Egress guard for workflow HTTP calls: refuse private, loopback and metadata targets.

`check_target` vets a URL before a request (and before every redirect hop). DNS rebinding is
defeated by `EgressTransport`: its connection backend resolves the host, vets every answer and
opens the socket to one of exactly those vetted addresses, so no second, unvetted lookup ever
happens between the check and the connect. TLS still verifies (and sends SNI for) the URL's host
name, because the connection pool is keyed by the URL's origin, not by the address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressError(Exception):
    """Base of the errors raised while vetting an outbound target."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class EgressRefusedError(EgressError):
    """The URL or one of the addresses its host resolves to is not allowed."""


class HostResolutionError(EgressError):
    """The host name did not resolve (or resolution timed out)."""


@dataclass(frozen=True)
class EgressPolicy:
    """What outbound HTTP may reach.

    `allowed_hosts` holds host names (exact, case-insensitive, or `*.suffix` wildcards; any
    address they resolve to is allowed) and IP addresses / CIDRs (these addresses are allowed
    whatever the host name). `allow_private` lifts the address checks except for cloud metadata
    endpoints, which stay refused unless listed in `allowed_hosts`.
    """

    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    max_redirects: int = 5
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    _suffixes: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in self.allowed_hosts:
            entry = raw.strip().strip("[]").lower().rstrip(".")
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            elif entry:
                names.add(entry)
        object.__setattr__(self, "_names", frozenset(names))
        object.__setattr__(self, "_suffixes", tuple(suffixes))
        object.__setattr__(self, "_networks", tuple(networks))

    def host_allowed(self, host: str) -> bool:
        """Whether `host` (a URL host name) is explicitly allowed by name."""
        name = host.lower().rstrip(".")
        return name in self._names or any(name.endswith(s) for s in self._suffixes)

    def address_allowed(self, ip: IPAddress) -> bool:
        """Whether `ip` lies in one of the allowed addresses / CIDRs."""
        return any(ip.version == net.version and ip in net for net in self._networks)


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
# Checked after the generic is_loopback/is_private/... tests, as a version-independent backstop.
_BLOCKED: tuple[tuple[tuple[IPNetwork, ...], str], ...] = (
    (_nets("0.0.0.0/8"), "'this network' (0.0.0.0/8)"),
    (_nets("100.64.0.0/10"), "shared (carrier-grade NAT)"),
    (_nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"), "private"),
    (_nets("192.0.0.0/24", "198.18.0.0/15", "2001::/23", "100::/64"), "special-purpose"),
    (_nets("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"), "documentation"),
    (_nets("240.0.0.0/4", "255.255.255.255/32", "fec0::/10"), "reserved"),
    (_nets("64:ff9b:1::/48"), "local-use NAT64"),
)
_EMBEDDING = (
    (ipaddress.ip_network("::ffff:0:0/96"), "IPv4-mapped"),
    (ipaddress.ip_network("::ffff:0:0:0/96"), "IPv4-translated"),
    (ipaddress.ip_network("64:ff9b::/96"), "NAT64"),
    (ipaddress.ip_network("::/96"), "IPv4-compatible"),
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    for net, form in _EMBEDDING:
        if ip in net:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), form
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    return None


def refusal_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address (None when it is one)."""
    if ip in _METADATA:
        return "cloud metadata"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = refusal_reason(embedded[0])
            return None if inner is None else f"{inner} ({embedded[1]} {embedded[0]})"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    for nets, reason in _BLOCKED:
        if any(ip.version == net.version and ip in net for net in nets):
            return reason
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return None


_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def _loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse the inet_aton spellings (`2130706433`, `0x7f.1`, `017700000001`, `127.1`)."""
    if len(host) > 253:
        return None
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(p) for p in parts):
        return None
    nums = [
        int(p[2:] or "0", 16) if p[:2].lower() == "0x" else int(p, 8 if p[0] == "0" else 10)
        for p in parts
    ]
    *head, last = nums
    if any(n > 255 for n in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = last
    for i, n in enumerate(head):
        value |= n << (24 - 8 * i)
    return ipaddress.IPv4Address(value)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a URL host spells literally (any IPv4 spelling, IPv6 with zone), else None."""
    host = host.strip("[]")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError as exc:
            raise EgressRefusedError(f"Invalid IPv6 address in URL: {host!r}") from exc
    return _loose_ipv4(host)


def _vet(
    host: str, addresses: list[IPAddress], policy: EgressPolicy, *, literal: bool
) -> list[IPAddress]:
    if policy.host_allowed(host):
        return addresses
    for ip in addresses:
        reason = refusal_reason(ip)
        if reason is None or policy.address_allowed(ip):
            continue
        if policy.allow_private and reason != "cloud metadata":
            continue
        article = "an" if reason[0] in "aeiou" else "a"
        if str(ip) == host:
            how = "it is"
        elif literal:
            how = f"it is the IP address {ip},"
        else:
            how = f"it resolves to {ip},"
        raise EgressRefusedError(
            f"Refused to connect to {host!r}: {how} {article} {reason} address "
            "(outbound requests may only reach public addresses)"
        )
    return addresses


async def vet_host(
    host: str, port: int, policy: EgressPolicy, *, timeout: float | None = None
) -> list[IPAddress]:
    """Resolve `host` (all A/AAAA answers) and return them if every one is allowed."""
    literal = parse_ip_literal(host)
    if literal is not None:
        return _vet(host, [literal], policy, literal=True)
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP),
            timeout,
        )
    except TimeoutError as exc:
        raise HostResolutionError(f"Timed out resolving host {host!r}") from exc
    except (OSError, UnicodeError) as exc:
        raise HostResolutionError(f"Failed to resolve host {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for family, *_, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise HostResolutionError(f"Host {host!r} has no IPv4/IPv6 address")
    return _vet(host, addresses, policy, literal=False)


def parse_target(url: str | httpx.URL) -> tuple[httpx.URL, str, int]:
    """Validate an outbound URL; return it parsed with its host (IDNA/ASCII) and port."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise EgressRefusedError(f"Invalid URL {url!s:.200}: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise EgressRefusedError(f"Refused URL scheme {parsed.scheme!r}: only http and https")
    if parsed.userinfo:
        raise EgressRefusedError("Refused URL with credentials (user@host) in it")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise EgressRefusedError("URL has no host")
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise EgressRefusedError(f"Invalid port {port} in URL")
    return parsed, host, port


async def check_target(
    url: str, policy: EgressPolicy, *, timeout: float | None = None
) -> list[IPAddress]:
    """Vet `url` against `policy`; return its host's resolved (allowed) addresses.

    Raises `EgressRefusedError` for a refused URL or address, `HostResolutionError` when the host
    does not resolve within `timeout` seconds.
    """
    _, host, port = parse_target(url)
    return await vet_host(host, port, policy, timeout=timeout)


class _VettingBackend(httpcore.AsyncNetworkBackend):
    """Resolves, vets and connects in one step: the socket goes to a vetted address."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            addresses = await vet_host(host, port, self._policy, timeout=timeout)
        except HostResolutionError as exc:
            if isinstance(exc.__cause__, TimeoutError):
                raise httpcore.ConnectTimeout(exc.message) from exc
            raise httpcore.ConnectError(exc.message) from exc
        error: Exception = httpcore.ConnectError(f"Could not connect to {host!r}")
        for ip in addresses:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                raise httpcore.ConnectTimeout(f"Timed out connecting to {host!r}")
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, left, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefusedError("Refused to connect to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


#: httpcore error -> the httpx error of the same name (what httpx's own transport raises).
_EXC_MAP: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProxyError: httpx.ProxyError,
}


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raise httpcore errors as the matching httpx errors (most specific class wins)."""
    try:
        yield
    except Exception as exc:
        for cls in type(exc).__mro__:
            if cls in _EXC_MAP:
                raise _EXC_MAP[cls](str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()


class EgressTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose every connection goes to a policy-vetted address (no proxies)."""

    def __init__(self, policy: EgressPolicy, *, verify: bool | ssl.SSLContext = True) -> None:
        context = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx.create_ssl_context(verify=verify)
        )
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context, network_backend=_VettingBackend(policy), max_connections=20
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` through the vetting connection pool."""
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()


_DEFAULT_TIMEOUT = httpx.Timeout(10.0, read=600.0, write=600.0)


def egress_client(
    policy: EgressPolicy,
    *,
    verify: bool | ssl.SSLContext = True,
    timeout: httpx.Timeout | float | None = _DEFAULT_TIMEOUT,
) -> httpx.AsyncClient:
    """An AsyncClient that only reaches policy-vetted addresses: no env proxies, no redirects."""
    return httpx.AsyncClient(
        transport=EgressTransport(policy, verify=verify),
        trust_env=False,
        follow_redirects=False,
        timeout=timeout,
    )
