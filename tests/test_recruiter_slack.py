"""The recruiters' Slack app in-process: signed requests through its bolt app, its delivery loop to the fake
Slack Web API, on real SQLite (no Rasa server: these need no trained model)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.handoff import Handoff, HandoffCard, handoffs_table
from bot.handoff_cards import CLAIM, CLOSE, HAND_BACK
from bot.settings import Settings
from channels.recruiter_slack import RecruiterSlack
from tests.fakes.slack_api import FakeSlackAPI, PostedMessage
from tests.fakes.slack_signing import block_action, event_callback, sign, thread_reply_event
from tests.stack_fixture import DEMO_SEED, RECRUITING_CHANNEL, SLACK_SIGNING_SECRET, slack_env

HOSTILE = "<!channel> <@U123> <https://evil.example|click>"
HOSTILE_ESCAPED = "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|click&gt;"


@pytest.fixture()
def slack() -> Iterator[FakeSlackAPI]:
    fake = FakeSlackAPI().start()
    for user_id, name in (("U0MARCUS", "Marcus Okafor"), ("U0STRANGER", "Sam Stranger")):
        fake.users[user_id] = {"real_name": name, "name": name.split()[0].lower()}
    yield fake
    fake.stop()


@pytest.fixture()
def recruiters(tmp_path: Path, slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch) -> RecruiterSlack:
    for name, value in {"ATS_DATABASE": tmp_path / "ats.db", "STATE_DATABASE": tmp_path / "state.db",
                        "ATS_SEED_FILE": DEMO_SEED, "ATS_BACKEND": "embedded", **slack_env(slack)}.items():
        monkeypatch.setenv(name, str(value))
    return RecruiterSlack(Settings.from_env())


def _card(candidate_name: str = "Priya Sharma", transcript=(("candidate", "can I talk to a human"),)) -> HandoffCard:
    # U0DANA is not in this Slack workspace, so the card goes to the recruiting channel, where anyone sees it.
    return HandoffCard("requested_by_candidate", "twilio", candidate_name=candidate_name,
                       role="Machine Learning Engineer", stage="Technical Interview", recruiter_slack_id="U0DANA",
                       transcript=transcript)


def deliver(recruiters: RecruiterSlack) -> None:
    """Run the delivery loop until the Slack outbox is empty (it sends one row per conversation a round)."""
    async def rounds() -> None:
        for _ in range(20):
            if not recruiters.desk.slack.counts().get("pending"):
                return
            await recruiters.deliver_to_slack()
        raise AssertionError(f"the Slack outbox did not empty: {recruiters.desk.slack.counts()}")

    asyncio.run(rounds())


def from_slack(recruiters: RecruiterSlack, body: bytes) -> int:
    """What Slack's signed request does to the bolt app; its HTTP status."""
    request = AsyncBoltRequest(body=body.decode(), headers=sign(SLACK_SIGNING_SECRET, body))
    return asyncio.run(recruiters.bolt.async_dispatch(request)).status


def open_and_post(recruiters: RecruiterSlack, slack: FakeSlackAPI, card: HandoffCard) -> tuple[Handoff, PostedMessage]:
    handoff, _ = recruiters.desk.open("conv-1", "twilio", card)
    deliver(recruiters)
    posted = slack.wait_for(lambda m: m.thread_ts is None and bool(m.blocks), timeout=1)
    return handoff, posted


def test_someone_elses_clicks_and_replies_are_refused_privately_and_change_nothing(recruiters, slack):
    handoff, card = open_and_post(recruiters, slack, _card())
    assert card.channel == RECRUITING_CHANNEL
    assert from_slack(recruiters, block_action(CLAIM, str(handoff.id), user="U0MARCUS", channel=card.channel,
                                               message_ts=card.ts)) == 200
    deliver(recruiters)
    deliveries = recruiters.desk.deliveries.counts()
    thread_before = slack.messages_in(card.channel, thread_ts=card.ts)

    for action in (HAND_BACK, CLOSE):
        assert from_slack(recruiters, block_action(action, str(handoff.id), user="U0STRANGER", channel=card.channel,
                                                   message_ts=card.ts)) == 200
    reply = thread_reply_event(card.channel, card.ts, "I'll take this one", user="U0STRANGER")
    assert from_slack(recruiters, event_callback(reply)) == 200
    deliver(recruiters)

    after = recruiters.desk.get(handoff.id)
    assert (after.status, after.claimed_by) == ("claimed", "U0MARCUS")
    assert recruiters.desk.deliveries.counts() == deliveries  # nothing more for the candidate
    assert slack.messages_in(card.channel, thread_ts=card.ts) == thread_before
    assert [(m.channel, m.user, m.thread_ts) for m in slack.ephemerals] == [
        (card.channel, "U0STRANGER", None), (card.channel, "U0STRANGER", None),
        (card.channel, "U0STRANGER", card.ts)]
    assert all(m.text.startswith("This conversation is claimed by <@U0MARCUS>") for m in slack.ephemerals)
    assert "your message was not sent to the candidate" in slack.ephemerals[-1].text

    assert from_slack(recruiters, block_action(HAND_BACK, str(handoff.id), user="U0MARCUS", channel=card.channel,
                                               message_ts=card.ts)) == 200
    assert recruiters.desk.get(handoff.id).status == "returned"


def test_a_relayed_candidate_message_reaches_the_thread_escaped(recruiters, slack):
    handoff, card = open_and_post(recruiters, slack, _card())
    recruiters.desk.relay_from_candidate("conv-1", f"hi {HOSTILE} & bye")
    deliver(recruiters)
    assert [m.text for m in slack.messages_in(card.channel, thread_ts=card.ts)] == [
        f"*Candidate:* hi {HOSTILE_ESCAPED} &amp; bye"]


def test_a_card_and_its_repost_escape_the_candidates_name_and_words(recruiters, slack):
    handoff, card = open_and_post(recruiters, slack, _card(candidate_name=f"Eve {HOSTILE}",
                                                           transcript=(("candidate", HOSTILE),)))
    with recruiters.state.begin() as connection:  # nobody claims it in time
        connection.execute(handoffs_table.update().values(claim_due_at=dt.datetime(2000, 1, 1)))
    recruiters.desk.escalate_overdue()
    deliver(recruiters)
    cards = [m for m in slack.posted if m.thread_ts is None]
    assert len(cards) == 2
    for posted in cards:
        assert HOSTILE_ESCAPED in posted.text and "<!channel>" not in posted.text
        assert "<!channel>" not in json.dumps(posted.blocks) and "<https://evil" not in json.dumps(posted.blocks)
