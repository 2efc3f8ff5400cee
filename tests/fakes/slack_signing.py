"""Requests as Slack sends them to an app, signed like Slack signs them. For tests.

Built from Slack's public documentation:
  - "Verifying requests from Slack" (https://docs.slack.dev/authentication/verifying-requests-from-slack/):
    Slack sends X-Slack-Request-Timestamp (Unix seconds) and X-Slack-Signature, which is "v0=" + the hex
    HMAC-SHA256, keyed with the app's signing secret, of the base string f"v0:{timestamp}:{raw_body}".
    Apps reject timestamps more than five minutes away from now.
  - The Events API (https://docs.slack.dev/apis/events-api/): events arrive as a JSON POST, an
    "event_callback" envelope (token, team_id, api_app_id, event, type, event_id, event_time,
    authorizations) around the event; the "url_verification" request carries a challenge to echo. A
    `message` event (https://docs.slack.dev/reference/events/message/) has channel, user, text, ts,
    event_ts, channel_type and, for a thread reply, thread_ts.
  - "Handling user interaction" (https://docs.slack.dev/interactivity/handling-user-interaction/) and the
    block_actions payload reference (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload):
    a click on a button arrives as a form-encoded POST with one field, `payload`, holding the JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
import uuid

VERIFICATION_TOKEN = "fake-verification-token"  # the deprecated token Slack still puts in payloads

_ts_lock = threading.Lock()
_last_ts = 0


def signature(secret: str, body: bytes, timestamp: int | str) -> str:
    """Slack's v0 signature of body sent at timestamp."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None, content_type: str | None = None) -> dict[str, str]:
    """The headers Slack sends with body: timestamp (default now), signature and Content-Type (JSON for an
    Events API body, form-encoded for an interactivity payload unless content_type says otherwise)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    if content_type is None:
        content_type = "application/json" if body.lstrip().startswith(b"{") else "application/x-www-form-urlencoded"
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature(secret, body, timestamp),
            "Content-Type": content_type}


def event_callback(event: dict, team_id: str = "T0FAKE", api_app_id: str = "A0APP",
                   event_id: str | None = None) -> bytes:
    """The JSON body of an Events API event_callback envelope around event."""
    return json.dumps({
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": "U0BOT", "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_urlsafe(12),
    }).encode()


def thread_reply_event(channel: str, thread_ts: str, text: str, user: str = "U0MARIA",
                       ts: str | None = None) -> dict:
    """A `message` event: user replied text in the thread thread_ts of channel (a DM if it starts with D)."""
    ts = ts or new_ts()
    return {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "thread_ts": thread_ts,
            "channel_type": "im" if channel.startswith("D") else "channel", "event_ts": ts,
            "client_msg_id": str(uuid.uuid4())}


def block_action(action_id: str, value: str, user: str = "U0MARIA", channel: str = "C0RECRUIT",
                 message_ts: str = "1732620000.000100", team_id: str = "T0FAKE", *, block_id: str = "actions",
                 message_text: str = "") -> bytes:
    """The form-encoded body (payload=<json>) of a block_actions payload: user clicked the button action_id
    carrying value, in the message message_ts of channel."""
    username = user[2:].lower() if user.startswith("U0") else user.lower()
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": username, "name": username, "team_id": team_id},
        "api_app_id": "A0APP",
        "token": VERIFICATION_TOKEN,
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}",
        "team": {"id": team_id, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "directmessage" if channel.startswith("D") else channel.lower()},
        "message": {"type": "message", "ts": message_ts, "text": message_text, "user": "U0BOT", "bot_id": "B0BOT"},
        "state": {"values": {}},
        "response_url": f"https://hooks.slack.example/actions/{team_id}/{secrets.randbelow(10**12)}/"
                        f"{secrets.token_urlsafe(18)}",
        "actions": [{"action_id": action_id, "block_id": block_id, "value": value, "type": "button",
                     "text": {"type": "plain_text", "text": value, "emoji": True}, "action_ts": new_ts()}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def url_verification(challenge: str) -> bytes:
    """The JSON body of the Events API url_verification request (the app answers with challenge)."""
    return json.dumps({"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}).encode()


def new_ts() -> str:
    """A unique, increasing Slack timestamp ("seconds.microseconds") close to now."""
    global _last_ts
    with _ts_lock:
        _last_ts = max(time.time_ns() // 1000, _last_ts + 1)
        return f"{_last_ts // 1_000_000}.{_last_ts % 1_000_000:06d}"
