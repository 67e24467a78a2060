"""The unmodified npm `dify-client` SDK (pinned in tests/sdk/node) against `headrace serve`.

`node/sdk_check.mjs` makes the SDK calls and prints a JSON summary; this module installs the
pinned dependencies when needed (`npm ci`), runs the script and checks the summary. The `main`
phase runs on the upstream's default echo replies (answer = "Echo: <last user message>"); the
`stop` phase runs after a slow reply has been scripted.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.sdk.conftest import SdkServer, png_1x1
from tests.support.upstream import Reply, ScriptedUpstream

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "sdk_check.mjs"
NODE = shutil.which("node")
NPM = shutil.which("npm")

pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None,
    reason="node and npm are needed to run the npm dify-client SDK checks",
)


@pytest.fixture(scope="module")
def node_ready() -> Path:
    """tests/sdk/node with its locked dependencies installed."""
    if not (NODE_DIR / "node_modules" / "dify-client" / "package.json").exists():
        done = subprocess.run(
            [str(NPM), "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return NODE_DIR


def _settle(upstream: ScriptedUpstream, quiet: float = 0.3, limit: float = 5.0) -> None:
    """Wait until no new upstream request arrived for `quiet` seconds (background titles)."""
    deadline = time.monotonic() + limit
    seen = len(upstream.requests)
    calm_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = len(upstream.requests)
        if now != seen:
            seen, calm_since = now, time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return


def _run(node_dir: Path, server: SdkServer, phase: str) -> tuple[dict[str, Any], str]:
    env = {
        **os.environ,
        "HEADRACE_SDK_API_BASE": server.api_base,
        "HEADRACE_SDK_CHAT_KEY": server.chat_key,
        "HEADRACE_SDK_COMPLETION_KEY": server.completion_key,
        "HEADRACE_SDK_PNG_BASE64": base64.b64encode(png_1x1()).decode(),
    }
    done = subprocess.run(
        [str(NODE), str(SCRIPT), phase],
        cwd=node_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert lines, (
        f"sdk_check.mjs {phase} printed no summary (exit {done.returncode}):\n"
        f"{done.stdout}\n{done.stderr}\nserver log:\n{server.log_tail()}"
    )
    summary: dict[str, Any] = orjson.loads(lines[-1])
    failed = {k: v for k, v in summary["steps"].items() if not v["ok"]}
    detail = f"failed steps: {failed}\nstderr: {done.stderr}\nserver log:\n{server.log_tail()}"
    return summary, detail


def _step(summary: dict[str, Any], name: str, detail: str) -> dict[str, Any]:
    result: dict[str, Any] = summary["steps"][name]
    assert result["ok"], f"{name} failed\n{detail}"
    return result


def test_node_sdk_main_flow(
    node_ready: Path, sdk_server: SdkServer, scripted: ScriptedUpstream
) -> None:
    summary, detail = _run(node_ready, sdk_server, "main")
    # New conversations get a title from the model after the turn; let those calls land here so
    # they cannot consume a reply scripted by the next test.
    _settle(scripted)

    params = _step(summary, "getApplicationParameters", detail)
    assert params["status"] == 200
    assert params["openingStatement"] == "Hi there"
    assert params["imageUpload"]["enabled"] is True
    assert params["inputs"] == ["name"]

    blocking = _step(summary, "chatBlocking", detail)
    assert blocking["status"] == 200
    assert blocking["answer"] == "Echo: Hello from node"
    assert blocking["mode"] == "chat"
    assert blocking["totalTokens"] > 0
    conversation_id = blocking["conversationId"]
    uuid.UUID(conversation_id)

    streaming = _step(summary, "chatStreaming", detail)
    assert streaming["status"] == 200
    assert streaming["contentType"].startswith("text/event-stream")
    assert streaming["answer"] == "Echo: Stream to node"
    assert streaming["conversationId"] == conversation_id
    assert streaming["eventNames"][-1] == "message_end"
    assert set(streaming["eventNames"][:-1]) == {"message"}
    assert streaming["usage"]["total_tokens"] > 0

    listed = _step(summary, "getConversations", detail)
    assert listed["status"] == 200 and listed["hasMore"] is False
    assert [c["id"] for c in listed["conversations"]] == [conversation_id]
    assert listed["conversations"][0]["inputs"] == {"name": "Node"}

    renamed = _step(summary, "renameConversation", detail)
    assert (renamed["status"], renamed["id"], renamed["name"]) == (
        200,
        conversation_id,
        "Renamed by node",
    )
    after = _step(summary, "getConversationsAfterRename", detail)
    assert {c["id"]: c["name"] for c in after["conversations"]} == {
        conversation_id: "Renamed by node"
    }

    messages = _step(summary, "getConversationMessages", detail)
    assert messages["status"] == 200 and messages["hasMore"] is False
    assert [m["query"] for m in messages["messages"]] == ["Hello from node", "Stream to node"]
    assert [m["id"] for m in messages["messages"]] == [
        blocking["messageId"],
        streaming["messageId"],
    ]
    assert messages["messages"][0]["answer"] == "Echo: Hello from node"
    assert messages["messages"][1]["answer"] == "Echo: Stream to node"

    feedback = _step(summary, "messageFeedback", detail)
    assert (feedback["status"], feedback["result"]) == (200, "success")
    assert _step(summary, "feedbackVisibleInMessages", detail)["feedback"] == {"rating": "like"}

    done = _step(summary, "completionBlocking", detail)
    assert done["status"] == 200 and done["mode"] == "completion"
    assert done["answer"] == "Echo: Translate to French: Bonjour node"
    streamed = _step(summary, "completionStreaming", detail)
    assert streamed["answer"] == "Echo: Translate to French: Bonsoir node"
    assert streamed["eventNames"][-1] == "message_end" and streamed["messageEnd"] is True

    upload = _step(summary, "fileUpload", detail)
    assert upload["status"] == 201
    uuid.UUID(upload["id"])
    assert upload["name"] == "node-pixel.png"
    assert upload["size"] == len(png_1x1())
    assert (upload["extension"], upload["mimeType"]) == ("png", "image/png")

    with_image = _step(summary, "chatWithUploadedImage", detail)
    # The echo joins every content part with a space, the image part adding an empty one.
    assert with_image["answer"].rstrip() == "Echo: Describe the picture"
    image_turns = [
        r.json
        for r in scripted.requests
        if isinstance(r.json["messages"][-1]["content"], list)
        and "Describe the picture" in str(r.json["messages"][-1]["content"])
    ]
    assert len(image_turns) == 1
    parts = image_turns[0]["messages"][-1]["content"]
    assert "image_url" in [p.get("type") for p in parts]

    deleted = _step(summary, "deleteConversation", detail)
    assert deleted["status"] == 204
    assert deleted["remaining"] == [conversation_id]

    assert summary["ok"], detail


def test_node_sdk_stop_streaming_chat(
    node_ready: Path, sdk_server: SdkServer, scripted: ScriptedUpstream
) -> None:
    words = [f"n{i} " for i in range(40)]
    scripted.script(Reply(chunks=words, delay_between=0.1))
    summary, detail = _run(node_ready, sdk_server, "stop")

    stop = _step(summary, "chatStop", detail)
    assert stop["stop"] == {"status": 200, "result": "success"}
    assert stop["messageEnd"] is True and stop["eventNames"][-1] == "message_end"
    full = "".join(words)
    assert stop["answer"] and full.startswith(stop["answer"])
    assert len(stop["answer"]) < len(full)
    assert stop["elapsedMs"] < 3500
    assert summary["ok"], detail
