"""RunStream frames: text deltas come from a per-run template, byte for byte what the
generic renderer gives, in every mode and for answers that need escaping."""

from __future__ import annotations

import orjson
import pytest

from headrace.apps.events import Envelope, ErrorEvent, MessageEvent
from headrace.apps.run_stream import RunStream
from headrace.apps.wire import to_wire

ANSWERS = ["tok ", "", 'quote " backslash \\ newline \n tab \t', "é 漢字 🙂", "\u2060answer\u2060"]


def _generic(env: Envelope, event: MessageEvent | ErrorEvent) -> bytes:
    return b"data: " + orjson.dumps(to_wire(env, event)) + b"\n\n"


@pytest.mark.parametrize("mode", ["chat", "agent-chat", "advanced-chat", "completion", "workflow"])
def test_delta_frames_match_the_generic_renderer(mode: str) -> None:
    env = Envelope(
        mode=mode,
        task_id="task-1",
        message_id="msg-1",
        conversation_id=None if mode == "completion" else "conv-1",
        created_at=1_700_000_000,
        workflow_run_id="run-1",
    )
    stream = RunStream(env)
    for answer in ANSWERS:
        event = MessageEvent(answer)
        assert stream.push(event) == _generic(env, event)
        assert orjson.loads(stream.since(stream.size - 1)[0][1][6:])["answer"] == answer
    # Deltas naming their variable (chatflow answers) and other events take the generic way.
    named = MessageEvent("x", from_variable_selector=["llm", "text"])
    assert stream.push(named) == _generic(env, named)
    error = ErrorEvent("internal_server_error", 500, "boom")
    assert stream.push(error) == _generic(env, error)
    assert [event for event in stream.events()][-2:] == [named, error]
