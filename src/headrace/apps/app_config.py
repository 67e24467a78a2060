"""A typed, defaulted view of an easy-UI app's `model_config` (dsl.md §1.7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headrace.errors import AppUnavailableError

if TYPE_CHECKING:
    from datetime import datetime

    from headrace.store.tables import App


@dataclass(frozen=True, slots=True)
class InputVariable:
    """One entry of `user_input_form`."""

    type: str
    variable: str
    label: str
    required: bool
    max_length: int | None
    options: tuple[str, ...]
    default: Any
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """The `model` block: which provider/model and its parameters."""

    provider: str
    name: str
    mode: str
    completion_params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AppConfig:
    """What a chat or completion run needs from the app's configuration."""

    model: ModelSettings
    prompt_type: str = "simple"
    pre_prompt: str = ""
    chat_prompt: tuple[tuple[str, str], ...] = ()
    completion_prompt: str = ""
    opening_statement: str | None = None
    suggested_questions: tuple[str, ...] = ()
    suggested_after_answer: bool = False
    inputs: tuple[InputVariable, ...] = ()
    file_upload: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def vision_enabled(self) -> bool:
        """Whether user files may be sent to the model as images."""
        upload = self.file_upload
        if upload.get("enabled"):
            return True
        image = upload.get("image") or {}
        return bool(isinstance(image, dict) and image.get("enabled"))


def _feature_enabled(raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key)
    return bool(isinstance(value, dict) and value.get("enabled"))


def parse_input_form(form: Any) -> tuple[InputVariable, ...]:
    """Parse `user_input_form` (a list of single-key mappings)."""
    if not isinstance(form, list):
        return ()
    variables: list[InputVariable] = []
    for item in form:
        if not isinstance(item, dict) or len(item) != 1:
            continue
        ((kind, spec),) = item.items()
        if not isinstance(spec, dict) or not spec.get("variable"):
            continue
        max_length = spec.get("max_length")
        variables.append(
            InputVariable(
                type=str(kind),
                variable=str(spec["variable"]),
                label=str(spec.get("label") or spec["variable"]),
                required=bool(spec.get("required", False)),
                max_length=int(max_length) if isinstance(max_length, int | float) else None,
                options=tuple(str(o) for o in spec.get("options") or ()),
                default=spec.get("default"),
                raw=dict(spec),
            )
        )
    return tuple(variables)


def parse_app_config(raw: dict[str, Any] | None) -> AppConfig:
    """Build an `AppConfig`; a config without a usable model makes the app unavailable."""
    if not isinstance(raw, dict):
        raise AppUnavailableError()
    model = raw.get("model")
    if not isinstance(model, dict) or not model.get("provider") or not model.get("name"):
        raise AppUnavailableError()
    chat_prompt_raw = (raw.get("chat_prompt_config") or {}).get("prompt") or []
    chat_prompt = tuple(
        (str(m.get("role", "user")), str(m.get("text", "")))
        for m in chat_prompt_raw
        if isinstance(m, dict)
    )
    completion_raw = (raw.get("completion_prompt_config") or {}).get("prompt") or {}
    return AppConfig(
        model=ModelSettings(
            provider=str(model["provider"]),
            name=str(model["name"]),
            mode=str(model.get("mode") or "chat"),
            completion_params=dict(model.get("completion_params") or {}),
        ),
        prompt_type=str(raw.get("prompt_type") or "simple"),
        pre_prompt=str(raw.get("pre_prompt") or ""),
        chat_prompt=chat_prompt,
        completion_prompt=str(completion_raw.get("text", ""))
        if isinstance(completion_raw, dict)
        else "",
        opening_statement=raw.get("opening_statement") or None,
        suggested_questions=tuple(str(q) for q in raw.get("suggested_questions") or ()),
        suggested_after_answer=_feature_enabled(raw, "suggested_questions_after_answer"),
        inputs=parse_input_form(raw.get("user_input_form")),
        file_upload=dict(raw.get("file_upload") or {}),
        raw=raw,
    )


_PARSED: dict[tuple[str, datetime], AppConfig] = {}
_PARSED_LIMIT = 4096


def config_of(app: App) -> AppConfig:
    """`parse_app_config` of an app's stored config, kept per (app, last update): every turn
    reads it, and an edit of the app moves `updated_at`."""
    key = (app.id, app.updated_at)
    config = _PARSED.get(key)
    if config is None:
        config = parse_app_config(app.model_config)
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        _PARSED[key] = config
    return config
