"""The unmodified PyPI `dify-client-python` SDK against a real `headrace serve` process.

Every call goes through the SDK's own request building and response models; results are checked
against what the scripted upstream was told to answer (and, where the SDK hides a value, against
the server's state read back over plain HTTP).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from dify_client import AsyncClient, Client, errors, models

from tests.sdk.conftest import SdkServer, png_1x1
from tests.support.upstream import Reply, ScriptedUpstream

BLOCKING = models.ResponseMode.BLOCKING
STREAMING = models.ResponseMode.STREAMING


def _user() -> str:
    return f"py-sdk-{uuid.uuid4().hex[:8]}"


def _chat(query: str, user: str, mode: models.ResponseMode, **extra: Any) -> models.ChatRequest:
    return models.ChatRequest(
        query=query,
        inputs={"name": "Ada"},
        response_mode=mode,
        user=user,
        auto_generate_name=False,
        **extra,
    )


def _deltas(events: Iterable[Any]) -> str:
    return "".join(e.answer for e in events if isinstance(e, models.MessageStreamResponse))


def _http(server: SdkServer, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.api_base, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


@pytest.fixture
def chat_client(sdk_server: SdkServer, scripted: ScriptedUpstream) -> Client:
    return Client(api_key=sdk_server.chat_key, api_base=sdk_server.api_base)


@pytest.fixture
def completion_client(sdk_server: SdkServer, scripted: ScriptedUpstream) -> Client:
    return Client(api_key=sdk_server.completion_key, api_base=sdk_server.api_base)


def test_blocking_chat(chat_client: Client, scripted: ScriptedUpstream) -> None:
    scripted.script(Reply(chunks=["Hello ", "from ", "Headrace", "!"], usage=(11, 4)))
    response = chat_client.chat_messages(_chat("Hi there", _user(), BLOCKING))

    assert isinstance(response, models.ChatResponse)
    assert response.answer == "Hello from Headrace!"
    assert response.mode == models.Mode.CHAT
    assert response.event == "message"
    assert response.id == response.message_id
    uuid.UUID(response.message_id)
    uuid.UUID(response.task_id or "")
    assert abs(response.created_at - time.time()) < 60
    usage = response.metadata.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 4, 15)
    assert usage.currency == "USD" and usage.latency >= 0
    assert response.metadata.retriever_resources == []

    (sent,) = scripted.requests
    assert sent.json["messages"][0] == {
        "role": "system",
        "content": "You are a test assistant for Ada.",
    }
    assert sent.json["messages"][-1] == {"role": "user", "content": "Hi there"}


def test_streaming_chat(chat_client: Client, scripted: ScriptedUpstream) -> None:
    scripted.script(Reply(chunks=["Stream", "ing ", "works"], usage=(9, 3)))
    events = list(chat_client.chat_messages(_chat("Stream please", _user(), STREAMING)))

    messages = [e for e in events if isinstance(e, models.MessageStreamResponse)]
    assert [e.answer for e in messages] == ["Stream", "ing ", "works"]
    assert _deltas(events) == "Streaming works"
    end = events[-1]
    assert isinstance(end, models.MessageEndStreamResponse)
    assert end.event == models.StreamEvent.MESSAGE_END
    assert end.metadata is not None
    usage = end.metadata.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (9, 3, 12)
    # One turn: one task, one message, one conversation, one creation time.
    assert {e.task_id for e in events} == {end.task_id}
    assert {e.message_id for e in messages} == {end.message_id}
    assert {e.conversation_id for e in messages} == {end.conversation_id}
    assert {e.created_at for e in messages} == {end.created_at}
    uuid.UUID(end.conversation_id or "")
    assert [e.event for e in events] == ["message"] * 3 + ["message_end"]


def test_conversation_continues_with_conversation_id(
    sdk_server: SdkServer,
    chat_client: Client,
    scripted: ScriptedUpstream,
) -> None:
    user = _user()
    scripted.script(Reply(text="First answer"), Reply(text="Second answer"))
    first = list(chat_client.chat_messages(_chat("First question", user, STREAMING)))
    conversation_id = first[-1].conversation_id
    assert conversation_id and _deltas(first) == "First answer"

    second = chat_client.chat_messages(
        _chat("Second question", user, BLOCKING, conversation_id=conversation_id)
    )
    assert isinstance(second, models.ChatResponse)
    assert second.answer == "Second answer"

    # The second upstream call carried the first turn as history.
    history = scripted.requests[1].json["messages"]
    assert [(m["role"], m["content"]) for m in history[1:]] == [
        ("user", "First question"),
        ("assistant", "First answer"),
        ("user", "Second question"),
    ]
    # The SDK's ChatResponse model drops `conversation_id`; read the thread back over HTTP.
    with _http(sdk_server, sdk_server.chat_key) as http:
        listed = http.get(
            "/messages", params={"conversation_id": conversation_id, "user": user}
        ).json()
    assert [m["query"] for m in listed["data"]] == ["First question", "Second question"]
    assert listed["data"][1]["id"] == second.message_id
    assert listed["data"][0]["answer"] == "First answer"
    assert listed["data"][1]["answer"] == "Second answer"


def test_completion_blocking(completion_client: Client, scripted: ScriptedUpstream) -> None:
    scripted.script(Reply(chunks=["Bon", "jour"], usage=(6, 2)))
    response = completion_client.completion_messages(
        models.CompletionRequest(
            inputs={"text": "Good morning"}, response_mode=BLOCKING, user=_user()
        )
    )
    assert isinstance(response, models.CompletionResponse)
    assert response.answer == "Bonjour"
    assert response.mode == models.Mode.COMPLETION
    assert response.id == response.message_id
    usage = response.metadata.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (6, 2, 8)
    (sent,) = scripted.requests
    assert "Translate to French: Good morning" in str(sent.json["messages"])


def test_completion_streaming(completion_client: Client, scripted: ScriptedUpstream) -> None:
    scripted.script(Reply(chunks=["Bon", "soir", "!"], usage=(6, 3)))
    events = list(
        completion_client.completion_messages(
            models.CompletionRequest(
                inputs={"text": "Good evening"}, response_mode=STREAMING, user=_user()
            )
        )
    )
    assert _deltas(events) == "Bonsoir!"
    end = events[-1]
    assert isinstance(end, models.MessageEndStreamResponse)
    assert end.metadata is not None and end.metadata.usage.total_tokens == 9
    assert {e.message_id for e in events} == {end.message_id}


def _slow_words(count: int) -> list[str]:
    return [f"w{i} " for i in range(count)]


def test_stop_streaming_chat_midway(
    sdk_server: SdkServer,
    chat_client: Client,
    scripted: ScriptedUpstream,
) -> None:
    words = _slow_words(40)
    scripted.script(Reply(chunks=words, delay_between=0.1))
    user = _user()
    started = time.monotonic()
    stream = chat_client.chat_messages(_chat("Talk slowly", user, STREAMING))
    first = next(stream)
    assert isinstance(first, models.MessageStreamResponse)
    assert first.answer == "w0 "

    stopped = chat_client.stop_chat_messages(first.task_id or "", models.StopRequest(user=user))
    assert stopped.result == "success"
    rest = list(stream)
    elapsed = time.monotonic() - started

    end = rest[-1]
    assert isinstance(end, models.MessageEndStreamResponse)
    assert end.message_id == first.message_id
    answer = first.answer + _deltas(rest)
    full = "".join(words)
    assert answer and full.startswith(answer) and len(answer) < len(full)
    assert elapsed < 3.5, f"the stream ran for {elapsed:.1f} s after a stop"
    assert end.metadata is not None and end.metadata.usage.completion_tokens >= 1

    # The stored message keeps the partial answer.
    with _http(sdk_server, sdk_server.chat_key) as http:
        listed = http.get(
            "/messages", params={"conversation_id": end.conversation_id, "user": user}
        ).json()
    assert [m["id"] for m in listed["data"]] == [end.message_id]
    assert listed["data"][0]["answer"] == answer


def test_stop_streaming_completion_midway(
    completion_client: Client, scripted: ScriptedUpstream
) -> None:
    words = _slow_words(40)
    scripted.script(Reply(chunks=words, delay_between=0.1))
    user = _user()
    stream = completion_client.completion_messages(
        models.CompletionRequest(inputs={"text": "long"}, response_mode=STREAMING, user=user)
    )
    first = next(stream)
    assert isinstance(first, models.MessageStreamResponse)
    stopped = completion_client.stop_completion_messages(
        first.task_id or "", models.StopRequest(user=user)
    )
    assert stopped.result == "success"
    rest = list(stream)
    assert isinstance(rest[-1], models.MessageEndStreamResponse)
    answer = first.answer + _deltas(rest)
    assert "".join(words).startswith(answer) and len(answer) < len("".join(words))


def test_feedback_like_then_dislike(
    sdk_server: SdkServer, chat_client: Client, scripted: ScriptedUpstream
) -> None:
    user = _user()
    scripted.script(Reply(text="Rate me"))
    answer = chat_client.chat_messages(_chat("Say something", user, BLOCKING))
    assert isinstance(answer, models.ChatResponse) and answer.answer == "Rate me"

    liked = chat_client.feedback_messages(
        answer.message_id, models.FeedbackRequest(rating=models.Rating.LIKE, user=user)
    )
    assert liked.result == "success"
    with _http(sdk_server, sdk_server.chat_key) as http:
        feedbacks = http.get("/app/feedbacks").json()["data"]
    mine = [f for f in feedbacks if f["message_id"] == answer.message_id]
    assert [(f["rating"], f["from_source"]) for f in mine] == [("like", "user")]

    disliked = chat_client.feedback_messages(
        answer.message_id,
        models.FeedbackRequest(rating=models.Rating.DISLIKE, user=user, content="too short"),
    )
    assert disliked.result == "success"
    with _http(sdk_server, sdk_server.chat_key) as http:
        feedbacks = http.get("/app/feedbacks").json()["data"]
    mine = [f for f in feedbacks if f["message_id"] == answer.message_id]
    assert [(f["rating"], f["content"]) for f in mine] == [("dislike", "too short")]


def test_suggested_questions(chat_client: Client, scripted: ScriptedUpstream) -> None:
    user = _user()
    scripted.script(
        Reply(text="Rivers flow downhill."),
        Reply(text='["Why downhill?", "Which is longest?", "Where do they end?"]'),
    )
    answer = chat_client.chat_messages(_chat("Tell me about rivers", user, BLOCKING))
    assert isinstance(answer, models.ChatResponse)

    suggested = chat_client.suggest_messages(
        answer.message_id, models.ChatSuggestRequest(user=user)
    )
    assert isinstance(suggested, models.ChatSuggestResponse)
    assert suggested.result == "success"
    assert suggested.data == ["Why downhill?", "Which is longest?", "Where do they end?"]
    # The suggestion prompt quotes the turn it follows.
    (prompt,) = scripted.requests[-1].json["messages"]
    turn = prompt["content"].rpartition("\n\nUser: ")[2]
    asked, _, answered = turn.partition("\nAssistant: ")
    assert asked == "Tell me about rivers"
    assert answered == "Rivers flow downhill."


def test_upload_png_and_send_it(chat_client: Client, scripted: ScriptedUpstream) -> None:
    user = _user()
    png = png_1x1()
    uploaded = chat_client.upload_files(
        ("pixel.png", png, "image/png"), models.UploadFileRequest(user=user)
    )
    assert isinstance(uploaded, models.UploadFileResponse)
    uuid.UUID(uploaded.id)
    assert uploaded.name == "pixel.png"
    assert uploaded.size == len(png)
    assert uploaded.extension == "png"
    assert uploaded.mime_type == "image/png"
    assert abs(uploaded.created_at - time.time()) < 60

    scripted.script(Reply(text="A red pixel."))
    image = models.File(
        type=models.FileType.IMAGE,
        transfer_method=models.TransferMethod.LOCAL_FILE,
        upload_file_id=uploaded.id,
    )
    response = chat_client.chat_messages(
        _chat("What is in the picture?", user, BLOCKING, files=[image])
    )
    assert isinstance(response, models.ChatResponse)
    assert response.answer == "A red pixel."
    last = scripted.requests[-1].json["messages"][-1]
    assert last["role"] == "user" and isinstance(last["content"], list)
    kinds = [part.get("type") for part in last["content"]]
    assert "image_url" in kinds and "text" in kinds


async def test_async_client_streaming_and_blocking(
    sdk_server: SdkServer, scripted: ScriptedUpstream
) -> None:
    # The SDK shares one module-level httpx.AsyncClient, whose pooled connections belong to the
    # event loop that opened them: keep every AsyncClient call in this one test.
    client = AsyncClient(api_key=sdk_server.chat_key, api_base=sdk_server.api_base)
    user = _user()
    scripted.script(Reply(chunks=["Async ", "stream ", "ok"], usage=(5, 3)), Reply(text="Again"))

    stream = await client.achat_messages(_chat("async please", user, STREAMING))
    events = [event async for event in stream]
    assert _deltas(events) == "Async stream ok"
    end = events[-1]
    assert isinstance(end, models.MessageEndStreamResponse)
    assert end.metadata is not None and end.metadata.usage.total_tokens == 8

    follow_up = await client.achat_messages(
        _chat("and blocking", user, BLOCKING, conversation_id=end.conversation_id)
    )
    assert isinstance(follow_up, models.ChatResponse)
    assert follow_up.answer == "Again"
    assert len(scripted.requests[-1].json["messages"]) == 4  # system + 1st turn + question


def test_errors_map_to_sdk_exceptions(
    sdk_server: SdkServer, chat_client: Client, completion_client: Client
) -> None:
    user = _user()
    with pytest.raises(errors.DifyNotChatApp) as not_chat:
        completion_client.chat_messages(_chat("hi", user, BLOCKING))
    assert (not_chat.value.status, not_chat.value.code) == (400, "not_chat_app")

    with pytest.raises(errors.DifyAppUnavailable) as unavailable:
        chat_client.completion_messages(
            models.CompletionRequest(inputs={}, response_mode=BLOCKING, user=user)
        )
    assert (unavailable.value.status, unavailable.value.code) == (400, "app_unavailable")

    with pytest.raises(errors.DifyInvalidParam) as invalid:
        completion_client.completion_messages(
            models.CompletionRequest(inputs={}, response_mode=STREAMING, user=user)
        ).__next__()
    assert invalid.value.status == 400
    assert invalid.value.message == "text is required in input form"

    with pytest.raises(errors.DifyResourceNotFound) as missing:
        chat_client.chat_messages(
            _chat("hi", user, STREAMING, conversation_id=str(uuid.uuid4()))
        ).__next__()
    assert (missing.value.status, missing.value.code) == (404, "conversation_not_exists")
    assert missing.value.message == "Conversation Not Exists."

    stranger = Client(api_key="app-not-a-real-key", api_base=sdk_server.api_base)
    with pytest.raises(errors.DifyAPIError) as denied:
        stranger.chat_messages(_chat("hi", user, BLOCKING))
    assert (denied.value.status, denied.value.code) == (401, "unauthorized")


def test_upstream_failure_mid_stream_reaches_the_sdk(
    chat_client: Client, scripted: ScriptedUpstream
) -> None:
    scripted.script(Reply(chunks=["Half ", "an "], error_mid_stream=True))
    events = list(chat_client.chat_messages(_chat("fail please", _user(), STREAMING)))
    assert _deltas(events) == "Half an "
    last = events[-1]
    assert last.event == models.StreamEvent.ERROR
    dumped = last.model_dump()
    assert (dumped["status"], dumped["code"]) == (400, "completion_request_error")
    assert dumped["message"]
