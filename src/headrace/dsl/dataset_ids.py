"""Knowledge-base ids in exported graphs: encrypted per workspace (dsl.md §7.1, §8 rule 23).

Dify encrypts `knowledge-retrieval` `dataset_ids` on export with AES-256-CBC, key = SHA-256 of
the workspace id, IV = the first 16 key bytes, PKCS#7 padding, standard Base64. On import a
UUID is kept, anything else is decrypted with the importing workspace's id and kept only if
that yields a UUID, so bindings survive same-workspace round trips and vanish elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def _cipher(workspace_id: str) -> Cipher[modes.CBC]:
    key = hashlib.sha256(workspace_id.encode("utf-8")).digest()
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def is_uuid(value: Any) -> bool:
    """Whether a value is a UUID string (the form of a stored dataset id)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def encrypt_dataset_id(dataset_id: str, workspace_id: str) -> str:
    """The exported form of a dataset id for this workspace."""
    padder = padding.PKCS7(128).padder()
    plain = padder.update(dataset_id.encode("utf-8")) + padder.finalize()
    encryptor = _cipher(workspace_id).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def decrypt_dataset_id(value: str, workspace_id: str) -> str | None:
    """The dataset id behind an exported value, or None when it does not decrypt to a UUID."""
    try:
        raw = base64.b64decode(value, validate=True)
        decryptor = _cipher(workspace_id).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        plain = (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return plain if is_uuid(plain) else None


def _retrieval_nodes(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    workflow = document.get("workflow")
    graph = workflow.get("graph") if isinstance(workflow, Mapping) else None
    nodes = graph.get("nodes") if isinstance(graph, Mapping) else None
    found = []
    for node in nodes if isinstance(nodes, list) else []:
        data = node.get("data") if isinstance(node, dict) else None
        if isinstance(data, dict) and data.get("type") == "knowledge-retrieval":
            found.append(data)
    return found


def restore_dataset_ids(document: dict[str, Any], workspace_id: str) -> None:
    """Import side, in place: keep UUIDs, decrypt the rest for this workspace, drop failures."""
    for data in _retrieval_nodes(document):
        ids = data.get("dataset_ids")
        if not isinstance(ids, list):
            continue
        kept = []
        for value in ids:
            if is_uuid(value):
                kept.append(value)
            elif isinstance(value, str) and (plain := decrypt_dataset_id(value, workspace_id)):
                kept.append(plain)
        data["dataset_ids"] = kept


def encrypt_dataset_ids(document: dict[str, Any], workspace_id: str) -> None:
    """Export side, in place: encrypt every UUID dataset id for this workspace."""
    for data in _retrieval_nodes(document):
        ids = data.get("dataset_ids")
        if isinstance(ids, list):
            data["dataset_ids"] = [
                encrypt_dataset_id(value, workspace_id) if is_uuid(value) else value
                for value in ids
            ]
