"""How simulated candidates and recruiters reach the Rasa replicas: a client-side balancer, the signed SMS
webhook, the careers-site socket.io channel and the recruiters' Slack app, each retrying on another replica
when one goes away.

- SMS: a form POST signed as Twilio signs it (X-Twilio-Signature over the replica's public URL); the reply is
  the TwiML in the response. On a refused or dropped connection, a timeout or a 5xx the same message (same
  MessageSid) goes to the next replica: the channel answers a MessageSid once, so a retry gets that answer.
- Web: one socket.io connection (long-polling, as the widget) to one replica, signed in by the careers site's
  JWT; the answer is the `bot_uttered` events before the acknowledgement. When the connection drops, the
  client connects to another replica and sends the same message (same message_id) again.
- Out-of-band messages (a recruiter joined, replied, handed back) are watched at the fake Twilio API and on
  the socket.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import aiohttp
import socketio

from bench.load.stats import Stats
from bot.twilio_webhook import inbound_params, twiml_messages
from bot.webchat import signed_token
from tests.fakes.slack_api import FakeSlackAPI, PostedMessage
from tests.fakes.slack_signing import sign
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.stack_fixture import SLACK_SIGNING_SECRET, WEB_JWT_SECRET, RunningStack

SORRY_MARK = "something went wrong on our side"
DOWN_SECONDS = 5.0  # a replica that refused a connection is skipped this long
CONNECT_SECONDS = 30.0  # to connect and receive the conversation's history
SMS_CHOICE = re.compile(r"^(\d+) - (.+)$", flags=re.MULTILINE)


class GaveUp(Exception):
    """A message could not be delivered to any replica within the retries."""


@dataclass
class Replica:
    name: str
    running: RunningStack
    down_until: float = 0.0

    @property
    def url(self) -> str:
        return self.running.stack.rasa_url


class Balancer:
    """Round robin over the replicas, skipping one that recently refused connections."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self._turn = itertools.count()

    def order(self) -> list[Replica]:
        start = next(self._turn) % len(self.replicas)
        rotated = self.replicas[start:] + self.replicas[:start]
        now = time.monotonic()
        return sorted(rotated, key=lambda replica: replica.down_until > now)  # stable: healthy ones first

    def attempts(self, retries: int) -> list[Replica]:
        """The replica for each attempt: the balancer's choice first, then the others in turn."""
        order = self.order()
        return [order[n % len(order)] for n in range(retries + 1)]

    @staticmethod
    def mark_down(replica: Replica) -> None:
        replica.down_until = time.monotonic() + DOWN_SECONDS


def _transient_kind(error: BaseException) -> str:
    if isinstance(error, aiohttp.ClientConnectorError):
        return "connection refused"
    if isinstance(error, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError)):
        return "connection dropped"
    if isinstance(error, asyncio.TimeoutError):
        return "timeout"
    return type(error).__name__


@dataclass
class Reply:
    texts: list[str]
    choices: list[str]  # what to send to pick each offered choice (SMS: "1", "2"...; web: the payloads)
    replica: str | None
    attempts: int
    latency: float
    key: str  # how the message is found in the tracker: its MessageSid (SMS) or its text (web)
    lost: bool = False  # the server took the message but it is not in the conversation

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


class HttpClient:
    """One aiohttp session for every simulated candidate and recruiter, with the retry rules above."""

    def __init__(self, balancer: Balancer, stats: Stats, retries: int, timeout: float, pool: int) -> None:
        self.balancer, self.stats, self.retries = balancer, stats, retries
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout),
                                             connector=aiohttp.TCPConnector(limit=pool, force_close=False))

    async def close(self) -> None:
        await self.session.close()

    async def post(self, path: str, body: bytes, headers_for) -> tuple[int, str, Replica, int]:
        """POST to the first replica that answers (no 5xx); `headers_for(replica)` signs for that replica."""
        last = "no attempt"
        for attempt, replica in enumerate(self.balancer.attempts(self.retries), start=1):
            if attempt > 1:
                await asyncio.sleep(min(0.2 * 2 ** (attempt - 2), 2.0))
            try:
                async with self.session.post(replica.url + path, data=body, headers=headers_for(replica)) as reply:
                    text = await reply.text()
                if reply.status < 500:
                    return reply.status, text, replica, attempt
                last = f"HTTP {reply.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                last = _transient_kind(error)
                if last == "connection refused":
                    self.balancer.mark_down(replica)
            self.stats.retry(last)
        raise GaveUp(last)


class SmsCandidate:
    """A phone texting the signed Twilio webhook."""

    channel = "sms"

    def __init__(self, http: HttpClient, phone: str) -> None:
        self.http, self.phone = http, phone
        self.delivered: list[tuple[str, bool]] = []  # (MessageSid, got its reply), in order

    async def say(self, text: str) -> Reply:
        params = inbound_params(self.phone, text)
        body = urllib.parse.urlencode(params).encode()

        def headers(replica: Replica) -> dict[str, str]:
            return {"X-Twilio-Signature": replica.running.sign(params, url=replica.running.public_url),
                    "Content-Type": "application/x-www-form-urlencoded"}

        started = time.perf_counter()
        status, twiml, replica, attempts = await self.http.post("/webhooks/twilio/webhook", body, headers)
        latency = time.perf_counter() - started
        if status != 200:
            raise GaveUp(f"HTTP {status}")
        texts = twiml_messages(twiml)
        return Reply(texts, [number for number, _ in SMS_CHOICE.findall("\n".join(texts))], replica.name,
                     attempts, latency, params["MessageSid"])

    async def close(self) -> None:
        pass


class TwilioInbox:
    """SMS the assistant sent through the fake Twilio API, by recipient (indexed as they arrive)."""

    def __init__(self, twilio: FakeTwilioAPI) -> None:
        self.twilio = twilio
        self._seen = 0
        self._by_phone: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def bodies(self, phone: str) -> list[str]:
        with self._lock:
            sent = self.twilio.messages
            count = len(sent)  # the fake appends from its own threads
            for message in sent[self._seen:count]:
                self._by_phone.setdefault(message.to, []).append(message.body)
            self._seen = count
            return list(self._by_phone.get(phone, []))


@dataclass
class WebCandidate:
    """A signed-in visitor of the careers site, chatting over socket.io with one replica at a time."""

    balancer: Balancer
    stats: Stats
    email: str
    retries: int
    timeout: float
    channel: str = "web"
    delivered: list[tuple[str, bool]] = field(default_factory=list)  # (text, got its reply), in order
    inbox: list[tuple[float, dict]] = field(default_factory=list)  # every bot_uttered, with arrival time
    replica: Replica | None = None
    _client: socketio.AsyncClient | None = None
    _dropped: asyncio.Event = field(default_factory=asyncio.Event)
    _history: list[dict] = field(default_factory=list)
    _history_ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self) -> None:
        last = "no attempt"
        for attempt, replica in enumerate(self.balancer.attempts(self.retries), start=1):
            if attempt > 1:
                await asyncio.sleep(min(0.2 * 2 ** (attempt - 2), 2.0))
            try:
                await self._connect_to(replica)
                return
            except (socketio.exceptions.SocketIOError, asyncio.TimeoutError, aiohttp.ClientError) as error:
                last = f"web connect failed ({str(error)[:48] or type(error).__name__})"
                self.balancer.mark_down(replica)
                await self._abandon()
            self.stats.retry(last)
        raise GaveUp(last)

    async def _connect_to(self, replica: Replica) -> None:
        # engine.io's default 5 s per HTTP request gives up on a busy server; a browser waits longer.
        client = socketio.AsyncClient(reconnection=False, request_timeout=self.timeout)
        self._client, self.replica = client, replica
        self._dropped = asyncio.Event()
        self._history_ready = asyncio.Event()
        client.on("bot_uttered", lambda message: self.inbox.append((time.perf_counter(), message)))
        client.on("history", self._on_history)
        dropped = self._dropped
        client.on("disconnect", lambda *_reason: dropped.set())
        started = time.perf_counter()
        await client.connect(replica.url, auth={"token": signed_token(self.email, WEB_JWT_SECRET)},
                             socketio_path="/socket.io", transports=["polling"], wait_timeout=CONNECT_SECONDS)
        await client.emit("session_request", {})
        await self._history_or_drop()
        self.stats.connects.append(time.perf_counter() - started)

    async def _history_or_drop(self) -> None:
        """Wait for the history the server sends after a session_request; a dropped connection ends the wait."""
        history = asyncio.ensure_future(self._history_ready.wait())
        dropped = asyncio.ensure_future(self._dropped.wait())
        done, _ = await asyncio.wait({history, dropped}, timeout=CONNECT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        history.cancel()
        dropped.cancel()
        if not self._history_ready.is_set():
            raise socketio.exceptions.ConnectionError("dropped" if dropped in done else "no history")

    def _on_history(self, history: list[dict]) -> None:
        self._history = history if isinstance(history, list) else []
        self._history_ready.set()

    async def fresh_history(self) -> list[dict]:
        """The conversation as the server has it now (a new session_request answers with the history)."""
        if self._client is None or self._dropped.is_set():
            await self.connect()
            self.stats.reconnects += 1
            return self._history
        self._history_ready.clear()
        try:
            await self._client.emit("session_request", {})
            await self._history_or_drop()
        except (socketio.exceptions.SocketIOError, aiohttp.ClientError):
            await self._abandon()
            await self.connect()
            self.stats.reconnects += 1
        return self._history

    async def say(self, text: str, expect_reply: bool = True) -> Reply:
        message_id = secrets.token_hex(8)
        started = time.perf_counter()
        last = "no attempt"
        for attempt in range(1, self.retries + 2):
            if self._client is None or self._dropped.is_set():
                if attempt > 1 or self._client is not None:
                    self.stats.reconnects += 1
                await self._abandon()
                await self.connect()
            assert self._client is not None and self.replica is not None
            mark = len(self.inbox)
            acknowledged: asyncio.Future = asyncio.get_running_loop().create_future()

            def ack(*data, future=acknowledged) -> None:
                if not future.done():
                    future.set_result(data[0] if data else None)

            send_error = None
            try:
                await self._client.emit("user_uttered", {"message": text, "message_id": message_id}, callback=ack)
                dropped = asyncio.ensure_future(self._dropped.wait())
                done, _ = await asyncio.wait({acknowledged, dropped}, timeout=self.timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                dropped.cancel()
            except (socketio.exceptions.SocketIOError, aiohttp.ClientError) as error:
                done, send_error = set(), f"web send failed ({type(error).__name__})"
            if acknowledged in done:
                result = acknowledged.result() or {}
                if not result.get("ok"):
                    raise GaveUp(f"refused: {result.get('error')}")
                latency = time.perf_counter() - started
                if result.get("duplicate"):  # the first send was taken before the connection dropped
                    texts = await self._answer_from_history(text)
                    if texts is None:  # taken, yet not in the conversation: the message was lost
                        self.stats.problem("web: acknowledged as a duplicate but not in the conversation", text)
                        return Reply([], [], self.replica.name, attempt, latency, text, lost=True)
                else:
                    texts = await self._answer_from_inbox(mark, expect_reply)
                return Reply(texts, self._choices(mark), self.replica.name, attempt, latency, text)
            last = send_error or ("web connection dropped" if self._dropped.is_set() else "timeout")
            self.stats.retry(last)
            await self._abandon()
        raise GaveUp(last)

    async def _answer_from_inbox(self, mark: int, expect_reply: bool) -> list[str]:
        # The answer is emitted before the acknowledgement; give the event handlers a moment to run.
        deadline = time.perf_counter() + (2.0 if expect_reply else 0.3)
        while len(self.inbox) == mark and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        return [message.get("text") or "" for _, message in self.inbox[mark:]]

    async def _answer_from_history(self, text: str) -> list[str] | None:
        """The bot messages after this message in the conversation; None when the message is not in it."""
        users: list[int] = []
        for _ in range(20):
            history = await self.fresh_history()
            users = [n for n, entry in enumerate(history)
                     if entry.get("sender") == "user" and entry.get("text") == text]
            if users:
                answer = []
                for entry in history[users[-1] + 1:]:
                    if entry.get("sender") != "bot":
                        break
                    answer.append(entry.get("text") or "")
                if answer:
                    return answer
            await asyncio.sleep(0.5)
        return [] if users else None

    def _choices(self, mark: int) -> list[str]:
        for _, message in reversed(self.inbox[mark:]):
            replies = message.get("quick_replies") or message.get("buttons") or []
            if replies:
                return [choice.get("payload") or choice.get("title") for choice in replies]
        return []

    async def _abandon(self) -> None:
        """Leave the current connection, as a closing tab does, without waiting for it: the goodbye and the end
        of its long poll finish in the background (closing_connections waits for them at the end)."""
        client, self._client = self._client, None
        if client is not None:
            task = asyncio.ensure_future(asyncio.wait_for(client.disconnect(), 90))
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)

    async def close(self) -> None:
        await self._abandon()


_CLOSING: set[asyncio.Future] = set()


async def closing_connections() -> None:
    """Wait for the web connections being closed in the background (each closes its own HTTP session)."""
    if _CLOSING:
        await asyncio.gather(*list(_CLOSING), return_exceptions=True)


class Recruiter:
    """The recruiter in the fake Slack: finds a candidate's handoff card, and clicks and replies through the
    recruiters' Slack app of whichever replica the balancer picks (signed with the signing secret)."""

    def __init__(self, http: HttpClient, slack: FakeSlackAPI, user: str) -> None:
        self.http, self.slack, self.user = http, slack, user
        self._seen = 0
        self._cards: dict[str, PostedMessage] = {}
        self._lock = threading.Lock()

    def card_for(self, name: str) -> PostedMessage | None:
        with self._lock:
            posted = self.slack.posted
            count = len(posted)  # the fake appends from its own threads
            for message in posted[self._seen:count]:
                if message.thread_ts is None and message.text and " needs a recruiter" in message.text:
                    self._cards.setdefault(message.text.split(" needs a recruiter")[0], message)
            self._seen = count
            return self._cards.get(name)

    def thread(self, card: PostedMessage) -> list[str]:
        return [m.text or "" for m in self.slack.messages_in(card.channel, thread_ts=card.ts)]

    async def send(self, body: bytes) -> None:
        started = time.perf_counter()
        status, text, _, _ = await self.http.post("/webhooks/recruiter_slack/events", body,
                                                  lambda _replica: sign(SLACK_SIGNING_SECRET, body))
        self.http.stats.acks.append(time.perf_counter() - started)
        if status != 200:
            raise GaveUp(f"Slack app answered HTTP {status}: {text[:80]}")
