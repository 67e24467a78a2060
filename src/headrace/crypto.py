"""Secrets: API key generation and hashing, credential encryption, signed file URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import string
import time

import orjson
from cryptography.fernet import Fernet, InvalidToken

_ALPHABET = string.ascii_letters + string.digits


def new_api_key(prefix: str) -> str:
    """A fresh key such as `app-` + 24 random alphanumerics."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


class CredentialCipher:
    """Encrypts provider credentials with a key derived from the server secret."""

    def __init__(self, secret: str) -> None:
        digest = hashlib.sha256(("credentials:" + secret).encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, values: dict[str, str]) -> str:
        """Encrypt a credential mapping."""
        return self._fernet.encrypt(orjson.dumps(values)).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        """Decrypt a credential mapping; a token from another secret gives ValueError."""
        try:
            data = orjson.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise ValueError("credentials were encrypted with another secret key") from exc
        return {str(k): str(v) for k, v in data.items()}


def sign_file_url(base_url: str, file_id: str, secret: str) -> str:
    """A signed preview URL for an uploaded file (spec §5.10)."""
    timestamp = str(int(time.time()))
    nonce = os.urandom(16).hex()
    message = f"file-preview|{file_id}|{timestamp}|{nonce}".encode()
    sign = base64.urlsafe_b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    return (
        f"{base_url.rstrip('/')}/files/{file_id}/file-preview"
        f"?timestamp={timestamp}&nonce={nonce}&sign={sign.decode()}"
    )


def verify_file_signature(file_id: str, timestamp: str, nonce: str, sign: str, secret: str) -> bool:
    """Check a signature made by `sign_file_url` (valid for 5 minutes)."""
    message = f"file-preview|{file_id}|{timestamp}|{nonce}".encode()
    expected = base64.urlsafe_b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    if not hmac.compare_digest(expected.decode(), sign):
        return False
    return timestamp.isdigit() and time.time() - int(timestamp) <= 300
