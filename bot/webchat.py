"""The careers-site chat: who the visitor is, which conversation is theirs, and what they see again.

- A candidate logged in on the careers site arrives with a JWT the site signed with the shared
  secret (HS256, `email` and `exp` required). Their conversation id is derived from the email with
  a server key, so it follows them across devices and page reloads, and no visitor can choose it.
- An anonymous visitor's conversation is named by a random 128-bit id their browser keeps; it can
  never collide with a verified candidate's conversation (another prefix).
- Each message carries an id chosen by the browser; a message resent after a dropped connection
  is recognised and not processed twice.
- The history shown after a reload or a reconnection is rebuilt from the conversation itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.clock import now_utc, to_db
from bot.sms import clean_inbound_text
from bot.store import state_metadata

ANONYMOUS_ID = re.compile(r"^[0-9a-f]{32}$")
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
HISTORY_LIMIT = 50

seen_table = sa.Table(
    "web_messages_seen", state_metadata,
    sa.Column("conversation_id", sa.String, primary_key=True),
    sa.Column("message_id", sa.String, primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


answered_table = sa.Table(
    "web_messages_answered", state_metadata,
    sa.Column("conversation_id", sa.String, primary_key=True),
    sa.Column("message_id", sa.String, primary_key=True),
)
ANSWER_LEASE = dt.timedelta(seconds=12)  # an answer takes seconds; an unanswered claim older than this died


class InvalidToken(Exception):
    """The careers site's token is forged, expired or incomplete: the connection is refused."""


@dataclass(frozen=True)
class WebVisitor:
    conversation_id: str
    session_id: str  # what the browser keeps (anonymous) or is told (verified)
    email: str | None  # proven by the careers site's token; None for an anonymous visitor


def email_from_token(token: str, secret: str) -> str:
    """The verified email in a careers-site token, or InvalidToken."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "email"]}, leeway=30)
    except (jwt.PyJWTError, UnicodeError, ValueError, TypeError) as error:  # anything a client can send
        raise InvalidToken(type(error).__name__) from error
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise InvalidToken("no usable email claim")
    return email.strip().lower()


def visitor_for(email: str | None, requested_session: str | None, key: str) -> WebVisitor:
    if email is not None:
        digest = hmac.new(key.encode(), f"web-email:{email}".encode(), hashlib.sha256).hexdigest()[:32]
        return WebVisitor(f"web-{digest}", digest, email)
    session = requested_session if requested_session and ANONYMOUS_ID.match(requested_session) else None
    session = session or secrets.token_hex(16)
    return WebVisitor(f"webanon-{session}", session, None)


def signed_token(email: str, secret: str, lifetime: dt.timedelta = dt.timedelta(hours=1),
                 now: dt.datetime | None = None) -> str:
    """What a careers site gives a logged-in candidate (used by the demo page and the tests)."""
    issued = now or now_utc()
    return jwt.encode({"email": email, "iat": issued, "exp": issued + lifetime}, secret, algorithm="HS256")


class SeenMessages:
    """Each message id is processed once. The server processing one renews its claim while it works
    (`renew`); one whose processing died with its server (no renewal and no `answered` mark within
    ANSWER_LEASE) is processed again when the widget resends it, on whichever replica it reaches."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

    def first_time(self, conversation_id: str, message_id: str, now: dt.datetime | None = None) -> bool:
        now = now or now_utc()
        try:
            with self.engine.begin() as connection:
                connection.execute(seen_table.insert().values(conversation_id=conversation_id, message_id=message_id,
                                                              created_at=to_db(now)))
        except IntegrityError:
            return self.take_over(conversation_id, message_id, now)
        return True

    def forget(self, conversation_id: str, message_id: str) -> None:
        """Drop the claim of a message refused before processing (rate limited): its resend is a new message."""
        done = sa.select(answered_table.c.message_id).where(*self._answered(conversation_id, message_id))
        with self.engine.begin() as connection:
            connection.execute(seen_table.delete().where(*self._seen(conversation_id, message_id), ~sa.exists(done)))

    def answered(self, conversation_id: str, message_id: str) -> None:
        with contextlib.suppress(IntegrityError), self.engine.begin() as connection:
            connection.execute(answered_table.insert().values(conversation_id=conversation_id, message_id=message_id))

    def is_answered(self, conversation_id: str, message_id: str) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(answered_table.c.message_id).where(
                *self._answered(conversation_id, message_id))).first() is not None

    def renew(self, conversation_id: str, message_id: str, now: dt.datetime | None = None) -> None:
        with self.engine.begin() as connection:
            connection.execute(seen_table.update().where(*self._seen(conversation_id, message_id)).values(
                created_at=to_db(now or now_utc())))

    def take_over(self, conversation_id: str, message_id: str, now: dt.datetime | None = None) -> bool:
        """Claim a message whose claim lapsed unanswered (its server died); False while it is answered or alive."""
        now = now or now_utc()
        done = sa.select(answered_table.c.message_id).where(*self._answered(conversation_id, message_id))
        with self.engine.begin() as connection:
            taken = connection.execute(seen_table.update().where(
                *self._seen(conversation_id, message_id), seen_table.c.created_at < to_db(now - ANSWER_LEASE),
                ~sa.exists(done)).values(created_at=to_db(now)))
        return taken.rowcount == 1

    @staticmethod
    def _seen(conversation_id: str, message_id: str) -> tuple:
        return seen_table.c.conversation_id == conversation_id, seen_table.c.message_id == message_id

    @staticmethod
    def _answered(conversation_id: str, message_id: str) -> tuple:
        return answered_table.c.conversation_id == conversation_id, answered_table.c.message_id == message_id


def clean_message(text: Any) -> str | None:
    """The visitor's text, trimmed (never cut: see bot/sms.py `is_too_long`); None when there is nothing to answer."""
    if not isinstance(text, str):
        return None
    return clean_inbound_text(text) or None


def history(events: list[dict[str, Any]], limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """The conversation as the widget shows it: user and bot texts, a pressed button by its title."""
    shown: list[dict[str, Any]] = []
    titles: dict[str, str] = {}
    for event in events:
        kind, text = event.get("event"), event.get("text")
        if kind == "bot" and text:
            buttons = (event.get("data") or {}).get("buttons") or []
            titles = {b.get("payload"): b.get("title") for b in buttons if b.get("payload")}
            shown.append({"sender": "bot", "text": text,
                          "quick_replies": [{"title": b.get("title"), "payload": b.get("payload")} for b in buttons]})
        elif kind == "user" and text:
            if text.startswith("/"):
                text = titles.get(text)
                if not text:
                    continue
            shown.append({"sender": "user", "text": text})
    shown = shown[-limit:]
    for message in shown[:-1]:
        message.pop("quick_replies", None)  # only the latest answer's buttons can still be pressed
    return shown
