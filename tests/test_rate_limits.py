"""Rate limits (bot/rate_limits.py) on a real SQLite state database, and the handoff limit in the actions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services as services_module
from actions.handoff import ActionRequestHuman
from bot.handoff import HandoffDesk
from bot.rate_limits import TOO_MANY_HANDOFFS_REPLY, RateLimiter, client_key_for
from bot.settings import Settings
from bot.store import open_state_db
from tests.conftest import DEMO_SEED
from tests.test_knowledge import KB

UTC = dt.timezone.utc
NOON = dt.datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)


def limiter(state_engine, **limits: int) -> RateLimiter:
    return RateLimiter(state_engine, dataclasses.replace(Settings.from_env(), **limits))


def test_a_conversation_gets_its_messages_a_minute_and_is_told_when_to_come_back(state_engine):
    limits = limiter(state_engine, rate_limit_messages_per_minute=3)
    assert [limits.message("sms-a", NOON).allowed for _ in range(4)] == [True, True, True, False]
    refused = limits.message("sms-a", NOON)
    assert not refused.allowed and refused.retry_after == 55  # the window started at 12:00:00
    assert limits.message("sms-a", NOON + dt.timedelta(seconds=55)).allowed  # a new minute


def test_one_conversations_flood_leaves_everyone_elses_allowance_alone(state_engine):
    limits = limiter(state_engine, rate_limit_messages_per_minute=2)
    for _ in range(10):
        limits.message("sms-flood", NOON)
    assert limits.message("sms-other", NOON).allowed and limits.message("sms-other", NOON).allowed


def test_refused_messages_are_not_counted_so_a_flood_does_not_extend_itself(state_engine):
    limits = limiter(state_engine, rate_limit_messages_per_minute=2)
    for _ in range(50):
        limits.message("sms-a", NOON)
    with state_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT hits FROM rate_limit_windows").scalars().all() == [2]


def test_a_limit_of_zero_is_no_limit(state_engine):
    limits = limiter(state_engine, rate_limit_messages_per_minute=0)
    assert all(limits.message("sms-a", NOON).allowed for _ in range(100))


def test_replicas_sharing_the_state_database_share_the_limit(tmp_path):
    settings = dataclasses.replace(Settings.from_env(), rate_limit_messages_per_minute=25)
    replicas = [RateLimiter(open_state_db(tmp_path / "state.db"), settings) for _ in range(4)]
    allowed: list[bool] = []

    def flood(replica: RateLimiter) -> None:
        allowed.extend(replica.message("web-a", NOON).allowed for _ in range(20))

    threads = [threading.Thread(target=flood, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 25


def test_a_handoff_refused_for_the_client_is_not_counted_for_the_conversation(state_engine):
    limits = limiter(state_engine, rate_limit_handoffs_per_hour=3, rate_limit_client_handoffs_per_hour=2)
    assert limits.handoff("web-1", "client-x", NOON).allowed and limits.handoff("web-2", "client-x", NOON).allowed
    assert not limits.handoff("web-3", "client-x", NOON).allowed  # a third conversation from the same client
    with state_engine.connect() as connection:
        keys = connection.exec_driver_sql("SELECT key FROM rate_limit_windows ORDER BY key").scalars().all()
    assert "handoffs:web-3" not in keys
    assert limits.handoff("web-3", "client-y", NOON).allowed


def test_ended_windows_are_swept_away(state_engine):
    limits = limiter(state_engine, rate_limit_messages_per_minute=5)
    limits.message("sms-a", NOON)
    limits.message("sms-b", NOON + dt.timedelta(minutes=3))
    assert limits.purge(NOON + dt.timedelta(minutes=3)) == 1


def test_client_keys_are_stable_and_pseudonymous():
    key = client_key_for("203.0.113.7", "server-key")
    assert key == client_key_for("203.0.113.7", "server-key") != client_key_for("203.0.113.8", "server-key")
    assert key != client_key_for("203.0.113.7", "another-server-key") and len(key) == 24


# --- the handoff limit in the actions ---------------------------------------------------------------------------

@pytest.fixture()
def slack_actions(tmp_path, monkeypatch):
    for name, value in {"ATS_DATABASE": str(tmp_path / "ats.db"), "ATS_SEED_FILE": str(DEMO_SEED),
                        "STATE_DATABASE": str(tmp_path / "state.db"), "ATS_TIMEOUT_SECONDS": "1",
                        "KNOWLEDGE_FILE": str(tmp_path / "faqs.yml"), "SLACK_BOT_TOKEN": "xoxb-test",
                        "SLACK_SIGNING_SECRET": "secret", "SLACK_HANDOFF_CHANNEL": "C0RECRUIT",
                        "RECRUITING_HOURS": "Mon-Sun 00:00-23:59", "RATE_LIMIT_HANDOFFS_PER_HOUR": "2",
                        "RATE_LIMIT_CLIENT_HANDOFFS_PER_HOUR": "3"}.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "faqs.yml").write_text(KB)
    services_module.reset_services()
    yield HandoffDesk(open_state_db(tmp_path / "state.db"))
    services_module.reset_services()


def web_tracker(conversation_id: str, client_key: str = client_key_for("198.51.100.1", "key")) -> Tracker:
    metadata = {"client_key": client_key}
    latest = {"text": "a person please", "intent": {"name": "request_human", "confidence": 0.9}, "entities": [],
              "metadata": metadata, "intent_ranking": []}
    events = [{"event": "user", "text": "a person please", "parse_data": latest, "input_channel": "web",
               "metadata": metadata}]
    return Tracker(conversation_id, {}, latest, events, False, None, {}, "action_listen")


async def ask_for_a_person(track: Tracker) -> tuple[str, list]:
    dispatcher = CollectingDispatcher()
    events = await ActionRequestHuman().run(dispatcher, track, {})
    return dispatcher.messages[-1].get("text") or dispatcher.messages[-1].get("response"), events


def _cards(desk: HandoffDesk) -> int:
    count = 0
    while batch := desk.slack.claim_due():
        for item in batch:
            desk.slack.finish(item.id, "sent")
            count += item.fields["kind"] == "card"
    return count


async def test_a_conversation_asking_for_a_person_too_often_is_told_politely_and_no_card_is_posted(slack_actions):
    desk = slack_actions
    for _ in range(2):
        await ask_for_a_person(web_tracker("webanon-" + "a" * 32))
        desk.end_by_candidate("webanon-" + "a" * 32)
    text, events = await ask_for_a_person(web_tracker("webanon-" + "a" * 32))
    assert text == TOO_MANY_HANDOFFS_REPLY and events == []
    assert _cards(desk) == 2


async def test_asking_again_while_a_recruiter_is_already_asked_is_not_a_new_handoff(slack_actions):
    desk = slack_actions
    for _ in range(5):
        text, _ = await ask_for_a_person(web_tracker("webanon-" + "b" * 32))
        assert text != TOO_MANY_HANDOFFS_REPLY
    assert _cards(desk) == 1


async def test_one_client_opening_handoffs_from_many_conversations_is_stopped_and_others_are_not(slack_actions):
    desk = slack_actions
    flood = client_key_for("198.51.100.66", "key")
    replies = [(await ask_for_a_person(web_tracker(f"webanon-{n:032x}", flood)))[0] for n in range(5)]
    assert replies.count(TOO_MANY_HANDOFFS_REPLY) == 2
    text, _ = await ask_for_a_person(web_tracker("webanon-" + "c" * 32, client_key_for("198.51.100.77", "key")))
    assert text != TOO_MANY_HANDOFFS_REPLY
    assert _cards(desk) == 4
