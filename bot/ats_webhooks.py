"""Stage-change webhooks from an ATS: signature checks and the application ids they name.

Every format is checked on the raw body with hmac.compare_digest; only then is the body parsed. The
body is trusted only for *which* application changed: what the candidate is told is read afresh from
the ATS, so a replayed or reordered notice can at worst make us look again.

- Greenhouse (developers.greenhouse.io/webhooks.html): header `Signature: sha256 <hex>`, the HMAC-SHA256
  of the whole body with the webhook's secret key. Events carry `action` and `payload.application.id`
  (candidate_stage_change, hire_candidate, reject_candidate, unreject_candidate, ...); `ping` is a test.
- Lever (hire.lever.co/developer/documentation, "Webhooks"): the body carries `token`, `triggeredAt`
  (ms) and `signature`, the HMAC-SHA256 of token + triggeredAt with the webhook's signature token;
  `event` (candidateStageChange, candidateArchiveChange, candidateHired, ...) and `data.opportunityId`.
  triggeredAt must be recent (REPLAY_WINDOW) so a captured request cannot be replayed later.
- Generic JSON, for the embedded ATS and any other system: headers `X-ATS-Timestamp: <unix seconds>` and
  `X-ATS-Signature: sha256=<hex>`, the HMAC-SHA256 of "<timestamp>.<raw body>" with ATS_WEBHOOK_SECRET;
  body {"event": "stage_changed", "application_id": "...", "stage": "..." (optional)}, or
  {"events": [...]} with up to 100 such objects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

REPLAY_WINDOW_SECONDS = 300
MAX_EVENTS = 100
GREENHOUSE_ACTIONS = frozenset({
    "candidate_stage_change", "hire_candidate", "reject_candidate", "unreject_candidate", "new_candidate_application",
    "prospect_created", "candidate_hired",
})
LEVER_EVENTS = frozenset({"candidateStageChange", "candidateArchiveChange", "candidateHired", "applicationCreated"})


class WebhookRefused(Exception):
    """The request is not a genuine, well-formed notice; `status` is the HTTP answer to give."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class StageNotice:
    application_id: str
    stage: str | None = None


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _utf8(text: str) -> bytes:
    """A JSON escape can carry a lone surrogate: keep it as bytes (it simply will not match) instead of failing."""
    return text.encode("utf-8", "surrogatepass")


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also copes with a forged value in any script (compare_digest on
    str refuses non-ASCII with a TypeError)."""
    return hmac.compare_digest(_utf8(given), expected.encode())


def _recent(sent_at: float, now: float | None) -> bool:
    return math.isfinite(sent_at) and abs((now if now is not None else time.time()) - sent_at) <= REPLAY_WINDOW_SECONDS


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, a number past Python's digit limit
        raise WebhookRefused(400, "body is not JSON") from error


def _application_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise WebhookRefused(400, "no application id")
    text = str(value).strip()
    if len(text) > 100 or not _encodable(text):
        raise WebhookRefused(400, "application id too long or not text")
    return text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _stage(value: Any) -> str | None:
    return value.strip()[:200] if isinstance(value, str) and value.strip() and _encodable(value) else None


def greenhouse_notices(raw: bytes, signature_header: str | None, secret: str) -> list[StageNotice]:
    scheme, _, given = (signature_header or "").strip().partition(" ")
    if scheme.lower() != "sha256" or not _same(given.strip().lower(), _hmac_hex(secret, raw)):
        raise WebhookRefused(401, "bad Greenhouse signature")
    body = _parse(raw)
    if not isinstance(body, dict):
        raise WebhookRefused(400, "body is not a JSON object")
    action = body.get("action")
    if not isinstance(action, str) or action not in GREENHOUSE_ACTIONS:  # a ping, or news of something else
        return []  # a test ping, or an event that does not move an application
    payload = body.get("payload") if isinstance(body.get("payload"), dict) else {}
    application = payload.get("application") if isinstance(payload.get("application"), dict) else {}
    stage = application.get("current_stage") if isinstance(application.get("current_stage"), dict) else {}
    return [StageNotice(_application_id(application.get("id")), _stage(stage.get("name")))]


def lever_notices(raw: bytes, signature_token: str, now: float | None = None) -> list[StageNotice]:
    body = _parse(raw)
    if not isinstance(body, dict):
        raise WebhookRefused(400, "body is not a JSON object")
    token, triggered, signature = body.get("token"), body.get("triggeredAt"), body.get("signature")
    if not isinstance(token, str) or not isinstance(signature, str) or isinstance(triggered, bool) \
            or not isinstance(triggered, (int, str)):
        raise WebhookRefused(401, "Lever signature fields missing")
    expected = _hmac_hex(signature_token, _utf8(f"{token}{triggered}"))
    if not _same(signature.strip().lower(), expected):
        raise WebhookRefused(401, "bad Lever signature")
    try:
        sent_at = int(triggered) / 1000
    except (ValueError, OverflowError) as error:
        raise WebhookRefused(400, "triggeredAt is not a number") from error
    if not _recent(sent_at, now):
        raise WebhookRefused(401, "Lever notice too old (replayed?)")
    if not isinstance(body.get("event"), str) or body["event"] not in LEVER_EVENTS:
        return []
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    return [StageNotice(_application_id(data.get("opportunityId")))]


def generic_signature(secret: str, timestamp: str, raw: bytes) -> str:
    """What a sender puts in X-ATS-Signature (documented in the README)."""
    return "sha256=" + _hmac_hex(secret, _utf8(timestamp) + b"." + raw)


def generic_notices(raw: bytes, timestamp: str | None, signature: str | None, secret: str,
                    now: float | None = None) -> list[StageNotice]:
    if not timestamp or not signature:
        raise WebhookRefused(401, "X-ATS-Timestamp and X-ATS-Signature are required")
    if not re.fullmatch(r"\s*\d{1,12}(\.\d{1,6})?\s*", timestamp):
        raise WebhookRefused(401, "X-ATS-Timestamp must be Unix seconds")
    if not _same(signature.strip(), generic_signature(secret, timestamp.strip(), raw)):
        raise WebhookRefused(401, "bad signature")
    try:
        sent_at = float(timestamp)
    except ValueError as error:
        raise WebhookRefused(400, "X-ATS-Timestamp is not a number") from error
    if not _recent(sent_at, now):
        raise WebhookRefused(401, "notice too old (replayed?)")
    body = _parse(raw)
    events = body.get("events") if isinstance(body, dict) and "events" in body else [body]
    if not isinstance(events, list) or not events or len(events) > MAX_EVENTS:
        raise WebhookRefused(400, f"expected 1 to {MAX_EVENTS} events")
    notices = []
    for event in events:
        if not isinstance(event, dict):
            raise WebhookRefused(400, "each event must be a JSON object")
        if event.get("event", "stage_changed") != "stage_changed":
            continue
        notices.append(StageNotice(_application_id(event.get("application_id")), _stage(event.get("stage"))))
    return notices
