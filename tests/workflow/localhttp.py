"""A tiny HTTP service on loopback for http-request nodes: answers every request with a
JSON description of what it received (sorted keys, so bodies are comparable)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class _Handler(BaseHTTPRequestHandler):
    server_version = "local-echo"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        payload: dict[str, Any] = {"method": self.command, "path": parts.path}
        if parts.query:
            payload["query"] = parts.query
        if self.headers.get("x-token"):
            payload["token"] = self.headers["x-token"]
        if raw:
            try:
                payload["body"] = json.loads(raw)
            except ValueError:
                payload["body"] = raw.decode("utf-8", "replace")
            payload["content_type"] = self.headers.get("content-type")
        body = json.dumps(payload, sort_keys=True).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer


@contextmanager
def echo_service() -> Iterator[str]:
    """Serve on 127.0.0.1 in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="local-echo", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
