"""Scale out: two real Rasa replicas (each with its action server) sharing a real redis-server for the
tracker store and the lock store, and one state database. One candidate's messages, sent alternately or
all at once to both, are handled one at a time in order, into one consistent conversation; a replica can
go away and the other carries on."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from bot.ats.embedded import EmbeddedATS
from bot.ats_webhooks import generic_signature
from bot.sms import conversation_id_for
from bot.webchat import signed_token
from channels.sms import SORRY
from tests.redis_server import RedisServer, start_redis
from tests.stack_fixture import ATS_WEBHOOK_SECRET, WEB_JWT_SECRET, RunningStack, start_stack
from tests.test_web_integration import Visitor

KEY = "replica-shared-conversation-key"
PRIYA, DIEGO, AISHA = "+16175550101", "+13105550110", "+447911123456"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, redis_server: RedisServer, twilio_api) -> Iterator[list[RunningStack]]:
    shared = tmp_path_factory.mktemp("shared")
    env = {"TRACKER_STORE": "redis", "LOCK_STORE": "redis", "REDIS_URL": redis_server.url,
           "CONVERSATION_ID_KEY": KEY, "STATE_DATABASE": str(shared / "state.db"),
           "ATS_DATABASE": str(shared / "ats.db")}
    started: list[RunningStack] = []
    errors: list[BaseException] = []

    def start(name: str) -> None:
        try:
            started.append(start_stack(tmp_path_factory.mktemp(name), extra_env=env, twilio_api=twilio_api))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=start, args=(name,)) for name in ("replica-a", "replica-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        if errors:
            raise errors[0]
        yield started
    finally:
        for running in started:
            running.stack.stop()


def _events(replica: RunningStack, phone: str) -> list[dict]:
    reply = requests.get(f"{replica.stack.rasa_url}/conversations/{conversation_id_for(phone, KEY)}/tracker",
                         params={"token": replica.api_token}, timeout=30)
    reply.raise_for_status()
    return reply.json()["events"]


def _user_texts(events: list[dict]) -> list[str]:
    return [e["text"] for e in events if e["event"] == "user"]


def test_alternating_replicas_keep_one_conversation(replicas: list[RunningStack], redis_server: RedisServer) -> None:
    a, b = replicas
    assert a.text(PRIYA, "hi").text
    status = b.text(PRIYA, "where's my application?")
    assert "Technical Interview" in status.text and "Machine Learning Engineer" in status.text
    salary = a.text(PRIYA, "what's the pay range for the machine learning engineer role?")
    assert "150,000" in salary.text
    assert b.text(PRIYA, "thanks").status == 200

    events_a, events_b = _events(a, PRIYA), _events(b, PRIYA)
    assert events_a == events_b  # one tracker, whichever replica is asked
    texts = _user_texts(events_a)
    assert texts[-3:] == ["where's my application?", "what's the pay range for the machine learning engineer role?",
                          "thanks"]
    assert redis_server.client().exists(f"tracker:{conversation_id_for(PRIYA, KEY)}")


def test_simultaneous_messages_on_both_replicas_are_handled_one_at_a_time(replicas: list[RunningStack]) -> None:
    a, b = replicas
    messages = [(a if n % 2 == 0 else b, f"what's the salary for data engineer? ({n})") for n in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(lambda pair: pair[0].text(DIEGO, pair[1]), messages))
    assert all(r.status == 200 and r.text for r in replies)

    events = _events(a, DIEGO)
    assert events == _events(b, DIEGO)
    assert sorted(_user_texts(events)) == sorted(text for _, text in messages)
    # The lock store serialises the conversation: every message is answered before the next one is read.
    kinds = [e["event"] for e in events if e["event"] in ("user", "bot")]
    assert all(kinds[i + 1] == "bot" for i, kind in enumerate(kinds[:-1]) if kind == "user")


def test_a_replica_goes_away_and_the_other_carries_on(replicas: list[RunningStack]) -> None:
    a, b = replicas
    assert "Offer" in a.text(AISHA, "any news on my application?").text
    a.stack.stop()
    try:
        follow_up = b.text(AISHA, "where's my application?")
        assert follow_up.status == 200 and "Offer" in follow_up.text
        assert _user_texts(_events(b, AISHA))[-2:] == ["any news on my application?", "where's my application?"]
    finally:
        a.stack.start()


def test_a_status_update_reaches_a_web_visitor_connected_to_the_other_replica(replicas: list[RunningStack]) -> None:
    """Lena chats on replica B; her application moves and the webhook reaches replica A, whose loop wakes at
    once: the update is pushed through Redis (python-socketio's Redis manager) to her tab on B."""
    a, b = replicas
    ats = EmbeddedATS(Path(a.stack.env["ATS_DATABASE"]), create=False)
    application = next(x for x in ats.applications_for("c9") if x.status == "active")
    next_stage = application.job.stage_after(application.stage).name

    async def scenario() -> str:
        visitor = await Visitor(b.stack.rasa_url, signed_token("lena.fischer@example.de", WEB_JWT_SECRET)).open()
        try:
            assert await visitor.say("where's my application?") == {"ok": True}  # she now chats on the web
            ats.move_application(application.id, next_stage)
            raw = json.dumps({"application_id": application.id, "stage": next_stage}).encode()
            stamp = str(int(time.time()))
            answer = requests.post(f"{a.stack.rasa_url}/webhooks/ats_updates/generic", data=raw, timeout=30,
                                   headers={"X-ATS-Timestamp": stamp,
                                            "X-ATS-Signature": generic_signature(ATS_WEBHOOK_SECRET, stamp, raw)})
            assert answer.status_code == 200
            for _ in range(300):
                if f"has moved to the {next_stage} stage" in visitor.texts():
                    break
                await asyncio.sleep(0.1)
            return visitor.texts()
        finally:
            await visitor.close()

    texts = asyncio.run(scenario())
    assert f"has moved to the {next_stage} stage" in texts and "Lena" in texts


def test_redis_restarting_costs_an_apology_not_the_conversation(replicas: list[RunningStack],
                                                                 redis_server: RedisServer) -> None:
    a, b = replicas
    tom = "+16175550106"
    assert "accepted the offer" in a.text(tom, "where's my application?").text
    redis_server.stop()
    try:
        down = b.text(tom, "what's the salary for the data engineer role?")
        assert down.status == 200 and down.text == SORRY  # a clear answer, no 500, nothing half-done
    finally:
        redis_server.restart()
    again = b.text(tom, "what's the salary for the data engineer role?")  # the candidate asks again
    assert again.status == 200 and again.text != SORRY and "$" in again.text
    texts = _user_texts(_events(a, tom))
    assert texts[-2:] == ["where's my application?", "what's the salary for the data engineer role?"]
