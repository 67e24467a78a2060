"""Environment variables of a workflow: secret values sealed at rest, opened for a run."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from headrace.crypto import CredentialCipher

SEALED = "__sealed__"


def seal(variables: Sequence[Any], cipher: CredentialCipher) -> list[dict[str, Any]]:
    """A copy whose secret values are encrypted."""
    sealed: list[dict[str, Any]] = []
    for item in variables or ():
        if not isinstance(item, dict):
            continue
        item = copy.deepcopy(item)
        if item.get("value_type") == "secret" and not _is_sealed(item.get("value")):
            item["value"] = {SEALED: cipher.encrypt({"value": str(item.get("value") or "")})}
        sealed.append(item)
    return sealed


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and SEALED in value


def open_values(
    variables: Sequence[Any], cipher: CredentialCipher
) -> tuple[dict[str, Any], frozenset[str]]:
    """(name → value for a run, the set of secret values to mask everywhere)."""
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for item in variables or ():
        if not isinstance(item, dict) or not item.get("name"):
            continue
        value = item.get("value")
        if isinstance(value, dict) and SEALED in value:
            value = cipher.decrypt(value[SEALED])["value"]
            if value:
                secrets.add(value)
        values[str(item["name"])] = value
    return values, frozenset(secrets)


def unsealed(
    variables: Sequence[Any], cipher: CredentialCipher, include_secrets: bool
) -> list[dict[str, Any]]:
    """Variables for export: secrets as plaintext only when asked, else `""`."""
    out: list[dict[str, Any]] = []
    for item in variables or ():
        if not isinstance(item, dict):
            continue
        item = copy.deepcopy(item)
        if _is_sealed(item.get("value")):
            item["value"] = (
                cipher.decrypt(item["value"][SEALED])["value"] if include_secrets else ""
            )
        out.append(item)
    return out
