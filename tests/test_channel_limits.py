"""Each candidate channel's guards, served for real by Sanic in this process: who may use the REST channel, the
message length cap and the per-sender and per-client rate limits (SMS, web chat, Slack, REST).

Rasa itself is replaced by a stand-in for `on_new_message` that records what reached it and answers; what is
checked here happens before a message reaches Rasa, which is exactly what the guards are for.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio
import sqlalchemy as sa
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Sanic

from bot.rate_limits import CLIENT_KEY, RATE_LIMITED_REPLY, client_key_for
from bot.settings import Settings
from bot.sms import TOO_LONG_REPLY
from bot.store import open_state_db
from bot.twilio_webhook import inbound_params, signature_for, twiml_messages
from channels.candidate_slack import SlackCandidates, slack_dm_outbox_table, slack_inbox_table
from channels.rest import LocalRest
from channels.sms import TwilioSMSInput
from channels.web import WebChat
from tests.stack_fixture import free_port

REST_TOKEN = "rest-channel-token-for-tests"
AUTH_TOKEN = "twilio-auth-token-for-tests"
SMS_URL = "https://candidates.acme.example/webhooks/twilio/webhook"
PHONE = "+16175550101"
OUTSIDE = "203.0.113.9"  # a documentation address: a caller on the internet, as the proxy reports it


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch):
    # Sanic rewrites its own methods when an app starts; in test mode each app starts from the originals.
    monkeypatch.setattr(Sanic, "test_mode", True)


@pytest.fixture()
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("STATE_DATABASE", str(tmp_path / "state.db"))
    monkeypatch.setenv("ATS_DATABASE", str(tmp_path / "ats.db"))
    return dataclasses.replace(Settings.from_env(), rest_channel_token=REST_TOKEN, rate_limit_messages_per_minute=3,
                               rate_limit_web_sessions_per_hour=2)


class FakeRasa:
    """Stands in for Rasa's message handling: records each message and answers it."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"answer to {message.text}")

    @property
    def texts(self) -> list[str]:
        return [message.text for message in self.messages]


@contextlib.asynccontextmanager
async def serving(channel: InputChannel, rasa: FakeRasa, proxies: int | None = None) -> AsyncIterator[str]:
    """The channel's blueprint on a real Sanic server, mounted where Rasa mounts it; `proxies` as SANIC_PROXIES_COUNT.

    The server runs in a thread of its own, as a server does: Sanic compiles its router with ast.parse, which on
    CPython 3.11.7 fails ("AST constructor recursion depth mismatch") when called as deep in the stack as a test is.
    """
    for _attempt in range(3):
        port, ready, stopped = free_port(), threading.Event(), threading.Event()
        loop = asyncio.new_event_loop()
        failed: list[BaseException] = []
        thread = threading.Thread(target=_serve, args=(loop, channel, rasa, proxies, port, ready, stopped, failed),
                                  daemon=True)
        thread.start()
        await asyncio.to_thread(_started_or_failed, ready, thread)
        if ready.is_set():
            break
        loop.close()
        # CPython 3.11's ast module keeps its recursion counter per interpreter, not per thread: when another
        # thread converts an AST at the same moment (pytest rewriting an import), Sanic's router compile fails
        # with "AST constructor recursion depth mismatch". Only that is tried again.
        if not (failed and isinstance(failed[0], SystemError) and "AST" in str(failed[0])):
            raise AssertionError(f"the channel's server did not start: {failed}")
    else:
        raise AssertionError(f"the channel's server did not start: {failed}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stopped.set()
        await asyncio.to_thread(thread.join, 30)
        loop.close()


def _started_or_failed(ready: threading.Event, thread: threading.Thread, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05) and thread.is_alive() and time.monotonic() < deadline:
        pass


def _serve(loop: asyncio.AbstractEventLoop, channel: InputChannel, rasa: FakeRasa, proxies: int | None, port: int,
           ready: threading.Event, stopped: threading.Event, failed: list[BaseException]) -> None:
    async def run() -> None:
        app = Sanic(f"channel-test-{secrets.token_hex(4)}")
        app.config.PROXIES_COUNT = proxies
        app.config.USE_UVLOOP = False  # Sanic would make uvloop the policy for every later test
        app.blueprint(channel.blueprint(rasa), url_prefix=f"/webhooks/{channel.name()}")
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
        await server.startup()
        await server.before_start()
        await server.after_start()
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, stopped.wait)
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()

    try:
        loop.run_until_complete(run())
    except BaseException as error:  # noqa: BLE001 - reported to the test by serving()
        failed.append(error)


# --- REST ------------------------------------------------------------------------------------------------------

async def rest(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{url}/webhooks/rest/webhook", json=body, headers=headers or {}) as reply:
        return reply.status, json.loads(await reply.text() or "null"), dict(reply.headers)


async def test_the_rest_channel_answers_callers_from_outside_only_with_the_token(settings):
    rasa = FakeRasa()
    async with serving(LocalRest(settings), rasa) as url:
        proxied = {"X-Forwarded-For": OUTSIDE}  # relayed by a proxy: not a local tool, whatever the socket says
        assert (await rest(url, {"sender": "a", "message": "hi"}, proxied))[0] == 403
        assert (await rest(url, {"sender": "a", "message": "hi"},
                           {**proxied, "Authorization": "Bearer not-the-token"}))[0] == 403
        assert (await rest(url, {"sender": "a", "message": "hi"},
                           {**proxied, "Authorization": f"Bearer {REST_TOKEN}"}))[0] == 200
        assert (await rest(url, {"sender": "b", "message": "local tool"}))[0] == 200  # loopback, no proxy
    assert rasa.texts == ["hi", "local tool"]


async def test_without_a_token_set_the_rest_channel_answers_loopback_only(settings):
    rasa = FakeRasa()
    channel = LocalRest(dataclasses.replace(settings, rest_channel_token=None))
    async with serving(channel, rasa) as url:
        status, _, _ = await rest(url, {"sender": "a", "message": "hi"},
                                  {"X-Forwarded-For": OUTSIDE, "Authorization": "Bearer "})
        assert status == 403
    assert rasa.messages == []


async def test_a_rest_message_without_a_sender_is_refused_instead_of_joining_a_shared_conversation(settings):
    rasa = FakeRasa()
    async with serving(LocalRest(settings), rasa) as url:
        for body in ({"message": "hi"}, {"sender": "", "message": "hi"}, {"sender": 7, "message": "hi"}):
            status, answer, _ = await rest(url, body)
            assert (status, answer) == (400, {"error": "sender is required"}), body
    assert rasa.messages == []


async def test_a_too_long_rest_message_gets_the_polite_reply_and_never_reaches_rasa(settings):
    rasa = FakeRasa()
    async with serving(LocalRest(settings), rasa) as url:
        status, answer, _ = await rest(url, {"sender": "a", "message": "x" * 2001})
        assert status == 200 and answer == [{"recipient_id": "rest-a", "text": TOO_LONG_REPLY}]
        assert (await rest(url, {"sender": "a", "message": "y" * 2000}))[0] == 200
    assert rasa.texts == ["y" * 2000]


async def test_a_rest_sender_over_the_message_limit_gets_429_and_others_are_answered(settings):
    rasa = FakeRasa()
    async with serving(LocalRest(settings), rasa) as url:
        answers = [await rest(url, {"sender": "flood", "message": f"m{n}"}) for n in range(4)]
        assert [status for status, _, _ in answers] == [200, 200, 200, 429]
        assert 1 <= int(answers[-1][2]["Retry-After"]) <= 60
        assert answers[-1][1] == {"error": "rate_limited", "retry_after": int(answers[-1][2]["Retry-After"])}
        assert (await rest(url, {"sender": "someone-else", "message": "hi"}))[0] == 200
    assert rasa.texts == ["m0", "m1", "m2", "hi"]


# --- SMS -------------------------------------------------------------------------------------------------------

async def text(url: str, body: str, message_sid: str | None = None, sender: str = PHONE) -> list[str]:
    params = inbound_params(sender, body, message_sid=message_sid)
    headers = {"X-Twilio-Signature": signature_for(SMS_URL, params, AUTH_TOKEN)}
    async with aiohttp.ClientSession() as session, session.post(
            f"{url}/webhooks/twilio/webhook", data=params, headers=headers) as reply:
        assert reply.status == 200
        return twiml_messages(await reply.text())


def sms_channel(settings: Settings) -> TwilioSMSInput:
    return TwilioSMSInput(settings=settings, auth_token=AUTH_TOKEN, webhook_url=SMS_URL)


async def test_a_texter_over_the_message_limit_is_asked_to_wait_and_nothing_more_reaches_rasa(settings):
    rasa = FakeRasa()
    async with serving(sms_channel(settings), rasa) as url:
        replies = [await text(url, f"question {n}") for n in range(5)]
        assert replies[3] == replies[4] == [RATE_LIMITED_REPLY]
        assert await text(url, "hello", sender="+16175550102") == ["answer to hello"]  # another texter
    assert rasa.texts == ["question 0", "question 1", "question 2", "hello"]


async def test_a_redelivered_text_gets_its_first_answer_and_is_not_counted_again(settings):
    rasa = FakeRasa()
    async with serving(sms_channel(settings), rasa) as url:
        first = await text(url, "where is my application", message_sid="SM" + "1" * 32)
        for _ in range(4):  # Twilio redelivering: more deliveries than the limit allows messages
            assert await text(url, "where is my application", message_sid="SM" + "1" * 32) == first
        assert await text(url, "and my interview?") == ["answer to and my interview?"]
    assert rasa.texts == ["where is my application", "and my interview?"]


async def test_stop_is_honoured_even_over_the_message_limit(settings):
    rasa = FakeRasa()
    channel = sms_channel(settings)
    async with serving(channel, rasa) as url:
        for n in range(4):
            await text(url, f"question {n}")
        await text(url, "STOP")
    assert channel.ledger.is_opted_out(PHONE)


async def test_a_too_long_text_gets_the_polite_reply_and_never_reaches_rasa(settings):
    rasa = FakeRasa()
    async with serving(sms_channel(settings), rasa) as url:
        assert await text(url, "z" * 2001) == [TOO_LONG_REPLY]
    assert rasa.messages == []


# --- web chat --------------------------------------------------------------------------------------------------

class Tab:
    def __init__(self, url: str, address: str) -> None:
        self.url, self.address = url, address
        self.client = socketio.AsyncClient(reconnection=False)
        self.bot_says: list[str] = []
        self.client.on("bot_uttered", lambda data: self.bot_says.append(data.get("text")))
        confirmed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.client.on("session_confirm", lambda data: confirmed.done() or confirmed.set_result(data))
        self.confirmed = confirmed

    async def open(self) -> Tab:
        await self.client.connect(self.url, headers={"X-Forwarded-For": self.address}, transports=["polling"],
                                  socketio_path="/socket.io", wait_timeout=10)
        await self.client.emit("session_request", {})
        await asyncio.wait_for(self.confirmed, 10)
        return self

    async def say(self, text: str, message_id: str | None = None) -> dict:
        return await self.client.call("user_uttered", {"message": text,
                                                       "message_id": message_id or secrets.token_hex(8)}, timeout=10)

    async def hears(self, text: str, timeout: float = 10) -> list[str]:
        """What the bot said to this tab, once it has said `text` (it arrives after the ack)."""
        for _ in range(int(timeout / 0.05)):
            if text in self.bot_says:
                break
            await asyncio.sleep(0.05)
        return self.bot_says

    async def close(self) -> None:
        """Leave like a closed tab, without waiting out the pending long-poll."""
        for namespace in self.client.namespaces:
            await self.client._send_packet(self.client.packet_class(socketio.packet.DISCONNECT, namespace=namespace))
        await self.client.eio.disconnect(abort=True)


@contextlib.asynccontextmanager
async def web_chat(settings: Settings, rasa: FakeRasa) -> AsyncIterator[tuple[WebChat, str]]:
    channel = WebChat(settings)
    async with serving(channel, rasa, proxies=1) as url:
        yield channel, url


async def test_a_web_visitor_over_the_message_limit_is_told_to_wait_and_can_resend_later(settings):
    rasa = FakeRasa()
    async with web_chat(settings, rasa) as (channel, url):
        tab = await Tab(url, OUTSIDE).open()
        try:
            assert [(await tab.say(f"m{n}"))["ok"] for n in range(3)] == [True, True, True]
            refused = await tab.say("m3", message_id="resend-me-1")
            assert refused["ok"] is False and refused["error"] == "rate_limited" and 1 <= refused["retry_after"] <= 60
            assert (await tab.hears(RATE_LIMITED_REPLY))[-1] == RATE_LIMITED_REPLY
            with channel.seen.engine.begin() as connection:  # a minute later
                connection.execute(sa.text("DELETE FROM rate_limit_windows"))
            assert await tab.say("m3", message_id="resend-me-1") == {"ok": True}  # not taken for a duplicate
        finally:
            await tab.close()
    assert rasa.texts == ["m0", "m1", "m2", "m3"]


async def test_a_too_long_web_message_gets_the_polite_reply_and_never_reaches_rasa(settings):
    rasa = FakeRasa()
    async with web_chat(settings, rasa) as (_, url):
        tab = await Tab(url, OUTSIDE).open()
        try:
            ack = await tab.say("w" * 2001)
            assert ack["ok"] is False and ack["error"] == "too_long"
            assert await tab.hears(TOO_LONG_REPLY) == [TOO_LONG_REPLY]
        finally:
            await tab.close()
    assert rasa.messages == []


async def test_web_messages_carry_a_pseudonymous_key_of_the_visitors_address(settings):
    rasa = FakeRasa()
    async with web_chat(settings, rasa) as (_, url):
        tab = await Tab(url, OUTSIDE).open()
        try:
            await tab.say("hello")
        finally:
            await tab.close()
    [message] = rasa.messages
    assert message.metadata[CLIENT_KEY] == client_key_for(OUTSIDE, settings.conversation_id_key)
    assert OUTSIDE not in json.dumps(message.metadata)


async def socketio_connect(url: str, address: str) -> str:
    """The server's answer to a socket.io CONNECT over bare engine.io polling: '40{"sid":...}' when it lets the
    visitor in, '44{...}' when it refuses (python-socketio's client, refused, waits out its long-poll first)."""
    headers = {"X-Forwarded-For": address, "Content-Type": "text/plain;charset=UTF-8"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{url}/socket.io/?EIO=4&transport=polling") as opened:
            sid = json.loads((await opened.text())[1:])["sid"]
        polling = f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}"
        async with session.post(polling, data=b"40") as sent:
            assert await sent.text() == "OK"
        async with session.get(polling) as answer:
            text = await answer.text()
        async with session.post(polling, data=b"1"):  # engine.io CLOSE
            return text


async def test_one_address_opening_too_many_web_sessions_is_refused_and_other_visitors_are_not(settings):
    rasa = FakeRasa()
    async with web_chat(settings, rasa) as (_, url):
        assert [(await socketio_connect(url, OUTSIDE))[:2] for _ in range(3)] == ["40", "40", "44"]
        refusal = json.loads((await socketio_connect(url, OUTSIDE))[2:])
        assert refusal["message"] == "rate_limited" and 0 < refusal["data"]["retry_after"] <= 3600
        assert (await socketio_connect(url, "198.51.100.4"))[:2] == "40"


# --- Slack (candidates) ----------------------------------------------------------------------------------------

def slack_rows(settings: Settings) -> tuple[list[tuple], list[str]]:
    with open_state_db(settings.state_database).connect() as connection:
        inbox = connection.execute(sa.select(slack_inbox_table.c.text, slack_inbox_table.c.status)
                                   .order_by(slack_inbox_table.c.id)).all()
        replies = connection.execute(sa.select(slack_dm_outbox_table.c.message)
                                     .order_by(slack_dm_outbox_table.c.id)).scalars().all()
    return [tuple(row) for row in inbox], [json.loads(reply)["text"] for reply in replies]


def test_a_slack_candidate_over_the_message_limit_gets_one_polite_reply_and_nothing_more_is_queued(settings):
    slack = SlackCandidates(settings)
    for n in range(4):
        slack.receive("U0CANDIDATE", "D0DM", f"m{n}", event_key=f"event-{n}")
    assert slack.receive("U0CANDIDATE", "D0DM", "m3", event_key="event-3") is False  # Slack retrying it
    slack.receive("U0OTHER", "D0OTHER", "hello", event_key="event-other")
    inbox, replies = slack_rows(settings)
    assert [text for text, status in inbox if status == "pending"] == ["m0", "m1", "m2", "hello"]
    assert replies == [RATE_LIMITED_REPLY]


def test_a_too_long_slack_message_gets_the_polite_reply_and_is_not_queued_for_rasa(settings):
    slack = SlackCandidates(settings)
    slack.receive("U0CANDIDATE", "D0DM", "s" * 2001, event_key="event-long")
    inbox, replies = slack_rows(settings)
    assert [status for _, status in inbox] != ["pending"] and replies == [TOO_LONG_REPLY]
