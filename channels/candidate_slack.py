"""Candidates who message the assistant in Slack (a DM to the same Slack app recruiters use).

The recruiters' app (channels/recruiter_slack.py) receives every Slack request and hands a
candidate's direct message or button click to this channel, which stores it in a durable inbox
and acknowledges Slack at once. A loop then answers each message through Rasa, in order per
candidate, and posts the replies to the DM (Block Kit buttons for quick replies) through a durable
outbox, retried while Slack is down. The candidate is identified by their Slack profile's email,
and only when Slack says that email is confirmed; the conversation id is a keyed hash of the
Slack user id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import sqlalchemy as sa
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import IntegrityError

from bot.clock import now_utc, to_db
from bot.identity import verified_metadata
from bot.outbox import DurableQueue, queue_table
from bot.rate_limits import RATE_LIMITED_REPLY, RateLimiter
from bot.settings import Settings
from bot.sms import TOO_LONG_REPLY, is_too_long
from bot.store import open_state_db, state_metadata
from bot.webchat import clean_message
from channels.configured import ConfiguredChannel
from channels.delivery import HANDOFF_WORK, run_with_server, running, status_page

logger = logging.getLogger(__name__)
BUTTON_ACTION = "candidate_reply"
IDENTITY_TTL = dt.timedelta(minutes=10)

slack_inbox_table = queue_table(
    "slack_candidate_inbox",
    sa.Column("event_key", sa.String, nullable=False, unique=True),  # a retried Slack event is stored once
    sa.Column("user_id", sa.String, nullable=False),
    sa.Column("dm_channel", sa.String, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
)
slack_dm_outbox_table = queue_table(
    "slack_candidate_outbox",
    sa.Column("dm_channel", sa.String, nullable=False),
    sa.Column("message", sa.Text, nullable=False),  # JSON: text and buttons, as Rasa produced them
)
slack_candidates_table = sa.Table(
    "slack_candidates", state_metadata,
    sa.Column("conversation_id", sa.String, primary_key=True),
    sa.Column("dm_channel", sa.String, nullable=False),
)


def conversation_id_for(user_id: str, key: str) -> str:
    return "slack-" + hmac.new(key.encode(), f"slack-user:{user_id}".encode(), hashlib.sha256).hexdigest()[:24]


def message_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A bot message as Block Kit: its text, and its buttons as Slack buttons carrying the payload."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": message.get("text") or " "}}]
    buttons = message.get("buttons") or []
    if buttons:
        blocks.append({"type": "actions", "block_id": "replies", "elements": [
            {"type": "button", "action_id": f"{BUTTON_ACTION}_{index}", "value": str(button.get("payload"))[:2000],
             "text": {"type": "plain_text", "text": str(button.get("title"))[:75]}}
            for index, button in enumerate(buttons[:25])]})
    return blocks


class SlackCandidateOutput(CollectingOutputChannel):
    """Replies to a Slack candidate: into the durable DM outbox (and kept, like Rasa's collecting output)."""

    @classmethod
    def name(cls) -> str:
        return "slack"

    def __init__(self, outbox: DurableQueue, state: sa.engine.Engine) -> None:
        super().__init__()
        self.outbox = outbox
        self.state = state

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message(message)
        conversation_id = message["recipient_id"]
        with self.state.connect() as connection:
            dm_channel = connection.execute(sa.select(slack_candidates_table.c.dm_channel).where(
                slack_candidates_table.c.conversation_id == conversation_id)).scalar_one_or_none()
        if dm_channel is None:
            logger.warning("no Slack DM known for %s; message not queued", conversation_id)
            return
        now = now_utc()
        kept = {k: message.get(k) for k in ("text", "buttons") if message.get(k)}
        with self.state.begin() as connection:
            connection.execute(slack_dm_outbox_table.insert().values(
                conversation_id=conversation_id, dm_channel=dm_channel, message=json.dumps(kept), status="pending",
                due_at=to_db(now), next_attempt_at=to_db(now), give_up_at=to_db(now + dt.timedelta(days=1)),
                attempts=0, created_at=to_db(now)))
        HANDOFF_WORK.ring()


class SlackCandidates(ConfiguredChannel):
    @classmethod
    def name(cls) -> str:
        return "slack"


    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = open_state_db(settings.state_database)
        self.inbox = DurableQueue(self.state, slack_inbox_table, in_order=True)
        self.outbox = DurableQueue(self.state, slack_dm_outbox_table, in_order=True)
        self.limiter = RateLimiter(self.state, settings)
        self.client = (AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)
                       if settings.slack_configured else None)
        self._identities: dict[str, tuple[str | None, dt.datetime]] = {}
        self._on_new_message: Callable[[UserMessage], Awaitable[Any]] | None = None

    def get_output_channel(self) -> SlackCandidateOutput:
        return SlackCandidateOutput(self.outbox, self.state)

    # --- from the Slack app's listeners (fast: a row, then the answer to Slack) --------------------

    def receive(self, user_id: str, dm_channel: str, text: str, event_key: str) -> bool:
        """Store a candidate's message; False when it was stored before (Slack retried it)."""
        cleaned = clean_message(text)
        if cleaned is None:
            return False
        now = now_utc()
        conversation_id = conversation_id_for(user_id, self.settings.conversation_id_key)
        with self.state.connect() as connection:
            if connection.execute(sa.select(slack_inbox_table.c.id).where(
                    slack_inbox_table.c.event_key == event_key)).first() is not None:
                return False  # Slack retrying an event: neither processed nor counted again
        refusal = None
        if not self.limiter.message(conversation_id, now).allowed:
            refusal = "rate_limited", RATE_LIMITED_REPLY
        elif is_too_long(cleaned):
            refusal = "too_long", TOO_LONG_REPLY
        try:
            with self.state.begin() as connection:
                # A refused message is kept (text dropped) only so that Slack's retries of it are recognised.
                connection.execute(slack_inbox_table.insert().values(
                    conversation_id=conversation_id, event_key=event_key, user_id=user_id, dm_channel=dm_channel,
                    text="" if refusal else cleaned, status="skipped" if refusal else "pending",
                    last_error=refusal[0] if refusal else None, finished_at=to_db(now) if refusal else None,
                    due_at=to_db(now), next_attempt_at=to_db(now), give_up_at=to_db(now + dt.timedelta(hours=1)),
                    attempts=0, created_at=to_db(now)))
                if refusal:
                    connection.execute(slack_dm_outbox_table.insert().values(
                        conversation_id=conversation_id, dm_channel=dm_channel,
                        message=json.dumps({"text": refusal[1]}), status="pending", due_at=to_db(now),
                        next_attempt_at=to_db(now), give_up_at=to_db(now + dt.timedelta(days=1)), attempts=0,
                        created_at=to_db(now)))
        except IntegrityError:
            return False
        HANDOFF_WORK.ring()
        return True

    # --- the loop ------------------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        self._on_new_message = on_new_message
        slack = Blueprint("candidate_slack", __name__)

        @slack.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return status_page(request, self.settings, lambda: {
                "configured": self.client is not None, "inbox": self.inbox.counts(), "outbox": self.outbox.counts()})

        if self.client is not None:
            run_with_server(slack, self._run)
        return slack

    async def _run(self, app: Sanic) -> None:
        while running():
            await HANDOFF_WORK.wait(min(self.settings.delivery_poll_seconds, 1.0))
            try:
                await self.answer_inbox()
                await self.send_outbox()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Slack candidates: this round failed; the next one retries")

    async def answer_inbox(self) -> None:
        assert self._on_new_message is not None
        for item in self.inbox.take_due():
            fields = item.fields
            try:
                email = await self._confirmed_email(fields["user_id"])
                with self.state.begin() as connection:
                    connection.execute(slack_candidates_table.delete().where(
                        slack_candidates_table.c.conversation_id == item.conversation_id))
                    connection.execute(slack_candidates_table.insert().values(
                        conversation_id=item.conversation_id, dm_channel=fields["dm_channel"]))
                await self._on_new_message(UserMessage(
                    fields["text"], self.get_output_channel(), item.conversation_id, input_channel=self.name(),
                    metadata=verified_metadata(self.settings.conversation_id_key, self.name(), item.conversation_id,
                                               email=email)))
            except Exception as error:
                logger.warning("Slack message %s could not be answered (%s); will retry", item.id,
                               type(error).__name__)
                self.inbox.retry_later(item, type(error).__name__)
                continue
            self.inbox.finish(item.id, "sent")

    async def send_outbox(self) -> None:
        assert self.client is not None
        for item in self.outbox.take_due():
            message = json.loads(item.fields["message"])
            try:
                await self.client.chat_postMessage(channel=item.fields["dm_channel"], text=message.get("text") or " ",
                                                   blocks=message_blocks(message), unfurl_links=False)
            except (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError) as error:
                self.outbox.retry_later(item, type(error).__name__)
                continue
            self.outbox.finish(item.id, "sent")

    async def _confirmed_email(self, user_id: str) -> str | None:
        """The Slack user's email, only when Slack has confirmed it (cached for a few minutes)."""
        cached = self._identities.get(user_id)
        if cached and now_utc() - cached[1] < IDENTITY_TTL:
            return cached[0]
        assert self.client is not None
        user = (await self.client.users_info(user=user_id))["user"]
        email = (user.get("profile") or {}).get("email")
        confirmed = bool(user.get("is_email_confirmed")) and not user.get("deleted") and not user.get("is_bot")
        verified = email.strip().lower() if confirmed and isinstance(email, str) and "@" in email else None
        self._identities[user_id] = (verified, now_utc())
        return verified
