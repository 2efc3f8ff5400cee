"""The careers-site chat widget's channel: socket.io at /socket.io, the widget and a demo page at /webhooks/web/.

Rasa's own socket.io channel lets a browser pick any session id and send any metadata, and treats
a JWT only as a door key. Here the server decides: the careers site's JWT (WEB_JWT_SECRET) proves
the candidate's email and names their conversation; a forged or expired token is refused at
connection; client metadata is never trusted; a resent message (same id) is answered once; after
each (re)connection the browser receives the conversation's history, so a reload or a dropped
connection loses nothing and shows nothing twice. Events: `session_request` -> `session_confirm`
(+ `history`), `user_uttered` (acknowledged) -> `bot_uttered`. Limits (bot/rate_limits.py): connections per
client address an hour (refused `rate_limited`), messages per conversation a minute (ack `rate_limited` with
`retry_after`), 2,000 characters a message (ack `too_long`); each refusal is also said in a `bot_uttered`.
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from engineio import AsyncServer as EngineIOServer
from engineio import packet as engineio_packet
from engineio.payload import Payload
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer
from socketio.exceptions import ConnectionRefusedError as ConnectionRefused

from bot.access import is_loopback
from bot.ats.seed import demo_candidate_emails
from bot.email_codes import CodeLimits, EmailCodes
from bot.identity import verified_metadata
from bot.rate_limits import CLIENT_KEY, RATE_LIMITED_REPLY, RateLimiter, client_key_for
from bot.settings import PROJECT_ROOT, Settings
from bot.sms import MAX_MESSAGE_CHARS, TOO_LONG_REPLY, is_too_long
from bot.store import open_state_db
from bot.webchat import (
    MESSAGE_ID,
    InvalidToken,
    SeenMessages,
    clean_message,
    email_from_token,
    history,
    signed_token,
    visitor_for,
)
from channels.configured import ConfiguredChannel
from channels.delivery import HANDOFF_WORK, first_processing, renewing, status_page
from channels.stores import redis_settings_url

logger = logging.getLogger(__name__)
WIDGET_DIR = PROJECT_ROOT / "widget"
WIDGET_FILE = WIDGET_DIR / "dist" / "widget.js"
DEMO_PAGE = WIDGET_DIR / "demo" / "index.html"
DEMO_LOGIN_BLOCK = re.compile(r"\s*<!-- demo-login:.*?<!-- /demo-login -->", re.DOTALL)


def _shared_manager() -> AsyncRedisManager | None:
    """With Rasa replicas on Redis (TRACKER_STORE=redis), messages pushed to a visitor (a recruiter's reply,
    a status update) are published through Redis, so they reach the tab whichever replica holds its
    connection. One replica keeps python-socketio's in-process manager."""
    if (os.environ.get("TRACKER_STORE") or "").strip().lower() != "redis":
        return None
    return AsyncRedisManager(redis_settings_url(), channel="candidate-assistant-web")


def _client_address(environ: dict) -> str:
    """The visitor's address: the socket's peer, or what the trusted proxies in front say (SANIC_PROXIES_COUNT)."""
    request = environ.get("sanic.request")
    return (request.remote_addr or request.ip) if request is not None else "unknown"


# What a browser may send in a long-polling POST (engine.io protocol 4): the server pings, the client pongs.
CLIENT_PACKETS = {engineio_packet.CLOSE, engineio_packet.PONG, engineio_packet.MESSAGE, engineio_packet.UPGRADE}


class GuardedEngineIO(EngineIOServer):
    """python-engineio (4.15.1, the newest) mishandles two polling POSTs any anonymous visitor can send: one to a
    session that was just closed raises KeyError out of handle_request (a 500), and one carrying a packet a client
    must not send (OPEN, PING, NOOP, an unknown type) makes it wait in disconnect() for a poll that may never come,
    holding the request for Rasa's response timeout (an hour). Both get a 400 here; the second also closes the
    session at once, as engine.io means to."""

    async def handle_request(self, request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        refusal = await self._refusal(request)
        if refusal is not None:
            return response.text(refusal, status=400)
        try:
            return await super().handle_request(request, *args, **kwargs)
        except KeyError:  # the session closed while this request waited (engine.io catches it for GET only)
            return response.text("Session is disconnected", status=400)

    async def _refusal(self, request: Request) -> str | None:
        sid = request.args.get("sid")
        socket = self.sockets.get(sid) if request.method == "POST" and sid else None
        if socket is None or socket.upgraded:
            return None  # engine.io answers these itself
        if socket.closed:
            return "Session is disconnected"
        try:
            packets = Payload(encoded_payload=(request.body or b"").decode("utf-8")).packets
        except Exception:  # noqa: BLE001 - undecodable: engine.io refuses it itself, the same way
            return None
        if all(packet.packet_type in CLIENT_PACKETS for packet in packets):
            return None
        await socket.close(wait=False, abort=True)
        self.sockets.pop(sid, None)
        return "Unexpected packet type"


class GuardedAsyncServer(AsyncServer):
    def _engineio_server_class(self) -> type[EngineIOServer]:
        return GuardedEngineIO


class WebChat(ConfiguredChannel):
    @classmethod
    def name(cls) -> str:
        return "web"


    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        state = open_state_db(settings.state_database)
        self.seen = SeenMessages(state)
        self.limiter = RateLimiter(state, settings)
        self.codes = EmailCodes(state, settings.conversation_id_key, limits=CodeLimits.from_settings(settings))
        self.sio: AsyncServer | None = None
        self.app: Sanic | None = None

    def get_output_channel(self) -> OutputChannel | None:
        return SocketIOOutput(self.sio, "bot_uttered") if self.sio is not None else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        origins = self.settings.web_allowed_origins
        sio = GuardedAsyncServer(async_mode="sanic", cors_allowed_origins="*" if "*" in origins else list(origins),
                                 client_manager=_shared_manager())
        self.sio = sio
        web = SocketBlueprint(sio, "/socket.io", "web_chat", __name__)

        @web.listener("after_server_start")
        async def remember_app(app: Sanic, _loop) -> None:
            self.app = app

        @web.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return status_page(request, self.settings, lambda: {"jwt": bool(self.settings.web_jwt_secret)})

        @web.route("/widget.js", methods=["GET"])
        async def widget(_: Request) -> HTTPResponse:
            if not WIDGET_FILE.exists():
                return response.text("widget.js is missing: run `make widget`", status=404)
            return response.raw(WIDGET_FILE.read_bytes(), content_type="application/javascript; charset=utf-8",
                                headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})

        @web.route("/demo", methods=["GET"])
        async def demo(request: Request) -> HTTPResponse:
            return response.html(self._demo_page(request.args.get("as"), from_this_machine=is_loopback(request.ip)))

        @sio.on("connect")
        async def connect(sid: str, environ: dict, auth: dict | None) -> bool:
            token = (auth or {}).get("token") if isinstance(auth, dict) else None
            email = None
            if token:
                if not self.settings.web_jwt_secret:
                    logger.warning("a web visitor sent a token but WEB_JWT_SECRET is not set: refused")
                    return False
                try:
                    email = email_from_token(str(token), self.settings.web_jwt_secret)
                except InvalidToken as error:
                    logger.info("web connection refused: invalid token (%s)", error)
                    return False
            client_key = client_key_for(_client_address(environ), self.settings.conversation_id_key)
            decision = self.limiter.web_session(client_key)
            if not decision.allowed:
                logger.info("web connection refused: client %s opened too many sessions this hour", client_key)
                raise ConnectionRefused("rate_limited", {"retry_after": decision.retry_after})
            await sio.save_session(sid, {"email": email, "client_key": client_key})
            return True

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None, *_: Any) -> None:
            session = await sio.get_session(sid)
            requested = data.get("session_id") if isinstance(data, dict) else None
            requested = requested if isinstance(requested, str) else None
            visitor = visitor_for(session.get("email"), requested, self.settings.conversation_id_key)
            if visitor.email is None and requested and self.codes.verification_expired(visitor.conversation_id):
                # An old session id (maybe someone else's) whose code verification ran out: its history is not shown.
                visitor = visitor_for(None, None, self.settings.conversation_id_key)
            session.update(conversation_id=visitor.conversation_id)
            await sio.save_session(sid, session)
            await sio.enter_room(sid, visitor.conversation_id)
            await sio.emit("session_confirm", {"session_id": visitor.session_id, "verified": bool(visitor.email)},
                           room=sid)
            await sio.emit("history", await self._history(visitor.conversation_id), room=sid)

        @sio.on("user_uttered")
        async def user_uttered(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
            session = await sio.get_session(sid)
            conversation_id = session.get("conversation_id")
            if not conversation_id or not isinstance(data, dict):
                return {"ok": False, "error": "no session: send session_request first"}
            message_id = data.get("message_id")
            if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
                return {"ok": False, "error": "message_id missing or malformed"}
            text = clean_message(data.get("message"))
            if text is None:
                return {"ok": False, "error": "empty message"}
            if is_too_long(text):
                await sio.emit("bot_uttered", {"text": TOO_LONG_REPLY}, room=sid)
                return {"ok": False, "error": "too_long", "max_chars": MAX_MESSAGE_CHARS}
            if not self.seen.first_time(conversation_id, message_id) and await self._answered_first(
                    conversation_id, message_id):
                return {"ok": True, "duplicate": True}  # resent after a dropped connection: answered already
            decision = self.limiter.message(conversation_id)
            if not decision.allowed:
                self.seen.forget(conversation_id, message_id)  # resent after the wait, it is answered then
                await sio.emit("bot_uttered", {"text": RATE_LIMITED_REPLY}, room=sid)
                return {"ok": False, "error": "rate_limited", "retry_after": decision.retry_after}
            metadata = {**verified_metadata(self.settings.conversation_id_key, self.name(), conversation_id,
                                            email=session.get("email")), CLIENT_KEY: session.get("client_key")}
            async with renewing(lambda: self.seen.renew(conversation_id, message_id)):
                await on_new_message(UserMessage(text, SocketIOOutput(sio, "bot_uttered"), conversation_id,
                                                 input_channel=self.name(), metadata=metadata))
            self.seen.answered(conversation_id, message_id)
            HANDOFF_WORK.ring()
            return {"ok": True}

        return web

    async def _answered_first(self, conversation_id: str, message_id: str) -> bool:
        """A resent message: True once its first processing has answered it (the answer is in the conversation's
        history, and was pushed to the conversation's room), or while that processing is alive after a while;
        False when this resend took it over because its server died before answering (its claim lapsed)."""
        _, taken_over = await first_processing(lambda: self.seen.is_answered(conversation_id, message_id) or None,
                                               lambda: self.seen.take_over(conversation_id, message_id), poll=0.2)
        if taken_over:
            logger.warning("web message %s was never answered (a server died?); processing it now", message_id)
        return not taken_over

    def _demo_page(self, demo_email: str | None, from_this_machine: bool) -> str:
        """The demo careers page. With WEB_DEMO_LOGIN (make run only: the server refuses to start with it anywhere
        else) it signs a visitor on this machine in as one of the demo seed's candidates, and nobody else."""
        page = DEMO_PAGE.read_text()
        token = ""
        if not (self.settings.web_demo_login and self.settings.web_jwt_secret and from_this_machine):
            return DEMO_LOGIN_BLOCK.sub("", page).replace("{{TOKEN}}", "")  # not even the demo candidates' names
        page = page.replace('id="demo-login" hidden', 'id="demo-login"')
        demo_email = (demo_email or "").strip().lower()
        if demo_email in demo_candidate_emails():
            token = signed_token(demo_email, self.settings.web_jwt_secret)
            page = page.replace("browsing anonymously", f"signed in as {html.escape(demo_email)}")
        return page.replace("{{TOKEN}}", token)

    async def _history(self, conversation_id: str) -> list[dict[str, Any]]:
        agent = getattr(self.app.ctx, "agent", None) if self.app else None
        if agent is None or agent.tracker_store is None:
            return []
        tracker = await agent.tracker_store.retrieve(conversation_id)
        return history([event.as_dict() for event in tracker.events]) if tracker else []


