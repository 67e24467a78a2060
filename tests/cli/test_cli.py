"""The `headrace` command as operators run it: exact spellings, one-line errors, exit 2."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml
from tests.conftest import CHAT_DSL

HEADRACE = [sys.executable, "-m", "headrace.cli"]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEADRACE_DATA_DIR": str(tmp_path), "HEADRACE_LOG_LEVEL": "WARNING"}
    env.pop("HEADRACE_DATABASE_URL", None)
    return subprocess.run(
        [*HEADRACE, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_import_key_list(tmp_path: Path) -> None:
    dsl = tmp_path / "chat.yml"
    dsl.write_text(yaml.safe_dump(CHAT_DSL))
    imported = run(tmp_path, "app", "import", str(dsl))
    assert imported.returncode == 0, imported.stderr
    line = orjson.loads(imported.stdout.strip())
    assert list(line) == ["app_id", "mode"] and line["mode"] == "chat"
    key = run(tmp_path, "app", "key", line["app_id"])
    assert key.returncode == 0
    assert (
        key.stdout.startswith("app-")
        and key.stdout.count("\n") == 1
        and len(key.stdout.strip()) == 28
    )
    listing = run(tmp_path, "app", "list")
    assert orjson.loads(listing.stdout.splitlines()[0])["app_id"] == line["app_id"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("app: [unclosed", "invalid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("version: 0.6\napp: {mode: chat}\n", "Invalid version type"),
        ("version: '0.1.0'\nkind: app\n", "Missing app data in YAML content"),
        ("app: {mode: chat, name: x}\n", "Missing model_config"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path: Path, content: str, fragment: str) -> None:
    dsl = tmp_path / "bad.yml"
    dsl.write_text(content)
    result = run(tmp_path, "app", "import", str(dsl))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and fragment in result.stderr
    assert result.stdout == ""


def test_unknown_ids_and_missing_files_exit_2(tmp_path: Path) -> None:
    missing = run(tmp_path, "app", "import", str(tmp_path / "nope.yml"))
    unknown = run(tmp_path, "app", "key", "00000000-0000-0000-0000-000000000001")
    provider = run(tmp_path, "provider", "configure", "nosuch", "--credential", "api_key=x")
    bad_pair = run(tmp_path, "provider", "configure", "openai", "--credential", "api_key")
    bad_key = run(tmp_path, "provider", "configure", "openai", "--credential", "token=x")
    for result in (missing, unknown, provider, bad_pair, bad_key):
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("headrace: error: ") and result.stderr.count("\n") == 1
    assert "app not found" in unknown.stderr
    assert "unknown provider" in provider.stderr


def test_provider_credentials_are_encrypted_at_rest(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "provider",
        "configure",
        "langgenius/openai/openai",
        "--credential",
        "api_key=sk-very-secret",
        "--credential",
        "base_url=http://127.0.0.1:9/v1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "configured openai"
    raw = (tmp_path / "headrace.db").read_bytes()
    assert b"sk-very-secret" not in raw
    with sqlite3.connect(tmp_path / "headrace.db") as conn:
        (provider, token) = conn.execute(
            "select provider, encrypted from provider_credentials"
        ).fetchone()
    assert provider == "openai" and "sk-very-secret" not in token


def test_quickstart_prints_key_and_curl(tmp_path: Path) -> None:
    result = run(tmp_path, "quickstart", "--no-serve")
    assert result.returncode == 0, result.stderr
    key_line = next(line for line in result.stdout.splitlines() if line.startswith("API key: "))
    key = key_line.removeprefix("API key: ")
    assert key.startswith("app-")
    assert f"Authorization: Bearer {key}" in result.stdout and "curl -N" in result.stdout
    again = run(tmp_path, "quickstart", "--no-serve")
    assert again.stdout.splitlines()[0] == result.stdout.splitlines()[0]  # same demo app reused
