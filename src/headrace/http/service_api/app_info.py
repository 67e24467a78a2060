"""`/v1/`, `/v1/info`, `/v1/parameters`, `/v1/meta`, `/v1/site` (spec §1.1, §5.12)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from headrace import __version__
from headrace.apps.features import features_of
from headrace.http.deps import app_from_key, container_of
from headrace.store.tables import App

router = APIRouter()
DISABLED: dict[str, Any] = {"enabled": False}
DEFAULT_FILE_UPLOAD: dict[str, Any] = {
    "image": {
        "enabled": False,
        "number_limits": 3,
        "detail": "high",
        "transfer_methods": ["remote_url", "local_file"],
    }
}
SYSTEM_PARAMETERS = {
    "image_file_size_limit": 10,
    "video_file_size_limit": 100,
    "audio_file_size_limit": 50,
    "file_size_limit": 15,
    "workflow_file_upload_limit": 10,
}


@router.get("/", summary="API welcome")
async def index() -> dict[str, str]:
    """Unauthenticated version banner."""
    return {"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": __version__}


@router.get("/info", summary="App information")
async def info(app: Annotated[App, Depends(app_from_key)]) -> dict[str, Any]:
    """Name, description, tags, mode and author of the app."""
    return {
        "name": app.name,
        "description": app.description,
        "tags": list(app.tags or []),
        "mode": app.mode,
        "author_name": "",
    }


def _feature(raw: dict[str, Any], key: str, default: dict[str, Any] | None = None) -> Any:
    value = raw.get(key)
    return value if isinstance(value, dict) else dict(default or DISABLED)


@router.get("/parameters", summary="App input form and features")
async def parameters(
    request: Request, app: Annotated[App, Depends(app_from_key)]
) -> dict[str, Any]:
    """What a client needs to render the app's input form and features."""
    features = await features_of(container_of(request), app)
    raw = features.raw
    return {
        "opening_statement": raw.get("opening_statement") or None,
        "suggested_questions": list(raw.get("suggested_questions") or []),
        "suggested_questions_after_answer": _feature(raw, "suggested_questions_after_answer"),
        "speech_to_text": _feature(raw, "speech_to_text"),
        "text_to_speech": _feature(raw, "text_to_speech"),
        "retriever_resource": _feature(raw, "retriever_resource"),
        "annotation_reply": _feature(raw, "annotation_reply"),
        "more_like_this": _feature(raw, "more_like_this"),
        "user_input_form": features.user_input_form,
        "sensitive_word_avoidance": _feature(
            raw, "sensitive_word_avoidance", {"enabled": False, "type": "", "configs": []}
        ),
        "file_upload": _feature(raw, "file_upload", DEFAULT_FILE_UPLOAD),
        "system_parameters": dict(SYSTEM_PARAMETERS),
    }


@router.get("/meta", summary="Tool icons")
async def meta(app: Annotated[App, Depends(app_from_key)]) -> dict[str, Any]:
    """Icons of the tools the app uses (none until tools arrive)."""
    return {"tool_icons": {}}


@router.get("/site", summary="Web app settings")
async def site(app: Annotated[App, Depends(app_from_key)]) -> dict[str, Any]:
    """The app's web-site settings."""
    return {
        "title": app.name,
        "chat_color_theme": None,
        "chat_color_theme_inverted": False,
        "icon_type": app.icon_type,
        "icon": app.icon,
        "icon_background": app.icon_background,
        "description": app.description,
        "copyright": None,
        "privacy_policy": None,
        "custom_disclaimer": "",
        "default_language": "en-US",
        "show_workflow_steps": True,
        "use_icon_as_answer_icon": app.use_icon_as_answer_icon,
        "icon_url": None,
    }
