"""The recruiters' Slack app (slack-bolt), served by the Rasa server at /webhooks/recruiter_slack/events.

Slack sends it button clicks (Claim, Hand back to bot, Close) and the messages recruiters write in
a handoff card's thread. Bolt checks the signing secret on every request (403 when it is wrong)
and answers within Slack's 3 seconds: listeners only write to the state database. A loop started
with the server then does the slow work from the durable outboxes (bot/handoff.py): posts cards and
thread messages through Slack's Web API (SLACK_API_URL), re-posts unclaimed cards, and delivers
recruiter replies into the candidate's conversation through that channel's Rasa output channel,
recording them in the tracker. Failed sends are retried with backoff; nothing waits in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import BotUttered, SlotSet
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_bolt.adapter.sanic import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.middleware.request_verification.async_request_verification import AsyncRequestVerification
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.ats import ATSUnavailable, call_ats, open_ats
from bot.handoff import Handoff, HandoffDesk, handoff_rules, threads_table
from bot.handoff_cards import (
    CLAIM,
    CLOSE,
    HAND_BACK,
    candidate_notice,
    card_blocks,
    card_text,
    plain_text,
    refusal_text,
)
from bot.outbox import QueuedItem
from bot.settings import Settings
from bot.store import open_state_db
from channels.candidate_slack import BUTTON_ACTION, SlackCandidates
from channels.configured import ConfiguredChannel
from channels.delivery import HANDOFF_WORK, conversation_lock, output_channel_for, run_with_server, running, status_page

logger = logging.getLogger(__name__)
HANDOFF_SLOT = "handoff_active"
# Slack errors a later attempt can get past (the rest are retried too, until the row's deadline,
# because a fixed configuration or a re-invited bot makes them go away; these are only logged softer).
TRANSIENT = {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}


# A signed request that still breaks a listener: errors of the input's shape get a 400 (Slack does not retry a
# 4xx, and retrying would fail the same way); any other error (the state database busy, say) keeps bolt's 500,
# which Slack retries.
SHAPE_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError, OverflowError)
MAX_HANDOFF_ID = 2**63 - 1  # SQLite's INTEGER


def _readable_slack_body(request: Request) -> bool:
    """UTF-8, and a JSON object, or a form whose `payload` (interactivity) is a JSON object, with no text that is
    not Unicode (a JSON escape of a lone surrogate) and an event, when there is one, that is an object."""
    try:
        text = (request.body or b"").decode("utf-8")
        if text.lstrip().startswith("{"):
            body = json.loads(text)
        else:
            payload = urllib.parse.parse_qs(text).get("payload")
            if payload is None:
                return True
            body = json.loads(payload[0])
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError on a lone surrogate
    except (ValueError, RecursionError):
        return False
    return isinstance(body, dict) and isinstance(body.get("event", {}), dict)


async def _answer_shape_errors(error: Exception) -> BoltResponse | None:
    """bolt's error handler: a 400 for a request whose shape a listener could not handle, else bolt's 500."""
    if isinstance(error, SHAPE_ERRORS):
        logger.warning("Slack request not understood (%s)", type(error).__name__)
        return BoltResponse(status=400, body="request not understood")
    logger.error("Slack request failed (%s); Slack will retry it", type(error).__name__)
    return None


async def recruiter_dm(client: AsyncWebClient, slack_user_id: str | None, email: str | None) -> str | None:
    """The DM channel with a recruiter: by their Slack id from the ATS, else found by their email (hosted ATSs
    know recruiters only by email; needs the users:read.email scope). None when Slack cannot reach them."""
    if not slack_user_id and email:
        try:
            slack_user_id = (await client.users_lookupByEmail(email=email))["user"]["id"]
        except SlackApiError as error:
            if slack_error(error) not in ("users_not_found", "missing_scope", "user_not_found"):
                raise
            logger.info("recruiter not found in Slack by email (%s)", slack_error(error))
    if not slack_user_id:
        return None
    try:
        return (await client.conversations_open(users=slack_user_id))["channel"]["id"]
    except SlackApiError as error:
        if slack_error(error) not in ("user_not_found", "user_disabled", "cannot_dm_bot"):
            raise
        logger.warning("cannot DM the recruiter (%s); posting to the recruiting channel", slack_error(error))
        return None


class ForbiddenUnlessSigned(AsyncRequestVerification):
    """Bolt's signing-secret check, answering 403 and logging no request body (it may hold personal data)."""

    @staticmethod
    def _build_error_response() -> BoltResponse:
        return BoltResponse(status=403, body={"error": "invalid signature"})

    def _debug_log_error(self, signature, timestamp, body) -> None:
        self.logger.warning("rejected a Slack request with an invalid signature")


class RecruiterSlack(ConfiguredChannel):
    @classmethod
    def name(cls) -> str:
        return "recruiter_slack"


    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ats = open_ats(settings, load_seed=False)
        self.state = open_state_db(settings.state_database)
        self.desk = HandoffDesk(self.state, handoff_rules(settings, "UTC"))  # deadlines are set by the actions
        self.client: AsyncWebClient | None = None
        self.bolt: AsyncApp | None = None
        self._verifier: SignatureVerifier | None = None
        if settings.slack_configured:
            self._verifier = SignatureVerifier(settings.slack_signing_secret)
            self.client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)
            self.bolt = self._bolt_app()
        self._names: dict[str, str | None] = {}
        self.app: Sanic | None = None
        self._bot_user_id: str | None = None

    # --- Slack -> us ----------------------------------------------------------------------------

    def _bolt_app(self) -> AsyncApp:
        settings = self.settings

        async def authorize(team_id: str | None) -> AuthorizeResult:  # bolt passes arguments by name
            return await self._authorize()

        app = AsyncApp(
            client=self.client, signing_secret=settings.slack_signing_secret, authorize=authorize,
            request_verification_enabled=False, before_authorize=ForbiddenUnlessSigned(settings.slack_signing_secret),
            # Answer Slack only once what it sent is stored: a crash after the answer loses nothing.
            process_before_response=True,
        )
        app.error(_answer_shape_errors)

        @app.action(CLAIM)
        async def claim(ack, body) -> None:
            await ack()
            self._recruiter_action(self.desk.claim, body)

        @app.action(HAND_BACK)
        async def hand_back(ack, body) -> None:
            await ack()
            self._recruiter_action(self.desk.hand_back, body)

        @app.action(CLOSE)
        async def close(ack, body) -> None:
            await ack()
            self._recruiter_action(self.desk.close, body)

        @app.action(re.compile(rf"^{BUTTON_ACTION}_\d+$"))
        async def candidate_button(ack, body) -> None:
            await ack()
            candidates = self._candidates()
            channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
            action = (body.get("actions") or [{}])[0]
            if candidates and channel and action.get("value"):
                candidates.receive(body["user"]["id"], channel, action["value"], f"{channel}:{action.get('action_ts')}")

        @app.event("message")
        async def thread_message(event: dict[str, Any]) -> None:
            if event.get("subtype") or event.get("bot_id") or not event.get("user"):
                return  # edits, joins, and the app's own posts
            thread_ts, ts = event.get("thread_ts"), event.get("ts")
            if event.get("channel_type") == "im" and not thread_ts:
                candidates = self._candidates()  # a direct message to the assistant: a candidate writing
                if candidates is not None:
                    candidates.receive(event["user"], event["channel"], event.get("text") or "",
                                       f"{event['channel']}:{ts}")
                return
            if not thread_ts or thread_ts == ts or not (event.get("text") or "").strip():
                return  # not a reply in a thread
            outcome = self.desk.recruiter_reply(event["channel"], thread_ts, event["user"],
                                                plain_text(event["text"]), message_key=f"{event['channel']}:{ts}")
            if outcome.refused and outcome.handoff is not None:
                self.desk.tell_privately(outcome.handoff, slack_channel=event["channel"], user=event["user"],
                                         thread_ts=thread_ts,
                                         text=refusal_text(outcome.handoff.claimed_by, replied=True))
            if outcome.handoff is not None:
                logger.info("handoff %s: recruiter message %s", outcome.handoff.id, outcome.note)
                HANDOFF_WORK.ring()

        return app

    async def _authorize(self) -> AuthorizeResult:
        # One auth.test, remembered; while Slack's API is unreachable, clicks and replies still work.
        if self._bot_user_id is None and self.client is not None:
            try:
                self._bot_user_id = (await self.client.auth_test())["user_id"]
            except (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError):
                logger.warning("Slack auth.test failed; will try again on the next request")
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=self.settings.slack_bot_token,
                               bot_user_id=self._bot_user_id)

    def _recruiter_action(self, step: Callable[[int, str], Any], body: dict[str, Any]) -> None:
        try:
            handoff_id = int(body["actions"][0]["value"])
        except (KeyError, IndexError, TypeError, ValueError):
            handoff_id = None
        if handoff_id is None or not 0 < handoff_id <= MAX_HANDOFF_ID:
            logger.warning("a handoff button arrived without a handoff id")
            return
        outcome = step(handoff_id, body["user"]["id"])
        channel = ((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
                   or (outcome.handoff.slack_channel if outcome.handoff else None))
        if outcome.refused and outcome.handoff is not None and channel:
            # Queued, not sent: a listener only writes to the state database (Slack wants an answer within 3 s).
            self.desk.tell_privately(outcome.handoff, slack_channel=channel, user=body["user"]["id"],
                                     text=refusal_text(outcome.handoff.claimed_by, replied=False))
        logger.info("handoff %s: %s (%s)", handoff_id, step.__name__, outcome.note)
        HANDOFF_WORK.ring()

    def _candidates(self) -> SlackCandidates | None:
        for channel in getattr(self.app.ctx, "input_channels", None) or [] if self.app else []:
            if isinstance(channel, SlackCandidates):
                return channel
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        slack = Blueprint("recruiter_slack", __name__)
        handler = AsyncSlackRequestHandler(self.bolt) if self.bolt else None

        @slack.listener("after_server_start")
        async def remember_app(app: Sanic, _loop) -> None:
            self.app = app

        @slack.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return status_page(request, self.settings, lambda: {
                "configured": self.bolt is not None, "live_handoffs": len(self.desk.listing()),
                "slack_outbox": self.desk.slack.counts(), "candidate_deliveries": self.desk.deliveries.counts()})

        @slack.route("/events", methods=["POST"])
        async def events(request: Request) -> HTTPResponse:
            if handler is None:
                return response.json({"error": "Slack is not configured (see README, Recruiter handoff)"},
                                     status=503)
            # bolt parses the body before its own signature middleware runs: anything unsigned stops here,
            # and a signed body bolt cannot read gets a 400 (Slack does not retry a 4xx) rather than a 500.
            if b"ssl_check=1" in (request.body or b"")[:200] and request.form.get("ssl_check") == "1":
                return response.empty(status=200)  # Slack checking our certificate: nothing to do, as bolt answers
            if not self._signed(request):
                logger.warning("rejected a Slack request with an invalid signature")
                return response.json({"error": "invalid signature"}, status=403)
            if not _readable_slack_body(request):
                return response.json({"error": "not a Slack request body"}, status=400)
            try:
                return await handler.handle(request)
            except Exception as error:  # a signed request of a shape we do not handle
                logger.warning("Slack request not handled (%s)", type(error).__name__)
                return response.json({"error": "request not understood"}, status=400)

        if self.bolt is None:
            logger.warning("Slack handoff is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, "
                           "SLACK_HANDOFF_CHANNEL): handoffs wait in the queue (python -m bot handoffs) and "
                           "the assistant keeps answering")
        else:
            run_with_server(slack, self._run)
        return slack

    def _signed(self, request: Request) -> bool:
        if self._verifier is None:
            return False
        try:
            return self._verifier.is_valid(body=request.body or b"",
                                           timestamp=request.headers.get("X-Slack-Request-Timestamp") or "",
                                           signature=request.headers.get("X-Slack-Signature") or "")
        except (ValueError, TypeError, UnicodeError):  # a timestamp that is not a number, say
            return False

    # --- us -> Slack and -> the candidate ---------------------------------------------------------

    async def _run(self, app: Sanic) -> None:
        poll = min(self.settings.delivery_poll_seconds, 1.0)  # the action server cannot ring: poll briskly
        while running():
            await HANDOFF_WORK.wait(poll)
            try:
                self.desk.escalate_overdue()
                await self.deliver_to_slack()
                agent = getattr(app.ctx, "agent", None)
                if agent is not None and agent.is_ready():
                    await self.deliver_to_candidates(app, agent)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("handoff delivery: this round failed; the next one retries")

    async def deliver_to_slack(self) -> None:
        assert self.client is not None
        for item in self.desk.slack.take_due():
            handoff = self.desk.get(item.fields["handoff_id"])
            if handoff is None:
                self.desk.slack.finish(item.id, "skipped", "no such handoff")
                continue
            try:
                ts = await self._send_to_slack(item, handoff)
            except Exception as error:  # any failure: this row is retried, the others still go
                reason = slack_error(error)
                (logger.info if reason in TRANSIENT or not isinstance(error, SlackApiError) else logger.warning)(
                    "Slack %s for handoff %s failed (%s); will retry", item.fields["kind"], handoff.id, reason)
                self.desk.slack.retry_later(item, reason)
                continue
            self.desk.slack.finish(item.id, "sent", provider_id=ts)

    async def _send_to_slack(self, item: QueuedItem, handoff: Handoff) -> str | None:
        assert self.client is not None
        kind = item.fields["kind"]
        if kind == "card":
            channel = await self._card_destination(handoff)
            posted = await self.client.chat_postMessage(channel=channel, text=card_text(handoff),
                                                        blocks=card_blocks(handoff), unfurl_links=False)
            self.desk.card_posted(handoff.id, posted["channel"], posted["ts"])
            return posted["ts"]
        if kind == "escalate":
            channel = self.settings.slack_fallback_channel
            posted = await self.client.chat_postMessage(channel=channel, text=card_text(handoff, escalated=True),
                                                        blocks=card_blocks(handoff, escalated=True))
            self.desk.thread_posted(handoff.id, posted["channel"], posted["ts"])
            return posted["ts"]
        threads = self._threads(handoff.id)
        if kind == "update_card":
            for index, (channel, ts) in enumerate(threads):
                await self.client.chat_update(channel=channel, ts=ts, text=card_text(handoff, escalated=index > 0),
                                              blocks=card_blocks(handoff, escalated=index > 0))
            return None
        if kind == "thread":
            for channel, ts in threads:
                await self.client.chat_postMessage(channel=channel, thread_ts=ts, text=item.fields["body"],
                                                   unfurl_links=False)
            return None
        if kind == "ephemeral":
            private = json.loads(item.fields["body"])
            shown = await self.client.chat_postEphemeral(channel=private["channel"], user=private["user"],
                                                         text=private["text"], thread_ts=private.get("thread_ts"))
            return shown.get("message_ts")
        raise ValueError(f"unknown Slack outbox kind {kind!r}")

    async def _card_destination(self, handoff: Handoff) -> str:
        """The candidate's own recruiter by DM when known to Slack, else the recruiting channel."""
        assert self.client is not None and self.settings.slack_handoff_channel
        direct = await recruiter_dm(self.client, handoff.card.recruiter_slack_id, handoff.card.recruiter_email)
        return direct or self.settings.slack_handoff_channel

    def _threads(self, handoff_id: int) -> list[tuple[str, str]]:
        """The card first, then any re-posts: every place the conversation is followed."""
        t = threads_table
        with self.state.connect() as connection:
            rows = connection.execute(t.select().where(t.c.handoff_id == handoff_id).order_by(t.c.thread_ts)).all()
        return [(row.slack_channel, row.thread_ts) for row in rows]

    async def _recruiter_name(self, user_id: str | None) -> str | None:
        if not user_id or self.client is None:
            return None
        if user_id not in self._names:
            try:
                user = (await self.client.users_info(user=user_id))["user"]
                name = (user.get("profile") or {}).get("real_name") or user.get("real_name") or None
            except (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError):
                return None  # said without a name this once; asked again next time
            self._names[user_id] = name
        return self._names[user_id]

    async def _careers_email(self) -> str | None:
        try:
            return (await call_ats(self.ats.company, timeout=self.settings.ats_timeout_seconds)).careers_email
        except ATSUnavailable:
            return None

    async def deliver_to_candidates(self, app: Sanic, agent) -> None:
        for item in self.desk.deliveries.take_due():
            kind = item.fields["kind"]
            try:
                text = candidate_notice(kind, await self._recruiter_name(item.fields.get("recruiter")),
                                        item.fields.get("body"),
                                        await self._careers_email() if kind == "escalated" else None)
                await self._deliver(app, agent, item, text, ends=kind in ("returned", "closed"))
            except Exception as error:
                logger.warning("handoff %s: %s for the candidate failed (%s); will retry",
                               item.fields["handoff_id"], kind, type(error).__name__)
                self.desk.deliveries.retry_later(item, type(error).__name__)
                continue
            self.desk.deliveries.finish(item.id, "sent")

    async def _deliver(self, app: Sanic, agent, item: QueuedItem, text: str, ends: bool) -> None:
        """Into the conversation, as Rasa would: under its lock, through its channel's output, in its tracker."""
        conversation_id = item.conversation_id
        output = output_channel_for(app, item.fields.get("channel"))
        async with conversation_lock(agent, conversation_id):
            tracker = await agent.processor.fetch_tracker_and_update_session(conversation_id, output)
            if ends:
                tracker.update(SlotSet(HANDOFF_SLOT, False))
            await output.send_response(conversation_id, {"text": text})
            tracker.update(BotUttered(text, metadata={"handoff_id": item.fields["handoff_id"],
                                                      "handoff_notice": item.fields["kind"]}))
            await agent.processor.save_tracker(tracker)


def slack_error(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        data = error.response.data
        return str(data.get("error") if isinstance(data, dict) and data.get("error")
                   else f"HTTP {error.response.status_code}")
    return type(error).__name__
