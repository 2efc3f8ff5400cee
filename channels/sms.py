"""SMS through Twilio: POST /webhooks/twilio/webhook, answered in-band with TwiML.

Every request must carry a valid X-Twilio-Signature for TWILIO_AUTH_TOKEN over the public webhook
URL (TWILIO_WEBHOOK_URL when the server sits behind a proxy); anything else gets 403 and is not
processed. The sender's number, proven by that signature, travels to the actions as metadata.
Messages the bot sends on its own (reminders) go out through `TwilioOutbound`: into the durable
SMS outbox, which the delivery loop (channels/delivery.py) sends with Twilio's REST API.
A texter over RATE_LIMIT_MESSAGES_PER_MINUTE, or a text over 2,000 characters, gets a polite reply without
reaching Rasa (bot/rate_limits.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.ats import ATSUnavailable, open_ats
from bot.identity import verified_metadata
from bot.outbox import SmsOutbox
from bot.phone import normalise_phone
from bot.rate_limits import RATE_LIMITED_REPLY, RateLimiter
from bot.settings import Settings
from bot.sms import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_IN_WHEN_OPTED_OUT,
    OPT_OUT_KEYWORDS,
    TOO_LONG_REPLY,
    SmsLedger,
    choice_number,
    clean_inbound_text,
    conversation_id_for,
    is_too_long,
    keyword_of,
    keyword_reply,
    offered_choices,
    render_twiml,
    sms_bodies,
)
from bot.store import open_state_db
from channels.configured import safe_settings
from channels.delivery import HANDOFF_WORK, SMS_QUEUED, first_processing, renewing

logger = logging.getLogger(__name__)
TWIML = "application/xml"
SORRY = ("Sorry, something went wrong on our side and I couldn't answer that. Please try again in a few "
         "minutes, or reply HELP for other ways to reach us.")


def _twiml(body: str, status: int = 200) -> HTTPResponse:
    return response.text(body, status=status, content_type=TWIML)


def _form_fields(request: Request) -> dict[str, str]:
    """The form as Twilio signed it: blank fields kept (a picture-only MMS has Body=""), one value each."""
    if not (request.content_type or "").startswith("application/x-www-form-urlencoded"):
        return {}
    parsed = parse_qs((request.body or b"").decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def _single_message(text: str | None) -> str:
    reply = MessagingResponse()
    if text:
        reply.message(text)
    return str(reply)


class TwilioSMSInput(InputChannel):
    """Twilio Programmable Messaging webhook, verified and idempotent per MessageSid."""

    @classmethod
    def name(cls) -> str:
        return "twilio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        settings = safe_settings()
        return cls(
            settings=settings,
            auth_token=credentials.get("auth_token") or settings.twilio_auth_token,
            webhook_url=credentials.get("webhook_url") or settings.twilio_webhook_url,
        )

    def __init__(self, settings: Settings, auth_token: str | None, webhook_url: str | None = None) -> None:
        if not auth_token:
            raise ValueError("The SMS channel needs TWILIO_AUTH_TOKEN to verify Twilio's signatures.")
        self.settings = settings
        self.validator = RequestValidator(auth_token)
        self.webhook_url = webhook_url
        state = open_state_db(settings.state_database)
        self.ledger = SmsLedger(state)
        self.outbox = SmsOutbox(state)
        self.limiter = RateLimiter(state, settings)
        self._program_name: str | None = None
        self._help_contact: str | None = None

    def _program(self) -> tuple[str, str | None]:
        if self._program_name is None:
            try:
                company = open_ats(self.settings, load_seed=False).company()
                self._program_name, self._help_contact = f"{company.name} Careers", company.careers_email
            except (ATSUnavailable, ValueError):
                return "Careers Assistant", None  # not cached: the ATS may be back next time
        return self._program_name, self._help_contact

    def get_output_channel(self) -> TwilioOutbound:
        return TwilioOutbound(self.ledger, self.outbox)

    def _signature_is_valid(self, request: Request, form: dict[str, str]) -> bool:
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:
            return False
        url = self.webhook_url or request.url
        return self.validator.validate(url, form, signature)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sms_webhook = Blueprint("twilio_sms_webhook", __name__)

        @sms_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sms_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            form = _form_fields(request)
            if not self._signature_is_valid(request, form):
                logger.warning("SMS webhook: missing or invalid X-Twilio-Signature, request refused")
                return response.text("invalid signature", status=403)
            sender = normalise_phone(form.get("From"))
            message_sid = form.get("MessageSid") or form.get("SmsSid")
            if sender is None or not message_sid:
                return response.text("From must be a phone number and MessageSid is required", status=400)
            conversation_id = conversation_id_for(sender, self.settings.conversation_id_key)

            claim = self.ledger.claim(message_sid, conversation_id)
            if not claim.is_new:
                # Twilio redelivers when it gave up waiting, and drops the first answer: give it that answer,
                # waiting a little if it is still being made, but never process the message twice.
                logger.info("SMS %s redelivered for %s; not processed again", message_sid, conversation_id)
                first = await self._first_answer(message_sid, claim.stored_response)
                if first is not None:
                    return _twiml(first)
                logger.warning("SMS %s: its first delivery was never answered (a server died?); processing it now",
                               message_sid)
            try:
                async with renewing(lambda: self.ledger.renew(message_sid)):
                    twiml = await self._answer(form.get("Body") or "", sender, conversation_id,
                                               message_sid, on_new_message)
            except Exception:
                logger.exception("SMS %s for %s could not be answered", message_sid, conversation_id)
                self.ledger.release(message_sid)
                return _twiml(_single_message(SORRY))
            self.ledger.record_response(message_sid, twiml)
            return _twiml(twiml)

        return sms_webhook

    async def _first_answer(self, message_sid: str, stored: str | None) -> str | None:
        """The first delivery's answer; None when its process died and this delivery took the message over."""
        if stored is not None:
            return stored
        stored, taken_over = await first_processing(lambda: self.ledger.stored_response(message_sid),
                                                    lambda: self.ledger.take_over(message_sid), poll=0.1)
        return None if taken_over else stored or _single_message(None)

    async def _answer(self, body: str, sender: str, conversation_id: str, message_sid: str,
                      on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> str:
        self.ledger.remember_contact(conversation_id, sender)
        text = clean_inbound_text(body)
        keyword = keyword_of(text)
        opted_out = self.ledger.is_opted_out(sender)
        program, help_contact = self._program()

        if keyword in OPT_OUT_KEYWORDS:
            self.ledger.opt_out(sender)
            reply = None if self.settings.twilio_manages_opt_out else keyword_reply(keyword, program, help_contact)
            return _single_message(reply)
        if keyword in OPT_IN_KEYWORDS or (keyword in OPT_IN_WHEN_OPTED_OUT and opted_out):
            self.ledger.opt_in(sender)
            reply = None if self.settings.twilio_manages_opt_out else keyword_reply(keyword, program, help_contact)
            return _single_message(reply)
        if keyword in HELP_KEYWORDS:
            return _single_message(keyword_reply(keyword, program, help_contact))
        if opted_out:
            # Carriers forbid messaging an opted-out number until it texts START.
            logger.info("SMS %s from an opted-out number; not answered", message_sid)
            return _single_message(None)
        # After STOP/START/HELP, which carriers require to work always; a redelivery never gets here (the ledger).
        if not self.limiter.message(conversation_id).allowed:
            logger.info("SMS %s for %s over the message limit; not processed", message_sid, conversation_id)
            return _single_message(RATE_LIMITED_REPLY)
        if is_too_long(text):
            return _single_message(TOO_LONG_REPLY)
        if not text:
            return _single_message("I can only read text messages. What would you like to know?")

        number = choice_number(text)
        if number is not None:
            text = self.ledger.chosen_payload(conversation_id, number) or text

        collector = CollectingOutputChannel()
        sealed = verified_metadata(self.settings.conversation_id_key, self.name(), conversation_id, phone=sender)
        await on_new_message(UserMessage(text, collector, conversation_id, input_channel=self.name(),
                                         metadata={**sealed, "message_sid": message_sid}))
        HANDOFF_WORK.ring()  # the message may be for a recruiter: relay it now rather than at the next poll
        twiml, offered = render_twiml(collector.messages)
        self.ledger.offer_choices(conversation_id, offered)
        return twiml


class TwilioOutbound(CollectingOutputChannel):
    """Bot messages outside a reply to an inbound text: queued in the SMS outbox, numbered choices kept."""

    @classmethod
    def name(cls) -> str:
        return "twilio"

    def __init__(self, ledger: SmsLedger, outbox: SmsOutbox) -> None:
        super().__init__()
        self.ledger = ledger
        self.outbox = outbox

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message(message)
        conversation_id = message["recipient_id"]
        phone = self.ledger.phone_for(conversation_id)
        if phone is None:
            logger.warning("no phone number known for %s; message not queued", conversation_id)
            return
        self.outbox.enqueue(conversation_id, phone, sms_bodies([message]))
        SMS_QUEUED.ring()
        if offered_choices([message]):
            self.ledger.offer_choices(conversation_id, offered_choices([message]))
