"""Unmodified Dify SDKs (Python and Node) hold a multi-turn conversation with a chatflow app."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
from dify_client import Client, models

from tests.sdk.conftest import SdkServer
from tests.sdk.test_node_sdk import node_ready
from tests.support.upstream import Reply, ScriptedUpstream

__all__ = ["node_ready"]


def test_python_sdk_multi_turn_chatflow(sdk_server: SdkServer, scripted: ScriptedUpstream) -> None:
    client = Client(api_key=sdk_server.chatflow_key, api_base=sdk_server.api_base)
    scripted.script(Reply(text="One."))
    stream = client.chat_messages(
        models.ChatRequest(
            query="First?",
            inputs={"name": "Py"},
            user="py-chatflow",
            auto_generate_name=False,  # keeps the scripted replies for the two turns
            response_mode=models.ResponseMode.STREAMING,
        )
    )
    events = list(stream)
    answer = "".join(
        getattr(e, "answer", "") or "" for e in events if getattr(e, "event", None) == "message"
    )
    conversation_id = next(e.conversation_id for e in events if getattr(e, "conversation_id", None))
    assert answer == "Sure! One. (turn 1)"
    scripted.script(Reply(text="Two."))
    second = client.chat_messages(
        models.ChatRequest(
            query="Second?",
            inputs={},
            user="py-chatflow",
            conversation_id=conversation_id,
            response_mode=models.ResponseMode.BLOCKING,
        )
    )
    assert second.answer == "Sure! Two. (turn 2)"
    history = scripted.requests[-1].json["messages"]
    assert any(m["content"] == "Sure! One. (turn 1)" for m in history)


def test_node_sdk_multi_turn_chatflow(
    node_ready: Path, sdk_server: SdkServer, scripted: ScriptedUpstream
) -> None:
    done = subprocess.run(
        ["node", "chatflow_check.mjs", sdk_server.api_base, sdk_server.chatflow_key],
        cwd=node_ready,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    summary = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and summary["ok"], summary
    assert summary["first"]["mode"] == "advanced-chat"
    assert summary["first"]["answer"] == "Sure! Echo: First question (turn 1)"
    assert summary["second"]["conversation_id"] == summary["first"]["conversation_id"]
    assert summary["second"]["answer"] == "Sure! Echo: Second question (turn 2)"
    assert summary["history"] == [summary["first"]["answer"], summary["second"]["answer"]]
