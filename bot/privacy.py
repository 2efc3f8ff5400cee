"""Erasing a candidate's data on request (GDPR art. 17), and keeping conversations no longer than needed.

`python -m bot forget --phone/--email/--candidate` runs `erase_candidate`; `python -m bot purge` runs
`purge_older_than` with DATA_RETENTION_DAYS (0, the default, keeps everything).

What an erasure removes:
- Conversations (Rasa's tracker store: the SQLite `events` table at TRACKER_DB, or the Redis keys
  `tracker:<conversation id>` when TRACKER_STORE=redis): the SMS conversation of the candidate's phone
  number, the careers-site conversation of their email, and every other conversation in which they were
  identified: a message carrying their verified phone or email (Slack, web, SMS under an earlier
  CONVERSATION_ID_KEY), their email given for a verification code (an anonymous web chat), or a row of the
  state database naming them (contacts, handoffs, status updates, SMS outbox).
- In the state database (STATE_DATABASE), every row of those conversations and every row naming the
  candidate's phone, email, candidate id, applications, handoffs or bookings: the inbound-SMS ledger,
  numbered choices, contacts, outboxes (SMS, Slack DMs, handoff cards and threads, deliveries to the
  candidate), interview reminders, handoffs, verification codes, web message ids, the Slack candidate
  inbox, status updates, ATS events, stale-application nudges and ATS notes not yet written. Tables are
  read from the database itself, so a table added later is covered when it has one of `KEY_COLUMNS`
  (tests/test_privacy.py fails for one that has none).
- In the local ATS database (ATS_DATABASE): the candidate, their applications and notes, their interview
  bookings, and the interviewers' time those bookings held, which is freed for other candidates. With a
  hosted ATS (Greenhouse, Lever) this is only the copy the scheduler keeps.
- Verification emails waiting in the local outbox folder (EMAIL_OUTBOX_DIR) addressed to them.
- The copies of those conversations' events in Rasa's SQL event broker log (EVENT_BROKER=sql, the
  `events` table of EVENT_BROKER_DB); purge removes them with the conversations too.
The ATS record goes last, so an erasure interrupted half-way can simply be run again; a second run finds
nothing and erases nothing. SQLite deletes overwrite the erased content (secure_delete) and the state
database's write-ahead log is folded in and truncated, so erased rows do not linger in the files.
A message being answered at the very moment of the erasure can write its conversation back: run the
command again once the candidate is not mid-conversation (`forget` without --yes shows what is left).

What is kept, and why:
- An SMS opt-out (`sms_opt_outs`: the number and when it said STOP). Carrier rules (CTIA) and the TCPA
  require a STOP to be honoured until the person texts START; erasing it would let the assistant text
  someone who asked it not to (a status update, a reminder). It is the minimum needed to comply, kept as
  a suppression list under a legal obligation (GDPR art. 17(3)(b)). It stays in E.164 form because the
  SMS channel checks opt-outs by number (bot/sms.py).
- The record in a hosted ATS: it is the company's system of record, erased there by the company's own
  process. While it exists there, a stage change can still bring the candidate a status update.
- What is outside these stores: handoff cards and threads already posted in Slack, texts in Twilio's
  message log, emails already sent over SMTP, a Kafka event stream (EVENT_BROKER=kafka: its topic's
  retention and its consumers are the operator's), logs and backups, and (with
  Redis) the append-only file and snapshots until Redis rewrites them.
- A candidate listed in ATS_SEED_FILE comes back when that file is loaded again: the command says so.

Retention (`purge_older_than`): a conversation idle for longer than the retention is removed as a whole,
tracker and state rows alike, and so are the per-application rows (ATS events, nudges, notes) idle as
long. A conversation with work still due (a pending reminder or message, a live handoff, an interview
still ahead) is kept until that work is done. Opt-outs are kept; ATS records are the ATS's to keep.
A status update or stale-application nudge is remembered only for the retention period: a stage that
is still news after it may be announced again. Verification emails older than the retention go too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from bot.ats.base import ATSError, Candidate
from bot.ats.embedded import (
    applications_table,
    bookings_table,
    candidates_table,
    interviewer_blocks_table,
    notes_table,
)
from bot.clock import UTC, from_db, now_utc, to_db
from bot.identity import VERIFIED_EMAIL_KEY, VERIFIED_PHONE_KEY
from bot.phone import normalise_phone
from bot.settings import PROJECT_ROOT, Settings
from bot.sms import conversation_id_for as sms_conversation_id
from bot.sms import sms_opt_outs
from bot.webchat import visitor_for

logger = logging.getLogger(__name__)

REDIS_TRACKER_PREFIX = "tracker:"  # Rasa's RedisTrackerStore default, which channels/stores.py keeps
VERIFICATION_EMAIL_SLOT = "verification_email"
# State-database columns that tie a row to a person: a row matching any of them is erased with them.
KEY_COLUMNS = ("conversation_id", "phone", "email", "candidate_id", "application_id", "handoff_id", "booking_id")
KEPT_TABLES = {sms_opt_outs.name: "a STOP must be honoured until they text START: carrier rules and the law",
               # bot/ats_webhooks.py: signatures and body hashes only, names no one, gone within days
               "ats_webhook_deliveries_seen": "ATS webhook replay protection, no personal data",
               # bot/rate_limits.py: a count per window, keyed by a conversation id or a client pseudonym
               "rate_limit_windows": "rate-limit counters, each gone within the hour"}
# Times that say when something is due, not when the conversation was last active.
SCHEDULE_COLUMNS = frozenset({"due_at", "give_up_at", "next_attempt_at", "expires_at", "claim_due_at"})
UNFINISHED = ("pending", "sending", "waiting", "claimed")  # queued work, live handoffs
APPLICATION_PREFIX = "application:"  # per-application queues use this as their conversation id
CHUNK = 400  # values per IN (...): well under SQLite's limit on bound parameters


class ErasureError(ValueError):
    """The request cannot be carried out as given (no identifier, a number that is not a phone number)."""


class LookupFailed(RuntimeError):
    """The ATS could not be asked who the candidate is; nothing was erased."""


# --- Rasa's tracker store, opened directly (bot/ never imports Rasa) ---------------------------------

class TrackerStore(Protocol):
    def identified(self, phones: set[str], emails: set[str]) -> set[str]: ...

    def delete(self, conversation_ids: Iterable[str], dry_run: bool = False,
               idle_before: dt.datetime | None = None) -> dict[str, int]: ...

    def last_activity(self) -> dict[str, dt.datetime]: ...


def _names_them(event: Mapping[str, Any], phones: set[str], emails: set[str]) -> bool:
    """True when a tracker event identifies the person: a verified phone or email, or an email given for a code."""
    if event.get("event") == "user":
        metadata = event.get("metadata") or {}
        email, phone = metadata.get(VERIFIED_EMAIL_KEY), metadata.get(VERIFIED_PHONE_KEY)
        return ((isinstance(email, str) and email.strip().lower() in emails)
                or (isinstance(phone, str) and phone in phones))
    if event.get("event") == "slot" and event.get("name") == VERIFICATION_EMAIL_SLOT:
        value = event.get("value")
        return isinstance(value, str) and value.strip().lower() in emails
    return False


def _needles(phones: set[str], emails: set[str]) -> list[str]:
    return [json.dumps(value) for value in sorted(phones | emails)]  # as they appear inside the stored JSON


class SqlTracker:
    """Rasa's SQLTrackerStore on SQLite: one `events` row per event, `timestamp` in epoch seconds."""

    events = sa.Table(
        "events", sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender_id", sa.String(255), nullable=False, index=True),
        sa.Column("type_name", sa.String(255), nullable=False),
        sa.Column("timestamp", sa.Float),
        sa.Column("intent_name", sa.String(255)),
        sa.Column("action_name", sa.String(255)),
        sa.Column("data", sa.Text),
    )

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _db(self, write: bool = False) -> sa.engine.Engine | None:
        """The database, or None when Rasa has not created it yet (nothing stored: nothing to erase)."""
        return _sqlite(self.path, write) if self.path.exists() else None

    def identified(self, phones: set[str], emails: set[str]) -> set[str]:
        engine, e = self._db(), self.events
        if engine is None or not (phones or emails):
            return set()
        query = sa.select(e.c.sender_id, e.c.data).where(
            e.c.type_name.in_(("user", "slot")),
            sa.or_(*(e.c.data.contains(needle, autoescape=True) for needle in _needles(phones, emails))))
        with engine.begin() as connection:
            return {row.sender_id for row in connection.execute(query) if _names_them(json.loads(row.data), phones,
                                                                                       emails)}

    def delete(self, conversation_ids: Iterable[str], dry_run: bool = False,
               idle_before: dt.datetime | None = None) -> dict[str, int]:
        """Events per conversation deleted (or, dry, that would be); `idle_before` spares one active since."""
        engine, e = self._db(write=True), self.events
        if engine is None:
            return {}
        counts: dict[str, int] = {}
        with engine.begin() as connection:
            for chunk in _chunks(conversation_ids):
                condition = e.c.sender_id.in_(chunk)
                if idle_before is not None:  # checked again here: a message may have arrived since the listing
                    condition = sa.and_(condition, e.c.sender_id.not_in(
                        sa.select(e.c.sender_id).where(e.c.timestamp >= idle_before.timestamp())))
                counts.update(connection.execute(
                    sa.select(e.c.sender_id, sa.func.count()).where(condition).group_by(e.c.sender_id)).all())
                if not dry_run:
                    connection.execute(e.delete().where(condition))
        if counts and not dry_run:
            _checkpoint(engine)
        return counts

    def last_activity(self) -> dict[str, dt.datetime]:
        engine, e = self._db(), self.events
        if engine is None:
            return {}
        with engine.begin() as connection:
            rows = connection.execute(sa.select(e.c.sender_id, sa.func.max(e.c.timestamp)).group_by(e.c.sender_id))
            return {sender: dt.datetime.fromtimestamp(last, UTC) for sender, last in rows if last is not None}


class RedisTracker:
    """Rasa's RedisTrackerStore: one key per conversation holding the serialised dialogue."""

    def __init__(self, url: str, prefix: str = REDIS_TRACKER_PREFIX) -> None:
        import redis  # only here: a SQLite deployment needs no Redis client

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix

    def _conversations(self) -> Iterator[tuple[str, bytes]]:
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=500):
            stored = self.client.get(key)
            if stored is not None:
                yield key.decode()[len(self.prefix):], stored

    @staticmethod
    def _events(stored: bytes) -> list[dict[str, Any]]:
        return json.loads(stored).get("events") or []

    def identified(self, phones: set[str], emails: set[str]) -> set[str]:
        needles = [needle.encode() for needle in _needles(phones, emails)]
        if not needles:
            return set()
        return {conversation_id for conversation_id, stored in self._conversations()
                if any(needle in stored for needle in needles)
                and any(_names_them(event, phones, emails) for event in self._events(stored))}

    def delete(self, conversation_ids: Iterable[str], dry_run: bool = False,
               idle_before: dt.datetime | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for conversation_id in conversation_ids:
            key = self.prefix + conversation_id
            stored = self.client.get(key)
            if stored is None:
                continue
            events = self._events(stored)
            if idle_before is not None and _last_timestamp(events) >= idle_before.timestamp():
                continue  # a message arrived since the listing
            counts[conversation_id] = len(events)
            if not dry_run:
                self.client.delete(key)
        return counts

    def last_activity(self) -> dict[str, dt.datetime]:
        return {conversation_id: dt.datetime.fromtimestamp(_last_timestamp(self._events(stored)), UTC)
                for conversation_id, stored in self._conversations()}


def _last_timestamp(events: list[dict[str, Any]]) -> float:
    return max((float(event.get("timestamp") or 0) for event in events), default=0.0)


class EventLog:
    """Rasa's SQL event broker (EVENT_BROKER=sql): a copy of every event, `events(id, sender_id, data)` in
    EVENT_BROKER_DB. Erased and purged with the conversations it copies. (With Kafka, the topic's retention
    and a consumer-side deletion are the operator's; the report says so.)"""

    table = sa.Table("events", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("sender_id", sa.String(255)), sa.Column("data", sa.Text))

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def delete(self, conversation_ids: Iterable[str], dry_run: bool = False) -> int:
        if self.path is None or not self.path.exists():
            return 0
        engine, e, count = _sqlite(self.path, write=True), self.table, 0
        with engine.begin() as connection:
            for chunk in _chunks(conversation_ids):
                count += connection.execute(sa.select(sa.func.count()).where(e.c.sender_id.in_(chunk))).scalar_one()
                if not dry_run:
                    connection.execute(e.delete().where(e.c.sender_id.in_(chunk)))
        if count and not dry_run:
            _checkpoint(engine)
        return count


def event_log_from_env(environ: Mapping[str, str] = os.environ) -> EventLog:
    """The SQL event broker's file as channels/event_broker.py and bot/stack.py choose it."""
    if (environ.get("EVENT_BROKER") or "sql").strip().lower() != "sql":
        return EventLog(None)
    raw = environ.get("EVENT_BROKER_DB")
    if raw:
        return EventLog(Path(raw))
    tracker_db = Path(environ.get("TRACKER_DB") or "var/tracker.db")  # bot/stack.py: next to the tracker
    return EventLog(tracker_db.with_name("events.db"))


def tracker_from_env(environ: Mapping[str, str] = os.environ) -> TrackerStore:
    """The tracker store Rasa is configured with (TRACKER_STORE, TRACKER_DB, REDIS_URL; see channels/stores.py)."""
    kind = (environ.get("TRACKER_STORE") or "sqlite").strip().lower()
    if kind == "redis":
        url = environ.get("REDIS_URL")
        if not url:
            raise ErasureError("TRACKER_STORE=redis needs REDIS_URL, e.g. redis://localhost:6379/0")
        return RedisTracker(url)
    if kind != "sqlite":
        raise ErasureError(f"TRACKER_STORE={kind!r} is not supported (use sqlite or redis)")
    path = Path(environ.get("TRACKER_DB") or "var/tracker.db")  # bot/stack.py's default
    return SqlTracker(path if path.is_absolute() else PROJECT_ROOT / path)


# --- SQLite helpers ----------------------------------------------------------------------------------

def _sqlite(path: Path, write: bool = False) -> sa.engine.Engine:
    """A reader, or a writer whose transactions take SQLite's write lock when they begin (BEGIN IMMEDIATE:
    reading then deleting could otherwise fail at once while a server writes) and overwrite what they delete
    (secure_delete), so erased rows do not linger in the file's free pages."""
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 10, "check_same_thread": False},
                              future=True, poolclass=sa.pool.NullPool)
    if write:
        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None  # the "begin" listener issues BEGIN IMMEDIATE itself
            dbapi_connection.execute("PRAGMA secure_delete = ON")

        @sa.event.listens_for(engine, "begin")
        def _immediate(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _checkpoint(engine: sa.engine.Engine) -> None:
    """Fold a WAL-mode database's log into the file and truncate it, so the old copies of erased pages go too.
    Best effort: a reader still busy keeps its part of the log until the next checkpoint."""
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


def _tables(connection: sa.engine.Connection) -> list[sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(bind=connection)
    return list(metadata.sorted_tables)


def _any_in(table: sa.Table, values: Mapping[str, set[Any]]) -> list[Any]:
    """`column IN (...)` for each key column the table has and each non-empty set of values."""
    return [table.c[name].in_(chunk) for name, found in values.items() if name in table.c and found
            for chunk in _chunks(found)]


# --- who the request is about ------------------------------------------------------------------------

@dataclass
class Person:
    candidate_ids: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    records_found: int = 0  # candidate records in the ATS


class CandidateDirectory(Protocol):
    def find_candidate_by_phone(self, phone_e164: str) -> Candidate | None: ...

    def find_candidate_by_email(self, email: str) -> Candidate | None: ...

    def get_candidate(self, candidate_id: str) -> Candidate | None: ...


def _directory(settings: Settings) -> CandidateDirectory | None:
    if settings.ats_backend == "embedded":
        from bot.ats.embedded import EmbeddedATS

        return EmbeddedATS(settings.ats_database, create=False) if settings.ats_database.exists() else None
    from bot.ats import open_ats  # a hosted ATS: its API knows the phone and email behind a candidate id

    return open_ats(settings, load_seed=False)


def identify(settings: Settings, directory: CandidateDirectory | None, *, phone: str | None = None,
             email: str | None = None, candidate_id: str | None = None) -> Person:
    """Everything that names the person: what the operator gave, and what the ATS holds for that candidate."""
    person = Person()
    if phone:
        normalised = normalise_phone(phone, settings.default_phone_region)
        if normalised is None:
            raise ErasureError("--phone is not a valid phone number")
        person.phones.add(normalised)
    if email:
        if "@" not in email:
            raise ErasureError("--email is not an email address")
        person.emails.add(email.strip().lower())
    if candidate_id:
        person.candidate_ids.add(candidate_id.strip())
    if not (person.phones or person.emails or person.candidate_ids):
        raise ErasureError("say whose data to erase: --phone, --email or --candidate")
    if directory is None:
        return person
    found: dict[str, Candidate] = {}
    try:
        lookups = ([directory.find_candidate_by_phone(number) for number in sorted(person.phones)]
                   + [directory.find_candidate_by_email(address) for address in sorted(person.emails)]
                   + [directory.get_candidate(given) for given in sorted(person.candidate_ids)])
    except ATSError as error:
        raise LookupFailed(f"could not look the candidate up in the ATS ({error}); nothing was erased") from error
    for candidate in filter(None, lookups):
        found[candidate.id] = candidate
        person.candidate_ids.add(candidate.id)
        number = normalise_phone(candidate.phone, settings.default_phone_region) if candidate.phone else None
        person.phones.update([number] if number else [])
        person.emails.update([candidate.email.strip().lower()] if candidate.email else [])
    person.records_found = len(found)
    return person


def derived_conversations(settings: Settings, person: Person) -> set[str]:
    """The conversation ids the channels give this person: SMS from the phone, the careers site from the email."""
    key = settings.conversation_id_key
    return ({sms_conversation_id(number, key) for number in person.phones}
            | {visitor_for(address, None, key).conversation_id for address in person.emails})


# --- reports -----------------------------------------------------------------------------------------

def _counted(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()) if count) or "none"


@dataclass
class ErasureReport:
    dry_run: bool
    candidate_records: int = 0  # found in the ATS
    conversations: int = 0  # with something stored
    tracker_events: int = 0
    event_log_events: int = 0  # copies in the SQL event broker's log
    state_rows: dict[str, int] = field(default_factory=dict)
    ats_rows: dict[str, int] = field(default_factory=dict)
    email_files: int = 0
    upcoming_interviews: int = 0  # booked interviews still ahead, cancelled by the erasure
    kept: dict[str, int] = field(default_factory=dict)
    slack_cards: set[tuple[str, str]] = field(default_factory=set)  # (channel, ts) of handoff cards posted
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (self.tracker_events + self.event_log_events + sum(self.state_rows.values())
                + sum(self.ats_rows.values()) + self.email_files)

    def summary(self) -> str:
        """Counts only, never who: this line goes to logs."""
        return (f"{'would erase' if self.dry_run else 'erased'} {self.conversations} conversations, "
                f"{self.tracker_events} tracker events, {self.event_log_events} event-log events, "
                f"{sum(self.state_rows.values())} state rows, "
                f"{sum(self.ats_rows.values())} ATS rows, {self.email_files} email files; "
                f"kept {sum(self.kept.values())} opt-outs")

    def lines(self) -> list[str]:
        lines = [
            f"ATS candidate records found: {self.candidate_records}",
            f"Conversations: {self.conversations} ({self.tracker_events} events in the tracker store)",
            f"Event broker log (EVENT_BROKER=sql): {self.event_log_events} events",
            f"State database: {sum(self.state_rows.values())} rows ({_counted(self.state_rows)})",
            f"ATS database: {sum(self.ats_rows.values())} rows ({_counted(self.ats_rows)})",
            f"Email outbox files: {self.email_files}",
        ]
        if self.upcoming_interviews:
            lines.append(f"Booked interviews still ahead, cancelled with the record: {self.upcoming_interviews} "
                         "(tell the interviewers)")
        if self.slack_cards:
            cards = ", ".join(f"{channel} {ts}" for channel, ts in sorted(self.slack_cards))
            lines.append(f"Handoff cards posted in Slack, to delete there (channel and message ts): {cards}")
        lines += [f"Kept: {name} {count} ({KEPT_TABLES.get(name, '')})" for name, count in self.kept.items() if count]
        return lines + self.notes


@dataclass
class PurgeReport:
    days: float
    cutoff: dt.datetime | None
    dry_run: bool = False
    conversations: int = 0
    tracker_events: int = 0
    event_log_events: int = 0
    state_rows: dict[str, int] = field(default_factory=dict)
    email_files: int = 0
    kept_with_work_due: int = 0  # idle conversations kept because something is still due in them

    @property
    def total(self) -> int:
        return self.tracker_events + self.event_log_events + sum(self.state_rows.values()) + self.email_files

    def summary(self) -> str:
        return (f"{'would purge' if self.dry_run else 'purged'} {self.conversations} conversations idle for "
                f"{self.days:g} days: {self.tracker_events} tracker events, {self.event_log_events} event-log "
                f"events, {sum(self.state_rows.values())} state "
                f"rows, {self.email_files} email files; {self.kept_with_work_due} idle ones kept with work still due")

    def lines(self) -> list[str]:
        return [
            f"Conversations idle since before {self.cutoff:%Y-%m-%d %H:%M} UTC: {self.conversations}"
            if self.cutoff else "Conversations: 0",
            f"Tracker store: {self.tracker_events} events",
            f"Event broker log: {self.event_log_events} events",
            f"State database: {sum(self.state_rows.values())} rows ({_counted(self.state_rows)})",
            f"Email outbox files: {self.email_files}",
            f"Idle but kept (a reminder, message or handoff still due): {self.kept_with_work_due}",
        ]


# --- erasure -----------------------------------------------------------------------------------------

def erase_candidate(settings: Settings, *, phone: str | None = None, email: str | None = None,
                    candidate_id: str | None = None, dry_run: bool = False,
                    directory: CandidateDirectory | None = None, tracker: TrackerStore | None = None,
                    event_log: EventLog | None = None, now: dt.datetime | None = None) -> ErasureReport:
    """Erase everything the assistant holds about one person (see the module docstring); idempotent.

    `directory` looks the candidate up (default: the configured ATS); `tracker` is Rasa's tracker store
    (default: from TRACKER_STORE). With `dry_run`, count what would be erased and change nothing.
    """
    now = now or now_utc()
    if directory is None:
        try:
            directory = _directory(settings)
        except ATSError as error:
            raise LookupFailed(f"could not open the ATS ({error}); nothing was erased") from error
    person = identify(settings, directory, phone=phone, email=email, candidate_id=candidate_id)
    tracker = tracker if tracker is not None else tracker_from_env()
    report = ErasureReport(dry_run=dry_run, candidate_records=person.records_found)

    state = _sqlite(settings.state_database, write=True) if settings.state_database.exists() else None
    links = _local_ats_links(settings.ats_database, person.candidate_ids)
    conversations = (derived_conversations(settings, person) | links.conversation_ids
                     | tracker.identified(person.phones, person.emails))
    if state is not None:
        with _sqlite(settings.state_database).connect() as connection:
            conversations |= _conversations_naming(connection, person)

    # The tracker first and the ATS record last: a run interrupted half-way still finds everything again.
    tracked = tracker.delete(conversations, dry_run=dry_run)
    report.tracker_events = sum(tracked.values())
    report.event_log_events = (event_log if event_log is not None else event_log_from_env()).delete(
        conversations, dry_run=dry_run)
    touched = set(tracked)
    if state is not None:
        touched |= _erase_state(state, person, conversations, links, report)
    report.conversations = len({c for c in touched if not c.startswith(APPLICATION_PREFIX)})
    report.email_files = len(_erase_outbox_files(settings.email_outbox_dir, person.emails, dry_run))
    if settings.ats_database.exists() and person.candidate_ids:
        report.ats_rows, report.upcoming_interviews = _erase_local_ats(
            settings.ats_database, person.candidate_ids, dry_run, now)
    report.notes = _notes(settings, person)
    if isinstance(tracker, RedisTracker):
        report.notes.append("Redis keeps erased conversations in its append-only file and snapshots until they are "
                            "rewritten (BGREWRITEAOF, BGSAVE).")
    logger.info("privacy: %s", report.summary())
    return report


@dataclass
class AtsLinks:
    """What the local ATS database ties to the candidate: applications, bookings, and the conversations
    those bookings were made in (each by the verified candidate, so theirs)."""

    application_ids: set[str] = field(default_factory=set)
    booking_ids: set[str] = field(default_factory=set)
    conversation_ids: set[str] = field(default_factory=set)


def _local_ats_links(ats_database: Path, candidate_ids: set[str]) -> AtsLinks:
    links = AtsLinks()
    if not candidate_ids or not ats_database.exists():
        return links
    with _sqlite(ats_database).connect() as connection:
        links.application_ids = _application_ids(connection, candidate_ids)
        b = bookings_table
        if b.name in sa.inspect(connection).get_table_names():
            for chunk in _chunks(candidate_ids):
                for booking_id, conversation_id in connection.execute(
                        sa.select(b.c.id, b.c.conversation_id).where(b.c.candidate_id.in_(chunk))):
                    links.booking_ids.add(booking_id)
                    links.conversation_ids.update([conversation_id] if conversation_id else [])
    return links


def _application_ids(connection: sa.engine.Connection, candidate_ids: set[str]) -> set[str]:
    a = applications_table
    if a.name not in sa.inspect(connection).get_table_names():
        return set()
    return {v for chunk in _chunks(candidate_ids) for v in connection.execute(
        sa.select(a.c.id).where(a.c.candidate_id.in_(chunk))).scalars()}


def _conversations_naming(connection: sa.engine.Connection, person: Person) -> set[str]:
    """Conversations whose state rows name the person: their phone, email or candidate id beside a conversation id."""
    names = {"phone": person.phones, "email": person.emails, "candidate_id": person.candidate_ids}
    found: set[str] = set()
    for table in _tables(connection):
        if table.name in KEPT_TABLES or "conversation_id" not in table.c:
            continue
        for condition in _any_in(table, names):
            found.update(connection.execute(sa.select(table.c.conversation_id).where(condition).distinct()).scalars())
    return found


def _erase_state(engine: sa.engine.Engine, person: Person, conversations: set[str], links: AtsLinks,
                 report: ErasureReport) -> set[str]:
    """Erase (or count) the person's rows in one transaction; returns the conversations that had rows."""
    with_rows: set[str] = set()
    with engine.begin() as connection:
        tables = _tables(connection)
        by_name = {table.name: table for table in tables}
        keys: dict[str, set[Any]] = {
            "conversation_id": set(conversations), "phone": set(person.phones), "email": set(person.emails),
            "candidate_id": set(person.candidate_ids), "application_id": set(links.application_ids),
            "handoff_id": set(), "booking_id": set(links.booking_ids),
        }
        # Applications (a hosted ATS's too) and handoffs the state database ties to the person or their conversations.
        for table in tables:
            if "application_id" in table.c:
                for condition in _any_in(table, {"candidate_id": person.candidate_ids}):
                    keys["application_id"].update(v for v in connection.execute(
                        sa.select(table.c.application_id).where(condition)).scalars() if v)
        if "handoffs" in by_name:
            handoffs = by_name["handoffs"]
            for condition in _any_in(handoffs, {"conversation_id": conversations,
                                                "candidate_id": person.candidate_ids}):
                for handoff_id, slack_channel, slack_ts in connection.execute(sa.select(
                        handoffs.c.id, handoffs.c.slack_channel, handoffs.c.slack_ts).where(condition)):
                    keys["handoff_id"].add(handoff_id)
                    if slack_ts:
                        report.slack_cards.add((slack_channel, slack_ts))
        for table in tables:
            conditions = _any_in(table, keys)
            if not conditions:
                continue
            condition = sa.or_(*conditions)
            count = connection.execute(sa.select(sa.func.count()).select_from(table).where(condition)).scalar_one()
            if table.name in KEPT_TABLES:
                report.kept[table.name] = count
                continue
            if "conversation_id" in table.c:
                with_rows.update(connection.execute(
                    sa.select(table.c.conversation_id).where(condition).distinct()).scalars())
            report.state_rows[table.name] = count
            if count and not report.dry_run:
                connection.execute(table.delete().where(condition))
    if any(report.state_rows.values()) and not report.dry_run:
        _checkpoint(engine)
    return with_rows


def _erase_outbox_files(folder: Path, emails: set[str], dry_run: bool) -> list[Path]:
    """Emails written to the local outbox (no SMTP) addressed to one of these addresses."""
    if not emails or not Path(folder).is_dir():
        return []
    addressed = []
    for path in sorted(Path(folder).glob("*.eml")):
        with path.open("rb") as handle:
            headers = BytesHeaderParser().parse(handle)
        recipients = {address.strip().lower() for _, address in getaddresses(headers.get_all("To", []))}
        if recipients & emails:
            addressed.append(path)
            if not dry_run:
                path.unlink(missing_ok=True)
    return addressed


def _erase_local_ats(database: Path, candidate_ids: set[str], dry_run: bool,
                     now: dt.datetime) -> tuple[dict[str, int], int]:
    """The candidate's rows in the local ATS database, bookings' interviewer time freed; one transaction."""
    counts: dict[str, int] = {}
    engine = _sqlite(database, write=True)
    with engine.begin() as connection:
        existing = set(sa.inspect(connection).get_table_names())

        def erase(table: sa.Table, condition: Any) -> None:
            if table.name not in existing:
                return
            counts[table.name] = counts.get(table.name, 0) + connection.execute(
                sa.select(sa.func.count()).select_from(table).where(condition)).scalar_one()
            if not dry_run:
                connection.execute(table.delete().where(condition))

        b = bookings_table
        bookings: set[str] = set()
        upcoming = 0
        if b.name in existing:
            for chunk in _chunks(candidate_ids):
                rows = connection.execute(sa.select(b.c.id, b.c.status, b.c.starts_at).where(
                    b.c.candidate_id.in_(chunk))).all()
                bookings.update(row.id for row in rows)
                upcoming += sum(1 for row in rows if row.status == "booked" and from_db(row.starts_at) > now)
        applications = _application_ids(connection, candidate_ids)
        for chunk in _chunks(bookings):
            erase(interviewer_blocks_table, interviewer_blocks_table.c.booking_id.in_(chunk))
            erase(b, b.c.id.in_(chunk))
        for chunk in _chunks(applications):
            erase(notes_table, notes_table.c.application_id.in_(chunk))
        for chunk in _chunks(candidate_ids):
            erase(applications_table, applications_table.c.candidate_id.in_(chunk))
            erase(candidates_table, candidates_table.c.id.in_(chunk))
    if any(counts.values()) and not dry_run:
        _checkpoint(engine)
    return counts, upcoming


def _notes(settings: Settings, person: Person) -> list[str]:
    notes = []
    if settings.ats_backend != "embedded":
        notes.append(f"ATS_BACKEND={settings.ats_backend}: the candidate's record there is the company's system of "
                     "record and was not changed; erase it in that ATS if the request covers it. Until then a stage "
                     "change can still send them a status update.")
    if settings.ats_seed_file is not None and settings.ats_seed_file.exists():
        from bot.ats.seed import SeedError, read_seed_file

        try:
            seed = read_seed_file(settings.ats_seed_file)
        except SeedError:
            notes.append("ATS_SEED_FILE could not be read to check whether it lists the candidate.")
        else:
            if any(c.id in person.candidate_ids or c.phone in person.phones or (c.email or "") in person.emails
                   for c in seed.candidates):
                notes.append("ATS_SEED_FILE lists this candidate: remove them from it, or loading it again brings "
                             "the record back.")
    notes.append("Not reachable from here: messages already in Slack (handoff threads), texts in Twilio's message "
                 "log, emails already sent over SMTP, logs and backups.")
    return notes


# --- retention ---------------------------------------------------------------------------------------

def purge_older_than(settings: Settings, days: float, *, dry_run: bool = False, tracker: TrackerStore | None = None,
                     event_log: EventLog | None = None, now: dt.datetime | None = None) -> PurgeReport:
    """Remove conversations idle for more than `days` (tracker events and state rows); 0 keeps everything."""
    if days <= 0:
        return PurgeReport(days=days, cutoff=None, dry_run=dry_run)
    now = now or now_utc()
    cutoff = now - dt.timedelta(days=days)
    tracker = tracker if tracker is not None else tracker_from_env()
    report = PurgeReport(days=days, cutoff=cutoff, dry_run=dry_run)
    state = _sqlite(settings.state_database, write=True) if settings.state_database.exists() else None

    tracker_seen = tracker.last_activity()
    last_seen = dict(tracker_seen)
    busy = _interviews_ahead(settings.ats_database, now)
    if state is not None:
        with _sqlite(settings.state_database).connect() as connection:
            state_seen, state_busy = _state_activity(connection)
        busy |= state_busy
        for conversation_id, moment in state_seen.items():
            if conversation_id not in last_seen or moment > last_seen[conversation_id]:
                last_seen[conversation_id] = moment
    idle = {conversation_id for conversation_id, moment in last_seen.items() if moment < cutoff}
    report.kept_with_work_due = len(idle & busy)
    idle -= busy

    tracked = tracker.delete(idle, dry_run=dry_run, idle_before=cutoff)
    report.tracker_events = sum(tracked.values())
    idle -= {c for c in idle if c in tracker_seen and c not in tracked}  # a message came in since the listing
    report.event_log_events = (event_log if event_log is not None else event_log_from_env()).delete(
        idle, dry_run=dry_run)
    if state is not None and idle:
        report.state_rows = _purge_state(state, idle, dry_run)
    report.conversations = len({c for c in idle if not c.startswith(APPLICATION_PREFIX)})
    report.email_files = len(_old_outbox_files(settings.email_outbox_dir, cutoff, dry_run))
    logger.info("privacy: %s", report.summary())
    return report


def _state_activity(connection: sa.engine.Connection) -> tuple[dict[str, dt.datetime], set[str]]:
    """Each conversation's latest activity in the state database, and those with work still due."""
    seen: dict[str, dt.datetime] = {}
    busy: set[str] = set()
    for table in _tables(connection):
        if "conversation_id" not in table.c:
            continue
        moments = [column for column in table.c if isinstance(column.type, sa.DateTime)
                   and column.name not in SCHEDULE_COLUMNS]
        for column in moments:
            query = sa.select(table.c.conversation_id, sa.func.max(column)).group_by(table.c.conversation_id)
            for conversation_id, moment in connection.execute(query):
                if moment is not None:
                    moment = from_db(moment)
                    seen[conversation_id] = max(moment, seen.get(conversation_id, moment))
        if "status" in table.c:
            busy.update(connection.execute(sa.select(table.c.conversation_id).where(
                table.c.status.in_(UNFINISHED)).distinct()).scalars())
    return seen, busy


def _interviews_ahead(ats_database: Path, now: dt.datetime) -> set[str]:
    """Conversations with a booked interview still ahead: their reminders will be delivered there."""
    if not ats_database.exists():
        return set()
    b = bookings_table
    with _sqlite(ats_database).connect() as connection:
        if b.name not in sa.inspect(connection).get_table_names():
            return set()
        return {v for v in connection.execute(sa.select(b.c.conversation_id).where(
            b.c.status == "booked", b.c.ends_at > to_db(now))).scalars() if v}


def _purge_state(engine: sa.engine.Engine, conversations: set[str], dry_run: bool) -> dict[str, int]:
    deleted: dict[str, int] = {}
    with engine.begin() as connection:
        tables = _tables(connection)
        handoff_ids: set[int] = set()
        handoffs = next((table for table in tables if table.name == "handoffs"), None)
        if handoffs is not None:
            for condition in _any_in(handoffs, {"conversation_id": conversations}):
                handoff_ids.update(connection.execute(sa.select(handoffs.c.id).where(condition)).scalars())
        for table in tables:
            if table.name in KEPT_TABLES:
                continue
            conditions = _any_in(table, {"conversation_id": conversations, "handoff_id": handoff_ids})
            if not conditions:
                continue
            condition = sa.or_(*conditions)
            deleted[table.name] = connection.execute(
                sa.select(sa.func.count()).select_from(table).where(condition)).scalar_one()
            if deleted[table.name] and not dry_run:
                connection.execute(table.delete().where(condition))
    if any(deleted.values()) and not dry_run:
        _checkpoint(engine)
    return deleted


def _old_outbox_files(folder: Path, cutoff: dt.datetime, dry_run: bool) -> list[Path]:
    if not Path(folder).is_dir():
        return []
    old = [path for path in sorted(Path(folder).glob("*.eml")) if path.stat().st_mtime < cutoff.timestamp()]
    if not dry_run:
        for path in old:
            path.unlink(missing_ok=True)
    return old
