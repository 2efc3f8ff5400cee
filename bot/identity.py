"""Who is writing, as far as the channel can prove it. Identity is a gate, not a feature.

Only channels that verify their senders are trusted, and only for what they verify: the SMS
channel proves the sender's phone number (Twilio's signature covers the From field); the web
channel proves an email the careers site vouched for in a signed token; Slack, a profile email
Slack has confirmed. Anything a
sender *says* about themselves ("I'm Priya", an email, an id) never verifies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.ats.base import ATS, Candidate
from bot.phone import normalise_phone

# The metadata keys our own channels set from what they verified; a client cannot set them (each
# channel builds its metadata itself), and each is trusted only from the channel that proves it.
VERIFIED_PHONE_KEY = "verified_phone"
TRUSTED_PHONE_CHANNELS = frozenset({"twilio"})
VERIFIED_EMAIL_KEY = "verified_email"
TRUSTED_EMAIL_CHANNELS = frozenset({"web", "slack"})


@dataclass(frozen=True)
class VerifiedSender:
    channel: str
    phone: str | None = None
    email: str | None = None


def verified_sender(input_channel: str | None, metadata: dict[str, Any] | None) -> VerifiedSender | None:
    """The proven identity behind a message, or None when the channel proves nothing."""
    if not metadata:
        return None
    if input_channel in TRUSTED_EMAIL_CHANNELS:
        email = metadata.get(VERIFIED_EMAIL_KEY)
        if not isinstance(email, str) or "@" not in email:
            return None
        return VerifiedSender(channel=input_channel, email=email.strip().lower())
    if input_channel not in TRUSTED_PHONE_CHANNELS:
        return None
    phone = normalise_phone(metadata.get(VERIFIED_PHONE_KEY))
    if phone is None or phone != metadata.get(VERIFIED_PHONE_KEY):
        return None
    return VerifiedSender(channel=input_channel, phone=phone)


def is_their_conversation(sender: VerifiedSender, conversation_id: str, key: str) -> bool:
    """A second lock on the gate: our channels name a verified sender's conversation after what they verified
    (a keyed hash of the phone or email; Slack's from the Slack user), so a proven identity turning up in any
    other conversation was not put there by our channel."""
    from bot.sms import conversation_id_for
    from bot.webchat import visitor_for

    if sender.channel in TRUSTED_PHONE_CHANNELS:
        return sender.phone is not None and conversation_id == conversation_id_for(sender.phone, key)
    if sender.channel == "web":
        return sender.email is not None and conversation_id == visitor_for(sender.email, None, key).conversation_id
    if sender.channel == "slack":
        return conversation_id.startswith("slack-")
    return False


def find_verified_candidate(ats: ATS, sender: VerifiedSender) -> Candidate | None:
    """The ATS candidate this sender is proven to be, or None."""
    if sender.phone:
        return ats.find_candidate_by_phone(sender.phone)
    if sender.email:
        return ats.find_candidate_by_email(sender.email)
    return None
