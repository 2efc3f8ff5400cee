"""Durable queues (reminders, SMS outbox) on real SQLite, and the Twilio REST client against the fake API."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from bot.ats.base import Booking
from bot.outbox import LEASE, ReminderQueue, SmsOutbox
from bot.store import open_state_db
from bot.twilio_api import TwilioMessagingAPI, TwilioSendError
from tests.fakes.twilio_api import FakeTwilioAPI

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 22, 12, tzinfo=UTC)


def _booking(starts_at: dt.datetime, booking_id: str = "b-1") -> Booking:
    return Booking(id=booking_id, application_id="a", candidate_id="c", job_id="j", job_title="Data Engineer",
                   stage="Recruiter Screen", starts_at=starts_at, ends_at=starts_at + dt.timedelta(minutes=30),
                   format="phone", interviewers=(), status="booked", candidate_timezone="America/New_York",
                   invite_token="t", conversation_id="sms-1", channel="twilio")


LEADS = (dt.timedelta(hours=24), dt.timedelta(hours=1))


def test_reminders_are_queued_per_lead_and_not_twice(state_engine):
    queue = ReminderQueue(state_engine)
    booking = _booking(NOW + dt.timedelta(days=2))
    assert queue.schedule(booking, LEADS, now=NOW) == 2
    assert queue.schedule(booking, LEADS, now=NOW) == 0  # same booking, same leads: already there
    soon = _booking(NOW + dt.timedelta(hours=3), "b-2")
    assert queue.schedule(soon, LEADS, now=NOW) == 1  # the 24-hour reminder would already be late


def test_only_due_reminders_are_claimed_and_each_by_one_claimer(state_engine, tmp_path):
    booking = _booking(NOW + dt.timedelta(days=2))
    ReminderQueue(state_engine).schedule(booking, LEADS, now=NOW)
    first, second = ReminderQueue(state_engine), ReminderQueue(open_state_db(tmp_path / "state.db"))
    assert first.claim_due(NOW) == []
    due_time = NOW + dt.timedelta(days=1, minutes=1)
    claimed = first.claim_due(due_time)
    assert [item.fields["lead_minutes"] for item in claimed] == [1440]
    assert second.claim_due(due_time) == []  # leased to the first claimer
    # A claimer that died: after the lease, someone else takes the row.
    assert [i.id for i in second.claim_due(due_time + dt.timedelta(minutes=3))] == [claimed[0].id]


def test_a_worker_that_stops_mid_batch_holds_only_the_row_it_was_on(state_engine):
    outbox = SmsOutbox(state_engine)
    for n in range(3):
        outbox.enqueue(f"sms-{n}", f"+1617555010{n}", [f"message {n}"], now=NOW)
    batch = outbox.take_due(NOW)
    first = next(batch)  # the worker takes one row, then its server stops (the batch is abandoned)
    batch.close()
    other_replica = SmsOutbox(state_engine)  # the claims live in the database, not in the queue object
    taken = other_replica.claim_due(NOW + dt.timedelta(seconds=1))
    assert [i.fields["body"] for i in taken] == ["message 1", "message 2"]  # at once, not after a lease
    # the row the stopped worker was on comes back after its lease (the others are leased a second later)
    assert [i.id for i in other_replica.claim_due(NOW + LEASE + dt.timedelta(milliseconds=500))] == [first.id]


def test_cancelled_bookings_lose_their_reminders(state_engine):
    queue = ReminderQueue(state_engine)
    queue.schedule(_booking(NOW + dt.timedelta(days=2)), LEADS, now=NOW)
    assert queue.cancel_for("b-1") == 2
    assert queue.claim_due(NOW + dt.timedelta(days=3)) == []
    assert queue.counts() == {"skipped": 2}


def test_reminders_survive_a_restart(tmp_path):
    path = tmp_path / "state.db"
    ReminderQueue(open_state_db(path)).schedule(_booking(NOW + dt.timedelta(days=2)), LEADS, now=NOW)
    reopened = ReminderQueue(open_state_db(path))  # a new process: nothing but the file
    assert len(reopened.claim_due(NOW + dt.timedelta(days=2))) == 2


def test_failed_sends_back_off_then_give_up(state_engine):
    outbox = SmsOutbox(state_engine, keep_for=dt.timedelta(minutes=5))
    outbox.enqueue("sms-1", "+16175550101", ["hello"], now=NOW)
    item = outbox.claim_due(NOW)[0]
    outbox.retry_later(item, "Twilio API answered 500", now=NOW)
    assert outbox.claim_due(NOW + dt.timedelta(seconds=1)) == []  # backing off (2 s after the first attempt)
    item = outbox.claim_due(NOW + dt.timedelta(seconds=3))[0]
    assert item.attempts == 2
    outbox.retry_later(item, "still down", now=NOW + dt.timedelta(minutes=6))
    assert outbox.counts() == {"failed": 1}


def test_one_conversation_is_sent_in_order(state_engine):
    outbox = SmsOutbox(state_engine)
    outbox.enqueue("sms-1", "+16175550101", ["first", "second"], now=NOW)
    outbox.enqueue("sms-2", "+16175550102", ["other"], now=NOW)
    claimed = outbox.claim_due(NOW)
    assert [i.fields["body"] for i in claimed] == ["first", "other"]  # "second" waits for "first"
    outbox.retry_later(claimed[0], "500", now=NOW)
    assert outbox.claim_due(NOW + dt.timedelta(seconds=1)) == []
    outbox.finish(claimed[0].id, "sent", provider_id="SM1")
    assert [i.fields["body"] for i in outbox.claim_due(NOW + dt.timedelta(seconds=1))] == ["second"]


@pytest.fixture()
def fake_twilio():
    fake = FakeTwilioAPI().start()
    yield fake
    fake.stop()


def _client(fake: FakeTwilioAPI, **overrides) -> TwilioMessagingAPI:
    return TwilioMessagingAPI(**{"account_sid": fake.account_sid, "auth_token": fake.auth_token,
                                 "base_url": fake.base_url, "from_number": "+16175550199", "timeout_seconds": 2,
                                 **overrides})


def test_twilio_client_sends_and_classifies_errors(fake_twilio):
    sid = asyncio.run(_client(fake_twilio).send("+16175550101", "Reminder: tomorrow"))
    assert sid.startswith("SM") and fake_twilio.sent_to("+16175550101") == ["Reminder: tomorrow"]

    fake_twilio.fail_next(1)
    with pytest.raises(TwilioSendError) as server_error:
        asyncio.run(_client(fake_twilio).send("+16175550101", "x"))
    assert server_error.value.retryable

    fake_twilio.unsubscribed.add("+16175550102")
    with pytest.raises(TwilioSendError) as unsubscribed:
        asyncio.run(_client(fake_twilio).send("+16175550102", "x"))
    assert (unsubscribed.value.code, unsubscribed.value.retryable) == (21610, False)

    with pytest.raises(TwilioSendError) as bad_credentials:
        asyncio.run(_client(fake_twilio, auth_token="wrong").send("+16175550101", "x"))
    assert bad_credentials.value.code == 20003

    fake_twilio.fail_next(1, "hang")
    with pytest.raises(TwilioSendError) as timeout:
        asyncio.run(_client(fake_twilio, timeout_seconds=0.5).send("+16175550101", "x"))
    assert timeout.value.retryable

