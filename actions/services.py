"""The handles actions share (ATS, handoff log), opened once per action-server process."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.ats import ATS, open_ats
from bot.email_codes import CodeLimits, CodeMail, CodeSender, EmailCodes, Mailer
from bot.handoff import HandoffDesk, handoff_rules
from bot.identity import VERIFIED_EMAIL_KEY, VERIFIED_PHONE_KEY, VerifiedSender, verified_sender
from bot.knowledge import KnowledgeBase, KnowledgeError
from bot.outbox import ReminderQueue
from bot.rate_limits import CLIENT_KEY, RateLimiter
from bot.replies import Reply
from bot.scheduling import SchedulingRules
from bot.settings import Settings
from bot.sms import conversation_id_for
from bot.status_updates import StatusUpdates
from bot.store import open_state_db

logger = logging.getLogger(__name__)
CLIENT_KEY_FORMAT = re.compile(r"^[0-9a-f]{16,64}$")  # bot/rate_limits.py client_key_for: hex of an HMAC


@dataclass
class Services:
    settings: Settings
    ats: ATS
    state: sa.engine.Engine
    knowledge: KnowledgeBase | None  # None while the knowledge file cannot be loaded at all
    reminders: ReminderQueue
    email_codes: EmailCodes | None = None
    mailer: Mailer | None = None
    status_updates: StatusUpdates | None = None
    _desks: dict[str, HandoffDesk] = field(default_factory=dict)
    _code_sender: CodeSender | None = None
    _rate_limiter: RateLimiter | None = None

    @property
    def code_sender(self) -> CodeSender:
        """The background sender of verification codes, one per action-server process."""
        if self._code_sender is None:
            self._code_sender = CodeSender(codes=self.email_codes, mail=CodeMail(self.state), ats=self.ats,
                                           mailer=self.mailer)
        return self._code_sender

    @property
    def rate_limiter(self) -> RateLimiter:
        """One per process, as the channels have theirs: it also sweeps ended windows every so many hits."""
        if self._rate_limiter is None:
            self._rate_limiter = RateLimiter(self.state, self.settings)
        return self._rate_limiter

    def handoff_desk(self, company_timezone: str | None = None) -> HandoffDesk:
        """The handoff desk, with business hours in the company's zone (any desk will do to relay)."""
        zone = company_timezone or next(iter(self._desks), "UTC")
        if zone not in self._desks:
            self._desks[zone] = HandoffDesk(self.state, handoff_rules(self.settings, zone))
        return self._desks[zone]

    @property
    def scheduling_rules(self) -> SchedulingRules:
        return SchedulingRules(
            min_notice=dt.timedelta(hours=self.settings.booking_min_notice_hours),
            horizon=dt.timedelta(days=self.settings.booking_horizon_days),
            offer_count=self.settings.booking_offer_count,
            reminders=self.settings.reminder_offsets,
        )

    def knowledge_base(self) -> KnowledgeBase | None:
        """The knowledge base; if it could not be loaded at start-up, try again (the file may be fixed)."""
        if self.knowledge is None:
            self.knowledge = _open_knowledge(self.settings)
        return self.knowledge

    def today(self, timezone: str) -> dt.date:
        return dt.datetime.now(ZoneInfo(timezone)).date()


_services: Services | None = None


def services() -> Services:
    global _services
    if _services is None:
        settings = Settings.from_env()
        state = open_state_db(settings.state_database)
        _services = Services(
            settings=settings,
            ats=open_ats(settings),
            state=state,
            email_codes=EmailCodes(state, settings.conversation_id_key,
                                   dt.timedelta(minutes=settings.email_code_minutes),
                                   limits=CodeLimits.from_settings(settings)),
            mailer=Mailer(settings),
            knowledge=_open_knowledge(settings),
            reminders=ReminderQueue(state),
            status_updates=StatusUpdates(state, settings,
                                         lambda phone: conversation_id_for(phone, settings.conversation_id_key)),
        )
    return _services


def _open_knowledge(settings: Settings) -> KnowledgeBase | None:
    try:
        return KnowledgeBase(settings.knowledge_file, threshold=settings.knowledge_threshold)
    except KnowledgeError as error:
        logger.error("knowledge base unavailable: %s", error)
        return None


def reset_services() -> None:
    """Forget the opened handles, so the next action reads settings afresh (tests, reloads)."""
    global _services
    _services = None


def sender_of(tracker: Tracker) -> VerifiedSender | None:
    metadata: dict[str, Any] = (tracker.latest_message or {}).get("metadata") or {}
    channel = tracker.get_latest_input_channel()
    sender = verified_sender(channel, metadata, tracker.sender_id, services().settings.conversation_id_key)
    if sender is None and any(key in metadata for key in (VERIFIED_PHONE_KEY, VERIFIED_EMAIL_KEY)):
        logger.warning("conversation %s: an identity without a valid seal for this conversation; treated as "
                       "unverified", tracker.sender_id)
    if sender is None and channel == "web":
        # Verified in this chat by an email code; the server named the conversation, so it is theirs.
        codes = services().email_codes
        email = codes.verified_email(tracker.sender_id) if codes else None
        if email:
            return VerifiedSender(channel="web", email=email)
    return sender


def client_key_of(tracker: Tracker) -> str | None:
    """The pseudonym of the client's network address that the web and REST channels attach, if any."""
    key = ((tracker.latest_message or {}).get("metadata") or {}).get(CLIENT_KEY)
    return key if isinstance(key, str) and CLIENT_KEY_FORMAT.match(key) else None


def remember_contact(tracker: Tracker, candidate_id: str) -> None:
    """Where a verified candidate last wrote from: proactive status updates go there."""
    updates = services().status_updates
    channel = tracker.get_latest_input_channel()
    if updates is None or not channel:
        return
    try:
        updates.record_contact(candidate_id, channel, tracker.sender_id)
    except sa.exc.SQLAlchemyError as error:  # the answer matters more than the bookkeeping
        logger.warning("could not record the contact channel (%s)", type(error).__name__)


def send(dispatcher: CollectingDispatcher, replies: tuple[Reply, ...] | list[Reply]) -> None:
    for reply in replies:
        dispatcher.utter_message(
            text=reply.text,
            buttons=[{"title": button.title, "payload": button.payload} for button in reply.buttons] or None,
        )
