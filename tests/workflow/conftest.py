"""Fixtures for workflow tests: import DSL fixture files as apps with keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headrace.admin import configure_provider, import_app, new_app_key
from headrace.container import Container
from tests.conftest import AppHandle
from tests.support.upstream import ScriptedUpstream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dsl"


@pytest.fixture
def workflow_app(container: Container, scripted: ScriptedUpstream) -> Any:
    """Factory: import `tests/fixtures/dsl/<name>` (or YAML text) and mint a key."""

    async def make(name_or_text: str) -> AppHandle:
        await configure_provider(
            container.db,
            container.providers,
            container.cipher,
            "openai",
            {"api_key": "sk-test", "base_url": scripted.base_url},
        )
        text = (
            (FIXTURES / name_or_text).read_text("utf-8")
            if name_or_text.endswith(".yml")
            else name_or_text
        )
        app = await import_app(container.db, text, container.cipher)
        return AppHandle(app.id, await new_app_key(container.db, app.id))

    return make
