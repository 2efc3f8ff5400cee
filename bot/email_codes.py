"""Verifying a web visitor by a one-time code sent to the email on their application.

Codes are 6 digits, kept as a keyed hash (the plain code only in its outbox row, until it is sent),
valid for EMAIL_CODE_MINUTES, usable once, and refused after 5 wrong tries. Asking is limited per
conversation, per client address and email, per client address, and for everyone together; wrong
codes lock out the client address and the conversation that guessed them, never the email, so a
guesser cannot stop its owner. The visitor sees the same reply, at the same speed, whether or not
the email is on an application and whether or not it can be sent: a code is queued for every email
asked for, and the background sender (CodeSender, in the action server) asks the ATS, and only for
an email on an application makes the code usable and sends it, retrying SMTP failures until the
code expires. Once verified, the conversation (whose id the server chose, see bot/webchat.py) is
tied to that email for WEB_VERIFICATION_DAYS.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa

from bot.ats.base import ATS, ATSError, ATSUnavailable
from bot.clock import from_db, now_utc, to_db
from bot.outbox import DurableQueue, QueuedItem, queue_table
from bot.settings import Settings, smtp_tls_mode
from bot.store import state_metadata

logger = logging.getLogger(__name__)
EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
CODE = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})(?!\d)")
MAX_TRIES = 5
LIMIT_PER_CONVERSATION = (3, dt.timedelta(minutes=15))
LIMIT_PER_EMAIL = (5, dt.timedelta(hours=1))  # per client address and email (per email when the client is unknown)
CLIENT_WINDOW = GLOBAL_WINDOW = dt.timedelta(hours=1)
FAILURE_WINDOW = dt.timedelta(days=1)

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
    sa.Column("client_key", sa.String, index=True),  # who asked: a pseudonym of their address (web.py), or None
)
verified_table = sa.Table(
    "web_verifications", state_metadata,
    sa.Column("conversation_id", sa.String, primary_key=True),
    sa.Column("email", sa.String, nullable=False),
    sa.Column("verified_at", sa.DateTime, nullable=False),
)
code_mail_table = queue_table(
    "email_code_mail",  # give_up_at: when the code expires; code: cleared once the row is finished
    sa.Column("code_id", sa.Integer, nullable=False),
    sa.Column("email", sa.String, nullable=False),
    sa.Column("code", sa.String),
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
    reason: str  # verified, wrong, expired, too_many_tries, no_code, locked (too many wrong codes from this requester)


@dataclass(frozen=True)
class CodeLimits:
    """How many codes may be asked for and guessed; 0 turns a count off."""

    per_client: int = 10  # codes an hour from one client address
    per_hour: int = 500  # codes an hour from everyone together
    max_failures: int = 10  # wrong codes a day from one client address, and in one conversation
    verification: dt.timedelta = dt.timedelta(days=30)  # how long a web verification by code lasts

    @classmethod
    def from_settings(cls, settings: Settings) -> CodeLimits:
        return cls(per_client=settings.email_code_limit_per_client, per_hour=settings.email_code_limit_global,
                   max_failures=settings.email_code_max_failures,
                   verification=dt.timedelta(days=settings.web_verification_days))


class EmailCodes:
    def __init__(self, engine: sa.engine.Engine, key: str, lifetime: dt.timedelta = dt.timedelta(minutes=10),
                 *, limits: CodeLimits | None = None) -> None:
        self.engine = engine
        self.key = key
        self.lifetime = lifetime
        self.limits = limits or CodeLimits()
        _add_missing_columns(engine, codes_table)

    def _hash(self, conversation_id: str, code: str) -> str:
        return hmac.new(self.key.encode(), f"{conversation_id}:{code}".encode(), hashlib.sha256).hexdigest()

    def rate_limited(self, conversation_id: str, email: str, now: dt.datetime | None = None, *,
                     client_key: str | None = None) -> bool:
        """True when this requester may not have another code now: the same answer whoever the email belongs to."""
        now = now or now_utc()
        t = codes_table
        requester = t.c.client_key == client_key if client_key else sa.true()
        counts = [(t.c.conversation_id == conversation_id, LIMIT_PER_CONVERSATION),
                  (sa.and_(t.c.email == email, requester), LIMIT_PER_EMAIL),
                  (sa.true(), (self.limits.per_hour, GLOBAL_WINDOW))]
        if client_key:
            counts.append((t.c.client_key == client_key, (self.limits.per_client, CLIENT_WINDOW)))
        with self.engine.connect() as connection:
            for condition, (limit, window) in counts:
                count = connection.execute(sa.select(sa.func.count()).where(
                    condition, t.c.created_at > to_db(now - window))).scalar_one()
                if limit and count >= limit:
                    return True
            return self._locked(connection, conversation_id, client_key, now)

    def _locked(self, connection: sa.engine.Connection, conversation_id: str, client_key: str | None,
                now: dt.datetime) -> bool:
        """Too many wrong codes in the last day from this client address or in this conversation (not per email:
        a guesser's failures must never lock the email's owner out)."""
        if not self.limits.max_failures:
            return False
        t = codes_table
        failures = sa.func.coalesce(sa.func.sum(t.c.tries), 0) - sa.func.count(t.c.used_at)  # a used code's last try
        requesters = [t.c.conversation_id == conversation_id] + ([t.c.client_key == client_key] if client_key else [])
        for requester in requesters:
            count = connection.execute(sa.select(failures).where(
                requester, t.c.created_at > to_db(now - FAILURE_WINDOW))).scalar_one()
            if count >= self.limits.max_failures:
                return True
        return False

    def issue(self, conversation_id: str, email: str, on_an_application: bool,
              now: dt.datetime | None = None, *, client_key: str | None = None) -> str | None:
        """A new code for this conversation (earlier ones stop working); None when nothing may be sent."""
        now = now or now_utc()
        code = f"{secrets.randbelow(10**6):06d}" if on_an_application else None
        with self.engine.begin() as connection:
            self._insert(connection, conversation_id, email, code if on_an_application else None, client_key, now)
        return code

    def request(self, conversation_id: str, email: str, *, client_key: str | None = None,
                now: dt.datetime | None = None) -> None:
        """Queue a code for any email; CodeSender makes it usable and sends it only to an email on an application."""
        now = now or now_utc()
        code = f"{secrets.randbelow(10**6):06d}"
        with self.engine.begin() as connection:
            code_id = self._insert(connection, conversation_id, email, None, client_key, now)
            connection.execute(code_mail_table.insert().values(
                conversation_id=conversation_id, code_id=code_id, email=email, code=code, status="pending",
                due_at=to_db(now), next_attempt_at=to_db(now), give_up_at=to_db(now + self.lifetime), attempts=0,
                created_at=to_db(now)))

    def _insert(self, connection: sa.engine.Connection, conversation_id: str, email: str, code: str | None,
                client_key: str | None, now: dt.datetime) -> int:
        connection.execute(codes_table.update().where(
            codes_table.c.conversation_id == conversation_id, codes_table.c.used_at.is_(None)
        ).values(expires_at=to_db(now)))
        inserted = connection.execute(codes_table.insert().values(
            conversation_id=conversation_id, email=email, created_at=to_db(now), tries=0, client_key=client_key,
            code_hash=self._hash(conversation_id, code) if code else None, expires_at=to_db(now + self.lifetime)))
        return inserted.inserted_primary_key[0]

    def make_usable(self, code_id: int, conversation_id: str, code: str) -> None:
        """The email is on an application: the queued code now verifies (just before it is sent)."""
        with self.engine.begin() as connection:
            connection.execute(codes_table.update().where(codes_table.c.id == code_id).values(
                code_hash=self._hash(conversation_id, code)))

    def check(self, conversation_id: str, code: str, now: dt.datetime | None = None, *,
              client_key: str | None = None) -> CodeCheck:
        now = now or now_utc()
        t = codes_table
        with self.engine.begin() as connection:
            row = connection.execute(sa.select(t).where(t.c.conversation_id == conversation_id, t.c.used_at.is_(None))
                                     .order_by(t.c.id.desc()).limit(1)).mappings().first()
            if row is None:
                return CodeCheck(None, "no_code")
            if any(self._locked(connection, conversation_id, key, now) for key in {client_key, row["client_key"]}):
                return CodeCheck(None, "locked")
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

    def verified_email(self, conversation_id: str, now: dt.datetime | None = None) -> str | None:
        """The email this conversation was verified for, within the last WEB_VERIFICATION_DAYS."""
        since = to_db((now or now_utc()) - self.limits.verification)
        with self.engine.connect() as connection:
            return connection.execute(sa.select(verified_table.c.email).where(
                verified_table.c.conversation_id == conversation_id,
                verified_table.c.verified_at > since)).scalar_one_or_none()

    def verification_expired(self, conversation_id: str, now: dt.datetime | None = None) -> bool:
        """True when this conversation was verified by a code and that has run out (its history is theirs alone)."""
        since = to_db((now or now_utc()) - self.limits.verification)
        with self.engine.connect() as connection:
            return connection.execute(sa.select(verified_table.c.conversation_id).where(
                verified_table.c.conversation_id == conversation_id,
                verified_table.c.verified_at <= since)).first() is not None


def _add_missing_columns(engine: sa.engine.Engine, table: sa.Table) -> None:
    """create_all makes new tables only: a column added since (client_key) is added to an older database here."""
    inspector = sa.inspect(engine)
    if not inspector.has_table(table.name):
        return
    present = {column["name"] for column in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name not in present:
            kind = column.type.compile(engine.dialect)
            try:
                with engine.begin() as connection:
                    connection.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
            except sa.exc.OperationalError as error:  # another process added it first
                if "duplicate column" not in str(error):
                    raise


class CodeMail(DurableQueue):
    """Codes waiting to be emailed; a row's plain code is cleared when the row is finished."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        super().__init__(engine, code_mail_table)

    def finish(self, item_id: int, status: str, note: str | None = None, **values) -> None:
        super().finish(item_id, status, note, code=None, **values)

    def next_due_in(self, now: dt.datetime | None = None) -> float | None:
        """Seconds until the next unfinished row is due (0 when one is due now); None when none is waiting."""
        t = self.table
        with self.engine.connect() as connection:
            due = connection.execute(sa.select(sa.func.min(t.c.next_attempt_at)).where(
                t.c.status.in_(("pending", "sending")))).scalar_one_or_none()
        return None if due is None else max(0.0, (from_db(due) - (now or now_utc())).total_seconds())


class CodeSender:
    """Sends queued codes after the chat has answered, so neither the ATS lookup nor SMTP shows in the reply or its
    timing. `start()` from inside an event loop (the action server's) runs a drain in the background until no row
    is waiting; a row left by a process that died is sent by the next drain, before its code expires."""

    def __init__(self, *, codes: EmailCodes, mail: CodeMail, ats: ATS, mailer: Mailer) -> None:
        self.codes = codes
        self.mail = mail
        self.ats = ats
        self.mailer = mailer
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()  # a code was queued while the drain waits for a retry
        self._resting = asyncio.Event()  # the drain has sent everything that is due now

    def start(self) -> None:
        self._wake.set()
        self._resting.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def idle(self) -> None:
        """Wait until everything due now has been tried (tests); retries later on run on."""
        while self._task is not None and not self._task.done() and not self._resting.is_set():
            await asyncio.sleep(0.01)

    async def _drain(self) -> None:
        while True:
            self._wake.clear()
            try:
                await asyncio.to_thread(self.send_due)
                wait = await asyncio.to_thread(self.mail.next_due_in)
            except sa.exc.SQLAlchemyError as error:
                logger.error("verification emails: the state database failed (%s)", type(error).__name__)
                self._resting.set()
                return
            if not self._wake.is_set():
                self._resting.set()
                if wait is None:
                    return
            # asyncio.timeout, not wait_for: see bot/ats/__init__.py call_ats
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(max(wait or 0.0, 0.05), 60.0)):
                    await self._wake.wait()

    def send_due(self) -> int:
        """Send what is due (blocking: run it in a thread); returns how many emails went out."""
        sent = 0
        for item in self.mail.take_due():
            sent += self._send(item)
        return sent

    def _send(self, item: QueuedItem) -> int:
        fields = item.fields
        if now_utc() >= from_db(fields["give_up_at"]):  # left by a process that stopped: the code is no use now
            self.mail.finish(item.id, "failed", "expired before it could be sent")
            return 0
        try:
            candidate = self.ats.find_candidate_by_email(fields["email"])
            company = self.ats.company().name if candidate is not None else ""
        except ATSUnavailable as error:
            self.mail.retry_later(item, type(error).__name__)
            return 0
        except ATSError as error:
            logger.error("verification email %s: the ATS refused the lookup (%s)", item.id, type(error).__name__)
            self.mail.finish(item.id, "failed", type(error).__name__)
            return 0
        if candidate is None:
            self.mail.finish(item.id, "skipped", "on no application")
            return 0
        self.codes.make_usable(fields["code_id"], item.conversation_id, fields["code"])
        minutes = max(1, round((from_db(fields["give_up_at"]) - now_utc()).total_seconds() / 60))
        try:
            self.mailer.send_code(fields["email"], fields["code"], company, minutes)
        except (OSError, smtplib.SMTPException) as error:  # never the address: the log must not say who applied
            logger.warning("verification email %s not sent (attempt %d, %s); trying again", item.id, item.attempts,
                           type(error).__name__)
            self.mail.retry_later(item, type(error).__name__)
            return 0
        self.mail.finish(item.id, "sent")
        return 1


class Mailer:
    """SMTP when SMTP_HOST is set; otherwise each email is written to a local outbox folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tls = smtp_tls_mode(settings.smtp_host, settings.smtp_tls)  # refuses `none` to a remote host

    def _connect(self) -> smtplib.SMTP:
        """An SMTP connection that checks the server's certificate and name, unless it is on this machine (none)."""
        host, port = self.settings.smtp_host, self.settings.smtp_port
        if self.tls == "tls":
            return smtplib.SMTP_SSL(host, port, timeout=10, context=ssl.create_default_context())
        smtp = smtplib.SMTP(host, port, timeout=10)
        if self.tls == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp

    def send_code(self, to: str, code: str, company: str, minutes: int) -> str:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = f"Your {company} verification code: {code}"
        message.set_content(f"Your code is {code}. Type it in the chat on our careers site to continue.\n\n"
                            f"It works once and expires in {minutes} minutes. If you did not ask for it, ignore "
                            "this email.\n")
        if self.settings.smtp_host:
            with self._connect() as smtp:
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
