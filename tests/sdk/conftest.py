"""A real `headrace serve` subprocess for the SDK compatibility tests.

The database is prepared with the CLI exactly as an operator would (provider credentials pointing
at the session's scripted upstream, two imported apps, one key each); then the server runs on a
free loopback port until the test module ends. The SDK tests talk to it over plain HTTP.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from tests.conftest import COMPLETION_DSL
from tests.support.upstream import ScriptedUpstream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dsl"

#: A chat app with an optional text input, image upload (local file or URL) and suggestions.
SDK_CHAT_DSL: dict[str, Any] = {
    "version": "0.3.0",
    "kind": "app",
    "app": {"mode": "chat", "name": "SDK chat", "description": "chat app for SDK checks"},
    "model_config": {
        "model": {
            "provider": "langgenius/openai/openai",
            "name": "gpt-4o-mini",
            "mode": "chat",
            "completion_params": {"temperature": 0.1},
        },
        "pre_prompt": "You are a test assistant for {{name}}.",
        "prompt_type": "simple",
        "opening_statement": "Hi there",
        "suggested_questions": ["What can you do?"],
        "suggested_questions_after_answer": {"enabled": True},
        "user_input_form": [
            {"text-input": {"variable": "name", "label": "Name", "required": False}}
        ],
        "file_upload": {
            "image": {
                "enabled": True,
                "number_limits": 2,
                "detail": "low",
                "transfer_methods": ["remote_url", "local_file"],
            }
        },
    },
}


@dataclass
class SdkServer:
    """A running `headrace serve` and what the SDKs need to reach it."""

    base_url: str
    chat_key: str
    completion_key: str
    chat_app_id: str
    completion_app_id: str
    chatflow_key: str
    upstream: ScriptedUpstream
    log_path: Path

    @property
    def api_base(self) -> str:
        """The Service API base URL (`.../v1`), as SDKs expect it."""
        return f"{self.base_url}/v1"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's stdout/stderr, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def png_1x1() -> bytes:
    """A valid 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _headrace_bin() -> str:
    beside = Path(sys.executable).with_name("headrace")
    if beside.exists():
        return str(beside)
    found = shutil.which("headrace")
    if not found:
        pytest.fail("the `headrace` console script is not installed in this environment")
    return found


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [_headrace_bin(), *args], env=env, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        pytest.fail(f"headrace {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout.strip()


def _import(env: dict[str, str], path: Path, dsl: dict[str, Any]) -> tuple[str, str]:
    path.write_text(yaml.safe_dump(dsl, allow_unicode=True), encoding="utf-8")
    imported = orjson.loads(_cli(env, "app", "import", str(path)))
    assert imported["mode"] == dsl["app"]["mode"]
    key = _cli(env, "app", "key", imported["app_id"])
    assert key.startswith("app-"), key
    return imported["app_id"], key


def _wait_until_up(proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"headrace serve exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/v1/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"headrace serve did not answer GET /v1/ within 30 s:\n{log_path.read_text()}")


def _die_with_parent() -> None:
    """Linux: have the server killed if the test process dies without tearing it down."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def sdk_server(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SdkServer]:
    """A `headrace serve` subprocess on SQLite, its providers pointed at the scripted upstream."""
    root = tmp_path_factory.mktemp("sdk-server")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HEADRACE_") and k not in ("VIRTUAL_ENV_PROMPT",)
    }
    env.update(
        {
            "HEADRACE_DATA_DIR": str(root / "data"),
            "HEADRACE_LOG_LEVEL": "WARNING",
            "HEADRACE_FILES_URL": base_url,
        }
    )
    _cli(
        env,
        "provider",
        "configure",
        "openai",
        "--credential",
        "api_key=sk-test",
        "--credential",
        f"base_url={upstream.base_url}",
    )
    chat_app_id, chat_key = _import(env, root / "chat.yml", SDK_CHAT_DSL)
    completion_app_id, completion_key = _import(env, root / "completion.yml", COMPLETION_DSL)
    chatflow = yaml.safe_load((FIXTURES / "chatflow-memory.yml").read_text("utf-8"))
    _, chatflow_key = _import(env, root / "chatflow.yml", chatflow)

    log_path = root / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [_headrace_bin(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    try:
        _wait_until_up(proc, base_url, log_path)
        yield SdkServer(
            base_url=base_url,
            chat_key=chat_key,
            completion_key=completion_key,
            chat_app_id=chat_app_id,
            completion_app_id=completion_app_id,
            chatflow_key=chatflow_key,
            upstream=upstream,
            log_path=log_path,
        )
    finally:
        _stop(proc)
