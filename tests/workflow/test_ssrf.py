"""Egress policy: URL and address vetting, simulated DNS answers, and the vetting transport
(connections go to the vetted address; TLS still verifies the URL's host name)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import re
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from headrace.workflow.http_fetch import FetchError, HttpCall, fetch
from headrace.workflow.ssrf import (
    EgressPolicy,
    EgressRefusedError,
    HostResolutionError,
    check_target,
    egress_client,
    parse_ip_literal,
    refusal_reason,
)

DEFAULT = EgressPolicy()
Answers = dict[str, list[str] | Callable[[], list[str]]]


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: Answers) -> list[str]:
    """Make the running loop's getaddrinfo answer `answers` (others: real); returns the lookups."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    lookups: list[str] = []

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in answers:
            return await real(host, port, *args, **kwargs)
        lookups.append(name)
        answer = answers[name]
        infos: list[tuple[Any, ...]] = []
        for ip in answer() if callable(answer) else answer:
            if ":" in ip:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
        return infos

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return lookups


# --- URL and literal address refusals ----------------------------------------------------------

REFUSED = {
    "http://localhost/": "loopback",
    "http://LocalHost/": "loopback",
    "http://127.0.0.1/": "loopback",
    "https://127.0.0.1:8443/x": "loopback",
    "http://127.1/": "loopback",
    "http://127.0.0.1./": "loopback",
    "http://[::1]/": "loopback",
    "http://[0:0:0:0:0:0:0:1]:8080/": "loopback",
    "http://10.0.0.1/": "private",
    "http://172.16.5.4/": "private",
    "http://192.168.1.1/": "private",
    "http://[fc00::1]/": "private",
    "http://[fd12:3456::1]/": "private",
    "http://169.254.169.254/latest/meta-data/": "cloud metadata",
    "http://[fd00:ec2::254]/": "cloud metadata",
    "http://169.254.1.1/": "link-local",
    "http://[fe80::1]/": "link-local",
    "http://[fe80::1%25eth0]/": "link-local",
    "http://0.0.0.0/": "unspecified",
    "http://0/": "unspecified",
    "http://[::]/": "unspecified",
    "http://0.1.2.3/": "this network",
    "http://100.64.0.1/": "shared",
    "http://224.0.0.251/": "multicast",
    "http://[ff02::1]/": "multicast",
    "http://255.255.255.255/": "reserved",
    "http://240.0.0.1/": "reserved",
    "http://198.18.0.1/": "special-purpose",
    "http://192.0.2.1/": "documentation",
    # Other spellings of 127.0.0.1 (inet_aton forms).
    "http://2130706433/": "loopback",
    "http://0x7f.1/": "loopback",
    "http://0x7f000001/": "loopback",
    "http://0X7F.0.0.1/": "loopback",
    "http://017700000001/": "loopback",
    "http://0177.1/": "loopback",
    "http://127.0.1/": "loopback",
    "http://167772161/": "private",  # 10.0.0.1
    "http://0xa9.0xfe.0xa9.0xfe/": "cloud metadata",
    # IPv6 forms embedding IPv4.
    "http://[::ffff:127.0.0.1]/": "IPv4-mapped 127.0.0.1",
    "http://[::ffff:7f00:1]/": "IPv4-mapped 127.0.0.1",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/": "IPv4-mapped",
    "http://[::ffff:10.0.0.1]/": "private (IPv4-mapped 10.0.0.1)",
    "http://[::ffff:169.254.169.254]/": "cloud metadata",
    "http://[::ffff:0:127.0.0.1]/": "IPv4-translated",
    "http://[::127.0.0.1]/": "IPv4-compatible",
    "http://[64:ff9b::a9fe:a9fe]/": "NAT64",
    "http://[2002:c0a8:101::1]/": "private (6to4 192.168.1.1)",
}


@pytest.mark.parametrize(("url", "reason"), REFUSED.items())
async def test_private_targets_are_refused(url: str, reason: str) -> None:
    with pytest.raises(EgressRefusedError) as info:
        await check_target(url, DEFAULT)
    assert reason in info.value.message
    assert info.value.message.startswith("Refused to connect to ")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://example.com/", "scheme 'gopher'"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://example.com@127.0.0.1/", "credentials"),
        ("http://127.0.0.1:80\\@example.com/", "credentials"),
        ("http:///path", "no host"),
        ("http://0177.0.0.1/", "Invalid IPv4 address"),  # httpx refuses this spelling itself
        ("http://example.com:0/", "Invalid port 0"),
        ("http://example.com:70000/", "Invalid port 70000"),
    ],
)
async def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(EgressRefusedError, match=message):
        await check_target(url, DEFAULT)


@pytest.mark.parametrize(
    "url", ["http://8.8.8.8/", "https://[2001:4860:4860::8888]:8443/", "http://[::ffff:8.8.8.8]/"]
)
async def test_public_literals_pass_without_dns(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    lookups = fake_dns(monkeypatch, {})
    (ip,) = await check_target(url, DEFAULT)
    assert refusal_reason(ip) is None
    assert lookups == []


def test_parse_ip_literal() -> None:
    v4 = ipaddress.IPv4Address
    assert parse_ip_literal("2130706433") == v4("127.0.0.1")
    assert parse_ip_literal("0x7f.1") == v4("127.0.0.1")
    assert parse_ip_literal("1.2.65535") == v4("1.2.255.255")
    assert parse_ip_literal("0x") == v4("0.0.0.0")
    assert parse_ip_literal("[::1]") == ipaddress.IPv6Address("::1")
    for name in ("example.com", "1.2.3.4.5", "08.1", "256.1.1.1", "1.2.3.256", "4294967296", "+1"):
        assert parse_ip_literal(name) is None, name
    with pytest.raises(EgressRefusedError):
        parse_ip_literal("::zz")


# --- host names (real resolver, /etc/hosts, simulated DNS) -------------------------------------


def _hosts_file_private_names() -> list[str]:
    names = []
    try:
        lines = Path("/etc/hosts").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            ip = ipaddress.ip_address(fields[0])
        except ValueError:
            continue
        if refusal_reason(ip) is not None:
            names += [n for n in fields[1:] if not n.startswith(("localhost", "ip6-"))]
    return names


async def test_etc_hosts_names_resolving_to_private_addresses_are_refused() -> None:
    names = _hosts_file_private_names()
    if not names:
        pytest.skip("/etc/hosts maps no extra name to a private address")
    for name in names:
        with pytest.raises(EgressRefusedError, match=f"'{name}': it resolves to"):
            await check_target(f"http://{name}/", DEFAULT)


async def test_dns_answers_are_all_vetted(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(
        monkeypatch,
        {
            "internal.example": ["10.1.2.3"],
            "mixed.example": ["93.184.216.34", "127.0.0.1"],
            "v6.example": ["2606:2800:220:1::1", "fe80::1%eth0"],
            "public.example": ["93.184.216.34", "2606:2800:220:1::1", "93.184.216.34"],
        },
    )
    with pytest.raises(
        EgressRefusedError, match=re.escape("'internal.example': it resolves to 10.1.2.3")
    ):
        await check_target("http://internal.example/", DEFAULT)
    with pytest.raises(EgressRefusedError, match=re.escape("resolves to 127.0.0.1, a loopback")):
        await check_target("https://mixed.example/", DEFAULT)
    with pytest.raises(EgressRefusedError, match="resolves to fe80::1, a link-local"):
        await check_target("https://v6.example/", DEFAULT)
    assert [str(ip) for ip in await check_target("http://public.example/", DEFAULT)] == [
        "93.184.216.34",
        "2606:2800:220:1::1",
    ]


async def test_unresolvable_host() -> None:
    with pytest.raises(HostResolutionError, match=re.escape("no-such-host.invalid")):
        await check_target("http://no-such-host.invalid/", DEFAULT)


async def test_policy_allowances(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(
        monkeypatch,
        {
            "svc.internal": ["10.1.2.3"],
            "api.corp.example": ["192.168.7.7"],
            "corp.example": ["192.168.7.8"],
            "other.internal": ["10.9.9.9", "172.16.0.1"],
        },
    )
    by_name = EgressPolicy(allowed_hosts=frozenset({"SVC.internal.", "*.corp.example"}))
    assert await check_target("http://svc.internal/", by_name)
    assert await check_target("http://api.corp.example/", by_name)
    with pytest.raises(EgressRefusedError):
        await check_target("http://corp.example/", by_name)
    with pytest.raises(EgressRefusedError):
        await check_target("http://127.0.0.1/", by_name)

    by_cidr = EgressPolicy(allowed_hosts=frozenset({"10.0.0.0/8", "::1"}))
    assert await check_target("http://svc.internal/", by_cidr)
    assert await check_target("http://[::1]/", by_cidr)
    with pytest.raises(EgressRefusedError, match=re.escape("172.16.0.1")):
        await check_target("http://other.internal/", by_cidr)

    private_ok = EgressPolicy(allow_private=True)
    assert await check_target("http://other.internal/", private_ok)
    assert await check_target("http://127.0.0.1/", private_ok)
    with pytest.raises(EgressRefusedError, match="cloud metadata"):
        await check_target("http://169.254.169.254/", private_ok)
    metadata_ok = EgressPolicy(allow_private=True, allowed_hosts=frozenset({"169.254.169.254"}))
    assert await check_target("http://169.254.169.254/", metadata_ok)


# --- the vetting transport ---------------------------------------------------------------------


class RawServer:
    """A one-reply-per-connection HTTP/1.1 server recording request heads and TLS SNI names."""

    def __init__(self) -> None:
        self.heads: list[str] = []
        self.sni: list[str | None] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.heads.append((await reader.readuntil(b"\r\n\r\n")).decode("latin-1"))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
                b"Connection: close\r\n\r\npong"
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def host_header(self) -> str:
        lines = self.heads[-1].split("\r\n")
        return next(
            line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("host:")
        )


@asynccontextmanager
async def raw_server(context: ssl.SSLContext | None = None) -> AsyncIterator[tuple[RawServer, int]]:
    recorder = RawServer()
    if context is not None:
        context.sni_callback = lambda _sock, name, _ctx: recorder.sni.append(name)
    server = await asyncio.start_server(recorder.handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield recorder, port


async def test_connection_goes_to_the_vetted_address(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = fake_dns(monkeypatch, {"pinned.test": ["127.0.0.1"]})
    policy = EgressPolicy(allowed_hosts=frozenset({"pinned.test"}))
    async with raw_server() as (server, port):
        result = await fetch(HttpCall("GET", f"http://pinned.test:{port}/x"), policy)
    assert result.body_text == "pong"
    assert server.host_header() == f"pinned.test:{port}"
    assert lookups == ["pinned.test", "pinned.test"]  # the pre-check, then the connect


async def test_dns_rebinding_is_refused_at_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])
    lookups = fake_dns(monkeypatch, {"rebind.test": lambda: next(answers)})
    policy = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1"}))
    async with raw_server() as (server, port):
        with pytest.raises(
            EgressRefusedError, match=re.escape("'rebind.test': it resolves to 127.0.0.2")
        ):
            await fetch(HttpCall("GET", f"http://rebind.test:{port}/"), policy)
    assert lookups == ["rebind.test", "rebind.test"]
    assert server.heads == []


async def test_egress_client_alone_vets_every_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"sneaky.test": ["127.0.0.1"]})
    async with raw_server() as (server, port), egress_client(DEFAULT) as client:
        for url in (f"http://sneaky.test:{port}/", f"http://127.0.0.1:{port}/"):
            with pytest.raises(EgressRefusedError, match="loopback"):
                await client.get(url)
    assert server.heads == []


async def test_falls_back_to_the_next_vetted_address(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"two.test": ["127.0.0.3", "127.0.0.1"]})
    policy = EgressPolicy(allowed_hosts=frozenset({"127.0.0.0/8"}))
    async with raw_server() as (server, port):  # listens on 127.0.0.1 only
        result = await fetch(HttpCall("GET", f"http://two.test:{port}/"), policy)
    assert result.body_text == "pong"
    assert len(server.heads) == 1


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, pem.decode()


async def test_tls_verifies_and_sends_sni_for_the_url_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_dns(monkeypatch, {"pinned.test": ["127.0.0.1"]})
    cert_file, key_file, pem = _certificate(tmp_path, "pinned.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    policy = EgressPolicy(allowed_hosts=frozenset({"pinned.test", "127.0.0.1"}))
    async with raw_server(server_ctx) as (server, port):
        trusted = ssl.create_default_context(cadata=pem)
        async with egress_client(policy, verify=trusted) as client:
            call = HttpCall("GET", f"https://pinned.test:{port}/")
            assert (await fetch(call, policy, client=client)).body_text == "pong"
            assert server.sni == ["pinned.test"]
            assert server.host_header() == f"pinned.test:{port}"
            # Same server, same address, but the URL names the IP: the certificate must not match.
            with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
                await fetch(HttpCall("GET", f"https://127.0.0.1:{port}/"), policy, client=client)
        # Default client: the self-signed certificate is not trusted unless ssl_verify is off.
        with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
            await fetch(HttpCall("GET", f"https://pinned.test:{port}/"), policy)
        unverified = HttpCall("GET", f"https://pinned.test:{port}/", ssl_verify=False)
        assert (await fetch(unverified, policy)).body_text == "pong"
