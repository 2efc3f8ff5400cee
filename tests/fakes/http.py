"""The local HTTP server under each fake SaaS API: a thread serving 127.0.0.1 on a free port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# respond(method, path, headers, body) -> (status, body, content type[, extra headers]), or None to
# leave the client hanging (a fake's simulated timeout).
Responder = Callable[[str, str, Any, bytes], "tuple | None"]


def serve(respond: Responder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            self._answer("POST", self.rfile.read(length))

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._answer("GET", b"")

        def _answer(self, method: str, raw: bytes) -> None:
            answer = respond(method, self.path, self.headers, raw)  # case-insensitive .get()
            if answer is None:
                return
            status, body, content_type, *extra = answer
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra[0] if extra else {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server
