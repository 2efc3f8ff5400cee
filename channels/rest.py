"""Rasa's REST channel for local tools (curl, scripts), proving nothing about who is writing.

Rasa's own RestInput takes `input_channel` and `metadata` from the request body, so a caller could name
our SMS channel and a "verified" phone number and be treated as that candidate. Here both are fixed: the
channel is always "rest" and no metadata from the request reaches the conversation (only a keyed hash of
the caller's address, for the per-client limits), so the identity gate
(bot/identity.py) never sees a REST sender as verified. Its conversations are prefixed "rest-", so a caller
cannot write into a candidate's SMS, web or Slack conversation by naming its id.

It is for local tools, so it answers only a caller on this machine (a loopback address, not relayed by a
proxy) or one that sends `Authorization: Bearer <REST_CHANNEL_TOKEN>`; deploy/ does not route it publicly.
A request must name its `sender` (400 otherwise: Rasa would put it in one `default` conversation shared by
every such caller), a message over 2,000 characters gets a polite reply without reaching NLU, and a sender
over RATE_LIMIT_MESSAGES_PER_MINUTE gets 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.access import bearer_matches, is_loopback
from bot.rate_limits import CLIENT_KEY, RateLimiter, client_key_for
from bot.settings import Settings
from bot.sms import TOO_LONG_REPLY, clean_inbound_text, is_too_long
from bot.store import open_state_db
from channels.configured import safe_settings

logger = logging.getLogger(__name__)
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


class LocalRest(RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(safe_settings())

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limiter = RateLimiter(open_state_db(settings.state_database), settings)

    def _is_allowed(self, request: Request) -> bool:
        """A local tool (loopback, not relayed by a proxy on this machine), or a caller with the token."""
        if is_loopback(request.ip) and not any(header in request.headers for header in PROXY_HEADERS):
            return True
        return bearer_matches(request.headers.get("Authorization"), self.settings.rest_channel_token)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        rest = Blueprint("custom_webhook_LocalRest", __name__)

        @rest.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @rest.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> Any:
            if not self._is_allowed(request):
                logger.warning("REST channel: a request from outside without the token, refused")
                return response.json({"error": "the REST channel is for local tools"}, status=403)
            body = request.json
            sender = body.get("sender") if isinstance(body, dict) else None
            if not isinstance(sender, str) or not sender.strip():
                return response.json({"error": "sender is required"}, status=400)
            message = body.get("message")
            if not isinstance(message, str):
                return response.json({"error": "message is required"}, status=400)
            conversation_id = f"rest-{sender}"
            decision = self.limiter.message(conversation_id)
            if not decision.allowed:
                return response.json({"error": "rate_limited", "retry_after": decision.retry_after}, status=429,
                                     headers={"Retry-After": str(decision.retry_after)})
            text = clean_inbound_text(message)
            if is_too_long(text):
                return response.json([{"recipient_id": conversation_id, "text": TOO_LONG_REPLY}])
            metadata = {CLIENT_KEY: client_key_for(request.remote_addr or request.ip,
                                                   self.settings.conversation_id_key)}
            if bool_arg(request, "stream", default=False):
                return response.stream(self.stream_response(on_new_message, text, conversation_id, self.name(),
                                                            metadata), content_type="text/event-stream")
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(text, collector, conversation_id, input_channel=self.name(),
                                                 metadata=metadata))
            except asyncio.CancelledError:
                logger.error("REST message for %s timed out", conversation_id)
            except Exception:
                logger.exception("REST message for %s could not be answered", conversation_id)
            return response.json(collector.messages)

        return rest
