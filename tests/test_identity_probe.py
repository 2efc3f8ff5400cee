"""The identity gate holds under a probing script that tries to learn another candidate's status every way it can.

The script is `bench/probe_identity.py` (`PROBES`, one attempt per line): SMS from numbers on no
application, the careers-site chat anonymous or signed in as someone else (forged, expired, tampered
and alg=none tokens; identity in client metadata; another conversation's id), Rasa's REST channel,
Rasa's HTTP API without its token, guessed calendar links, the ATS and Slack webhooks. Every reply
(texts, buttons, pushed messages, HTTP bodies) is read for Priya Nair's and Mei Tanaka's application
data, built from the demo seed; Priya has an interview booked while the script runs, so there is a
time and an invite link to find. Guessing the one-time code sent to Priya's email has its own test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from dataclasses import dataclass

import pytest

from bench.probe_identity import (
    MEI_PHONE,
    PRIYA_EMAIL,
    PRIYA_PHONE,
    PROBES,
    TARGETS,
    Checker,
    Outcome,
    WebVisitor,
    run_probes,
    upcoming_bookings,
)
from bot.ats.embedded import EmbeddedATS
from bot.ats.seed import read_seed_file
from bot.email_codes import LIMIT_PER_CONVERSATION, LIMIT_PER_EMAIL, MAX_TRIES
from bot.identity import VerifiedSender
from bot.scheduling import cancellation_question, confirmation_replies, reminder_text
from bot.status import load_status_context, status_answer
from bot.status_updates import update_reply
from bot.webchat import signed_token
from tests.conftest import DEMO_SEED, DEMO_TODAY
from tests.stack_fixture import WEB_JWT_SECRET

pytestmark = pytest.mark.integration

WATCHED_CONTACTS = ("c1", "c3", "c7")  # where proactive updates go: a spoofed status check moves it


def _contacts(stack) -> dict[str, tuple]:
    with sqlite3.connect(stack.workdir / "state.db") as db:
        rows = db.execute("SELECT candidate_id, channel, conversation_id, last_seen FROM candidate_contacts")
        return {row[0]: row for row in rows if row[0] in WATCHED_CONTACTS}


def _restore_contacts(stack, before: dict[str, tuple]) -> None:
    with sqlite3.connect(stack.workdir / "state.db") as db:
        for candidate_id in WATCHED_CONTACTS:
            db.execute("DELETE FROM candidate_contacts WHERE candidate_id = ?", (candidate_id,))
            if candidate_id in before:
                db.execute("INSERT INTO candidate_contacts VALUES (?, ?, ?, ?)", before[candidate_id])


@pytest.fixture(scope="module")
def seed():
    return read_seed_file(DEMO_SEED)


@pytest.fixture(scope="module")
def priya_booking(stack):
    """Priya's booked interview (booked here when no earlier test left her one), cancelled afterwards if ours."""
    ats = EmbeddedATS(stack.workdir / "ats.db", create=False)
    ours = None
    if not ats.bookings_for("c1"):
        now = dt.datetime.now(dt.timezone.utc)
        slot = ats.free_slots("j1", "Technical Interview", now + dt.timedelta(days=2), now + dt.timedelta(days=12))[-1]
        ours = ats.book_interview("c1-j1-0", slot, candidate_timezone="America/New_York",
                                  conversation_id=stack.conversation_id(PRIYA_PHONE), channel="twilio")
    yield ats.bookings_for("c1")[0]
    if ours is not None and ats.get_booking(ours.id).status == "booked":
        ats.cancel_interview(ours.id)


@dataclass
class Probed:
    outcomes: dict[str, Outcome]
    contacts_before: dict[str, tuple]
    contacts_after: dict[str, tuple]


@pytest.fixture(scope="module")
def probed(stack, priya_booking) -> Probed:
    """Every probe played once, a few at a time, each in a conversation of its own."""
    before = _contacts(stack)
    try:
        outcomes = run_probes(stack, PROBES, workers=4)
        after = _contacts(stack)
    finally:
        _restore_contacts(stack, before)  # a spoofed status check (a known leak) redirects Priya's updates
    return Probed(outcomes, before, after)


@pytest.fixture(scope="module")
def checker(seed, priya_booking):
    return Checker(seed, TARGETS, [priya_booking])


@pytest.mark.parametrize("name", [probe.name for probe in PROBES])
def test_the_probe_learns_nothing_about_priya_or_mei(probed, checker, name):
    outcome = probed.outcomes[name]
    assert outcome.seen or (outcome.probe.via == "web" and not outcome.probe.turns), "the probe got no answer"
    leaks = checker.leaks(outcome.seen, outcome.typed)
    assert leaks == [], f"{name} learned: " + "\n".join(leaks)
    assert outcome.problems == []


def test_nothing_is_pushed_to_the_probing_numbers(probed, twilio_api):
    numbers = sorted(outcome.probe.sender for outcome in probed.outcomes.values() if outcome.probe.via == "sms")
    assert {number: twilio_api.sent_to(number) for number in numbers} == {number: [] for number in numbers}


def test_no_probe_becomes_where_priyas_or_meis_updates_are_sent(probed):
    assert {c: probed.contacts_after.get(c) for c in TARGETS} == {c: probed.contacts_before.get(c) for c in TARGETS}


def test_priyas_interview_is_where_she_booked_it(stack, probed, priya_booking):
    """The probes tried to book, move and cancel it (by SMS, payloads, the web chat and the REST channel)."""
    assert [(b.id, b.starts_at) for b in upcoming_bookings(stack, "c1")] == [(priya_booking.id,
                                                                               priya_booking.starts_at)]


def test_the_checker_recognises_the_targets_data_in_every_wording(stack, checker, priya_booking):
    """The probes' silence means something only if the checker sees the data when it is there."""
    ats = EmbeddedATS(stack.workdir / "ats.db", create=False)
    texts: dict[str, str] = {}
    for who, phone in (("Priya", PRIYA_PHONE), ("Mei", MEI_PHONE)):
        context = load_status_context(ats, VerifiedSender("twilio", phone=phone))
        texts[f"{who}'s status"] = status_answer(context.candidate, context.applications, context.company,
                                                 today=DEMO_TODAY).replies[0].text
        for application in context.applications:
            texts[f"{who}'s update"] = update_reply(application, context.candidate, context.company).text
    invite = f"https://candidates.acme.example/webhooks/calendar/invite/{priya_booking.invite_token}.ics"
    texts["Priya's booking"] = confirmation_replies(priya_booking, invite, None, moved=False)[0].text
    texts["Priya's reminder"] = reminder_text(priya_booking, dt.timedelta(hours=24))
    texts["Priya's cancellation"] = cancellation_question(priya_booking).text
    unseen = [what for what, text in texts.items() if not checker.leaks([text])]
    assert unseen == [], texts


def test_a_signed_in_priya_is_flagged_so_the_live_wording_is_known(stack, checker):
    """The real server's answer to Priya herself trips the checker (the wording it watches for is live)."""
    async def scenario():
        priya = await WebVisitor(stack.stack.rasa_url, signed_token(PRIYA_EMAIL, WEB_JWT_SECRET)).open()
        await priya.say("where's my application?")
        await asyncio.sleep(0.5)
        await priya.close()
        return priya.texts()

    assert checker.leaks(asyncio.run(scenario()))


# --- guessing the one-time code sent to Priya's email ----------------------------------------------

class Guesser:
    """An anonymous careers-site visitor who asks for codes to Priya's email and guesses them."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.heard: list[str] = []

    async def __aenter__(self) -> Guesser:
        self.visitor = await WebVisitor(self.stack.stack.rasa_url).open()
        return self

    async def __aexit__(self, *_) -> None:
        await self.visitor.close()

    async def say(self, text: str) -> str:
        before = len(self.visitor.received)
        assert (await self.visitor.say(text))["ok"]
        for _ in range(20):  # the answers arrive with (or just after) the acknowledgement
            await asyncio.sleep(0.05)
            if len(self.visitor.received) > before:
                break
        await asyncio.sleep(0.1)
        answer = "\n".join(self.visitor.texts()[before:])
        self.heard.append(answer)
        return answer

    async def ask_code(self) -> str:
        await self.say("/verify_email")
        return await self.say(PRIYA_EMAIL)


SENT = "I've just sent a 6-digit code"
WRONG = "That code isn't right"
TOO_MANY = "too many wrong tries"
LIMITED = "You've asked for several codes in a short time"


def test_guessing_the_code_sent_to_priyas_email_is_cut_off_by_the_limits(stack, checker):
    already = len(stack.codes_sent(PRIYA_EMAIL))
    per_conversation, per_email = LIMIT_PER_CONVERSATION[0], LIMIT_PER_EMAIL[0]
    assert already == 0, "another test asked for codes to Priya's email: the counts below would be off"
    assert (per_conversation, per_email, MAX_TRIES) == (3, 5, 5)  # the limits this test walks through

    async def scenario():
        answers: dict[str, list[str]] = {}
        async with Guesser(stack) as first:
            assert SENT in await first.ask_code()
            real = stack.codes_sent(PRIYA_EMAIL, at_least=1)[-1]
            wrong = [f"{(int(real) + n) % 10**6:06d}" for n in range(1, MAX_TRIES + 1)]
            answers["guesses"] = [await first.say(guess) for guess in wrong]
            answers["the real code, after the tries ran out"] = [await first.say(real)]
            await first.say("/stop")
            answers["more codes in one conversation"] = []
            for _ in range(per_conversation):
                answers["more codes in one conversation"].append(await first.ask_code())
                await first.say("/stop")
            answers["status, first"] = [await first.say("where's my application?")]
        async with Guesser(stack) as second, Guesser(stack) as third:
            answers["codes in a second conversation"] = []
            for _ in range(per_email - per_conversation + 1):
                answers["codes in a second conversation"].append(await second.ask_code())
                await second.say("/stop")
            answers["a third conversation"] = [await third.ask_code()]
            answers["status, second"] = [await second.say("where's my application?")]
        for guesser in (first, second, third):
            answers.setdefault("everything", []).extend(guesser.heard)
        return answers

    answers = asyncio.run(scenario())
    # Each code takes MAX_TRIES guesses, and then even the right code is no longer read as one.
    assert [WRONG in a for a in answers["guesses"]] == [True] * (MAX_TRIES - 1) + [False]
    assert TOO_MANY in answers["guesses"][-1]
    assert "doesn't look like an email address" in answers["the real code, after the tries ran out"][0]
    # Three codes per conversation (the first and two more), then no more...
    assert [SENT in a for a in answers["more codes in one conversation"]] == [True, True, False]
    assert LIMITED in answers["more codes in one conversation"][-1]
    # ...and five per email address an hour, whichever conversations ask for them.
    assert [SENT in a for a in answers["codes in a second conversation"]] == [True, True, False]
    assert LIMITED in answers["a third conversation"][0]
    assert len(stack.codes_sent(PRIYA_EMAIL, at_least=per_email)) == per_email
    time.sleep(1)  # nothing more arrives late
    assert len(stack.codes_sent(PRIYA_EMAIL)) == per_email
    # So at most 5 codes x 5 tries = 25 guesses an hour at a 6-digit code; none of them got through.
    for status in answers["status, first"] + answers["status, second"]:
        assert "only share application details once I know it's you" in status
    assert checker.leaks(answers["everything"], typed=[PRIYA_EMAIL]) == []
