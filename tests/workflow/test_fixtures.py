"""The fixture corpus (`tests/fixtures/dsl/wf-*.yml`) run through HTTP, table-driven.

Every case runs twice on a real server, streaming then blocking: the streamed event sequence
(exact, or per-branch order + multiset where branches interleave), the final outputs and
status, the blocking body, the persisted run (`GET /v1/workflows/run/{id}`) and the log.
Separate tests cover stopping a run, the SSRF refusal, secret masking and the log filters.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from headrace.store.tables import WorkflowNodeExecution
from tests.conftest import BACKEND, LiveServer
from tests.support.sse import Frame, parse_frames, read_stream
from tests.support.upstream import Reply, ScriptedUpstream
from tests.workflow.eventcheck import (
    Par,
    assert_sequence,
    assert_well_formed,
    events_of,
    node,
    nodes,
    run,
    tokens,
)
from tests.workflow.localhttp import echo_service
from tests.workflow.test_run_api import NODE_FINISHED_KEYS

Events = list[dict[str, Any]]
CONTAINER_NEXT_KEYS = ["id", "node_id", "node_type", "title", "index", "created_at", "extras"]
CONTAINER_COMPLETED_KEYS = [
    "id",
    "node_id",
    "node_type",
    "title",
    "outputs",
    "outputs_truncated",
    "created_at",
    "extras",
    "inputs",
    "inputs_truncated",
    "status",
    "error",
    "elapsed_time",
    "total_tokens",
    "execution_metadata",
    "finished_at",
    "steps",
]


@dataclass
class Case:
    """One run of one fixture: what goes in, what must come out."""

    fixture: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    events: list[Any]
    replies: tuple[Reply, ...] = ()
    files: list[dict[str, Any]] | None = None
    status: str = "succeeded"
    error: str | None = None
    exceptions: int = 0
    upstream_calls: int | None = None
    allow_private: bool = False
    check: Callable[[Events], None] | None = None
    user: str = "fixture-user"
    extra: dict[str, Any] = field(default_factory=dict)


def remote(url: str, kind: str = "image") -> dict[str, str]:
    """A remote_url file mapping."""
    return {"type": kind, "transfer_method": "remote_url", "url": url}


def finished_of(events: Events, node_id: str) -> list[dict[str, Any]]:
    """node_finished data of a node, in stream order."""
    return [
        e["data"]
        for e in events
        if e["event"] == "node_finished" and e["data"]["node_id"] == node_id
    ]


def first(events: Events, name: str, node_id: str | None = None) -> dict[str, Any]:
    """The first event of a kind (for a node)."""
    for e in events:
        if e["event"] == name and (node_id is None or e["data"].get("node_id") == node_id):
            return e["data"]
    raise AssertionError(f"no {name} event for {node_id}")


# ------------------------------------------------------------------------------------- cases

LEGACY = "wf-legacy-noversion-branches.yml"
L_S, L_IF, L_LLM, L_TPL, L_AGG, L_END = (f"171800000000{i}" for i in range(1, 7))


def check_legacy(events: Events) -> None:
    # numeric start id and legacy sys selector resolved; legacy aggregator renamed
    assert first(events, "node_finished", L_AGG)["node_type"] == "variable-aggregator"
    assert first(events, "node_finished", L_S)["node_type"] == "start"


ITER_LEGACY = "wf-iteration-legacy-0.1.1.yml"
IL_S, IL_IT, IL_TPL, IL_LLM, IL_END = (f"171900000000{i}" for i in range(1, 6))
IL_START = f"{IL_IT}start0"  # synthesised by the importer (dsl.md §8 rule 7)


def check_iteration_legacy(events: Events) -> None:
    started = first(events, "iteration_started", IL_IT)
    assert started["metadata"] == {"iteration_length": 2}
    assert [f["filename"] for f in started["inputs"]["iterator_selector"]] == ["a.png", "b.jpg"]
    done = first(events, "iteration_completed", IL_IT)
    assert done["status"] == "succeeded" and done["steps"] == 2 and done["error"] is None
    assert done["outputs"]["output"] == ["Echo: Describe img-a.png#0", "Echo: Describe img-b.jpg#1"]
    assert done["total_tokens"] > 0
    assert set(done["execution_metadata"]["iteration_duration_map"]) == {"0", "1"}
    inner = finished_of(events, IL_LLM)
    assert [d["iteration_id"] for d in inner] == [IL_IT, IL_IT]
    assert [d["execution_metadata"]["iteration_index"] for d in inner] == [0, 1]
    assert all(
        e["data"]["iteration_id"] == IL_IT
        for e in events
        if e["event"] == "node_started" and e["data"]["node_id"] in (IL_TPL, IL_LLM, IL_START)
    )


BRANCHES = "wf-branches-elif-0.1.2.yml"
B_S, B_IF, B_A, B_VIP, B_LOW, B_ELSE, B_AGG, B_AGG2, B_END = (
    f"172000000000{i}" for i in range(1, 10)
)
CASE_VIP = "0b6f4d7e-2c1a-4f9b-8e3d-5a7c9e1b3d20"
CASE_LOW = "7e3c1a9b-5d2f-4e8a-b6c4-1f9d3e7a5b40"


def branch_case(
    name: str, score: Any, tags: str, note: str, branch: str, case: str, text: str, group: str
) -> Case:
    return Case(
        BRANCHES,
        {"name": name, "score": score, "tags": tags, "note": note},
        {
            "result": text,
            "good": text if group == "good" else None,
            "rest": text if group == "rest" else None,
            "case": case,
        },
        run(nodes(B_S, B_IF, branch, B_AGG, B_AGG2, B_END)),
        check=lambda events: check_branches(events, branch, case, group),
    )


def check_branches(events: Events, branch: str, case: str, group: str) -> None:
    decided = first(events, "node_finished", B_IF)
    assert decided["outputs"] == {"result": case != "false", "selected_case_id": case}
    grouped = first(events, "node_finished", B_AGG2)["outputs"]
    assert list(grouped) == [group] and list(grouped[group]) == ["output"]
    skipped = {B_A, B_VIP, B_LOW, B_ELSE} - {branch}
    assert not [e for e in events if e.get("data", {}).get("node_id") in skipped]


PARALLEL = "wf-parallel-fanout-0.1.3.yml"
P_S, P_LLM, P_UP, P_LEN, P_JOIN, P_END = (f"172100000000{i}" for i in range(1, 7))


def check_parallel(events: Events) -> None:
    chunks = [e["data"] for e in events if e["event"] == "text_chunk"]
    assert [c["text"] for c in chunks] == ["Short ", "summary."]
    assert {tuple(c["from_variable_selector"]) for c in chunks} == {(P_LLM, "text")}
    indexes = sorted(e["data"]["index"] for e in events if e["event"] == "node_started")
    assert indexes == [1, 2, 3, 4, 5, 6]


ITERATIONS = "wf-iterations-0.3.0.yml"
PLAN = json.dumps({"words": ["x", "y", "z"], "groups": [["a", "b"], ["c"]]})


def check_iterations(events: Events) -> None:
    par = first(events, "iteration_completed", "par")
    assert par["outputs"] == {"output": ["0:x", "1:y", "2:z"]}
    inner = [
        e["data"]
        for e in events
        if e["event"] == "iteration_completed" and e["data"]["node_id"] == "inner"
    ]
    assert [d["outputs"]["output"] for d in inner] == [["a!", "b!"], ["c!"]]
    shout = finished_of(events, "innertpl")
    assert {d["iteration_id"] for d in shout} == {"inner"}  # innermost container
    planner = first(events, "node_finished", "planner")
    assert planner["outputs"]["structured_output"] == json.loads(PLAN)
    started = first(events, "iteration_started", "par")
    assert started["metadata"] == {"iteration_length": 3}
    assert list(first(events, "iteration_next", "par")) == CONTAINER_NEXT_KEYS
    assert list(par) == CONTAINER_COMPLETED_KEYS
    containers = [e for e in events if e["event"].startswith("iteration_")]
    assert {tuple(e) for e in containers} == {("event", "workflow_run_id", "task_id", "data")}
    assert list(started) == [
        "id",
        "node_id",
        "node_type",
        "title",
        "created_at",
        "extras",
        "metadata",
        "inputs",
        "inputs_truncated",
    ]


def par_rounds(count: int) -> Par:
    return Par(*(nodes("parstart", "partpl", at=i) for i in range(count)))


ITER_ERRORS = "wf-iteration-errors-0.3.1.yml"
IE_S, IE_CONT, IE_REMOVE, IE_END = (
    "1730000000001",
    "1730000000002",
    "1730000000005",
    "1730000000008",
)


def iteration_rounds(container: str, child: str, count: int) -> list[str]:
    out = [f"iteration_started:{container}"]
    for i in range(count):
        out += [f"iteration_next:{container}#{i}", *nodes(f"{container}start", child, at=i)]
    return [*out, f"iteration_completed:{container}"]


def check_iteration_errors(events: Events) -> None:
    for child in ("1730000000004", "1730000000007"):
        statuses = [d["status"] for d in finished_of(events, child)]
        assert statuses == ["succeeded", "failed", "succeeded"]
        failed = finished_of(events, child)[1]
        assert "no_such_attribute" in failed["error"]
    for container in (IE_CONT, IE_REMOVE):
        done = first(events, "iteration_completed", container)
        assert done["status"] == "succeeded" and done["steps"] == 3


LOOPS = "wf-loops-0.5.0.yml"
LA, LB, LC = "1740000000002", "1740000000003", "1740000000004"


def loop_rounds(loop: str, children: list[list[str]], trailing_next: bool) -> list[str]:
    out = [f"loop_started:{loop}"]
    for i, round_nodes in enumerate(children):
        if i:
            out.append(f"loop_next:{loop}#{i}")
        out += nodes(f"{loop}start", *round_nodes, at=i)
    if trailing_next:
        out.append(f"loop_next:{loop}#{len(children)}")
    return [*out, f"loop_completed:{loop}"]


def check_loops(events: Events) -> None:
    a = first(events, "loop_completed", LA)
    assert a["outputs"] == {"n": 3, "seen": ["hi"] * 3, "prefix": "hi", "loop_round": 3}
    assert a["execution_metadata"]["completed_reason"] == "loop_break"
    assert a["execution_metadata"]["loop_variable_map"]["0"] == {
        "n": 1,
        "seen": ["hi"],
        "prefix": "hi",
    }
    assert first(events, "loop_started", LA)["inputs"] == {
        "loop_count": 10,
        "n": 0,
        "seen": [],
        "prefix": "hi",
    }
    assert first(events, "loop_started", LA)["metadata"] == {"loop_length": 10}
    b = first(events, "loop_completed", LB)
    assert b["execution_metadata"]["completed_reason"] == "loop_break"
    c = first(events, "loop_completed", LC)
    assert c["execution_metadata"]["completed_reason"] == "loop_completed"
    assert c["steps"] == 3 and c["status"] == "succeeded"
    nexts = [e["data"] for e in events if e["event"] == "loop_next"]
    assert all(d["pre_loop_output"] == {} for d in nexts)
    assert list(nexts[0]) == [*CONTAINER_NEXT_KEYS, "pre_loop_output"]
    assert list(c) == CONTAINER_COMPLETED_KEYS
    assert first(events, "loop_completed", LB)["execution_metadata"]["loop_variable_map"]["0"] == {
        "i": 1,
        "score": 98,
        "note": "done",
        "tags": ["b", "c"],
        "more": ["b"],
        "junk": [],
        "bag": {"k": 1},
    }
    inner = finished_of(events, "1740000000012")
    assert [d["loop_id"] for d in inner] == [LA] * 3
    assert [d["execution_metadata"]["loop_index"] for d in inner] == [0, 1, 2]


HTTP = "wf-http-request-0.6.0.yml"
H_S, H_GET, H_POST, H_END = (f"175000000000{i}" for i in range(1, 5))


def check_http(events: Events) -> None:
    got = first(events, "node_finished", H_GET)
    assert got["status"] == "succeeded" and got["outputs"]["status_code"] == 200
    assert got["outputs"]["headers"]["content-type"] == "application/json"
    assert got["outputs"]["files"] == []


ERRORS = "wf-error-strategies-0.1.5.yml"
E_S, E_FB, E_OK, E_FAIL, E_AGG, E_DV, E_END = (f"176000000000{i}" for i in range(1, 8))
BAD = {"message": "scripted refusal", "type": "invalid_request_error"}


def check_strategies_fired(events: Events) -> None:
    fb = first(events, "node_finished", E_FB)
    assert fb["status"] == "exception" and fb["error"]
    assert fb["outputs"] == {"error_message": fb["error"], "error_type": "ProviderError"}
    assert fb["execution_metadata"]["error_strategy"] == "fail-branch"
    dv = first(events, "node_finished", E_DV)
    assert dv["status"] == "exception"
    assert dv["outputs"]["text"] == "fallback text" and dv["outputs"]["score"] == 7
    assert dv["execution_metadata"]["error_strategy"] == "default-value"
    assert not [e for e in events if e.get("data", {}).get("node_id") == E_OK]


RETRY = "wf-llm-retry-0.3.1.yml"
R_S, R_LLM, R_END = "1770000000001", "1770000000002", "1770000000003"


def check_retry(events: Events) -> None:
    started = first(events, "node_started", R_LLM)
    retries = [e["data"] for e in events if e["event"] == "node_retry"]
    assert [r["retry_index"] for r in retries] == [1, 2]
    assert list(retries[0]) == [*NODE_FINISHED_KEYS, "retry_index"]
    assert {r["status"] for r in retries} == {"retry"}
    assert {r["id"] for r in retries} == {started["id"]}
    assert all("Scripted failure 500" in r["error"] for r in retries)
    done = finished_of(events, R_LLM)
    assert len(done) == 1 and done[0]["id"] == started["id"]
    assert done[0]["status"] == "succeeded"


FAILURE = "wf-failure-0.4.0.yml"
F_S, F_IF, F_BOOM, F_SAFE, F_END = (f"178000000000{i}" for i in range(1, 6))


def check_failure(events: Events) -> None:
    boom = first(events, "node_finished", F_BOOM)
    assert boom["status"] == "failed" and boom["outputs"] is None
    assert boom["error"] == "Failed to render template: 'nothing' is undefined"
    assert events[-1]["data"]["error"] == boom["error"]


FILES = "wf-files-0.1.3.yml"
FI_S, FI_IF, FI_YES, FI_NO, FI_PICK, FI_END = (f"179000000000{i}" for i in range(1, 7))
BASE = "https://files.example.com"
PICS = [remote(f"{BASE}/b.jpg"), remote(f"{BASE}/a.jpg"), remote(f"{BASE}/c.png")]
DOC = remote(f"{BASE}/report.pdf", "document")


def file_dict(name: str, kind: str = "image") -> dict[str, Any]:
    ext = "." + name.rsplit(".", 1)[1]
    mime = {".jpg": "image/jpeg", ".png": "image/png", ".pdf": "application/pdf"}[ext]
    url = f"{BASE}/{name}"
    return {
        "dify_model_identity": "__dify__file__",
        "id": None,
        "type": kind,
        "transfer_method": "remote_url",
        "remote_url": url,
        "reference": None,
        "filename": name,
        "extension": ext,
        "mime_type": mime,
        "size": -1,
        "related_id": None,
        "url": url,
    }


def check_files(events: Events) -> None:
    finished = events[-1]["data"]
    assert finished["files"] == [
        file_dict("report.pdf", "document"),
        file_dict("a.jpg"),
        file_dict("b.jpg"),
        file_dict("a.jpg"),
    ]
    start = first(events, "node_finished", FI_S)["outputs"]
    assert start["sys.files"] == [file_dict("shot.png")]


SECRET_FIXTURE = "wf-secret-env-0.6.0.yml"
SECRET = "hx-7f3a9c-very-secret"
SE_TPL, SE_LLM = "1790000000102", "1790000000103"


def check_secret(events: Events) -> None:
    text = orjson.dumps(events).decode()
    assert SECRET not in text
    assert first(events, "node_finished", SE_TPL)["outputs"] == {
        "output": "Bearer ****** for Ann (visible-note)"
    }
    chunks = "".join(e["data"]["text"] for e in events if e["event"] == "text_chunk")
    assert chunks == "Echo: Call with ****** and visible-note"


CASES: dict[str, Case] = {
    "legacy-short": Case(
        LEGACY,
        {"topic": "rivers", "mode": "short"},
        {
            "result": "Echo: Note on rivers for fixture-user (1718000000004.output)",
            "user": "fixture-user",
        },
        run(nodes(L_S, L_IF, L_LLM, L_AGG, L_END)),
        upstream_calls=1,
        check=check_legacy,
    ),
    "legacy-long": Case(
        LEGACY,
        {"topic": "rivers", "mode": "long"},
        {"result": "LONG: rivers", "user": "fixture-user"},
        run(nodes(L_S, L_IF, L_TPL, L_AGG, L_END)),
        upstream_calls=0,
        check=check_legacy,
    ),
    "iteration-legacy-files": Case(
        ITER_LEGACY,
        {"prefix": "img-"},
        {"descriptions": ["Echo: Describe img-a.png#0", "Echo: Describe img-b.jpg#1"]},
        run(
            node(IL_S),
            f"iteration_started:{IL_IT}",
            f"iteration_next:{IL_IT}#0",
            nodes(IL_START, IL_TPL, IL_LLM, at=0),
            f"iteration_next:{IL_IT}#1",
            nodes(IL_START, IL_TPL, IL_LLM, at=1),
            f"iteration_completed:{IL_IT}",
            node(IL_END),
        ),
        files=[remote("https://img.example.com/a.png"), remote("https://img.example.com/b.jpg")],
        upstream_calls=2,
        check=check_iteration_legacy,
    ),
    "branches-first-case": branch_case("Alice", 95, "", "", B_A, "true", "A-list: Alice", "good"),
    "branches-elif-in": branch_case("Bob", "50", "new", "x", B_VIP, CASE_VIP, "VIP: Bob", "good"),
    "branches-elif-and": branch_case("Eve", 4, "", "", B_LOW, CASE_LOW, "Low: Eve", "rest"),
    "branches-else": branch_case("Zed", 5, "none", "", B_ELSE, "false", "Other: Zed (5)", "rest"),
    "parallel-fanout": Case(
        PARALLEL,
        {"text": "hello world"},
        {"summary": "Short summary.", "joined": "Short summary. | HELLO WORLD | 11"},
        run(
            node(P_S),
            Par(
                [f"node_started:{P_LLM}", "text_chunk", "text_chunk", f"node_finished:{P_LLM}"],
                node(P_UP),
                node(P_LEN),
            ),
            nodes(P_JOIN, P_END),
        ),
        replies=(Reply(chunks=["Short ", "summary."], delay_between=0.02),),
        upstream_calls=1,
        check=check_parallel,
    ),
    "iterations": Case(
        ITERATIONS,
        {"topic": "letters"},
        {
            "upper": ["X", "Y", "Z"],
            "indexed": ["0:x", "1:y", "2:z"],
            "flat": ["a!", "b!", "c!"],
            "picked": ["Z", "X"],
            "first": "Z",
            "last": "X",
        },
        run(
            nodes("start", "planner"),
            "iteration_started:seq",
            *[
                t
                for i in range(3)
                for t in [f"iteration_next:seq#{i}", *nodes("seqstart", "seqtpl", at=i)]
            ],
            "iteration_completed:seq",
            "iteration_started:par",
            *[f"iteration_next:par#{i}" for i in range(3)],
            par_rounds(3),
            "iteration_completed:par",
            "iteration_started:outer",
            "iteration_next:outer#0",
            node("outerstart", 0),
            "iteration_started:inner",
            "iteration_next:inner#0",
            nodes("innerstart", "innertpl", at=0),
            "iteration_next:inner#1",
            nodes("innerstart", "innertpl", at=1),
            "iteration_completed:inner",
            "iteration_next:outer#1",
            node("outerstart", 1),
            "iteration_started:inner",
            "iteration_next:inner#0",
            nodes("innerstart", "innertpl", at=0),
            "iteration_completed:inner",
            "iteration_completed:outer",
            nodes("pick", "end"),
        ),
        replies=(Reply(text=PLAN),),
        upstream_calls=1,
        check=check_iterations,
    ),
    "iteration-error-modes": Case(
        ITER_ERRORS,
        {"payload": {"words": ["a", "bad", "c"], "empty": []}},
        {"kept_nulls": ["ok:a", None, "ok:c"], "removed": ["ok:a", "ok:c"], "empty": []},
        run(
            node(IE_S),
            iteration_rounds(IE_CONT, "1730000000004", 3),
            iteration_rounds(IE_REMOVE, "1730000000007", 3),
            node(IE_END),
        ),
        check=check_iteration_errors,
    ),
    "loops": Case(
        LOOPS,
        {"word": "hi", "limit": 3},
        {
            "n": 3,
            "seen": ["hi", "hi", "hi"],
            "rounds_a": 3,
            "i": 2,
            "score": 96,
            "note": "done",
            "tags": ["c"],
            "more": ["b"],
            "junk": [],
            "bag": {"k": 1},
            "rounds_b": 2,
            "acc": "hi",
            "items": ["hi", "hi", "hi"],
            "rounds_c": 3,
        },
        run(
            node("1740000000001"),
            loop_rounds(LA, [["1740000000012"]] * 3, trailing_next=False),
            loop_rounds(
                LB,
                [
                    ["1740000000022", "1740000000023"],
                    ["1740000000022", "1740000000023", "1740000000024"],
                ],
                trailing_next=False,
            ),
            loop_rounds(LC, [["1740000000032", "1740000000033"]] * 3, trailing_next=True),
            node("1740000000009"),
        ),
        check=check_loops,
    ),
    "http-request": Case(
        HTTP,
        {"base": "{service}", "q": "hello"},
        {
            "status": 200,
            "search": json.dumps(
                {"method": "GET", "path": "/items", "query": "q=hello&page=1", "token": "tok-123"},
                sort_keys=True,
            ),
            "submitted": json.dumps(
                {
                    "body": {"found": 200, "query": "hello"},
                    "content_type": "application/json",
                    "method": "POST",
                    "path": "/submit",
                },
                sort_keys=True,
            ),
            "content_type": "application/json",
        },
        run(nodes(H_S, H_GET, H_POST, H_END)),
        allow_private=True,
        check=check_http,
    ),
    "error-strategies-fire": Case(
        ERRORS,
        {"q": "draft this"},
        {
            "first": "failed: [400] scripted refusal (ProviderError)",
            "second": "fallback text",
            "score": 7,
            "second_error": "ProviderError",
        },
        run(nodes(E_S, E_FB, E_FAIL, E_AGG, E_DV, E_END)),
        replies=(Reply(status=400, error=BAD), Reply(status=400, error=BAD)),
        status="partial-succeeded",
        exceptions=2,
        upstream_calls=2,
        check=check_strategies_fired,
    ),
    "error-strategies-quiet": Case(
        ERRORS,
        {"q": "draft this"},
        {"first": "ok: fine", "second": "9/10", "score": None, "second_error": None},
        run(
            nodes(E_S, E_FB, E_OK, E_AGG),
            f"node_started:{E_DV}",
            "text_chunk",
            "text_chunk",
            f"node_finished:{E_DV}",
            node(E_END),
        ),
        replies=(Reply(chunks=["fine"]), Reply(chunks=["9", "/10"])),
        upstream_calls=2,
    ),
    "llm-retry": Case(
        RETRY,
        {"q": "Why?"},
        {"answer": "Because."},
        run(
            node(R_S),
            f"node_started:{R_LLM}",
            f"node_retry:{R_LLM}",
            f"node_retry:{R_LLM}",
            "text_chunk",
            "text_chunk",
            f"node_finished:{R_LLM}",
            node(R_END),
        ),
        replies=(Reply(status=500), Reply(status=500), Reply(chunks=["Because", "."])),
        upstream_calls=3,
        check=check_retry,
    ),
    "failure-no-strategy": Case(
        FAILURE,
        {"name": "Ann", "explode": "yes"},
        {},
        run(nodes(F_S, F_IF, F_BOOM)),
        status="failed",
        error="Failed to render template: 'nothing' is undefined",
        check=check_failure,
    ),
    "failure-not-triggered": Case(
        FAILURE,
        {"name": "Ann"},
        {"result": "safe: Ann"},
        run(nodes(F_S, F_IF, F_SAFE, F_END)),
    ),
    "files": Case(
        FILES,
        {"doc": DOC, "pics": PICS},
        {
            "summary": "report.pdf|.pdf|3|shot.png",
            "doc": file_dict("report.pdf", "document"),
            "doc_name": "report.pdf",
            "jpgs": [file_dict("a.jpg"), file_dict("b.jpg")],
            "first_jpg": file_dict("a.jpg"),
        },
        run(nodes(FI_S, FI_IF, FI_YES, FI_PICK, FI_END)),
        files=[remote(f"{BASE}/shot.png")],
        check=check_files,
    ),
    "files-none": Case(
        FILES,
        {"doc": DOC, "pics": PICS[2:]},
        {
            "summary": None,
            "doc": file_dict("report.pdf", "document"),
            "doc_name": "report.pdf",
            "jpgs": [],
            "first_jpg": None,
        },
        run(nodes(FI_S, FI_IF, FI_NO, FI_PICK, FI_END)),
    ),
    "secret-env": Case(
        SECRET_FIXTURE,
        {"name": "Ann"},
        {
            "header": "Bearer ****** for Ann (visible-note)",
            "reply": "Echo: Call with ****** and visible-note",
        },
        run(
            nodes("1790000000101", SE_TPL),
            f"node_started:{SE_LLM}",
            *["text_chunk"] * 6,
            f"node_finished:{SE_LLM}",
            node("1790000000104"),
        ),
        upstream_calls=1,
        check=check_secret,
    ),
}


# ------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    """The loopback echo service http-request fixtures call."""
    with echo_service() as url:
        yield url


def fill(value: Any, service: str) -> Any:
    """Inputs with `{service}` replaced by the echo service URL."""
    if isinstance(value, str):
        return value.replace("{service}", service)
    if isinstance(value, dict):
        return {k: fill(v, service) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, service) for v in value]
    return value


def body_of(case: Case, service: str, mode: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": fill(case.inputs, service),
        "user": case.user,
        "response_mode": mode,
    }
    if case.files is not None:
        body["files"] = case.files
    return body


async def stream_run(client: httpx.AsyncClient, body: dict[str, Any]) -> list[Frame]:
    async with client.stream("POST", "/v1/workflows/run", json=body) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        return await read_stream(response)


async def check_persisted(
    client: httpx.AsyncClient, run_id: str, case: Case, outputs: dict[str, Any]
) -> dict[str, Any]:
    detail = await client.get(f"/v1/workflows/run/{run_id}")
    assert detail.status_code == 200, detail.text
    run_row = detail.json()
    assert run_row["id"] == run_id and run_row["status"] == case.status
    assert run_row["outputs"] == outputs
    assert isinstance(run_row["inputs"], str)
    stored_inputs = json.loads(run_row["inputs"])
    assert stored_inputs["sys.user_id"] == case.user
    for key, value in case.inputs.items():
        if isinstance(value, str) and "{service}" not in value:
            coerced = True if value == "yes" else int(value) if value.isdigit() else value
            assert stored_inputs[key] == coerced
    if case.error:
        assert case.error in (run_row["error"] or "")
    else:
        assert run_row["error"] is None
    assert run_row["finished_at"] is not None and run_row["elapsed_time"] > 0
    return run_row


# ------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", list(CASES))
async def test_fixture_runs(
    name: str, server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream, service: str
) -> None:
    case = CASES[name]
    server.container.settings.http_request_allow_private = case.allow_private
    handle = await workflow_app(case.fixture)
    async with server.client(handle.key) as client:
        # streaming: exact event sequence, outputs, status
        scripted.script(*case.replies)
        frames = await stream_run(client, body_of(case, service, "streaming"))
        actual = tokens(frames)
        assert_sequence(actual, case.events)
        finished = assert_well_formed(frames)
        events = events_of(frames)
        assert finished["status"] == case.status, finished
        assert finished["outputs"] == case.outputs
        assert finished["exceptions_count"] == case.exceptions
        if case.error:
            assert case.error in (finished["error"] or "")
        else:
            assert finished["error"] is None
        assert finished["created_by"]["user"] == case.user
        if case.upstream_calls is not None:
            assert len(scripted.requests) == case.upstream_calls
        if case.check is not None:
            case.check(events)
        stream_run_id = events[0]["workflow_run_id"]
        stream_row = await check_persisted(client, stream_run_id, case, case.outputs)
        assert stream_row["total_steps"] == finished["total_steps"]
        assert stream_row["total_tokens"] == finished["total_tokens"]

        # blocking: the folded body
        scripted.reset()
        scripted.script(*case.replies)
        response = await client.post("/v1/workflows/run", json=body_of(case, service, "blocking"))
        assert response.status_code == 200, response.text
        blocking = response.json()
        data = blocking["data"]
        assert data["status"] == case.status
        assert data["outputs"] == case.outputs
        assert (data["error"] is None) == (case.error is None)
        assert data["total_steps"] == finished["total_steps"]
        await check_persisted(client, blocking["workflow_run_id"], case, case.outputs)

        # the log lists both runs
        logs = (await client.get("/v1/workflows/logs")).json()
        assert logs["total"] == 2 and logs["has_more"] is False
        listed = {row["workflow_run"]["id"]: row for row in logs["data"]}
        assert set(listed) == {stream_run_id, blocking["workflow_run_id"]}
        for row in listed.values():
            assert row["workflow_run"]["status"] == case.status
            assert row["workflow_run"]["exceptions_count"] == case.exceptions
            assert row["created_by_end_user"]["session_id"] == case.user
            assert row["created_from"] == "service-api"


async def test_http_request_refused_by_default_egress_policy(
    server: LiveServer, workflow_app: Any, service: str
) -> None:
    assert server.container.settings.http_request_allow_private is False
    handle = await workflow_app(HTTP)
    body = {"inputs": {"base": service, "q": "x"}, "user": "ssrf", "response_mode": "streaming"}
    async with server.client(handle.key) as client:
        frames = await stream_run(client, body)
        blocking = await client.post(
            "/v1/workflows/run", json={**body, "response_mode": "blocking"}
        )
    assert_sequence(tokens(frames), run(nodes(H_S, H_GET)))
    failed = first(events_of(frames), "node_finished", H_GET)
    assert failed["status"] == "failed"
    assert "Refused to connect to '127.0.0.1'" in failed["error"]
    assert "loopback" in failed["error"]
    finished = assert_well_formed(frames)
    assert finished["status"] == "failed" and finished["error"] == failed["error"]
    assert blocking.status_code == 200
    assert blocking.json()["data"]["status"] == "failed"
    assert "Refused to connect" in blocking.json()["data"]["error"]


async def _frames_until(response: httpx.Response, wanted: str) -> tuple[list[Frame], Any]:
    """Read frames until a token `wanted` (see `tokens`) arrives; returns them and the rest."""
    chunks = response.aiter_bytes()
    buffer = b""
    frames: list[Frame] = []
    while wanted not in tokens(frames):
        buffer += await anext(chunks)
        *complete, buffer = buffer.split(b"\n\n")
        frames += parse_frames("\n\n".join(c.decode() for c in complete) + "\n\n")
    return frames, (chunks, buffer)


STOPS = {
    # a top-level LLM streaming into the End output
    "llm": (RETRY, {"q": "long"}, None, "text_chunk", R_END),
    # an LLM inside an iteration round
    "in-iteration": (
        ITER_LEGACY,
        {},
        [remote("https://img.example.com/a.png"), remote("https://img.example.com/b.png")],
        f"node_started:{IL_LLM}",
        IL_END,
    ),
}


@pytest.mark.parametrize("where", list(STOPS))
async def test_stop_mid_run(
    where: str, server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    fixture, inputs, files, wait_for, never = STOPS[where]
    handle = await workflow_app(fixture)
    slow = [Reply(chunks=[f"w{i} " for i in range(40)], delay_between=0.1) for _ in range(2)]
    scripted.script(*slow)
    body: dict[str, Any] = {"inputs": inputs, "user": "stopper", "response_mode": "streaming"}
    if files:
        body["files"] = files
    async with server.client(handle.key) as client:
        async with client.stream("POST", "/v1/workflows/run", json=body) as response:
            frames, (chunks, buffer) = await _frames_until(response, wait_for)
            last = frames[-1].data or {}
            task_id, run_id = last["task_id"], last["workflow_run_id"]
            running = (await client.get(f"/v1/workflows/run/{run_id}")).json()
            assert running["status"] == "running" and running["finished_at"] is None
            no_user = await client.post(f"/v1/workflows/tasks/{task_id}/stop", json={})
            assert no_user.status_code == 400
            stop = await client.post(f"/v1/workflows/tasks/{task_id}/stop", json={"user": "x"})
            assert stop.status_code == 200 and stop.json() == {"result": "success"}
            async with asyncio.timeout(10):
                async for chunk in chunks:
                    buffer += chunk
        frames += parse_frames(buffer.decode())
        events = events_of(frames)
        finished = assert_well_formed(frames)
        assert finished["status"] == "stopped"
        assert finished["error"] == "Stopped by user."
        texts = [e["data"]["text"] for e in events if e["event"] == "text_chunk"]
        assert len(texts) < 40
        assert not [e for e in events if e["data"].get("node_id") == never]
        assert len(scripted.requests) == 1
        detail = (await client.get(f"/v1/workflows/run/{run_id}")).json()
        assert detail["status"] == "stopped" and detail["finished_at"] is not None
        assert detail["error"] == "Stopped by user."
        stopped = (await client.get("/v1/workflows/logs", params={"status": "stopped"})).json()
        assert [row["workflow_run"]["id"] for row in stopped["data"]] == [run_id]
        again = await client.post(f"/v1/workflows/tasks/{task_id}/stop", json={"user": "x"})
        assert again.json() == {"result": "success"}


async def test_secret_masked_in_events_storage_and_database(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app(SECRET_FIXTURE)
    body = {"inputs": {"name": "Ann"}, "user": "sec", "response_mode": "streaming"}
    async with server.client(handle.key) as client:
        frames = await stream_run(client, body)
        blocking = await client.post(
            "/v1/workflows/run", json={**body, "response_mode": "blocking"}
        )
        run_id = events_of(frames)[0]["workflow_run_id"]
        detail = await client.get(f"/v1/workflows/run/{run_id}")
        logs = await client.get("/v1/workflows/logs")
    # the model received the real value; nothing sent back to a client shows it
    assert all(SECRET in orjson.dumps(r.json).decode() for r in scripted.requests)
    for text in (
        b"".join(f.raw.encode() for f in frames),
        blocking.content,
        detail.content,
        logs.content,
    ):
        assert SECRET.encode() not in text
    check_secret(events_of(frames))
    start_outputs = first(events_of(frames), "node_finished", "1790000000101")["outputs"]
    assert start_outputs["env.SECRET_TOKEN"] == "******"
    async with server.container.db.session() as session:
        rows = list(await session.scalars(select(WorkflowNodeExecution)))
    assert len(rows) == 8
    for row in rows:
        stored = orjson.dumps([row.inputs, row.process_data, row.outputs, row.error]).decode()
        assert SECRET not in stored
    if BACKEND == "sqlite-memory":
        data_dir = server.container.settings.data_dir
        for path in data_dir.glob("headrace.db*"):
            assert SECRET.encode() not in path.read_bytes(), path.name


async def test_logs_filters_and_paging(server: LiveServer, workflow_app: Any) -> None:
    handle = await workflow_app(FAILURE)
    async with server.client(handle.key) as client:
        run_ids: dict[str, list[str]] = {"alice": [], "bob": []}
        for i in range(3):
            ok = await client.post(
                "/v1/workflows/run", json={"inputs": {"name": f"alpha-{i}"}, "user": "alice"}
            )
            run_ids["alice"].append(ok.json()["workflow_run_id"])
        for _ in range(2):
            bad = await client.post(
                "/v1/workflows/run",
                json={"inputs": {"name": "beta", "explode": True}, "user": "bob"},
            )
            assert bad.json()["data"]["status"] == "failed"
            run_ids["bob"].append(bad.json()["workflow_run_id"])

        async def logs(**params: Any) -> dict[str, Any]:
            response = await client.get("/v1/workflows/logs", params=params)
            assert response.status_code == 200, response.text
            return response.json()

        everything = await logs()
        assert everything["total"] == 5 and everything["page"] == 1 and everything["limit"] == 20
        stamps = [row["created_at"] for row in everything["data"]]
        assert stamps == sorted(stamps, reverse=True)
        pages = [await logs(limit=2, page=p) for p in (1, 2, 3)]
        assert [len(p["data"]) for p in pages] == [2, 2, 1]
        assert [p["has_more"] for p in pages] == [True, True, False]
        assert {p["total"] for p in pages} == {5}
        assert {r["id"] for p in pages for r in p["data"]} == {r["id"] for r in everything["data"]}
        failed = await logs(status="failed")
        assert failed["total"] == 2
        assert {r["workflow_run"]["id"] for r in failed["data"]} == set(run_ids["bob"])
        assert all(r["workflow_run"]["error"] for r in failed["data"])
        succeeded = await logs(status="succeeded")
        assert {r["workflow_run"]["id"] for r in succeeded["data"]} == set(run_ids["alice"])
        assert (await logs(status="stopped"))["total"] == 0
        by_user = await logs(created_by_end_user_session_id="alice")
        assert by_user["total"] == 3
        assert {r["created_by_end_user"]["session_id"] for r in by_user["data"]} == {"alice"}
        assert (await logs(created_by_end_user_session_id="nobody"))["total"] == 0
        assert (await logs(keyword="BETA"))["total"] == 2
        assert (await logs(keyword="alpha-1"))["total"] == 1
        assert (await logs(keyword=run_ids["alice"][0]))["total"] == 1
        combined = await logs(status="failed", created_by_end_user_session_id="alice")
        assert combined["total"] == 0
        assert (await logs(created_at__before="2000-01-01T00:00:00Z"))["total"] == 0
        assert (await logs(created_at__after="2000-01-01T00:00:00Z"))["total"] == 5
        bad_date = await client.get("/v1/workflows/logs", params={"created_at__before": "soon"})
        assert bad_date.status_code == 400
        bad_status = await client.get("/v1/workflows/logs", params={"status": "running"})
        assert bad_status.status_code == 400
        too_big = await client.get("/v1/workflows/logs", params={"limit": 101})
        assert too_big.status_code == 400


SECRET_IN_CONTAINERS = """
app: {mode: workflow, name: Secret in containers, icon: "🤖", icon_background: "#FFEAD5"}
kind: app
version: 0.6.0
workflow:
  environment_variables:
  - {name: KEY, value: hx-7f3a9c-very-secret, value_type: secret, selector: [env, KEY]}
  features: {}
  graph:
    edges:
    - {source: s, sourceHandle: source, target: lp, targetHandle: target}
    - {source: lp, sourceHandle: source, target: it, targetHandle: target}
    - {source: lp_start, sourceHandle: source, target: lp_note, targetHandle: target}
    nodes:
    - {id: s, data: {type: start, title: Start, variables: []}}
    - id: lp
      data:
        type: loop
        title: Keep key
        loop_count: 1
        break_conditions: []
        logical_operator: and
        start_node_id: lp_start
        loop_variables:
        - {label: kept, var_type: string, value_type: variable, value: [env, KEY]}
    - {id: lp_start, parentId: lp, type: custom-loop-start, data: {type: loop-start, title: ''}}
    - id: lp_note
      parentId: lp
      data: {type: template-transform, title: Note, template: 'key={{ k }}',
             variables: [{variable: k, value_selector: [lp, kept]}]}
    - id: it
      data:
        type: iteration
        title: Iterate a string
        iterator_selector: [env, KEY]
        output_selector: [it_start, x]
        start_node_id: it_start
    - {id: it_start, parentId: it, type: custom-iteration-start,
       data: {type: iteration-start, title: ''}}
"""


async def test_secret_masked_in_container_events_and_errors(
    server: LiveServer, workflow_app: Any
) -> None:
    handle = await workflow_app(SECRET_IN_CONTAINERS)
    body = {"inputs": {}, "user": "sec", "response_mode": "streaming"}
    async with server.client(handle.key) as client:
        frames = await stream_run(client, body)
        run_id = events_of(frames)[0]["workflow_run_id"]
        detail = await client.get(f"/v1/workflows/run/{run_id}")
    assert_sequence(
        tokens(frames),
        run(
            node("s"),
            "loop_started:lp",
            nodes("lp_start", "lp_note", at=0),
            "loop_next:lp#1",
            "loop_completed:lp",
        ),
    )
    events = events_of(frames)
    assert first(events, "loop_started", "lp")["inputs"]["kept"] == "******"
    assert first(events, "loop_completed", "lp")["outputs"]["kept"] == "******"
    assert first(events, "node_finished", "lp_note")["outputs"] == {"output": "key=******"}
    finished = assert_well_formed(frames)
    assert finished["status"] == "failed"
    assert finished["error"] == "invalid iterator value: ******, please provide a list."
    assert SECRET.encode() not in b"".join(f.raw.encode() for f in frames)
    assert SECRET.encode() not in detail.content
    assert detail.json()["error"] == finished["error"]


async def test_secret_split_across_stream_chunks_is_masked(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app(SECRET_FIXTURE)
    scripted.script(Reply(chunks=["Sure: hx-7f", "3a9c-very-", "secret", " and hx-", "more"]))
    body = {"inputs": {"name": "Ann"}, "user": "sec", "response_mode": "streaming"}
    async with server.client(handle.key) as client:
        frames = await stream_run(client, body)
    events = events_of(frames)
    chunks = [e["data"]["text"] for e in events if e["event"] == "text_chunk"]
    # a chunk that could begin the secret waits for the next one; nothing partial leaks
    assert chunks == ["Sure: ", "******", " and ", "hx-more"]
    assert events[-1]["data"]["outputs"]["reply"] == "Sure: ****** and hx-more"


async def test_stop_blocking_run(
    server: LiveServer, workflow_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await workflow_app(RETRY)
    scripted.script(Reply(chunks=[f"w{i} " for i in range(40)], delay_between=0.1))
    body = {"inputs": {"q": "long"}, "user": "stopper"}
    async with server.client(handle.key) as client:
        pending = asyncio.create_task(client.post("/v1/workflows/run", json=body))
        async with asyncio.timeout(10):
            while not server.container.live or not scripted.requests:
                await asyncio.sleep(0.02)
        (task_id,) = list(server.container.live)  # test-side peek at the running task
        stop = await client.post(f"/v1/workflows/tasks/{task_id}/stop", json={"user": "other"})
        assert stop.json() == {"result": "success"}  # no owner check for workflow stops
        response = await pending
    assert response.status_code == 200
    blocking = response.json()
    assert blocking["task_id"] == task_id
    assert blocking["data"]["status"] == "stopped"
    assert blocking["data"]["error"] == "Stopped by user."
