"""Verifying a web visitor by a one-time code sent to the email on their application.

Codes are 6 digits, stored only as a keyed hash, valid for EMAIL_CODE_MINUTES, usable once, and
refused after 5 wrong tries. Asking is rate-limited per conversation and per email address. Asking
for an email that is on no application looks exactly the same to the visitor (no code is sent),
so the chat never reveals whether someone applied. Once verified, the conversation (whose id the
server chose, see bot/webchat.py) is tied to that email.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa

from bot.clock import from_db, now_utc, to_db
from bot.settings import Settings
from bot.store import state_metadata

logger = logging.getLogger(__name__)
EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
CODE = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})(?!\d)")
MAX_TRIES = 5
LIMIT_PER_CONVERSATION = (3, dt.timedelta(minutes=15))
LIMIT_PER_EMAIL = (5, dt.timedelta(hours=1))

codes_table = sa.Table(
    "email_codes", state_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String, nullable=False, index=True),
    sa.Column("email", sa.String, nullable=False, index=True),
    sa.Column("code_hash", sa.String),  # None: the email is on no application, nothing was sent
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("tries", sa.Integer, nullable=False, default=0),
    sa.Column("used_at", sa.DateTime),
)
verified_table = sa.Table(
    "web_verifications", state_metadata,
    sa.Column("conversation_id", sa.String, primary_key=True),
    sa.Column("email", sa.String, nullable=False),
    sa.Column("verified_at", sa.DateTime, nullable=False),
)


def email_in(text: str | None) -> str | None:
    match = EMAIL.search(text or "")
    return match.group(0).lower() if match else None


def code_in(text: str | None) -> str | None:
    match = CODE.search(text or "")
    return match.group(1) + match.group(2) if match else None


@dataclass(frozen=True)
class CodeCheck:
    email: str | None  # set when verified
    reason: str  # verified, wrong, expired, too_many_tries, no_code


class EmailCodes:
    def __init__(self, engine: sa.engine.Engine, key: str, lifetime: dt.timedelta = dt.timedelta(minutes=10)) -> None:
        self.engine = engine
        self.key = key
        self.lifetime = lifetime

    def _hash(self, conversation_id: str, code: str) -> str:
        return hmac.new(self.key.encode(), f"{conversation_id}:{code}".encode(), hashlib.sha256).hexdigest()

    def rate_limited(self, conversation_id: str, email: str, now: dt.datetime | None = None) -> bool:
        now = now or now_utc()
        t = codes_table
        with self.engine.connect() as connection:
            for column, value, (limit, window) in ((t.c.conversation_id, conversation_id, LIMIT_PER_CONVERSATION),
                                                   (t.c.email, email, LIMIT_PER_EMAIL)):
                count = connection.execute(sa.select(sa.func.count()).where(
                    column == value, t.c.created_at > to_db(now - window))).scalar_one()
                if count >= limit:
                    return True
        return False

    def issue(self, conversation_id: str, email: str, on_an_application: bool,
              now: dt.datetime | None = None) -> str | None:
        """A new code for this conversation (earlier ones stop working); None when nothing may be sent."""
        now = now or now_utc()
        code = f"{secrets.randbelow(10**6):06d}" if on_an_application else None
        with self.engine.begin() as connection:
            connection.execute(codes_table.update().where(
                codes_table.c.conversation_id == conversation_id, codes_table.c.used_at.is_(None)
            ).values(expires_at=to_db(now)))
            connection.execute(codes_table.insert().values(
                conversation_id=conversation_id, email=email, created_at=to_db(now), tries=0,
                code_hash=self._hash(conversation_id, code) if code else None,
                expires_at=to_db(now + self.lifetime)))
        return code

    def check(self, conversation_id: str, code: str, now: dt.datetime | None = None) -> CodeCheck:
        now = now or now_utc()
        t = codes_table
        with self.engine.begin() as connection:
            row = connection.execute(sa.select(t).where(t.c.conversation_id == conversation_id, t.c.used_at.is_(None))
                                     .order_by(t.c.id.desc()).limit(1)).mappings().first()
            if row is None:
                return CodeCheck(None, "no_code")
            if row["tries"] >= MAX_TRIES:
                return CodeCheck(None, "too_many_tries")
            if from_db(row["expires_at"]) <= now:
                return CodeCheck(None, "expired")
            connection.execute(t.update().where(t.c.id == row["id"]).values(tries=t.c.tries + 1))
            if row["code_hash"] is None or not hmac.compare_digest(row["code_hash"], self._hash(conversation_id, code)):
                return CodeCheck(None, "too_many_tries" if row["tries"] + 1 >= MAX_TRIES else "wrong")
            connection.execute(t.update().where(t.c.id == row["id"]).values(used_at=to_db(now)))
            connection.execute(verified_table.delete().where(verified_table.c.conversation_id == conversation_id))
            connection.execute(verified_table.insert().values(conversation_id=conversation_id, email=row["email"],
                                                              verified_at=to_db(now)))
        return CodeCheck(row["email"], "verified")

    def verified_email(self, conversation_id: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(verified_table.c.email).where(
                verified_table.c.conversation_id == conversation_id)).scalar_one_or_none()


class Mailer:
    """SMTP when SMTP_HOST is set; otherwise each email is written to a local outbox folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send_code(self, to: str, code: str, company: str, minutes: int) -> str:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = f"Your {company} verification code: {code}"
        message.set_content(f"Your code is {code}. Type it in the chat on our careers site to continue.\n\n"
                            f"It works once and expires in {minutes} minutes. If you did not ask for it, ignore "
                            "this email.\n")
        if self.settings.smtp_host:
            with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port, timeout=10) as smtp:
                if self.settings.smtp_starttls:
                    smtp.starttls()
                if self.settings.smtp_user:
                    smtp.login(self.settings.smtp_user, self.settings.smtp_password or "")
                smtp.send_message(message)
            return "smtp"
        folder = Path(self.settings.email_outbox_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{now_utc():%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}.eml"
        path.write_bytes(bytes(message))
        logger.info("no SMTP_HOST: verification email written to %s", path)
        return str(path)
