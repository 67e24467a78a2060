"""Conformance over the shared corpus of real Dify exports (`../shared/dsl-corpus/`, read in
place, never copied): every workflow and advanced-chat file imports or is refused with the
one-line "later issue" error naming the node; every workflow file marked
`executable_without_external: yes` runs through HTTP to a terminal status with a well-formed
event stream and no HTTP 500.

Test-side plumbing only: every model provider the files name is answered by the scripted
upstream (default echo reply), and every http-request target is rewritten to a loopback echo
service (the files' hosts are public services, LAN addresses or Dify internals).
Run with `-rP` (or `-s`) to see the counts printed by `test_corpus_summary`.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from headrace.admin import AdminError, import_app
from headrace.container import Container
from headrace.dsl.loader import AppDocument, DslError, load_document
from headrace.dsl.node_types import UnsupportedNodeError
from headrace.providers import registry as provider_registry
from headrace.workflow.nodes import http_request as http_node
from tests.conftest import LiveServer
from tests.support.sse import read_stream
from tests.support.upstream import ScriptedUpstream
from tests.workflow.eventcheck import assert_well_formed, events_of
from tests.workflow.localhttp import echo_service

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "dsl-corpus"
GRAPH_MODES = ("workflow", "advanced-chat")


def _manifest() -> list[dict[str, str]]:
    path = CORPUS / "MANIFEST.tsv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = _manifest()
GRAPH_FILES = [r["file"] for r in ROWS if r["app_mode"] in GRAPH_MODES]
EXECUTABLE = [
    r["file"]
    for r in ROWS
    if r["app_mode"] == "workflow" and r["executable_without_external"] == "yes"
]
pytestmark = pytest.mark.skipif(not ROWS, reason=f"DSL corpus not found at {CORPUS}")

#: Filled by the tests below, printed by test_corpus_summary.
REPORT: dict[str, Any] = {"imported": [], "refused": [], "runs": {}}


def _text(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


@functools.cache
def _document(name: str) -> AppDocument:
    return load_document(_text(name))


def _raw_types(text: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    nodes = yaml.load(text, Loader=loader)["workflow"]["graph"]["nodes"]
    return {str(n.get("id")): (n.get("data") or {}).get("type") for n in nodes}


async def test_corpus_graph_files_import_or_are_refused(container: Container) -> None:
    assert GRAPH_FILES, "MANIFEST lists no graph apps"
    for name in GRAPH_FILES:
        text = _text(name)
        try:
            app = await import_app(container.db, text, container.cipher)
        except AdminError as refused:
            with pytest.raises(DslError) as caught:
                load_document(text)
            exc = caught.value
            assert isinstance(exc, UnsupportedNodeError), f"{name}: refused: {exc}"
            message = str(exc)
            assert str(refused) == message and "\n" not in message
            assert message.startswith(f"node {exc.node_id} ({exc.node_type}): ")
            assert _raw_types(text).get(exc.node_id) == exc.node_type, message
            REPORT["refused"].append((name, message))
            continue
        assert app.mode in GRAPH_MODES
        REPORT["imported"].append(name)
    assert len(REPORT["imported"]) + len(REPORT["refused"]) == len(GRAPH_FILES)


# ------------------------------------------------------------------------------------- runs


def _sample(variable: dict[str, Any], service: str) -> Any:
    kind = variable.get("type")
    limit = variable.get("max_length")
    text = "Rivers carry water to the sea."
    if isinstance(limit, int) and limit > 0:
        text = text[:limit]
    if kind == "select":
        options = variable.get("options") or []
        return options[0] if options else text
    if kind == "number":
        return 3
    if kind == "checkbox":
        return True
    if kind == "json_object":
        return {}
    if kind in ("file", "file-list"):
        types = variable.get("allowed_file_types") or ["document"]
        ext = {"image": "png", "audio": "mp3", "video": "mp4"}.get(types[0], "txt")
        family = types[0] if types[0] in ("image", "audio", "video", "document") else "document"
        file = {"type": family, "transfer_method": "remote_url", "url": f"{service}/sample.{ext}"}
        return file if kind == "file" else [file]
    return text


def _inputs(name: str, service: str) -> dict[str, Any]:
    document = _document(name)
    assert document.workflow is not None
    start = next(
        n
        for n in document.workflow["graph"]["nodes"]
        if (n.get("data") or {}).get("type") == "start"
    )
    return {
        str(v["variable"]): _sample(v, service)
        for v in start["data"].get("variables") or []
        if isinstance(v, dict) and v.get("variable")
    }


def _providers(name: str) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            provider = value.get("provider")
            if isinstance(provider, str) and provider:
                found.add(provider.rsplit("/", 1)[-1].lower())
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(_document(name).workflow)
    return found


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with echo_service() as url:
        yield url


@pytest.fixture
def loopback_http(monkeypatch: pytest.MonkeyPatch, service: str) -> None:
    """Send every http-request node to the echo service (same path and query)."""
    original = http_node.fetch

    async def fetch(call: Any, policy: Any, **kwargs: Any) -> Any:
        url = httpx.URL(call.url)
        local = httpx.URL(service)
        call = dataclasses.replace(
            call, url=str(url.copy_with(scheme="http", host=local.host, port=local.port))
        )
        return await original(call, policy, **kwargs)

    monkeypatch.setattr(http_node, "fetch", fetch)


@pytest.mark.parametrize("name", EXECUTABLE)
async def test_corpus_workflow_runs_to_a_terminal_status(
    name: str,
    server: LiveServer,
    workflow_app: Any,
    scripted: ScriptedUpstream,
    service: str,
    loopback_http: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for provider in _providers(name):
        if provider != "openai":
            monkeypatch.setitem(provider_registry.ALIASES, provider, "openai")
    settings = server.container.settings
    settings.http_request_allow_private = True
    monkeypatch.setattr(settings, "workflow_max_execution_time", 60.0)
    try:
        handle = await workflow_app(_text(name))
    except AdminError as exc:
        pytest.fail(f"{name} is marked executable but does not import: {exc}")
    body = {"inputs": _inputs(name, service), "user": "corpus", "response_mode": "streaming"}
    async with server.client(handle.key, timeout=90) as client:
        async with client.stream("POST", "/v1/workflows/run", json=body) as response:
            assert response.status_code != 500
            if response.status_code != 200:
                error = (await response.aread()).decode()
                REPORT["runs"][name] = f"rejected {response.status_code}: {error[:120]}"
                pytest.fail(f"{name}: HTTP {response.status_code} {error}")
            frames = await read_stream(response)
        finished = assert_well_formed(frames)
        run_id = events_of(frames)[0]["workflow_run_id"]
        detail = await client.get(f"/v1/workflows/run/{run_id}")
    assert detail.status_code == 200
    assert detail.json()["status"] == finished["status"]
    assert finished["status"] in ("succeeded", "partial-succeeded", "failed")
    if finished["status"] == "failed":
        assert finished["error"], "a failed run names its error"
    nodes = Counter(e["data"]["status"] for e in events_of(frames) if e["event"] == "node_finished")
    REPORT["runs"][name] = (finished["status"], finished["error"], dict(nodes))
    assert not [f for f in frames if f.data and f.data.get("event") == "error"]


def test_corpus_summary() -> None:
    runs = REPORT["runs"]
    if not REPORT["imported"] or len(runs) < len(EXECUTABLE):
        pytest.skip("summary needs the whole module to run")
    statuses = Counter(r[0] if isinstance(r, tuple) else "rejected" for r in runs.values())
    lines = [
        f"graph files: {len(GRAPH_FILES)}; imported {len(REPORT['imported'])}, "
        f"refused {len(REPORT['refused'])}",
        *[f"  refused {name}: {message}" for name, message in REPORT["refused"]],
        f"executable workflow files run: {len(runs)}; terminal statuses: {dict(statuses)}",
        *[
            f"  {name}: {r[0]}"
            + (f" ({(r[1] or '')[:110]})" if r[0] == "failed" else "")
            + f" nodes {r[2]}"
            for name, r in sorted(runs.items())
            if isinstance(r, tuple)
        ],
    ]
    print("\n".join(lines))
    assert sum(statuses.values()) == len(EXECUTABLE)
