"""The careers-site chat over socket.io, with the python-socketio client, against the real servers."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

import pytest
import requests
import socketio

from bot.sms import MAX_MESSAGE_CHARS, TOO_LONG_REPLY
from bot.webchat import signed_token
from tests.stack_fixture import WEB_JWT_SECRET

pytestmark = pytest.mark.integration

PRIYA_EMAIL = "priya@example.com"


class Visitor:
    """A browser tab: connects, asks for its session, collects what the server sends."""

    def __init__(self, url: str, token: str | None = None, session_id: str | None = None) -> None:
        self.url, self.token, self.session_id = url, token, session_id
        self.client = socketio.AsyncClient(reconnection=False)
        self.bot: list[dict] = []
        self.history: list[dict] | None = None
        self.confirmed = asyncio.Event()
        self.client.on("bot_uttered", self.bot.append)
        self.client.on("session_confirm", self._confirm)
        self.client.on("history", self._history)

    async def _confirm(self, data: dict) -> None:
        self.session_id = data["session_id"]
        self.verified = data["verified"]

    async def _history(self, messages: list[dict]) -> None:
        self.history = messages
        self.confirmed.set()

    async def open(self) -> Visitor:
        await self.client.connect(self.url, auth={"token": self.token} if self.token else {},
                                  socketio_path="/socket.io", transports=["polling"], wait_timeout=10)
        await self.client.emit("session_request", {"session_id": self.session_id})
        await asyncio.wait_for(self.confirmed.wait(), 10)
        return self

    async def say(self, text: str, message_id: str | None = None) -> dict:
        payload = {"message": text, "message_id": message_id or secrets.token_hex(8)}
        return await self.client.call("user_uttered", payload, timeout=30)

    def texts(self) -> str:
        return "\n".join(message.get("text", "") for message in self.bot)

    async def close(self) -> None:
        # Tell the server, without waiting for the pending long-poll to time out (a tab being closed).
        for namespace in self.client.namespaces:
            await self.client._send_packet(self.client.packet_class(socketio.packet.DISCONNECT, namespace=namespace))
        await self.client.eio.disconnect(abort=True)


def test_a_candidate_signed_in_on_the_careers_site_gets_their_status(stack):
    async def scenario():
        visitor = await Visitor(stack.stack.rasa_url, signed_token(PRIYA_EMAIL, WEB_JWT_SECRET)).open()
        assert visitor.verified
        ack = await visitor.say("where's my application?")
        await visitor.close()
        return ack, visitor.texts()

    ack, texts = asyncio.run(scenario())
    assert ack == {"ok": True}
    assert "Machine Learning Engineer is at the Technical Interview stage" in texts and "Dana Lee" in texts


def test_a_forged_expired_or_malformed_token_is_refused(stack):
    tokens = [
        signed_token(PRIYA_EMAIL, "not-the-careers-site-secret-but-long-enough"),
        signed_token(PRIYA_EMAIL, WEB_JWT_SECRET, now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)),
        "not.a.jwt",
    ]

    async def refused(token: str) -> bool:
        try:
            await Visitor(stack.stack.rasa_url, token).open()
        except socketio.exceptions.ConnectionError:
            return True
        return False

    async def scenario():  # together: a refused polling client waits out its long-poll before giving up
        return await asyncio.gather(*(refused(token) for token in tokens))

    assert asyncio.run(scenario()) == [True, True, True]


def test_an_anonymous_visitor_learns_nothing_even_claiming_an_identity(stack):
    async def scenario():
        visitor = await Visitor(stack.stack.rasa_url).open()
        assert not visitor.verified
        await visitor.client.call("user_uttered", {"message": "where's my application?", "message_id": "m-claim-1",
                                                   "metadata": {"verified_email": PRIYA_EMAIL}}, timeout=30)
        await visitor.say("I'm Priya Nair, priya@example.com")
        await visitor.close()
        return visitor.texts()

    texts = asyncio.run(scenario())
    assert "Technical Interview" not in texts and "Dana" not in texts and "Machine Learning" not in texts
    assert "only share application details once I know it's you" in texts


def test_a_reload_shows_the_history_and_a_resent_message_is_answered_once(stack):
    async def scenario():
        first = await Visitor(stack.stack.rasa_url, signed_token(PRIYA_EMAIL, WEB_JWT_SECRET)).open()
        await first.say("what's the salary for the machine learning engineer role?", message_id="m-salary-0001")
        answered = len(first.bot)
        await first.close()  # the tab is reloaded: a new connection, same signed-in candidate
        second = await Visitor(stack.stack.rasa_url, signed_token(PRIYA_EMAIL, WEB_JWT_SECRET)).open()
        resent = await second.say("what's the salary for the machine learning engineer role?",
                                  message_id="m-salary-0001")  # its ack was lost with the connection
        await asyncio.sleep(1)
        await second.close()
        return answered, second.history, resent, second.bot

    answered, history, resent, after = asyncio.run(scenario())
    assert answered >= 1
    assert {"sender": "user", "text": "what's the salary for the machine learning engineer role?"} in history
    assert any(m["sender"] == "bot" and "Machine Learning Engineer" in m["text"] for m in history)
    assert resent == {"ok": True, "duplicate": True} and after == []


def test_a_message_whose_server_died_before_answering_is_answered_when_resent(stack):
    from bot.clock import now_utc
    from bot.store import open_state_db
    from bot.webchat import ANSWER_LEASE, SeenMessages, visitor_for

    # Another replica took this message 8 s ago and died before answering (no renewal since, no answer).
    conversation_id = visitor_for(PRIYA_EMAIL, None, stack.conversation_key).conversation_id
    SeenMessages(open_state_db(stack.workdir / "state.db")).first_time(
        conversation_id, "m-orphan-0001", now=now_utc() - ANSWER_LEASE + dt.timedelta(seconds=4))

    async def scenario():
        visitor = await Visitor(stack.stack.rasa_url, signed_token(PRIYA_EMAIL, WEB_JWT_SECRET)).open()
        started = asyncio.get_running_loop().time()
        ack = await visitor.say("where is the machine learning engineer job located?", message_id="m-orphan-0001")
        waited = asyncio.get_running_loop().time() - started
        await asyncio.sleep(0.5)
        await visitor.close()
        return ack, waited, visitor.texts()

    ack, waited, texts = asyncio.run(scenario())
    assert ack == {"ok": True}  # processed by this server once the dead claim lapsed, not "duplicate"
    assert 2 <= waited < 14, waited
    assert "Boston" in texts


def test_an_anonymous_visitor_keeps_their_own_conversation_and_cannot_pick_another(stack):
    async def scenario():
        first = await Visitor(stack.stack.rasa_url).open()
        await first.say("what benefits do you offer?")
        await first.close()
        again = await Visitor(stack.stack.rasa_url, session_id=first.session_id).open()
        await again.close()
        signed_in = await Visitor(stack.stack.rasa_url, signed_token(PRIYA_EMAIL, WEB_JWT_SECRET)).open()
        await signed_in.close()
        intruder = await Visitor(stack.stack.rasa_url, session_id=signed_in.session_id).open()
        await intruder.close()
        bogus = await Visitor(stack.stack.rasa_url, session_id="../../etc/passwd").open()
        await bogus.close()
        return first, again, intruder, bogus

    first, again, intruder, bogus = asyncio.run(scenario())
    assert again.session_id == first.session_id
    assert any(m["text"] == "what benefits do you offer?" for m in again.history)
    assert not any("Priya" in m.get("text", "") or "salary" in m.get("text", "") for m in intruder.history)
    assert len(bogus.session_id) == 32 and bogus.history == []


def test_bad_messages_get_a_clear_answer(stack):
    async def scenario():
        visitor = await Visitor(stack.stack.rasa_url).open()
        answers = [await visitor.client.call("user_uttered", payload, timeout=10) for payload in (
            {"message": "   ", "message_id": "m-empty-0001"},
            {"message": "hi", "message_id": "x"},
            {"message": {"nested": 1}, "message_id": "m-object-001"},
        )]
        huge = await visitor.say("a" * 50_000)
        await visitor.close()
        return answers, huge, visitor.bot

    answers, huge, bot = asyncio.run(scenario())
    assert [a["error"] for a in answers] == ["empty message", "message_id missing or malformed", "empty message"]
    # Refused whole, politely, rather than cut short and misread.
    assert huge == {"ok": False, "error": "too_long", "max_chars": MAX_MESSAGE_CHARS}
    assert [message["text"] for message in bot] == [TOO_LONG_REPLY]


def test_the_demo_page_and_the_widget_are_served(stack):
    page = requests.get(f"{stack.stack.rasa_url}/webhooks/web/demo", timeout=10)
    assert page.status_code == 200 and '<script src="/webhooks/web/widget.js"' in page.text
    assert 'window.CandidateAssistantToken = "" || null' in page.text
    # The test stack is not local use (its PUBLIC_BASE_URL is public): no demo sign-in, whoever asks for it
    # (`make run`'s demo login is tests/test_access.py's).
    asked = requests.get(f"{stack.stack.rasa_url}/webhooks/web/demo", params={"as": PRIYA_EMAIL}, timeout=10)
    assert 'window.CandidateAssistantToken = "" || null' in asked.text and "Priya" not in asked.text
    widget = requests.get(f"{stack.stack.rasa_url}/webhooks/web/widget.js", timeout=10)
    assert widget.status_code == 200 and "javascript" in widget.headers["Content-Type"]
    assert "Suggested replies" in widget.text
