"""Erasing a candidate on request and purging idle conversations (bot/privacy.py).

Everything is real: the state and ATS databases are SQLite files written through the modules that own
them, conversations are saved by Rasa's own SQL (and Redis) tracker stores, and the CLI runs in a
subprocess as an operator would run it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import os
import pkgutil
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker

import bot
import channels
from bot.ats.embedded import EmbeddedATS
from bot.ats.hosted import NoteQueue
from bot.clock import now_utc, to_db
from bot.email_codes import EmailCodes, Mailer
from bot.handoff import HandoffCard, HandoffDesk, HandoffRules
from bot.identity import VERIFIED_EMAIL_KEY, VERIFIED_PHONE_KEY
from bot.outbox import ReminderQueue, SmsOutbox
from bot.privacy import KEPT_TABLES, KEY_COLUMNS, EventLog, SqlTracker, erase_candidate, purge_older_than
from bot.rate_limits import RateLimiter
from bot.settings import PROJECT_ROOT, Settings
from bot.sms import SmsLedger
from bot.sms import conversation_id_for as sms_conversation_id
from bot.status_updates import StatusUpdates
from bot.store import open_state_db, state_metadata
from bot.webchat import SeenMessages, visitor_for
from channels.candidate_slack import conversation_id_for as slack_conversation_id
from channels.candidate_slack import slack_candidates_table, slack_dm_outbox_table, slack_inbox_table
from tests.conftest import DEMO_SEED

KEY = "privacy-test-key"
DAY = dt.timedelta(days=1)


@dataclass
class Person:
    candidate_id: str
    name: str
    phone: str
    email: str
    slack_user: str
    conversations: dict[str, str] = field(default_factory=dict)  # channel -> conversation id
    application_ids: list[str] = field(default_factory=list)
    booking_ids: list[str] = field(default_factory=list)
    booked_at: dt.datetime | None = None
    handoff_ids: list[int] = field(default_factory=list)

    def exact(self) -> set[Any]:
        """Values that name this person wherever they stand alone in a column."""
        return ({self.candidate_id, *self.conversations.values(), *self.application_ids, *self.booking_ids}
                | {f"application:{a}" for a in self.application_ids})

    def inside(self) -> tuple[str, ...]:
        """Text that names this person anywhere inside a value (message bodies, cards, emails)."""
        return self.phone, self.email, self.name

    def owns(self, table: str, row: dict[str, Any]) -> bool:
        if table == "handoff_threads":
            return row["handoff_id"] in self.handoff_ids
        if table == "rate_limit_windows":  # "<limit>:<conversation id or client key>"
            return row["key"].partition(":")[2] in self.exact()
        return any(value in self.exact() or any(text in str(value) for text in self.inside())
                   for value in row.values() if isinstance(value, str))


NAMES_NO_ONE = {"ats_webhook_deliveries_seen"}  # signatures and body hashes of ATS webhooks
PRIYA = Person("c1", "Priya Nair", "+16175550101", "priya@example.com", "U0PRIYA")
JAMES = Person("c2", "James Carter", "+16175550102", "james.carter@example.com", "U0JAMES")


def user(text: str, channel: str, metadata: dict[str, Any], at: float) -> UserUttered:
    return UserUttered(text, {"intent": {"name": "ask_status", "confidence": 0.97}}, input_channel=channel,
                       metadata=metadata, timestamp=at)


async def save_conversation(store: Any, conversation_id: str, events: list) -> None:
    slots = [TextSlot("verification_email", mappings=[{"type": "custom"}])]  # the domain's, for the code flow
    await store.save(DialogueStateTracker.from_events(conversation_id, events, slots=slots))


def dump(database: Path) -> dict[str, list[dict[str, Any]]]:
    engine = sa.create_engine(f"sqlite:///{database}", future=True)
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    with engine.connect() as connection:
        dumped = {table.name: [dict(row) for row in connection.execute(sa.select(table)).mappings()]
                  for table in metadata.sorted_tables}
    engine.dispose()
    return dumped


def without(dumped: dict[str, list[dict]], person: Person, keep: tuple[str, ...] = ()) -> dict[str, list[dict]]:
    return {table: [row for row in rows if table in keep or not person.owns(table, row)]
            for table, rows in dumped.items()}


@dataclass
class World:
    settings: Settings
    ats: EmbeddedATS
    state: sa.engine.Engine
    store: Any  # Rasa's tracker store
    tracker_db: Path | None = None

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "STATE_DATABASE": str(self.settings.state_database),
                "ATS_DATABASE": str(self.settings.ats_database), "ATS_BACKEND": "embedded", "ATS_SEED_FILE": "",
                "TRACKER_STORE": "sqlite", "TRACKER_DB": str(self.tracker_db), "CONVERSATION_ID_KEY": KEY,
                "EMAIL_OUTBOX_DIR": str(self.settings.email_outbox_dir), "DATA_RETENTION_DAYS": "", **extra}


def make_world(tmp_path: Path, store: Any, tracker_db: Path | None = None) -> World:
    ats = EmbeddedATS(tmp_path / "ats.db")
    from bot.ats.seed import read_seed_file

    ats.load_seed(read_seed_file(DEMO_SEED))
    settings = dataclasses.replace(
        Settings.from_env(), ats_backend="embedded", ats_database=tmp_path / "ats.db", ats_seed_file=None,
        state_database=tmp_path / "state.db", conversation_id_key=KEY, email_outbox_dir=tmp_path / "outbox",
        smtp_host=None, default_phone_region="US")
    return World(settings, ats, open_state_db(settings.state_database), store, tracker_db)


async def add_candidate(world: World, template: Person, now: dt.datetime) -> Person:
    """One candidate who has used every channel: SMS, the careers site (signed in and by code), Slack."""
    person = dataclasses.replace(template, conversations={}, application_ids=[], booking_ids=[], handoff_ids=[])
    settings, state, ats = world.settings, world.state, world.ats
    sms = sms_conversation_id(person.phone, KEY)
    web = visitor_for(person.email, None, KEY).conversation_id
    anonymous = f"webanon-{secrets.token_hex(16)}"
    slack = slack_conversation_id(person.slack_user, KEY)
    person.conversations = {"sms": sms, "web": web, "anonymous": anonymous, "slack": slack}
    at = now.timestamp()

    await save_conversation(world.store, sms, [
        ActionExecuted("action_listen", timestamp=at),
        user("where's my application?", "twilio", {VERIFIED_PHONE_KEY: person.phone}, at),
        BotUttered(f"Hi {person.name.split()[0]}, your application is in review.", timestamp=at)])
    await save_conversation(world.store, web, [
        user("when is my interview", "web", {VERIFIED_EMAIL_KEY: person.email}, at),
        BotUttered("Let me check.", timestamp=at)])
    await save_conversation(world.store, anonymous, [
        user(f"my email is {person.email}", "web", {}, at), SlotSet("verification_email", person.email, timestamp=at)])
    await save_conversation(world.store, slack, [
        user("any news?", "slack", {VERIFIED_EMAIL_KEY: person.email}, at), BotUttered("Not yet.", timestamp=at)])

    RateLimiter(state, settings).message(sms, now=now)
    ledger = SmsLedger(state)
    ledger.claim(f"SM{secrets.token_hex(8)}", sms)
    ledger.offer_choices(sms, [{"title": "Yes", "payload": "/affirm"}])
    ledger.remember_contact(sms, person.phone)
    SmsOutbox(state).enqueue(sms, person.phone, ["Your interview is tomorrow."], now=now)
    seen, message_id = SeenMessages(state), f"msg-{secrets.token_hex(6)}"
    seen.first_time(web, message_id, now=now)
    seen.answered(web, message_id)
    codes = EmailCodes(state, KEY)
    codes.request(anonymous, person.email, now=now)  # a code waiting to be emailed (email_code_mail)
    code = codes.issue(anonymous, person.email, on_an_application=True, now=now)
    assert codes.check(anonymous, code, now=now).reason == "verified"
    Mailer(settings).send_code(person.email, code, "Acme Robotics", 10)
    with state.begin() as connection:
        queued = {"status": "pending", "due_at": to_db(now), "next_attempt_at": to_db(now),
                  "give_up_at": to_db(now + DAY), "attempts": 0, "created_at": to_db(now)}
        connection.execute(slack_inbox_table.insert().values(
            conversation_id=slack, event_key=secrets.token_hex(6), user_id=person.slack_user, dm_channel="D1",
            text="any news?", **queued))
        connection.execute(slack_candidates_table.insert().values(conversation_id=slack, dm_channel="D1"))
        connection.execute(slack_dm_outbox_table.insert().values(
            conversation_id=slack, dm_channel="D1", message='{"text": "Not yet."}', **queued))

    candidate = ats.get_candidate(person.candidate_id)
    application = ats.applications_for(person.candidate_id)[0]
    person.application_ids = [a.id for a in ats.applications_for(person.candidate_id)]
    updates = StatusUpdates(state, settings, lambda phone: sms_conversation_id(phone, KEY))
    updates.record_contact(person.candidate_id, "slack", slack, now=now)
    updates.receive_event("cli", application.id, application.stage, now=now)
    updates.plan(application, candidate, ats.company(), lambda phone: False, now=now)
    updates.nudge_stale([application], application.stage_changed + 30 * DAY, {person.candidate_id: person.name},
                        now=now)
    NoteQueue(state).enqueue(application.id, f"{person.name} booked an interview", now=now)

    desk = HandoffDesk(state, HandoffRules(slack_enabled=True))
    handoff, _ = desk.open(slack, "slack", HandoffCard("requested_by_candidate", "slack", candidate_name=person.name),
                           candidate_id=person.candidate_id, application_id=application.id, now=now)
    thread = f"1700000000.{handoff.id:06d}"
    desk.card_posted(handoff.id, "C0HANDOFFS", thread)
    desk.recruiter_reply("C0HANDOFFS", thread, "U0RECRUITER", "Hello! Happy to help.", secrets.token_hex(6), now=now)
    person.handoff_ids = [handoff.id]

    start = now + 3 * DAY
    slot = ats.free_slots(application.job.id, application.stage, start, start + 7 * DAY)[0]
    booking = ats.book_interview(application.id, slot, candidate_timezone="America/New_York", conversation_id=sms,
                                 channel="twilio")
    person.booking_ids, person.booked_at = [booking.id], slot
    ats.add_note(application.id, f"Interview booked for {person.name}")
    ReminderQueue(state).schedule(booking, (dt.timedelta(hours=24), dt.timedelta(hours=1)), now=now)
    return person


@pytest.fixture()
async def world(tmp_path: Path):
    tracker_db = tmp_path / "tracker.db"
    built = make_world(tmp_path, SQLTrackerStore(dialect="sqlite", db=str(tracker_db)), tracker_db)
    now = now_utc()
    priya = await add_candidate(built, PRIYA, now)
    SmsLedger(built.state).opt_out(priya.phone)  # she texted STOP once
    james = await add_candidate(built, JAMES, now)
    return built, priya, james


def files_for(folder: Path, person: Person) -> list[Path]:
    return [path for path in folder.glob("*.eml") if person.email in path.read_text()]


async def event_counts(store: Any, person: Person) -> dict[str, int]:
    counts = {}
    for conversation_id in person.conversations.values():
        tracker = await store.retrieve_full_tracker(conversation_id)
        counts[conversation_id] = len(tracker.events) if tracker else 0
    return counts


# --- erasure -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("given", ["phone", "email", "candidate"])
async def test_erasing_a_candidate_removes_everything_of_theirs_and_nothing_else(world, given):
    world, priya, james = world
    identifier = {"phone": {"phone": "(617) 555-0101"}, "email": {"email": "Priya@Example.com"},
                  "candidate": {"candidate_id": "c1"}}[given]
    state_before, ats_before = dump(world.settings.state_database), dump(world.settings.ats_database)
    james_events = await event_counts(world.store, james)
    # The world covers every table: each one holds something of Priya's before the erasure.
    assert [t for t, rows in state_before.items()
            if t not in NAMES_NO_ONE and not any(priya.owns(t, row) for row in rows)] == []
    application = world.ats.get_application(priya.application_ids[0])
    assert priya.booked_at not in world.ats.free_slots(application.job.id, application.stage, priya.booked_at,
                                                       priya.booked_at + DAY)

    report = erase_candidate(world.settings, **identifier, tracker=SqlTracker(world.tracker_db))

    assert dump(world.settings.state_database) == without(state_before, priya,
                                                          keep=("sms_opt_outs", "rate_limit_windows"))
    assert SmsLedger(world.state).is_opted_out(priya.phone)  # STOP is honoured for good
    assert dump(world.settings.ats_database) == without(ats_before, priya)
    assert priya.booked_at in world.ats.free_slots(application.job.id, application.stage, priya.booked_at,
                                                   priya.booked_at + DAY)  # the interviewers' time is free again
    assert set((await event_counts(world.store, priya)).values()) == {0}
    assert await event_counts(world.store, james) == james_events
    assert files_for(world.settings.email_outbox_dir, priya) == []
    assert len(files_for(world.settings.email_outbox_dir, james)) == 1
    for database in (world.settings.state_database, world.settings.ats_database, world.tracker_db):  # nor in free pages
        stored = b"".join(path.read_bytes() for path in database.parent.glob(f"{database.name}*"))
        assert priya.email.encode() not in stored and james.email.encode() in stored

    assert (report.candidate_records, report.conversations, report.upcoming_interviews) == (1, 4, 1)
    assert report.tracker_events == 9 and report.email_files == 1
    assert report.kept == {"sms_opt_outs": 1}
    assert report.ats_rows == {"interviewer_blocks": 8, "interview_bookings": 1, "application_notes": 1,
                               "applications": 1, "candidates": 1}
    assert report.state_rows["handoff_threads"] == 1 and report.state_rows["interview_reminders"] == 2
    told = "\n".join([report.summary(), *report.lines()])
    assert not any(text in told for text in (*priya.inside(), *priya.conversations.values()))

    again = erase_candidate(world.settings, phone=priya.phone, email=priya.email, candidate_id="c1",
                            tracker=SqlTracker(world.tracker_db))
    assert (again.total, again.conversations, again.kept) == (0, 0, {"sms_opt_outs": 1})


async def test_the_event_brokers_copies_go_with_the_conversations(world, monkeypatch):
    """Rasa's SQL event broker (EVENT_BROKER=sql, the default) keeps a copy of every event: erased too."""
    world, priya, james = world
    log = world.tracker_db.with_name("events.db")
    monkeypatch.setenv("EVENT_BROKER_DB", str(log))
    from channels.event_broker import ConfiguredEventBroker  # the broker Rasa runs, writing the real table

    broker = await ConfiguredEventBroker.from_endpoint_config(None)
    for person in (priya, james):
        for conversation_id in person.conversations.values():
            broker.publish({"sender_id": conversation_id, "event": "user", "text": f"hello from {person.email}"})
    engine = sa.create_engine(f"sqlite:///{log}")

    def senders() -> set[str]:
        with engine.connect() as connection:
            return set(connection.execute(sa.text("SELECT sender_id FROM events")).scalars())

    assert set(priya.conversations.values()) <= senders()
    report = erase_candidate(world.settings, phone=priya.phone, tracker=SqlTracker(world.tracker_db),
                             event_log=EventLog(log))
    assert report.event_log_events == len(priya.conversations)
    assert senders() == set(james.conversations.values())
    assert priya.email.encode() not in b"".join(p.read_bytes() for p in log.parent.glob("events.db*"))


async def test_a_dry_run_counts_the_same_and_changes_nothing(world):
    world, priya, _ = world
    state_before, ats_before = dump(world.settings.state_database), dump(world.settings.ats_database)
    tracker_before = dump(world.tracker_db)

    preview = erase_candidate(world.settings, email=priya.email, dry_run=True, tracker=SqlTracker(world.tracker_db))

    assert (dump(world.settings.state_database), dump(world.settings.ats_database), dump(world.tracker_db)) == (
        state_before, ats_before, tracker_before)
    assert len(files_for(world.settings.email_outbox_dir, priya)) == 1
    done = erase_candidate(world.settings, email=priya.email, tracker=SqlTracker(world.tracker_db))
    assert dataclasses.replace(preview, dry_run=False) == done
    assert preview.summary().startswith("would erase") and done.summary().startswith("erased")


async def test_someone_who_is_not_a_candidate_can_have_their_texts_erased(tmp_path):
    tracker_db = tmp_path / "tracker.db"
    world = make_world(tmp_path, SQLTrackerStore(dialect="sqlite", db=str(tracker_db)), tracker_db)
    phone = "+16175550199"
    conversation = sms_conversation_id(phone, KEY)
    await save_conversation(world.store, conversation, [user("do you have jobs in Denver?", "twilio",
                                                             {VERIFIED_PHONE_KEY: phone}, now_utc().timestamp())])
    SmsLedger(world.state).remember_contact(conversation, phone)

    report = erase_candidate(world.settings, phone=phone, tracker=SqlTracker(tracker_db))

    assert (report.candidate_records, report.conversations, report.tracker_events) == (0, 1, 1)
    assert report.state_rows["sms_contacts"] == 1 and sum(report.ats_rows.values()) == 0
    assert await world.store.retrieve_full_tracker(conversation) is None


async def test_the_report_says_what_the_command_cannot_erase(world):
    world, priya, _ = world
    hosted = dataclasses.replace(world.settings, ats_backend="greenhouse", ats_seed_file=DEMO_SEED)

    report = erase_candidate(hosted, phone=priya.phone, directory=world.ats, dry_run=True,
                             tracker=SqlTracker(world.tracker_db))

    notes = "\n".join(report.lines())
    assert "ATS_BACKEND=greenhouse: the candidate's record there is the company's system of record" in notes
    assert "ATS_SEED_FILE lists this candidate" in notes
    assert "messages already in Slack (handoff threads)" in notes
    assert "Booked interviews still ahead, cancelled with the record: 1 (tell the interviewers)" in notes
    assert "Handoff cards posted in Slack, to delete there (channel and message ts): C0HANDOFFS 1700000000." in notes


def test_wrong_requests_are_refused_before_anything_happens(tmp_path):
    from bot.privacy import ErasureError

    settings = dataclasses.replace(Settings.from_env(), state_database=tmp_path / "state.db",
                                   ats_database=tmp_path / "none.db")
    with pytest.raises(ErasureError, match="--phone, --email or --candidate"):
        erase_candidate(settings, tracker=SqlTracker(tmp_path / "tracker.db"))
    with pytest.raises(ErasureError, match="not a valid phone number"):
        erase_candidate(settings, phone="12", tracker=SqlTracker(tmp_path / "tracker.db"))
    assert not (tmp_path / "state.db").exists() and not (tmp_path / "tracker.db").exists()


def test_every_state_table_is_erased_by_a_key_column_or_kept_on_purpose():
    """A table added later is covered only if it names its person by one of KEY_COLUMNS (or is kept)."""
    for package in (bot, channels):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if module.name != "bot.__main__":
                importlib.import_module(module.name)
    uncovered = [table.name for table in state_metadata.sorted_tables
                 if table.name not in KEPT_TABLES and not any(column in table.c for column in KEY_COLUMNS)]
    assert uncovered == []
    assert "slack_candidate_inbox" in state_metadata.tables  # channels/ tables were found too


# --- retention ---------------------------------------------------------------------------------------

def drain(queue: Any, now: dt.datetime) -> None:
    """Deliver everything a queue holds (one conversation's rows are claimed one at a time)."""
    while items := queue.claim_due(now=now):
        for item in items:
            queue.finish(item.id, "sent")


async def test_purge_removes_idle_conversations_and_keeps_recent_and_busy_ones(tmp_path):
    tracker_db = tmp_path / "tracker.db"
    world = make_world(tmp_path, SQLTrackerStore(dialect="sqlite", db=str(tracker_db)), tracker_db)
    state, now = world.state, now_utc()
    later = now + 40 * DAY  # the purge runs 40 days from now, keeping 30
    ledger = SmsLedger(state)

    def sms_conversation(phone: str, at: dt.datetime) -> str:
        conversation = sms_conversation_id(phone, KEY)
        ledger.claim(f"SM{secrets.token_hex(8)}", conversation)
        ledger.remember_contact(conversation, phone)
        SeenMessages(state).first_time(conversation, f"m-{secrets.token_hex(6)}", now=at)
        return conversation

    old = sms_conversation("+16175550111", now)
    await save_conversation(world.store, old, [user("hi", "twilio", {}, now.timestamp())])
    ledger.opt_out("+16175550111")
    outbox = SmsOutbox(state)
    outbox.enqueue(old, "+16175550111", ["Your interview moved."], now=now)
    drain(outbox, now)
    desk = HandoffDesk(state, HandoffRules(slack_enabled=True))
    handoff, _ = desk.open(old, "twilio", HandoffCard("requested_by_candidate", "twilio"), now=now)
    desk.card_posted(handoff.id, "C0HANDOFFS", "1700000000.000001")
    desk.close(handoff.id, "U0RECRUITER", now=now)
    drain(desk.slack, now)
    drain(desk.deliveries, now)

    recent = sms_conversation("+16175550112", now)
    await save_conversation(world.store, recent, [user("hi", "twilio", {}, (later - DAY).timestamp())])
    lately_seen = sms_conversation("+16175550113", now)  # old events, but a web message id from yesterday
    await save_conversation(world.store, lately_seen, [user("hi", "twilio", {}, now.timestamp())])
    SeenMessages(state).first_time(lately_seen, "m-yesterday", now=later - DAY)

    busy = sms_conversation("+16175550114", now)  # an interview still ahead: its reminders must reach it
    await save_conversation(world.store, busy, [user("book me", "twilio", {}, now.timestamp())])
    application = world.ats.applications_for("c1")[0]
    slot = world.ats.free_slots(application.job.id, application.stage, later + 10 * DAY, later + 20 * DAY)[0]
    booking = world.ats.book_interview(application.id, slot, candidate_timezone="America/New_York",
                                       conversation_id=busy, channel="twilio")
    ReminderQueue(state).schedule(booking, (dt.timedelta(hours=24),), now=now)

    anonymous = f"webanon-{secrets.token_hex(16)}"  # state rows only: no tracker events
    EmailCodes(state, KEY).issue(anonymous, "someone@example.com", on_an_application=False, now=now)
    updates = StatusUpdates(state, world.settings, lambda phone: sms_conversation_id(phone, KEY))
    updates.receive_event("cli", "c9-j1-0", now=now)
    drain(updates.events, now)

    outbox_dir = world.settings.email_outbox_dir
    outbox_dir.mkdir(parents=True)
    (outbox_dir / "old.eml").write_text("To: someone@example.com\n\nYour code is 123456.\n")
    (outbox_dir / "new.eml").write_text("To: someone@example.com\n\nYour code is 654321.\n")
    os.utime(outbox_dir / "old.eml", (now.timestamp(), now.timestamp()))
    os.utime(outbox_dir / "new.eml", ((later - DAY).timestamp(),) * 2)

    report = purge_older_than(world.settings, 30, now=later, tracker=SqlTracker(tracker_db))

    assert (report.conversations, report.tracker_events, report.email_files, report.kept_with_work_due) == (2, 1, 1, 1)
    after = dump(world.settings.state_database)
    remaining = {row["conversation_id"] for rows in after.values() for row in rows if "conversation_id" in row}
    assert remaining == {recent, lately_seen, busy}
    assert after["handoff_threads"] == [] and after["handoffs"] == [] and after["ats_events"] == []
    assert [row["phone"] for row in after["sms_opt_outs"]] == ["+16175550111"]  # opt-outs are never purged
    assert await world.store.retrieve_full_tracker(old) is None
    for kept in (recent, lately_seen, busy):
        assert await world.store.retrieve_full_tracker(kept) is not None
    assert sorted(path.name for path in outbox_dir.iterdir()) == ["new.eml"]
    assert report.state_rows["handoff_threads"] == 1 and report.state_rows["email_codes"] == 1

    assert purge_older_than(world.settings, 30, now=later, tracker=SqlTracker(tracker_db)).total == 0
    assert purge_older_than(world.settings, 0, now=later + 365 * DAY, tracker=SqlTracker(tracker_db)).total == 0
    assert await world.store.retrieve_full_tracker(recent) is not None


# --- Redis tracker store ---------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("redis-server") is None,
                    reason="redis-server is not installed (`make redis`; CI installs it)")
async def test_erasure_and_purge_with_the_redis_tracker_store(tmp_path, monkeypatch):
    from rasa.core.tracker_store import RedisTrackerStore

    from bot.privacy import RedisTracker, tracker_from_env
    from tests.redis_server import start_redis

    server = start_redis(tmp_path / "redis")
    try:
        store = RedisTrackerStore(domain=None, host="127.0.0.1", port=server.port, db=0, key_prefix="tracker:")
        world = make_world(tmp_path, store)
        now = now_utc()
        priya = await add_candidate(world, PRIYA, now)
        james = await add_candidate(world, JAMES, now)
        monkeypatch.setenv("TRACKER_STORE", "redis")
        monkeypatch.setenv("REDIS_URL", server.url)
        assert isinstance(tracker_from_env(), RedisTracker)
        keys = {key.decode() for key in server.client().keys("tracker:*")}
        assert {f"tracker:{c}" for c in (*priya.conversations.values(), *james.conversations.values())} == keys

        report = erase_candidate(world.settings, email=priya.email)

        assert (report.conversations, report.tracker_events) == (4, 9)
        assert "append-only file" in "\n".join(report.lines())
        assert {key.decode() for key in server.client().keys("tracker:*")} == {
            f"tracker:{c}" for c in james.conversations.values()}
        assert set((await event_counts(store, priya)).values()) == {0}
        assert erase_candidate(world.settings, email=priya.email).total == 0

        old = sms_conversation_id("+16175550111", KEY)
        await save_conversation(store, old, [user("hi", "twilio", {}, (now - 60 * DAY).timestamp())])
        purged = purge_older_than(world.settings, 30, now=now)
        assert purged.conversations == 1 and purged.tracker_events == 1
        assert await store.retrieve_full_tracker(old) is None
        assert await store.retrieve_full_tracker(james.conversations["sms"]) is not None
    finally:
        server.stop()


# --- the command line ------------------------------------------------------------------------------

def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env=env, timeout=120)


async def test_forget_shows_first_and_erases_only_with_yes(world):
    world, priya, _ = world
    env = world.env()
    before = dump(world.settings.state_database)

    shown = cli("forget", "--phone", priya.phone, env=env)
    assert shown.returncode == 2, shown.stderr
    assert "Would erase (nothing has been changed yet):" in shown.stdout
    assert "Conversations: 4 (9 events in the tracker store)" in shown.stdout
    assert "Kept: sms_opt_outs 1 (a STOP must be honoured until they text START" in shown.stdout
    assert "run the same command again with --yes" in shown.stdout
    assert dump(world.settings.state_database) == before

    erased = cli("forget", "--phone", priya.phone, "--yes", env=env)
    assert erased.returncode == 0, erased.stderr
    assert "Erased:" in erased.stdout and "ATS database: 12 rows" in erased.stdout
    assert priya.email not in erased.stdout + erased.stderr

    again = cli("forget", "--email", priya.email, "--yes", env=env)
    assert again.returncode == 0, again.stderr
    assert "Nothing to erase" in again.stdout


def test_forget_refuses_a_request_it_cannot_carry_out(tmp_path):
    env = {**os.environ, "STATE_DATABASE": str(tmp_path / "state.db"), "ATS_DATABASE": str(tmp_path / "ats.db"),
           "ATS_BACKEND": "embedded", "TRACKER_STORE": "sqlite", "TRACKER_DB": str(tmp_path / "tracker.db")}
    nobody = cli("forget", "--yes", env=env)
    assert nobody.returncode == 2 and "say whose data to erase" in nobody.stderr
    not_a_number = cli("forget", "--phone", "555", "--yes", env=env)
    assert not_a_number.returncode == 2 and "not a valid phone number" in not_a_number.stderr
    assert "Traceback" not in nobody.stderr + not_a_number.stderr


async def test_purge_uses_the_retention_setting(world):
    world, _, _ = world
    kept = cli("purge", env=world.env())
    assert kept.returncode == 0, kept.stderr
    assert "nothing was purged" in kept.stdout

    nothing_idle = cli("purge", env=world.env(DATA_RETENTION_DAYS="30"))
    assert nothing_idle.returncode == 0, nothing_idle.stderr
    assert "Purged what has been idle for more than 30 days:" in nothing_idle.stdout
    assert "Tracker store: 0 events" in nothing_idle.stdout

    negative = cli("purge", "--days", "-1", env=world.env())
    assert negative.returncode == 2 and "0 (keep everything) or a number of days" in negative.stderr
