"""config_of: one parse per (app, last update); an edit of the app is seen at once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from headrace.apps.app_config import config_of
from headrace.errors import AppUnavailableError
from headrace.store.tables import App
from headrace.store.tables.base import new_id

APP_ID = new_id()


def _app(pre_prompt: str, updated: datetime) -> App:
    config = {"model": {"provider": "openai", "name": "gpt-4o-mini"}, "pre_prompt": pre_prompt}
    return App(id=APP_ID, mode="chat", name="a", model_config=config, updated_at=updated)


def test_parsed_once_per_update_and_reparsed_after_an_edit() -> None:
    first = datetime(2026, 12, 3, 9, 0, 0)
    config = config_of(_app("one", first))
    assert config.pre_prompt == "one"
    # A different object for the same stored version (e.g. another key's cached App).
    assert config_of(_app("one", first)) is config
    edited = config_of(_app("two", first + timedelta(microseconds=1)))
    assert edited.pre_prompt == "two"


def test_an_unusable_config_is_refused_every_time() -> None:
    app = App(id=new_id(), mode="chat", name="b", model_config={}, updated_at=datetime(2026, 1, 1))
    for _ in range(2):
        with pytest.raises(AppUnavailableError):
            config_of(app)
