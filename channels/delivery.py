"""Messages the assistant sends on its own, from inside the Rasa server: reminders and the SMS outbox.

A background loop (started with the server) takes due rows from the durable queues in the state
database. A reminder runs `action_send_interview_reminder` in the candidate's conversation through
Rasa's own `execute_action`, under the conversation lock, with the output channel of the channel
the booking was made on; for SMS that output is the outbox, which the same loop then sends through
Twilio's REST API. Rows are claimed with a lease, so server replicas share the work and a restart
picks up whatever was left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import SlotSet
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.access import bearer_matches
from bot.clock import from_db, now_utc
from bot.outbox import STOPPING, QueuedItem, ReminderQueue, SmsOutbox
from bot.settings import Settings
from bot.sms import SmsLedger
from bot.store import open_state_db
from bot.twilio_api import TwilioMessagingAPI, TwilioSendError
from channels.configured import ConfiguredChannel

logger = logging.getLogger(__name__)
REMINDER_ACTION = "action_send_interview_reminder"
LOOP_STOP_SECONDS = 5.0
LOCK_WAIT_SECONDS = 5.0
RENEW_SECONDS = 4.0  # a third of the inbound claims' 12 s lease
# How long a message that came again waits for its first processing: within Twilio's 15 s webhook timeout, and
# past the 12 s leases of the SMS and web claims, so a claim whose server died is taken over within the wait.
REDELIVERY_WAIT_SECONDS = 14.0
T = TypeVar("T")


class Doorbell:
    """Wakes a delivery loop at once for work queued in this process; work from other processes
    (the action server) is found by the loop's polling."""

    everywhere: list[Doorbell] = []

    def __init__(self) -> None:
        self._event = asyncio.Event()
        Doorbell.everywhere.append(self)

    def ring(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation that arrives as the bell
        # rings (bpo-42130), which under load left a loop running after the server asked it to stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()
        self._event.clear()


@contextlib.asynccontextmanager
async def renewing(renew: Callable[[], None], every: float = RENEW_SECONDS) -> AsyncIterator[None]:
    """Renew a claim's lease every few seconds while the work under it runs, so that only a claim whose server
    died lapses (a slow answer under load must not be taken over and processed a second time)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            renew()

    task = asyncio.ensure_future(beat())
    try:
        yield
    finally:
        task.cancel()


async def first_processing(answer: Callable[[], T | None], take_over: Callable[[], bool],
                           poll: float) -> tuple[T | None, bool]:
    """For a message that came again (an SMS redelivered, a web message resent): (its first processing's answer,
    False) once there is one; (None, True) when this delivery took the message over because that processing's
    claim lapsed unanswered (its server died); (None, False) when it is still being answered after the wait."""
    deadline = time.monotonic() + REDELIVERY_WAIT_SECONDS
    while time.monotonic() < deadline:
        found = answer()
        if found is not None:
            return found, False
        if take_over():
            return None, True
        await asyncio.sleep(poll)
    return None, False


SMS_QUEUED = Doorbell()  # an SMS was put in the outbox
HANDOFF_WORK = Doorbell()  # a candidate message was handled, or Slack sent a click or a reply


def status_page(request: Request, settings: Settings, details: Callable[[], dict[str, Any]]) -> HTTPResponse:
    """A channel's GET /: "ok" to anyone (health checks, load balancers); which secrets are set and the queue
    counts only to the team that runs the assistant (OPS_TOKEN), as they tell an attacker what to aim at."""
    if not bearer_matches(request.headers.get("Authorization"), settings.ops_token):
        return response.json({"status": "ok"})
    return response.json({"status": "ok", **details()})


def run_with_server(blueprint: Blueprint, loop: Callable[[Sanic], Awaitable[None]]) -> None:
    """Run `loop(app)` as a background task from server start, cancelled when the server stops."""
    tasks: list[asyncio.Task] = []

    @blueprint.listener("after_server_start")
    async def start(app: Sanic, _loop) -> None:
        tasks.append(asyncio.ensure_future(loop(app)))

    @blueprint.listener("before_server_stop")
    async def stop(_app: Sanic, _loop) -> None:
        await stop_loops(tasks)
        tasks.clear()


def running() -> bool:
    """False once the server is stopping: background loops leave at their next turn."""
    return not STOPPING.is_set()


async def stop_loops(tasks: list[asyncio.Task], wait: float = LOOP_STOP_SECONDS) -> None:
    """Let each loop finish the row it is sending and leave (queues hand out no more rows once STOPPING is set);
    cancel what is still running after `wait` seconds, since a stopping server must not wait on it."""
    STOPPING.set()
    for bell in Doorbell.everywhere:
        bell.ring()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=wait)
    for task in pending:
        frames = task.get_stack(limit=1)
        where = f"{frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else "unknown"
        logger.warning("a background loop did not stop within %gs (at %s); cancelled", wait, where)
        task.cancel()


def output_channel_for(app: Sanic, channel_name: str | None) -> OutputChannel:
    """The output of the channel a conversation happens on, to send outside a reply to a message."""
    for channel in getattr(app.ctx, "input_channels", None) or []:
        if channel.name() == channel_name:
            output = channel.get_output_channel()
            if output is not None:
                return output
    return CollectingOutputChannel()  # recorded in the conversation; the channel cannot push messages


class ConversationBusy(Exception):
    """A conversation stayed locked past LOCK_WAIT_SECONDS: its row is tried again later."""


@contextlib.asynccontextmanager
async def conversation_lock(agent, conversation_id: str, wait: float = LOCK_WAIT_SECONDS) -> AsyncIterator[None]:
    """The conversation's lock, for work done from outside a message, waiting at most `wait` seconds for it: one
    busy conversation (a replica that died while answering holds its lock for Rasa's TICKET_LOCK_LIFETIME, 60 s)
    must not hold up every delivery queued behind it."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            async with asyncio.timeout(wait):
                await stack.enter_async_context(agent.lock_store.lock(conversation_id))
        except TimeoutError as error:  # our ticket was withdrawn on the way out of the cancelled wait
            raise ConversationBusy(f"conversation locked for over {wait:g}s") from error
        yield


async def run_in_conversation(agent, conversation_id: str, action: str, output: OutputChannel, policy: str,
                              slots: dict[str, Any]) -> None:
    """Run one of our actions in a conversation from outside a message (a reminder, a status update), under
    the conversation lock, with `slots` set first; then listen, so the candidate's answer is read as a reply to
    it (rules start from a listen: without it, "1" for a button of the message falls through to the fallback)."""
    async with conversation_lock(agent, conversation_id):
        tracker = await agent.processor.fetch_tracker_and_update_session(conversation_id, output)
        for name, value in slots.items():
            tracker.update(SlotSet(name, value))
        await agent.processor.save_tracker(tracker)
        await agent.execute_action(conversation_id, action, output, policy, 1.0)
        await agent.execute_action(conversation_id, ACTION_LISTEN_NAME, output, policy, 1.0)


class ScheduledDelivery(ConfiguredChannel):
    @classmethod
    def name(cls) -> str:
        return "scheduled"


    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        state = open_state_db(settings.state_database)
        self.reminders = ReminderQueue(state)
        self.outbox = SmsOutbox(state)
        self.ledger = SmsLedger(state)
        self.twilio = TwilioMessagingAPI.from_settings(settings)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        delivery = Blueprint("scheduled_delivery", __name__)

        @delivery.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return status_page(request, self.settings, lambda: {
                "reminders": self.reminders.counts(), "sms_outbox": self.outbox.counts(),
                "sms_sending": self.twilio is not None})

        if self.twilio is None:
            logger.warning("SMS sending is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                           "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID): out-of-band SMS wait in the "
                           "outbox (python -m bot outbox)")
        run_with_server(delivery, self._run)
        return delivery

    async def _run(self, app: Sanic) -> None:
        while running():
            await SMS_QUEUED.wait(self.settings.delivery_poll_seconds)
            try:
                agent = getattr(app.ctx, "agent", None)
                if agent is not None and agent.is_ready():
                    await self.deliver_reminders(app, agent)
                if self.twilio is not None:
                    await self.deliver_sms()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("delivery loop: this round failed; the next one retries")

    # --- reminders -------------------------------------------------------------------------------

    async def deliver_reminders(self, app: Sanic, agent) -> None:
        for item in self.reminders.take_due():
            if now_utc() >= from_db(item.fields["give_up_at"]):
                self.reminders.finish(item.id, "skipped", "the interview has started")
                continue
            try:
                sent = await self._remind(app, agent, item)
            except Exception as error:
                logger.warning("reminder %s for %s failed (%s); will retry", item.id, item.conversation_id,
                               type(error).__name__)
                self.reminders.retry_later(item, type(error).__name__)
                continue
            self.reminders.finish(item.id, "sent" if sent else "skipped",
                                  None if sent else "booking no longer current")

    async def _remind(self, app: Sanic, agent, item: QueuedItem) -> bool:
        output = output_channel_for(app, item.fields.get("channel"))
        await run_in_conversation(agent, item.conversation_id, REMINDER_ACTION, output, "reminder_scheduler", {
            "reminder_booking": item.fields["booking_id"], "reminder_lead_minutes": float(item.fields["lead_minutes"])})
        return bool(getattr(output, "messages", None))

    # --- SMS outbox ------------------------------------------------------------------------------

    async def deliver_sms(self) -> None:
        assert self.twilio is not None
        for item in self.outbox.take_due():
            phone = item.fields["phone"]
            if self.ledger.is_opted_out(phone):
                self.outbox.finish(item.id, "skipped", "recipient opted out (STOP)")
                continue
            try:
                sid = await self.twilio.send(phone, item.fields["body"])
            except TwilioSendError as error:
                if error.retryable:
                    self.outbox.retry_later(item, str(error))
                else:
                    logger.error("SMS %s for %s not sent: %s", item.id, item.conversation_id, error)
                    self.outbox.finish(item.id, "failed", str(error))
                continue
            self.outbox.finish(item.id, "sent", provider_id=sid)
