"""The server's entry point freezes the startup heap (so full garbage collections skip it);
apps built by tests and embedders do not unless asked."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from headrace.http.app import create_app
from headrace.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.parametrize("freeze", [False, True])
async def test_heap_frozen_only_when_asked(
    settings: Settings, unfrozen: None, freeze: bool
) -> None:
    app = create_app(settings, freeze_heap=freeze)
    async with app.router.lifespan_context(app):
        frozen = gc.get_freeze_count()
        assert app.state.container is not None
    assert (frozen > 10_000) is freeze


def test_server_entry_point_asks_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import headrace.asgi

    seen: dict[str, object] = {}

    def record(settings: Settings, **kwargs: object) -> object:
        seen.update(kwargs)
        return object()

    monkeypatch.setattr(headrace.asgi, "create_app", record)
    monkeypatch.setattr(headrace.asgi, "configure_logging", lambda level: None)
    headrace.asgi.create()
    assert seen == {"freeze_heap": True}
