"""SMS conversation rules that do not depend on Rasa: carrier keywords, numbered choices, TwiML.

The ledger is durable (SQLite) because Twilio redelivers webhooks, carriers require opt-outs to
be honoured forever, and a numbered choice must survive a restart between question and answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from twilio.twiml.messaging_response import MessagingResponse

from bot.store import state_metadata

# Twilio's and the CTIA's standard keywords; a message must be exactly the keyword to count.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
OPT_IN_WHEN_OPTED_OUT = frozenset({"YES"})  # "yes" is an ordinary answer unless the number opted out
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
SMS_BODY_LIMIT = 1600  # Twilio's maximum for one message body
# Every channel's cap on one candidate message; a longer one is answered with TOO_LONG_REPLY, never cut short.
MAX_MESSAGE_CHARS = 2000
TOO_LONG_REPLY = ("That message is too long for me to read. Please send it in shorter parts "
                  "(up to 2,000 characters).")
# An answer takes a few seconds even under load, and Twilio stops waiting at 15 s: a claim unanswered for
# longer than this belongs to a process that died, and a redelivery may process the message again.
CLAIM_LEASE = dt.timedelta(seconds=12)

inbound_sms = sa.Table(
    "sms_inbound", state_metadata,
    sa.Column("message_sid", sa.String, primary_key=True),
    sa.Column("conversation_id", sa.String, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("response_twiml", sa.Text),  # NULL while the first delivery is still being answered
)
sms_opt_outs = sa.Table(
    "sms_opt_outs", state_metadata,
    sa.Column("phone", sa.String, primary_key=True),
    sa.Column("opted_out_at", sa.DateTime, nullable=False),
)
sms_choices = sa.Table(
    "sms_choices", state_metadata,
    sa.Column("conversation_id", sa.String, primary_key=True),
    sa.Column("choices", sa.Text, nullable=False),  # JSON list of {"title", "payload"}
    sa.Column("offered_at", sa.DateTime, nullable=False),
)
sms_contacts = sa.Table(
    "sms_contacts", state_metadata,
    sa.Column("conversation_id", sa.String, primary_key=True),
    sa.Column("phone", sa.String, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def conversation_id_for(phone_e164: str, key: str) -> str:
    """A stable, pseudonymous conversation id, so phone numbers stay out of Rasa's logs and ids."""
    digest = hmac.new(key.encode(), phone_e164.encode(), hashlib.sha256).hexdigest()
    return f"sms-{digest[:24]}"


def clean_inbound_text(body: str) -> str:
    """Normalise odd Unicode (full-width letters, NBSP), drop control characters. Not cut short: a message over
    MAX_MESSAGE_CHARS is answered with TOO_LONG_REPLY (`is_too_long`), since half a question is misread."""
    text = unicodedata.normalize("NFKC", body)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return text.strip()


def is_too_long(text: str) -> bool:
    return len(text) > MAX_MESSAGE_CHARS


def keyword_of(text: str) -> str | None:
    """The carrier keyword this message is, if it is only that word ("Stop." counts)."""
    word = re.sub(r"[^\w]", "", text).upper()
    if word in OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS | OPT_IN_WHEN_OPTED_OUT | HELP_KEYWORDS:
        return word
    return None


_CHOICE = re.compile(r"^\s*(?:#|no\.?|option|choice)?\s*(\d{1,2})\s*[.)!]?\s*$", re.IGNORECASE)


def choice_number(text: str) -> int | None:
    match = _CHOICE.match(text)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Claim:
    is_new: bool
    stored_response: str | None = None


class SmsLedger:
    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

    # --- Twilio redelivery: each MessageSid is answered once --------------------------------------
    def claim(self, message_sid: str, conversation_id: str) -> Claim:
        try:
            with self.engine.begin() as connection:
                connection.execute(inbound_sms.insert().values(
                    message_sid=message_sid, conversation_id=conversation_id, received_at=_now(),
                ))
            return Claim(is_new=True)
        except IntegrityError:
            if self.take_over(message_sid):
                return Claim(is_new=True)
            return Claim(is_new=False, stored_response=self.stored_response(message_sid))

    def take_over(self, message_sid: str, lease: dt.timedelta = CLAIM_LEASE) -> bool:
        """Claim again a message whose first claim is still unanswered past the lease: the process answering it
        died (a replica killed mid-message), so the redelivery is processed instead of answered empty."""
        with self.engine.begin() as connection:
            taken = connection.execute(inbound_sms.update().where(
                inbound_sms.c.message_sid == message_sid, inbound_sms.c.response_twiml.is_(None),
                inbound_sms.c.received_at < _now() - lease).values(received_at=_now()))
        return taken.rowcount == 1

    def renew(self, message_sid: str) -> None:
        """Keep an unanswered claim fresh while its message is being answered: a slow answer is not a dead one."""
        with self.engine.begin() as connection:
            connection.execute(inbound_sms.update().where(
                inbound_sms.c.message_sid == message_sid, inbound_sms.c.response_twiml.is_(None)
            ).values(received_at=_now()))

    def stored_response(self, message_sid: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(inbound_sms.c.response_twiml).where(inbound_sms.c.message_sid == message_sid)
            ).scalar_one_or_none()

    def record_response(self, message_sid: str, twiml: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(inbound_sms.update().where(inbound_sms.c.message_sid == message_sid)
                               .values(response_twiml=twiml))

    def release(self, message_sid: str) -> None:
        """Forget a claim whose processing failed, so Twilio's redelivery is processed afresh."""
        with self.engine.begin() as connection:
            connection.execute(inbound_sms.delete().where(inbound_sms.c.message_sid == message_sid))

    # --- opt-outs ---------------------------------------------------------------------------------
    def is_opted_out(self, phone: str) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(sms_opt_outs.c.phone).where(sms_opt_outs.c.phone == phone)
            ).first() is not None

    def opt_out(self, phone: str) -> None:
        with self.engine.begin() as connection:
            if not connection.execute(sa.select(sms_opt_outs.c.phone).where(sms_opt_outs.c.phone == phone)).first():
                connection.execute(sms_opt_outs.insert().values(phone=phone, opted_out_at=_now()))

    def opt_in(self, phone: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sms_opt_outs.delete().where(sms_opt_outs.c.phone == phone))

    # --- numbered choices ---------------------------------------------------------------------------
    def offer_choices(self, conversation_id: str, buttons: list[dict[str, Any]]) -> None:
        with self.engine.begin() as connection:
            connection.execute(sms_choices.delete().where(sms_choices.c.conversation_id == conversation_id))
            if buttons:
                connection.execute(sms_choices.insert().values(
                    conversation_id=conversation_id, offered_at=_now(),
                    choices=json.dumps([{"title": b.get("title", ""), "payload": b.get("payload", "")}
                                        for b in buttons]),
                ))

    def chosen_payload(self, conversation_id: str, number: int) -> str | None:
        with self.engine.connect() as connection:
            raw = connection.execute(
                sa.select(sms_choices.c.choices).where(sms_choices.c.conversation_id == conversation_id)
            ).scalar_one_or_none()
        if raw is None:
            return None
        choices = json.loads(raw)
        if 1 <= number <= len(choices):
            return choices[number - 1]["payload"] or choices[number - 1]["title"]
        return None

    # --- where to reach a conversation out of band (recruiter replies, reminders) -----------------
    def remember_contact(self, conversation_id: str, phone: str) -> None:
        with self.engine.begin() as connection:
            updated = connection.execute(sms_contacts.update().where(sms_contacts.c.conversation_id == conversation_id)
                                         .values(phone=phone, last_seen=_now()))
            if updated.rowcount == 0:
                connection.execute(sms_contacts.insert().values(
                    conversation_id=conversation_id, phone=phone, last_seen=_now()))

    def phone_for(self, conversation_id: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(sms_contacts.c.phone).where(sms_contacts.c.conversation_id == conversation_id)
            ).scalar_one_or_none()


def keyword_reply(keyword: str, program_name: str, help_contact: str | None) -> str:
    if keyword in OPT_OUT_KEYWORDS:
        return (f"{program_name}: you're unsubscribed and won't get more messages from us. "
                "Reply START to subscribe again.")
    if keyword in OPT_IN_KEYWORDS | OPT_IN_WHEN_OPTED_OUT:
        return (f"{program_name}: you're subscribed again. Ask me where your application stands any time. "
                "Reply HELP for help, STOP to unsubscribe.")
    contact = f" For anything else, email {help_contact}." if help_contact else ""
    return (f"{program_name}: I can tell you where your application stands and answer questions about "
            f"our roles and hiring process.{contact} Msg & data rates may apply. Reply STOP to unsubscribe.")


# The GSM 03.38 alphabet (basic set and extension). One character outside it switches a whole SMS to
# UCS-2, 70 characters a segment instead of 160, so our own wording stays inside it.
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


def is_gsm7(text: str) -> bool:
    return all(character in GSM7 for character in text)


def _split(text: str, limit: int = SMS_BODY_LIMIT) -> list[str]:
    parts = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    parts.append(text)
    return parts


def _with_choices(message: dict[str, Any]) -> str:
    """A bot message's text with its buttons as a numbered list ("Reply with a number: 1 - ...")."""
    text = (message.get("text") or "").strip()
    buttons = message.get("buttons") or []
    if not buttons:
        return text
    numbered = "\n".join(f"{n} - {b.get('title', '')}" for n, b in enumerate(buttons, start=1))
    return f"{text}\nReply with a number:\n{numbered}" if text else f"Reply with a number:\n{numbered}"


def offered_choices(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The buttons a numbered reply refers to: when several messages carry buttons, the last set wins,
    since that is the question the candidate is answering."""
    return next((m["buttons"] for m in reversed(messages) if m.get("buttons")), [])


def sms_bodies(messages: list[dict[str, Any]]) -> list[str]:
    """Rasa's bot messages as SMS bodies for the REST API (an image goes as its link)."""
    bodies = []
    for message in messages:
        text = "\n".join(part for part in (_with_choices(message), message.get("image") or "") if part)
        bodies.extend(_split(text) if text else [])
    return bodies


def render_twiml(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Rasa's collected bot messages as one TwiML document, and the buttons it offered by number."""
    response = MessagingResponse()
    for message in messages:
        text = _with_choices(message)
        image = message.get("image")
        if not text and not image:
            continue
        chunks = _split(text) if text else [""]
        for index, chunk in enumerate(chunks):
            twiml_message = response.message(chunk)
            if image and index == len(chunks) - 1:
                twiml_message.media(image)
    return str(response), offered_choices(messages)
