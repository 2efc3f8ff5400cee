"""Calling a channel blueprint's own route handler in-process, without starting a server.

sanic-testing is not installed and a real server costs seconds; the handlers only read `headers` and
`body` from the request, so a plain stand-in carries them. What reaches the handler is what Sanic would pass.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from sanic import Blueprint


@dataclass
class StandInRequest:
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class RouteAnswer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call_route(blueprint: Blueprint, method: str, uri: str, *, headers: dict[str, str] | None = None,
               body: bytes = b"", **params: str) -> RouteAnswer:
    route = next(r for r in blueprint._future_routes if r.uri == uri and method in (r.methods or ()))
    reply = asyncio.run(route.handler(StandInRequest(headers or {}, body), **params))
    return RouteAnswer(reply.status, reply.body)
