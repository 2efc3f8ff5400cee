"""End to end: an SMS candidate, the real Rasa and action servers, and recruiters in (a fake of) Slack.

The stack runs with the recruiters' Slack app configured against the fake Slack Web API and sends
SMS through the fake Twilio API. Slack's requests (button clicks, thread replies) are signed exactly
as Slack signs them. Each test uses its own candidate, so the handoffs do not interfere.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

import pytest
import requests

from bot.handoff import HandoffDesk
from bot.handoff_cards import CLAIM, CLOSE, HAND_BACK
from bot.store import open_state_db
from tests.fakes.slack_api import FakeSlackAPI, PostedMessage
from tests.fakes.slack_signing import block_action, event_callback, sign, thread_reply_event
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.stack_fixture import FALLBACK_CHANNEL, RECRUITING_CHANNEL, RunningStack, slack_env, start_stack
from tests.stack_fixture import SLACK_SIGNING_SECRET as SIGNING_SECRET

pytestmark = pytest.mark.integration

PRIYA = "+16175550101"  # verified; her recruiter Dana Lee is U0DANA in Slack
JAMES = "+16175550102"  # verified; recruiter Marcus Okafor, U0MARCUS


@pytest.fixture(scope="module")
def slack_api():
    fake = FakeSlackAPI()
    fake.users.update({
        "U0DANA": {"real_name": "Dana Lee", "name": "dana", "email": "dana@acme.example", "tz": "America/New_York"},
        "U0MARCUS": {"real_name": "Marcus Okafor", "name": "marcus", "email": "marcus@acme.example",
                     "tz": "America/New_York"},
    })
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def sms_api():
    fake = FakeTwilioAPI().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def handoff_stack(tmp_path_factory, slack_api, sms_api):
    running = start_stack(tmp_path_factory.mktemp("handoff"), twilio_api=sms_api, extra_env=slack_env(slack_api))
    yield running
    running.stack.stop()


# --- helpers: what Slack would send, and waiting for what we send ------------------------------

def slack_request(stack: RunningStack, body: bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                  extra_headers: dict[str, str] | None = None) -> requests.Response:
    headers = {**sign(secret, body, timestamp), **(extra_headers or {})}
    return requests.post(f"{stack.stack.rasa_url}/webhooks/recruiter_slack/events", data=body, headers=headers,
                         timeout=10)


def click(stack: RunningStack, action_id: str, card: PostedMessage, user: str) -> requests.Response:
    return slack_request(stack, block_action(action_id, _handoff_id(card), user=user, channel=card.channel,
                                             message_ts=card.ts))


def reply_in_thread(stack: RunningStack, card: PostedMessage, text: str, user: str) -> requests.Response:
    return slack_request(stack, event_callback(thread_reply_event(card.channel, card.ts, text, user=user)))


def _handoff_id(card: PostedMessage) -> str:
    return next(element["value"] for block in card.blocks or [] if block["type"] == "actions"
                for element in block["elements"])


def wait_until(condition: Callable[[], object], timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_for_sms(api: FakeTwilioAPI, phone: str, fragment: str, timeout: float = 15.0) -> str:
    return wait_until(lambda: next((b for b in api.sent_to(phone) if fragment in b), None), timeout,
                      f"an SMS to {phone} containing {fragment!r} (got {api.sent_to(phone)})")


def card_in(api: FakeSlackAPI, channel: str, timeout: float = 15.0) -> PostedMessage:
    return api.wait_for(lambda m: m.channel == channel and m.thread_ts is None and bool(m.blocks), timeout)


def thread_texts(api: FakeSlackAPI, card: PostedMessage) -> list[str]:
    return [m.text for m in api.messages_in(card.channel, thread_ts=card.ts)]


def latest_card(api: FakeSlackAPI, card: PostedMessage) -> str:
    versions = [m for m in api.updates if m.channel == card.channel and m.ts == card.ts] or [card]
    return json.dumps(versions[-1].blocks)


def desk_of(stack: RunningStack) -> HandoffDesk:
    return HandoffDesk(open_state_db(stack.workdir / "state.db"))


# --- the tests -------------------------------------------------------------------------------

def test_an_sms_candidate_reaches_their_recruiter_in_slack_and_comes_back(handoff_stack, slack_api, sms_api):
    stack = handoff_stack
    asked = stack.text(PRIYA, "can I talk to a human")
    assert "I've asked a recruiter to join this conversation" in asked.text
    assert "A recruiter usually picks this up within 15 minutes" in asked.text

    # The card reaches Priya's own recruiter by DM, with everything needed to answer.
    card = card_in(slack_api, "D0DANA")
    rendered = json.dumps(card.blocks)
    for expected in ("Priya Nair", "Machine Learning Engineer", "Technical Interview", "SMS",
                     "The candidate asked to talk to a person", "can I talk to a human"):
        assert expected in rendered, expected

    # While a human has the conversation the bot stays quiet; the message goes to the thread.
    waiting = stack.text(PRIYA, "where's my application?")
    assert waiting.status == 200 and waiting.messages == []
    wait_until(lambda: "*Candidate:* where's my application?" in thread_texts(slack_api, card), what="relay")

    assert click(stack, CLAIM, card, "U0DANA").status_code == 200
    wait_for_sms(sms_api, PRIYA, "Dana from the recruiting team has joined the conversation")
    wait_until(lambda: "With <@U0DANA>" in latest_card(slack_api, card), what="the card to show the claim")

    reply = "Hi Priya! You're through to the onsite, see <https://acme.example/prep|the prep guide>"
    event = event_callback(thread_reply_event(card.channel, card.ts, reply, user="U0DANA"))
    assert slack_request(stack, event).status_code == 200
    relayed = wait_for_sms(sms_api, PRIYA, "Dana: Hi Priya!")
    assert "the prep guide (https://acme.example/prep)" in relayed
    # Slack retries an event it thinks was lost (the same payload): acknowledged, not sent twice.
    retried = slack_request(stack, event, extra_headers={"X-Slack-Retry-Num": "1",
                                                         "X-Slack-Retry-Reason": "http_timeout"})
    assert retried.status_code == 200

    thanks = stack.text(PRIYA, "great, thank you Dana")
    assert thanks.messages == []
    wait_until(lambda: "*Candidate:* great, thank you Dana" in thread_texts(slack_api, card), what="second relay")

    assert click(stack, HAND_BACK, card, "U0DANA").status_code == 200
    wait_for_sms(sms_api, PRIYA, "Dana has handed you back to me, the assistant")
    wait_until(lambda: "Handed back to the assistant" in latest_card(slack_api, card), what="card update")
    assert len([b for b in sms_api.sent_to(PRIYA) if b.startswith("Dana: Hi Priya!")]) == 1

    # The bot answers again, and the whole exchange is in the conversation.
    assert "Technical Interview stage" in stack.text(PRIYA, "where's my application?").text
    events = stack.tracker_events(PRIYA)
    recorded = [e["text"] for e in events if e["event"] == "bot" and (e.get("metadata") or {}).get("handoff_id")]
    assert any(text.startswith("Dana: Hi Priya!") for text in recorded)
    assert "great, thank you Dana" in [e.get("text") for e in events if e["event"] == "user"]


def test_forged_or_stale_slack_requests_are_refused_and_change_nothing(handoff_stack, slack_api):
    stack = handoff_stack
    stranger = "+12025550181"
    stack.text(stranger, "real person pls")
    card = card_in(slack_api, RECRUITING_CHANNEL)
    body = block_action(CLAIM, _handoff_id(card), user="U0DANA", channel=card.channel, message_ts=card.ts)
    assert slack_request(stack, body, secret="not-the-secret").status_code == 403
    assert slack_request(stack, body, timestamp=int(time.time()) - 3600).status_code == 403
    unsigned = requests.post(f"{stack.stack.rasa_url}/webhooks/recruiter_slack/events", data=body, timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 403
    time.sleep(1.5)
    handoff = desk_of(stack).live_for(stack.conversation_id(stranger))
    assert handoff.status == "waiting" and handoff.claimed_by is None


def test_an_unverified_senders_card_holds_no_application_data_and_the_candidate_can_end_it(
        handoff_stack, slack_api, sms_api):
    stack = handoff_stack
    stranger = "+12025550182"
    stack.text(stranger, "can someone from HR text me back")
    card = wait_until(lambda: next((m for m in slack_api.messages_in(RECRUITING_CHANNEL)
                                    if m.thread_ts is None and "someone from HR" in json.dumps(m.blocks)), None),
                      what="the stranger's card")
    rendered = json.dumps(card.blocks)
    assert "Not verified" in rendered
    assert not any(secret in rendered for secret in ("Machine Learning Engineer", "Technical Interview", "Dana"))
    done = stack.text(stranger, "thanks, that's all")
    assert "I've let the recruiter know you're all set" in done.text
    wait_until(lambda: any("candidate ended the conversation" in t for t in thread_texts(slack_api, card)),
               what="the thread to hear the candidate left")
    wait_until(lambda: "Closed by the candidate" in latest_card(slack_api, card), what="card update")
    assert "Your application" not in stack.text(stranger, "where's my application?").text


def test_slack_failing_then_recovering_loses_nothing_and_sends_nothing_twice(handoff_stack, slack_api):
    stack = handoff_stack
    stranger = "+12025550183"
    slack_api.fail_next(2, "500")
    slack_api.fail_next(1, "hang")  # past the client's timeout
    stack.text(stranger, "i want to talk to somebody real")
    card = wait_until(lambda: next((m for m in slack_api.messages_in(RECRUITING_CHANNEL)
                                    if m.thread_ts is None and "somebody real" in json.dumps(m.blocks)), None),
                      timeout=60, what="the card after Slack recovers")
    stack.text(stranger, "hello??")
    wait_until(lambda: "*Candidate:* hello??" in thread_texts(slack_api, card), what="relay after recovery")
    time.sleep(2)
    cards = [m for m in slack_api.messages_in(RECRUITING_CHANNEL)
             if m.thread_ts is None and "somebody real" in json.dumps(m.blocks)]
    assert len(cards) == 1 and thread_texts(slack_api, card).count("*Candidate:* hello??") == 1


def test_an_unclaimed_handoff_is_reposted_and_the_candidate_is_offered_email(handoff_stack, slack_api, sms_api):
    stack = handoff_stack
    stranger = "+12025550184"
    stack.text(stranger, "can i speak to a recruiter")
    conversation = stack.conversation_id(stranger)
    wait_until(lambda: (desk_of(stack).live_for(conversation) or None) and
               desk_of(stack).live_for(conversation).slack_ts, what="the card to be posted")
    # The service level passes with nobody claiming (the clock is moved by moving the deadline).
    with sqlite3.connect(stack.workdir / "state.db") as db:
        db.execute("UPDATE handoffs SET claim_due_at = '2000-01-01 00:00:00.000000' WHERE conversation_id = ?",
                   (conversation,))
    repost = card_in(slack_api, FALLBACK_CHANNEL, timeout=20)
    assert "Unclaimed" in json.dumps(repost.blocks)
    wait_for_sms(sms_api, stranger, "email careers@acme.example")
    # Claiming from the re-posted card works like the original, and updates both.
    assert click(stack, CLAIM, repost, "U0DANA").status_code == 200
    wait_until(lambda: "With <@U0DANA>" in latest_card(slack_api, repost), what="re-posted card update")


def test_a_restart_in_the_middle_of_a_handoff_loses_nothing(handoff_stack, slack_api, sms_api):
    stack = handoff_stack
    stack.text(JAMES, "get me a human")
    card = card_in(slack_api, "D0MARCUS")
    assert click(stack, CLAIM, card, "U0MARCUS").status_code == 200
    wait_for_sms(sms_api, JAMES, "Marcus from the recruiting team has joined")
    slack_api.fail_next(1000, "500")  # Slack is down: the candidate's next message waits in the outbox
    assert stack.text(JAMES, "any news about the offer?").messages == []
    time.sleep(1)
    stack.stack.stop()
    slack_api.failures.clear()
    stack.stack.start()
    wait_until(lambda: "*Candidate:* any news about the offer?" in thread_texts(slack_api, card), timeout=60,
               what="the message held across the restart")
    assert reply_in_thread(stack, card, "Let's talk tomorrow at 10", "U0MARCUS").status_code == 200
    wait_for_sms(sms_api, JAMES, "Marcus: Let's talk tomorrow at 10")
    assert stack.text(JAMES, "ok").messages == []  # still with Marcus after the restart
    assert click(stack, CLOSE, card, "U0MARCUS").status_code == 200
    wait_for_sms(sms_api, JAMES, "Marcus has closed this conversation")
    assert thread_texts(slack_api, card).count("*Candidate:* any news about the offer?") == 1


# --- candidates who write to the assistant in Slack (the same app) ------------------------------

DIEGO_DM = "D0DIEGOBOT"


def dm_event(user: str, channel: str, text: str) -> bytes:
    ts = f"{time.time():.6f}"
    return event_callback({"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
                           "event_ts": ts, "channel_type": "im"})


def dm_replies(api: FakeSlackAPI, channel: str) -> list[PostedMessage]:
    return [m for m in api.messages_in(channel) if m.thread_ts is None]


def test_a_slack_candidate_with_a_confirmed_email_gets_their_status_once(handoff_stack, slack_api):
    slack_api.users["U0DIEGO"] = {"real_name": "Diego Santos", "name": "diego",
                                  "email": "Diego.Santos@example.com", "tz": "America/Los_Angeles"}
    event = dm_event("U0DIEGO", DIEGO_DM, "where's my application?")
    assert slack_request(handoff_stack, event).status_code == 200
    answer = wait_until(lambda: next((m for m in dm_replies(slack_api, DIEGO_DM)
                                      if "Technical Interview stage" in (m.text or "")), None), what="the answer")
    assert "Hi Diego!" in answer.text
    retried = slack_request(handoff_stack, event, extra_headers={"X-Slack-Retry-Num": "1",
                                                                 "X-Slack-Retry-Reason": "http_timeout"})
    assert retried.status_code == 200
    time.sleep(2)
    assert len([m for m in dm_replies(slack_api, DIEGO_DM) if "Technical Interview stage" in (m.text or "")]) == 1


def test_quick_replies_in_slack_are_buttons_that_answer(handoff_stack, slack_api):
    slack_api.users["U0LENA"] = {"real_name": "Lena Fischer", "name": "lena", "email": "lena.fischer@example.de"}
    channel = "D0LENABOT"
    slack_request(handoff_stack, dm_event("U0LENA", channel, "hello"))
    greeting = wait_until(lambda: next((m for m in dm_replies(slack_api, channel)
                                        if any(b["type"] == "actions" for b in m.blocks or [])), None),
                          what="a greeting with buttons")
    buttons = next(b for b in greeting.blocks if b["type"] == "actions")["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Where's my application?", "Talk to a recruiter"]
    click_body = block_action(buttons[0]["action_id"], buttons[0]["value"], user="U0LENA", channel=channel,
                              message_ts=greeting.ts)
    assert slack_request(handoff_stack, click_body).status_code == 200
    wait_until(lambda: any("Technical Interview stage" in (m.text or "") for m in dm_replies(slack_api, channel)),
               what="the status after the button")


def test_an_unconfirmed_slack_email_learns_nothing(handoff_stack, slack_api):
    slack_api.users["U0FAKER"] = {"real_name": "Priya N", "name": "notpriya", "email": "priya@example.com",
                                  "email_confirmed": False}
    channel = "D0FAKERBOT"
    slack_request(handoff_stack, dm_event("U0FAKER", channel, "where's my application?"))
    answer = wait_until(lambda: next(iter(dm_replies(slack_api, channel)), None), what="an answer")
    assert "Technical Interview" not in answer.text and "Machine Learning" not in answer.text


def test_a_slack_candidate_reaches_a_recruiter_and_gets_the_reply_in_slack(handoff_stack, slack_api):
    slack_api.users["U0DIEGO"] = {"real_name": "Diego Santos", "name": "diego", "email": "diego.santos@example.com"}
    channel = "D0DIEGO2BOT"
    slack_request(handoff_stack, dm_event("U0DIEGO", channel, "can I talk to a real person"))
    card = wait_until(lambda: next((m for m in slack_api.posted if m.thread_ts is None and m.blocks
                                    and "can I talk to a real person" in json.dumps(m.blocks)), None),
                      what="the card")
    assert "Slack" in json.dumps(card.blocks) and "Diego Santos" in json.dumps(card.blocks)
    reply_in_thread(handoff_stack, card, "Hi Diego, happy to help", "U0DANA")
    wait_until(lambda: any((m.text or "").startswith("Dana: Hi Diego") for m in dm_replies(slack_api, channel)),
               what="the recruiter's reply in the candidate's Slack DM")


def test_a_web_chat_candidate_gets_the_recruiters_reply_in_the_widget(handoff_stack, slack_api):
    import asyncio

    from bot.webchat import signed_token
    from tests.stack_fixture import WEB_JWT_SECRET
    from tests.test_web_integration import Visitor

    async def scenario():
        token = signed_token("tom.becker@example.com", WEB_JWT_SECRET)
        visitor = await Visitor(handoff_stack.stack.rasa_url, token).open()
        await visitor.say("i'd rather talk to a person")
        card = await asyncio.to_thread(wait_until, lambda: next(
            (m for m in slack_api.posted if m.thread_ts is None and m.blocks
             and "i'd rather talk to a person" in json.dumps(m.blocks)), None), 15.0, "the card")
        assert "web chat" in json.dumps(card.blocks) and "Tom Becker" in json.dumps(card.blocks)
        quiet = await visitor.say("hello? anyone there")
        await asyncio.to_thread(reply_in_thread, handoff_stack, card, "Hi Tom, Marcus here", "U0MARCUS")
        for _ in range(100):
            if any((m.get("text") or "").startswith("Marcus: Hi Tom") for m in visitor.bot):
                break
            await asyncio.sleep(0.1)
        await visitor.close()
        return quiet, visitor.bot

    quiet, received = asyncio.run(scenario())
    assert quiet == {"ok": True}
    assert any((m.get("text") or "").startswith("Marcus: Hi Tom, Marcus here") for m in received), received


def test_the_identity_probes_slack_paths_change_nothing_and_leak_nothing(handoff_stack, slack_api, sms_api):
    """bench/probe_identity.py's Slack probes: a member who did not claim Priya's card clicks Hand back and Close and
    answers her in the thread; a stranger texts Slack markup into a handoff thread."""
    from bench.probe_identity import SLACK_PROBES, TARGETS, Checker, run_slack_probes
    from bot.ats.seed import DEMO_SEED, read_seed_file

    outcomes = run_slack_probes(handoff_stack, slack_api, sms_api)
    assert sorted(outcomes) == sorted(SLACK_PROBES)
    checker = Checker(read_seed_file(DEMO_SEED), TARGETS)
    for name, outcome in outcomes.items():
        assert outcome.problems == [], name
        assert checker.leaks(outcome.seen, outcome.typed) == [], name
