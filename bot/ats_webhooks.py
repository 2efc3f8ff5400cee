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

Replays (DeliveriesSeen): a verified Greenhouse or Lever delivery is recorded in the state database, an insert
under a unique key, so one delivery is processed once across replicas. Greenhouse's signature has no time in
it, so a delivery must carry its own event time (the application's newest `last_activity_at`, `updated_at`,
`rejected_at` or `applied_at`, all inside the signed body) no older than GREENHOUSE_WEBHOOK_MAX_AGE_DAYS, and
its signature is remembered until then: the store forgets only what would be refused anyway. Lever's signature
does not cover the body, so it is remembered for its window, and the same signature on another body is refused.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.clock import to_db
from bot.store import state_metadata

REPLAY_WINDOW_SECONDS = 300
GREENHOUSE_MAX_AGE_SECONDS = 7 * 86400  # the default; well past Greenhouse's retries (about 15 hours)
GREENHOUSE_TIME_FIELDS = ("last_activity_at", "updated_at", "rejected_at", "applied_at")
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


@dataclass(frozen=True)
class VerifiedDelivery:
    """A genuine delivery's notices, and what the replay store keeps of it (no signature: nothing to keep)."""

    notices: list[StageNotice] = field(default_factory=list)
    signature: str | None = None  # the verified signature, lower-case hex
    body_sha256: str = ""
    remember_until: float = 0.0  # Unix seconds: past this the delivery is refused by its time anyway


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


def greenhouse_notices(raw: bytes, signature_header: str | None, secret: str, now: float | None = None,
                       max_age_seconds: float = GREENHOUSE_MAX_AGE_SECONDS) -> list[StageNotice]:
    return greenhouse_delivery(raw, signature_header, secret, now, max_age_seconds).notices


def greenhouse_delivery(raw: bytes, signature_header: str | None, secret: str, now: float | None = None,
                        max_age_seconds: float = GREENHOUSE_MAX_AGE_SECONDS) -> VerifiedDelivery:
    scheme, _, given = (signature_header or "").strip().partition(" ")
    expected = _hmac_hex(secret, raw)
    if scheme.lower() != "sha256" or not _same(given.strip().lower(), expected):
        raise WebhookRefused(401, "bad Greenhouse signature")
    body = _parse(raw)
    if not isinstance(body, dict):
        raise WebhookRefused(400, "body is not a JSON object")
    action = body.get("action")
    if not isinstance(action, str) or action not in GREENHOUSE_ACTIONS:  # a ping, or news of something else
        return VerifiedDelivery()  # a repeat of it would do nothing either: nothing to remember
    payload = body.get("payload") if isinstance(body.get("payload"), dict) else {}
    application = payload.get("application") if isinstance(payload.get("application"), dict) else {}
    stage = application.get("current_stage") if isinstance(application.get("current_stage"), dict) else {}
    notice = StageNotice(_application_id(application.get("id")), _stage(stage.get("name")))
    happened = _greenhouse_event_time(application)
    if happened is None:
        raise WebhookRefused(400, "no event time (application last_activity_at) in the Greenhouse notice")
    now = now if now is not None else time.time()
    if happened < now - max_age_seconds:
        raise WebhookRefused(401, "Greenhouse notice too old (replayed?)")
    # Kept while the event time still passes the check above (capped: a date in year 9999 must not overflow).
    remember_from = min(max(happened, now), now + max_age_seconds)
    return VerifiedDelivery([notice], expected, hashlib.sha256(raw).hexdigest(), remember_from + max_age_seconds)


def _greenhouse_event_time(application: dict[str, Any]) -> float | None:
    """The newest of the application's times, in Unix seconds (Greenhouse writes ISO 8601, in UTC)."""
    times = []
    for name in GREENHOUSE_TIME_FIELDS:
        value = application.get(name)
        if not isinstance(value, str) or len(value) > 40:
            continue
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            continue
        times.append((moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).timestamp())
    return max(times) if times else None


def lever_notices(raw: bytes, signature_token: str, now: float | None = None) -> list[StageNotice]:
    return lever_delivery(raw, signature_token, now).notices


def lever_delivery(raw: bytes, signature_token: str, now: float | None = None) -> VerifiedDelivery:
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
    # Kept even for an event we ignore: otherwise its signature could carry a stage change next.
    seen = {"signature": expected, "body_sha256": hashlib.sha256(raw).hexdigest(),
            "remember_until": sent_at + REPLAY_WINDOW_SECONDS}
    if not isinstance(body.get("event"), str) or body["event"] not in LEVER_EVENTS:
        return VerifiedDelivery(**seen)
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    return VerifiedDelivery([StageNotice(_application_id(data.get("opportunityId")))], **seen)


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


# --- the replay store ----------------------------------------------------------------------------------------

deliveries_seen_table = sa.Table(
    "ats_webhook_deliveries_seen", state_metadata,
    sa.Column("source", sa.String, primary_key=True),  # greenhouse, lever
    sa.Column("signature", sa.String, primary_key=True),
    sa.Column("body_sha256", sa.String, nullable=False),
    sa.Column("remember_until", sa.DateTime, nullable=False, index=True),
)


class Seen(enum.Enum):
    FIRST = "first"  # process it
    REPEAT = "repeat"  # the same delivery again (the sender retrying, or a replay): acknowledge, do nothing
    REUSED = "reused"  # the same signature on another body: a forgery


class DeliveriesSeen:
    """Which verified deliveries were already received. The insert under the primary key decides, so two
    replicas given the same delivery at once process it once."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

    def check(self, source: str, delivery: VerifiedDelivery, now: float | None = None) -> Seen:
        if delivery.signature is None:
            return Seen.FIRST
        now = now if now is not None else time.time()
        key = (deliveries_seen_table.c.source == source, deliveries_seen_table.c.signature == delivery.signature)
        values = {"body_sha256": delivery.body_sha256, "remember_until": _db_time(delivery.remember_until)}
        try:
            with self.engine.begin() as connection:
                connection.execute(deliveries_seen_table.insert().values(
                    source=source, signature=delivery.signature, **values))
            return Seen.FIRST
        except IntegrityError:
            pass
        with self.engine.begin() as connection:
            # A row past its time that the purge has not reached yet is no longer a memory of anything.
            if connection.execute(deliveries_seen_table.update().where(
                    *key, deliveries_seen_table.c.remember_until < _db_time(now)).values(**values)).rowcount == 1:
                return Seen.FIRST
            stored = connection.execute(sa.select(deliveries_seen_table.c.body_sha256).where(*key)).scalar()
        return Seen.REPEAT if stored == delivery.body_sha256 else Seen.REUSED

    def forget(self, source: str, delivery: VerifiedDelivery) -> None:
        """Undo `check` when the notices could not be stored, so the sender's retry is processed."""
        with self.engine.begin() as connection:
            connection.execute(deliveries_seen_table.delete().where(
                deliveries_seen_table.c.source == source, deliveries_seen_table.c.signature == delivery.signature))

    def purge(self, now: float | None = None) -> int:
        with self.engine.begin() as connection:
            return connection.execute(deliveries_seen_table.delete().where(
                deliveries_seen_table.c.remember_until < _db_time(now if now is not None else time.time()))).rowcount


def _db_time(unix_seconds: float) -> dt.datetime:
    return to_db(dt.datetime.fromtimestamp(unix_seconds, dt.timezone.utc))
