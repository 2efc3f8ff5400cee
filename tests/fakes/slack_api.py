"""A fake of Slack's Web API, for tests and local runs. Shared by all tests.

Built from Slack's public Web API reference (https://docs.slack.dev/reference/methods, formerly
https://api.slack.com/methods) and "Using the Slack Web API":
  Every method is POST (or GET) https://slack.com/api/<method>; arguments arrive as query string,
  form-encoded or JSON body (slack_sdk sends chat.postMessage and chat.update as JSON). The token is
  an `Authorization: Bearer xoxb-...` header, or a `token` argument in a form body. Slack answers
  HTTP 200 with a JSON object whose "ok" says whether the call worked; a failure carries an
  "error" code, e.g. {"ok": false, "error": "invalid_auth"} for a bad or missing token and
  "unknown_method" for a method that does not exist.
  - auth.test: {"ok", "url", "team", "user", "team_id", "user_id", "bot_id"}.
  - chat.postMessage: channel plus text and/or blocks, optional thread_ts; answers {"ok", "channel",
    "ts", "message"}. A user ID as channel posts to the app's DM with that user (a "D..." channel).
    Errors: channel_not_found, no_text, invalid_blocks.
  - chat.update: channel, ts, text and/or blocks; answers {"ok", "channel", "ts", "text", "message"}.
    Errors: message_not_found, no_text, invalid_blocks.
  - chat.postEphemeral (https://api.slack.com/methods/chat.postEphemeral): channel, user, text and/or
    blocks, optional thread_ts; shows the message only to that user, in that channel, and answers
    {"ok", "message_ts"}. Errors: channel_not_found, user_not_in_channel, no_text, invalid_blocks. (The
    fake keeps no channel members: a user unknown to the workspace is in no channel.)
  - users.info: user; answers {"ok", "user": {"id", "name", "real_name", "tz", "profile": {...}}}.
    Error: user_not_found.
  - conversations.open: users (comma-separated IDs); answers {"ok", "channel": {"id"}}.
    Errors: users_list_not_supplied, user_not_found.
  - users.lookupByEmail: email; answers {"ok", "user": {...}} as users.info. Error: users_not_found.

Tests can make it fail the next N requests (500 or a hang past the client's timeout) to check that
nothing is lost or sent twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from tests.fakes.http import FakeAPIServer

HANG_SECONDS = 30.0  # a hung request gives up after this long, or as soon as the fake stops


def _default_users() -> dict[str, dict]:
    return {"U0MARIA": {"real_name": "Maria Lopez", "name": "maria.lopez", "email": "maria.lopez@acme.example",
                        "tz": "America/New_York"}}


@dataclass
class PostedMessage:
    channel: str  # the conversation ID ("C...", or "D..." when posted to a user ID)
    ts: str
    text: str | None
    blocks: list | None
    thread_ts: str | None = None


@dataclass
class EphemeralMessage:
    channel: str
    user: str  # the only person who sees it
    message_ts: str
    text: str | None
    blocks: list | None
    thread_ts: str | None = None


@dataclass
class FakeSlackAPI(FakeAPIServer):
    """base_url is the server root; slack_sdk clients want base_url=fake.base_url + "/api/"."""

    bot_token: str = field(default_factory=lambda: "xoxb-" + secrets.token_hex(16))
    team_id: str = "T0FAKE"
    bot_user_id: str = "U0BOT"
    bot_id: str = "B0BOT"
    users: dict[str, dict] = field(default_factory=_default_users)  # id -> real_name, name, email, tz
    posted: list[PostedMessage] = field(default_factory=list)
    updates: list[PostedMessage] = field(default_factory=list)  # a snapshot of each message after chat.update
    ephemerals: list[EphemeralMessage] = field(default_factory=list)  # chat.postEphemeral: seen by one user
    calls: list[tuple[str, dict]] = field(default_factory=list)  # every call answered ok: (method, params)
    requests: int = 0
    hang_seconds: float = field(default=HANG_SECONDS, kw_only=True)
    _last_ts: int = 0  # microseconds of the last ts handed out
    _opened: set[str] = field(default_factory=set)

    def _record(self, method: str, target: str) -> None:
        self.requests += 1

    def _failure(self, how: str) -> tuple[int, bytes, str]:
        return 500, b"internal error", "text/plain; charset=utf-8"

    def _answer(self, method: str, target: str, headers: Any, raw: bytes) -> tuple[int, bytes, str]:
        status, payload = self.handle(target, headers.get("Authorization"), headers.get("Content-Type"), raw)
        if status == 200:
            return status, json.dumps(payload).encode(), "application/json; charset=utf-8"
        return status, str(payload.get("body", "")).encode(), "text/plain; charset=utf-8"

    def messages_in(self, channel: str, thread_ts: str | None = None) -> list[PostedMessage]:
        """Messages posted to channel (a user ID means the DM with that user); with thread_ts, only the
        replies in that thread (the parent message itself has no thread_ts)."""
        channel = _dm_for(channel)
        with self._lock:
            return [m for m in self.posted
                    if m.channel == channel and (thread_ts is None or m.thread_ts == thread_ts)]

    def wait_for(self, predicate: Callable[[PostedMessage], bool], timeout: float = 10.0) -> PostedMessage:
        """The first posted message matching predicate, polling until timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._first(predicate)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._not_found(timeout))
            time.sleep(0.05)

    def _first(self, predicate: Callable[[PostedMessage], bool]) -> PostedMessage | None:
        with self._lock:
            posted = list(self.posted)
        return next((m for m in posted if predicate(m)), None)

    def _not_found(self, timeout: float) -> str:
        with self._lock:
            posted = "\n".join(f"  {m}" for m in self.posted) or "  (nothing)"
        return f"no posted Slack message matched within {timeout} s; posted:\n{posted}"

    def handle(self, path: str, authorization: str | None, content_type: str | None,
               raw: bytes) -> tuple[int, dict]:
        url = urllib.parse.urlsplit(path)
        if not url.path.startswith("/api/"):
            return 404, {"body": "not found"}
        method = url.path[len("/api/"):]
        params = _form(url.query)
        try:
            params.update(_body(content_type, raw))
        except ValueError:
            return 200, {"ok": False, "error": "invalid_json"}
        handler = self._methods().get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}
        token = params.pop("token", None)
        if authorization and authorization.startswith("Bearer "):
            token = authorization[len("Bearer "):]
        if token != self.bot_token:
            return 200, {"ok": False, "error": "invalid_auth"}
        payload = handler(params)
        if payload.get("ok"):
            with self._lock:
                self.calls.append((method, params))
        return 200, payload

    def _methods(self) -> dict[str, Callable[[dict], dict]]:
        return {"auth.test": self._auth_test, "chat.postMessage": self._post_message, "chat.update": self._update,
                "chat.postEphemeral": self._post_ephemeral,
                "users.info": self._users_info, "conversations.open": self._conversations_open,
                "users.lookupByEmail": self._lookup_by_email}

    def _auth_test(self, params: dict) -> dict:
        return {"ok": True, "url": "https://fake.slack.example/", "team": "Acme", "user": "candidatebot",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id}

    def _message_parts(self, params: dict) -> tuple[str, str | None, list | None, str | None] | dict:
        """(channel, text, blocks, thread_ts) of a chat.postMessage or chat.postEphemeral, or Slack's error."""
        channel = str(params.get("channel") or "")
        if not channel or (channel[0] in "UW" and channel not in self.users):
            return {"ok": False, "error": "channel_not_found"}
        try:
            blocks = _blocks(params.get("blocks"))
        except ValueError:
            return {"ok": False, "error": "invalid_blocks"}
        text = params.get("text")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        return _dm_for(channel), text, blocks, str(params["thread_ts"]) if params.get("thread_ts") else None

    def _post_message(self, params: dict) -> dict:
        parts = self._message_parts(params)
        if isinstance(parts, dict):
            return parts
        channel, text, blocks, thread_ts = parts
        with self._lock:
            message = PostedMessage(channel, self._next_ts(), text, blocks, thread_ts)
            self.posted.append(message)
        return {"ok": True, "channel": message.channel, "ts": message.ts, "message": self._message_json(message)}

    def _post_ephemeral(self, params: dict) -> dict:
        user = str(params.get("user") or "")
        parts = self._message_parts(params)
        if isinstance(parts, dict):
            return parts
        if user not in self.users:
            return {"ok": False, "error": "user_not_in_channel"}
        channel, text, blocks, thread_ts = parts
        with self._lock:
            message = EphemeralMessage(channel, user, self._next_ts(), text, blocks, thread_ts)
            self.ephemerals.append(message)
        return {"ok": True, "message_ts": message.message_ts}

    def _update(self, params: dict) -> dict:
        channel, ts = _dm_for(str(params.get("channel") or "")), str(params.get("ts") or "")
        try:
            blocks = _blocks(params.get("blocks"))
        except ValueError:
            return {"ok": False, "error": "invalid_blocks"}
        text = params.get("text")
        if text is None and blocks is None:
            return {"ok": False, "error": "no_text"}
        with self._lock:
            message = next((m for m in self.posted if m.channel == channel and m.ts == ts), None)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            if text is not None:
                message.text = text
            if blocks is not None:
                message.blocks = blocks
            self.updates.append(replace(message))
        return {"ok": True, "channel": channel, "ts": ts, "text": message.text,
                "message": self._message_json(message)}

    def _users_info(self, params: dict) -> dict:
        user_id = str(params.get("user") or "")
        user = self.users.get(user_id)
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": {
            "id": user_id, "team_id": self.team_id, "name": user.get("name", ""),
            "real_name": user.get("real_name", ""), "tz": user.get("tz", "America/Los_Angeles"),
            "deleted": False, "is_bot": False, "is_email_confirmed": user.get("email_confirmed", True),
            "profile": {"real_name": user.get("real_name", ""), "display_name": user.get("display_name", ""),
                        "email": user.get("email", "")}}}

    def _lookup_by_email(self, params: dict) -> dict:
        email = str(params.get("email") or "").strip().lower()
        user_id = next((uid for uid, user in self.users.items() if str(user.get("email", "")).lower() == email), None)
        return self._users_info({"user": user_id}) if user_id and email else {"ok": False, "error": "users_not_found"}

    def _conversations_open(self, params: dict) -> dict:
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if any(u not in self.users for u in users):
            return {"ok": False, "error": "user_not_found"}
        if len(users) == 1:
            channel = _dm_for(users[0])
        else:
            digest = hashlib.sha1(",".join(sorted(users)).encode(), usedforsecurity=False).hexdigest()
            channel = "D" + digest[:10].upper()
        with self._lock:
            already_open = channel in self._opened
            self._opened.add(channel)
        return {"ok": True, "no_op": already_open, "already_open": already_open, "channel": {"id": channel}}

    def _message_json(self, message: PostedMessage) -> dict:
        body = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "team": self.team_id,
                "ts": message.ts, "text": message.text or ""}
        if message.blocks is not None:
            body["blocks"] = message.blocks
        if message.thread_ts is not None:
            body["thread_ts"] = message.thread_ts
        return body

    def _next_ts(self) -> str:  # call with the lock held
        self._last_ts = max(time.time_ns() // 1000, self._last_ts + 1)
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"


def _dm_for(channel: str) -> str:
    """Slack posts to a user ID ("U..."/"W...") in the app's DM with that user: a "D..." conversation."""
    return "D" + channel[1:] if channel[:1] in ("U", "W") else channel


def _form(text: str) -> dict:
    return {k: v[0] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}


def _body(content_type: str | None, raw: bytes) -> dict:
    if not raw:
        return {}
    if (content_type or "").split(";")[0].strip() == "application/json":
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        return body
    return _form(raw.decode())


def _blocks(value) -> list | None:
    """Blocks arrive as a list in a JSON body, as a JSON string in a form body."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = json.loads(value)  # a JSONDecodeError is a ValueError
    if not isinstance(value, list):
        raise ValueError("blocks must be a list")
    return value
