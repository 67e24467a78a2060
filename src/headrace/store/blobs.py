"""Blob storage for uploaded bytes: a local directory (S3-compatible storage later)."""

from __future__ import annotations

import asyncio
from pathlib import Path


class LocalBlobStore:
    """Keeps each blob as a file under `root`, addressed by a relative key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"blob key escapes the store: {key}")
        return path

    async def put(self, key: str, data: bytes) -> None:
        """Write a blob."""
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        """Read a blob; FileNotFoundError when it is gone."""
        return await asyncio.to_thread(self._path(key).read_bytes)
