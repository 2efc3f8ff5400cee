"""The local HTTP server under each fake SaaS API (a thread serving 127.0.0.1 on a free port), and the base
class that runs it and plays the failures tests ask for."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

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


@dataclass(kw_only=True)  # keyword-only, so each fake's own fields keep their positions in its constructor
class FakeAPIServer(ABC):
    """What every fake SaaS API shares: its server thread, and failures queued by fail_next for the next requests.

    A fake supplies _record (note a request as it arrives), _failure (its API's answer to a queued "500" or
    "429") and _answer (the real answer), each returning what a Responder returns.
    """

    FAILURES: ClassVar[tuple[str, ...]] = ("500", "hang")  # the kinds fail_next takes

    failures: list[str] = field(default_factory=list)  # kinds from FAILURES, consumed one per request
    hang_seconds: float = 15.0  # how long a "hang" holds its request, unless the fake stops first
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._stopping.clear()
        self._server = serve(self._respond)
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends any hung request
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def fail_next(self, count: int, how: str = "500") -> None:
        if how not in self.FAILURES:
            raise ValueError(f"unknown failure {how!r}")
        with self._lock:
            self.failures.extend([how] * count)

    def _respond(self, method: str, target: str, headers: Any, raw: bytes) -> tuple | None:
        with self._lock:
            self._record(method, target)
            failure = self.failures.pop(0) if self.failures else None
        if failure == "hang":
            self._stopping.wait(self.hang_seconds)
            return None  # the client times out
        if failure is not None:
            return self._failure(failure)
        return self._answer(method, target, headers, raw)

    def _record(self, method: str, target: str) -> None:  # noqa: B027 - an optional hook, not abstract
        """Called with the lock held for every request, failed ones included."""

    @abstractmethod
    def _failure(self, how: str) -> tuple:
        """This API's answer to a queued failure ("500", "429")."""

    @abstractmethod
    def _answer(self, method: str, target: str, headers: Any, raw: bytes) -> tuple | None:
        """This API's real answer to the request."""
