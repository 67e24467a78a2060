"""Inputs of a graph run: the Start node's form validated (dsl.md §4.1), files turned into
file objects, and the system variables of the run (dsl.md §3.3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from headrace.apps.app_config import InputVariable
from headrace.apps.file_objects import file_object
from headrace.apps.inputs import validate_inputs
from headrace.errors import InvalidParamError
from headrace.settings import Settings
from headrace.store.tables import App


def start_variables(raw: Sequence[Any]) -> tuple[InputVariable, ...]:
    """The Start node's `variables` as input-form entries."""
    out = []
    for item in raw or ():
        if not isinstance(item, Mapping) or not item.get("variable"):
            continue
        max_length = item.get("max_length")
        out.append(
            InputVariable(
                type=str(item.get("type") or "text-input"),
                variable=str(item["variable"]),
                label=str(item.get("label") or item["variable"]),
                required=bool(item.get("required", False)),
                max_length=int(max_length) if isinstance(max_length, int | float) else None,
                options=tuple(str(o) for o in item.get("options") or ()),
                default=item.get("default"),
                raw=dict(item),
            )
        )
    return tuple(out)


async def run_inputs(
    session: AsyncSession,
    settings: Settings,
    app: App,
    variables: tuple[InputVariable, ...],
    given: Mapping[str, Any],
) -> dict[str, Any]:
    """Validated inputs; file inputs become file objects; absent optional inputs are dropped."""
    values = validate_inputs(variables, given)
    kinds = {v.variable: v.type for v in variables}
    result: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if kinds[name] == "file":
            value = await file_object(session, settings, app, value)
        elif kinds[name] == "file-list":
            value = [await file_object(session, settings, app, item) for item in value]
        result[name] = value
    return result


async def sys_files(
    session: AsyncSession, settings: Settings, app: App, files: Sequence[Any]
) -> list[dict[str, Any]]:
    """`sys.files` from the request's `files`."""
    objects = []
    for mapping in files or ():
        if not isinstance(mapping, Mapping):
            raise InvalidParamError("transfer_method is required in file mapping")
        objects.append(await file_object(session, settings, app, mapping))
    return objects
