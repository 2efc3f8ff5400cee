"""ATS webhooks in, proactive status updates out, and stale-application nudges to recruiters.

Served by the Rasa server at /webhooks/ats_updates/{greenhouse,lever,generic} (GET / shows the queues to OPS_TOKEN).
A webhook is answered as soon as its signature is checked and its notices are stored (bot/status_updates.py);
a Greenhouse or Lever delivery already received is acknowledged and not stored again (bot/ats_webhooks.py);
a loop started with the server then reads each application afresh from the ATS, decides whether and when
to tell the candidate, and delivers due updates by running `action_send_status_update` in the candidate's
conversation through Rasa's execute_action, with the output channel of the channel they last used (SMS
through the outbox and Twilio's REST API). The same loop posts stale-application nudges to recruiters in
Slack. Everything is retried from the state database after an outage or a restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.ats import ATSUnavailable, call_ats, open_ats
from bot.ats.base import ATSError
from bot.ats_webhooks import (
    DeliveriesSeen,
    Seen,
    VerifiedDelivery,
    WebhookRefused,
    generic_notices,
    greenhouse_delivery,
    lever_delivery,
)
from bot.clock import now_utc, to_db
from bot.outbox import QueuedItem
from bot.settings import Settings
from bot.sms import SmsLedger, conversation_id_for
from bot.status_updates import SMS_CHANNEL, StatusUpdates, candidate_timezone
from bot.store import open_state_db
from channels.configured import ConfiguredChannel
from channels.delivery import (
    SMS_QUEUED,
    Doorbell,
    output_channel_for,
    run_in_conversation,
    run_with_server,
    running,
    status_page,
)
from channels.recruiter_slack import recruiter_dm, slack_error

logger = logging.getLogger(__name__)
UPDATE_ACTION = "action_send_status_update"
UPDATE_SLOT = "status_update_application"
ATS_EVENTS = Doorbell()
MAX_BODY_BYTES = 256 * 1024
PURGE_SEEN_SECONDS = 600  # forgetting expired deliveries needs no hurry: their time check refuses them anyway


class ATSUpdates(ConfiguredChannel):
    @classmethod
    def name(cls) -> str:
        return "ats_updates"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        state = open_state_db(settings.state_database)
        self.ledger = SmsLedger(state)
        self.updates = StatusUpdates(state, settings,
                                     lambda phone: conversation_id_for(phone, settings.conversation_id_key))
        self.seen = DeliveriesSeen(state)
        self._last_purge: float | None = None
        self.ats = open_ats(settings)  # loads ATS_SEED_FILE at start-up, before any webhook or action needs it
        self._check_credentials()
        self.slack = (AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
                      if settings.slack_bot_token else None)
        self._last_stale_scan: float | None = None

    def _check_credentials(self) -> None:
        """Bad credentials stop the server at start-up with a clear message; an outage does not."""
        check = getattr(self.ats, "check_credentials", None)
        if check is None:
            return
        try:
            check()
        except ATSUnavailable as error:
            logger.warning("the ATS did not answer at start-up (%s); serving anyway, calls are retried", error)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hooks = Blueprint("ats_updates", __name__)
        secrets = {"greenhouse": self.settings.greenhouse_webhook_secret,
                   "lever": self.settings.lever_webhook_token, "generic": self.settings.ats_webhook_secret}
        greenhouse_max_age = self.settings.greenhouse_webhook_max_age_days * 86400

        @hooks.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return status_page(request, self.settings, lambda: {
                "webhooks": {name: bool(secret) for name, secret in secrets.items()},
                "events": self.updates.events.counts(), "updates": self.updates.updates.counts(),
                "stale_nudges": self.updates.nudges.counts(), "status_updates": self.settings.status_updates,
            })

        @hooks.route("/<source:str>", methods=["POST"])
        async def receive(request: Request, source: str) -> HTTPResponse:
            if source not in secrets:
                return response.json({"error": "unknown webhook; use greenhouse, lever or generic"}, status=404)
            secret = secrets[source]
            if not secret:
                return response.json({"error": f"the {source} webhook is not configured on this server"}, status=503)
            raw = request.body or b""
            if len(raw) > MAX_BODY_BYTES:
                return response.json({"error": "body too large"}, status=413)
            try:
                if source == "greenhouse":
                    delivery = greenhouse_delivery(raw, request.headers.get("Signature"), secret,
                                                   max_age_seconds=greenhouse_max_age)
                elif source == "lever":
                    delivery = lever_delivery(raw, secret)
                else:  # its signature covers a timestamp and the body: a repeat is the same notice, within 5 minutes
                    delivery = VerifiedDelivery(generic_notices(raw, request.headers.get("X-ATS-Timestamp"),
                                                                request.headers.get("X-ATS-Signature"), secret))
                seen = self.seen.check(source, delivery)
            except WebhookRefused as refused:
                logger.warning("%s webhook refused: %s", source, refused.reason)
                return response.json({"error": refused.reason}, status=refused.status)
            if seen is Seen.REUSED:
                logger.warning("%s webhook refused: a signature already used, on another body", source)
                return response.json({"error": f"{source} signature already used for another notice (replayed?)"},
                                     status=401)
            if seen is Seen.REPEAT:
                # 200, not an error: it is most often the sender retrying after our answer was lost, and an error
                # would have Greenhouse retry it for hours; a replay gets nothing from it either.
                logger.info("%s webhook: a delivery already received, acknowledged again", source)
                return response.json({"received": 0, "repeat": True})
            try:
                for notice in delivery.notices:
                    self.updates.receive_event(source, notice.application_id, notice.stage)
            except Exception:
                self.seen.forget(source, delivery)  # not stored: the sender's retry must be processed
                raise
            if delivery.notices:
                ATS_EVENTS.ring()
            return response.json({"received": len(delivery.notices)})

        run_with_server(hooks, self._run)
        return hooks

    # --- the loop ----------------------------------------------------------------------------------

    async def _run(self, app: Sanic) -> None:
        while running():
            await ATS_EVENTS.wait(self.settings.delivery_poll_seconds)
            try:
                await self.process_events()
                agent = getattr(app.ctx, "agent", None)
                if agent is not None and agent.is_ready():
                    await self.deliver_updates(app, agent)
                await self.check_stale()
                self._purge_seen()
                notes = getattr(self.ats, "notes", None)
                if notes is not None:
                    await asyncio.to_thread(notes.deliver, self.ats)
                if self.slack is not None:
                    await self.deliver_nudges()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("ATS updates: this round failed; the next one retries")

    async def _ats(self, function: Callable, *args: Any) -> Any:
        return await call_ats(function, *args, timeout=self.settings.ats_timeout_seconds)

    async def process_events(self) -> None:
        for item in self.updates.events.take_due():
            try:
                application = await self._ats(self.ats.get_application, item.fields["application_id"])
                candidate = application and await self._ats(self.ats.get_candidate, application.candidate_id)
                if application is None or candidate is None:
                    self.updates.events.finish(item.id, "skipped", "the ATS does not know this application")
                    continue
                company = await self._ats(self.ats.company)
            except ATSError as error:
                self.updates.events.retry_later(item, f"ATS: {error}")
                continue
            planned = self.updates.plan(application, candidate, company, self.ledger.is_opted_out)
            logger.info("ATS event %s (%s) for application %s: update %s%s", item.id, item.fields["source"],
                        application.id, planned.outcome, f" ({planned.reason})" if planned.reason else "")
            self.updates.events.finish(item.id, "sent", f"update {planned.outcome}: {planned.reason or 'due now'}")

    async def deliver_updates(self, app: Sanic, agent) -> None:
        for item in self.updates.updates.take_due():
            try:
                outcome = await self._deliver_update(app, agent, item)
            except ATSError as error:
                self.updates.updates.retry_later(item, f"ATS: {error}")
                continue
            except Exception as error:
                logger.warning("status update %s failed (%s); will retry", item.id, type(error).__name__)
                self.updates.updates.retry_later(item, type(error).__name__)
                continue
            if outcome is not None:
                self.updates.updates.finish(item.id, *outcome)

    async def _deliver_update(self, app: Sanic, agent, item: QueuedItem) -> tuple[str, str | None] | None:
        fields = item.fields
        application = await self._ats(self.ats.get_application, fields["application_id"])
        if not self.updates.still_current(application, fields["stage"]):
            return "skipped", "the application moved on; the newer stage has its own update"
        phone = fields.get("phone")
        if fields["channel"] == SMS_CHANNEL:
            if not phone or self.ledger.is_opted_out(phone):
                return "skipped", "the candidate opted out of texts (STOP)"
            self.ledger.remember_contact(item.conversation_id, phone)
        if self.updates.quiet_hours is not None:
            candidate = await self._ats(self.ats.get_candidate, fields["candidate_id"])
            zone = candidate_timezone(candidate, await self._ats(self.ats.company)) if candidate else "UTC"
            wake = self.updates.quiet_hours.next_allowed(now_utc(), zone)
            if wake > now_utc():  # a retry that drifted into the night waits for the morning again
                self._postpone(item, wake)
                return None
        output = output_channel_for(app, fields["channel"])
        await run_in_conversation(agent, item.conversation_id, UPDATE_ACTION, output, "status_updates",
                                  {UPDATE_SLOT: fields["application_id"]})
        if fields["channel"] == SMS_CHANNEL:
            SMS_QUEUED.ring()
        if not getattr(output, "messages", None) and fields["channel"] == SMS_CHANNEL:
            raise ATSUnavailable("the update action sent nothing (ATS unreachable from the action server?)")
        return "sent", None

    def _postpone(self, item: QueuedItem, until: dt.datetime) -> None:
        table = self.updates.updates.table
        with self.updates.engine.begin() as connection:
            connection.execute(table.update().where(table.c.id == item.id).values(
                status="pending", next_attempt_at=to_db(until), last_error="quiet hours"))

    def _purge_seen(self) -> None:
        clock = asyncio.get_running_loop().time()
        if self._last_purge is None or clock - self._last_purge >= PURGE_SEEN_SECONDS:
            self._last_purge = clock
            self.seen.purge()

    # --- stale applications --------------------------------------------------------------------------

    async def check_stale(self) -> None:
        if self.settings.stale_application_days <= 0:
            return
        clock = asyncio.get_running_loop().time()
        if self._last_stale_scan is not None and clock - self._last_stale_scan < self.settings.stale_check_minutes * 60:
            return
        self._last_stale_scan = clock
        try:
            company = await self._ats(self.ats.company)
            applications = await self._ats(self.ats.active_applications)
            today = dt.datetime.now(ZoneInfo(company.timezone)).date()
            stale = [a for a in applications if (today - a.stage_changed).days >= self.settings.stale_application_days]
            names = {}
            for application in stale:
                candidate = await self._ats(self.ats.get_candidate, application.candidate_id)
                names[application.candidate_id] = candidate.name if candidate else "A candidate"
        except ATSError as error:
            logger.warning("stale-application check skipped: %s", error)
            self._last_stale_scan = None  # try again next round
            return
        queued = self.updates.nudge_stale(stale, today, names)
        if queued:
            logger.info("stale-application check: %d new nudge(s) for recruiters", queued)

    async def deliver_nudges(self) -> None:
        assert self.slack is not None
        for item in self.updates.nudges.take_due():
            try:
                destination = await self._nudge_destination(item)
                if destination is None:
                    self.updates.nudges.finish(item.id, "skipped", "no recruiter DM and no SLACK_HANDOFF_CHANNEL")
                    continue
                posted = await self.slack.chat_postMessage(channel=destination, text=item.fields["body"],
                                                           unfurl_links=False)
            except Exception as error:  # Slack down or refusing: retried with backoff until the row's deadline
                self.updates.nudges.retry_later(item, slack_error(error))
                continue
            self.updates.nudges.finish(item.id, "sent", provider_id=posted.get("ts"))

    async def _nudge_destination(self, item: QueuedItem) -> str | None:
        assert self.slack is not None
        fields = item.fields
        direct = await recruiter_dm(self.slack, fields.get("recruiter_slack_id"), fields.get("recruiter_email"))
        return direct or self.settings.slack_handoff_channel
