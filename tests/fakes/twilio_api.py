"""A fake of Twilio's Programmable Messaging REST API, for tests and local runs. Shared by all tests.

Built from Twilio's public API reference ("Create a Message resource"):
  POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded To, Body and From or
  MessagingServiceSid, HTTP Basic auth (Account SID : Auth Token); answers 201 with the Message
  resource as JSON (sid "SM" + 32 hex, status "queued"). Errors are JSON {code, message, more_info,
  status}: 401 code 20003 for bad credentials, 400 code 21211 for an invalid To, 400 code 21602 when
  Body is missing, 21610 for a recipient who replied STOP.

Tests can make it fail the next N requests (500 or a hang past the client's timeout) to check that
nothing is lost or sent twice.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import FakeAPIServer


@dataclass
class SentMessage:
    sid: str
    to: str
    sender: str
    body: str


@dataclass
class FakeTwilioAPI(FakeAPIServer):
    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    unsubscribed: set[str] = field(default_factory=set)
    messages: list[SentMessage] = field(default_factory=list)
    requests: int = 0

    def _record(self, method: str, target: str) -> None:
        self.requests += 1

    def _failure(self, how: str) -> tuple[int, bytes, str]:
        return _json(500, _error(20500, "Internal Server Error", 500))

    def _answer(self, method: str, target: str, headers: Any, raw: bytes) -> tuple[int, bytes, str]:
        return _json(*self.handle(target, headers.get("Authorization"), raw))

    def sent_to(self, phone: str) -> list[str]:
        with self._lock:
            return [m.body for m in self.messages if m.to == phone]

    def wait_for(self, phone: str, count: int = 1, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.sent_to(phone)
            if len(bodies) >= count:
                return bodies
            time.sleep(0.1)
        raise AssertionError(f"{count} SMS to {phone} expected, got {self.sent_to(phone)}")

    def handle(self, path: str, authorization: str | None, raw: bytes) -> tuple[int, dict]:
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return 404, _error(20404, "The requested resource was not found", 404)
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if authorization != expected:
            return 401, _error(20003, "Authenticate", 401)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()}
        to, body = form.get("To", ""), form.get("Body")
        if not to.startswith("+") or not to[1:].isdigit():
            return 400, _error(21211, f"The 'To' number {to} is not a valid phone number.", 400)
        if not body:
            return 400, _error(21602, "Message body is required.", 400)
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return 400, _error(21603, "A 'From' or 'MessagingServiceSid' parameter is required", 400)
        if to in self.unsubscribed:
            return 400, _error(21610, "Attempt to send to unsubscribed recipient", 400)
        message = SentMessage("SM" + secrets.token_hex(16), to, form.get("From", ""), body)
        with self._lock:
            self.messages.append(message)
        return 201, {"sid": message.sid, "account_sid": self.account_sid, "to": to, "from": message.sender,
                     "body": body, "status": "queued", "num_segments": "1", "direction": "outbound-api",
                     "api_version": "2010-04-01", "error_code": None, "error_message": None,
                     "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}.json"}


def _json(status: int, payload: dict) -> tuple[int, bytes, str]:
    return status, json.dumps(payload).encode(), "application/json"


def _error(code: int, message: str, status: int) -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
