"""Who is writing, as far as the channel can prove it. Identity is a gate, not a feature.

Only channels that verify their senders are trusted, and only for what they verify: the SMS
channel proves the sender's phone number (Twilio's signature covers the From field); the web
channel proves an email the careers site vouched for in a signed token; Slack, a profile email
Slack has confirmed. Anything a sender *says* about themselves ("I'm Priya", an email, an id)
never verifies them.

What a channel verified reaches the actions as message metadata, sealed: an HMAC, keyed with the
server key (CONVERSATION_ID_KEY), over the channel, the conversation id and the identity. The
actions believe an identity only with a valid seal for the very conversation they are answering,
so a tracker put together by anyone else (a call to the action server that did not come from our
channels, an identity copied into another conversation) proves nothing.
"""

from __future__ import annotations

import hashlib
import hmac
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
IDENTITY_SEAL_KEY = "identity_seal"


@dataclass(frozen=True)
class VerifiedSender:
    channel: str
    phone: str | None = None
    email: str | None = None


def identity_seal(key: str, channel: str, conversation_id: str, phone: str | None = None,
                  email: str | None = None) -> str:
    """The keyed check that binds a verified identity to one conversation on one channel."""
    message = "\x1f".join(("identity-seal-v1", channel, conversation_id, phone or "", email or ""))
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def verified_metadata(key: str, channel: str, conversation_id: str, phone: str | None = None,
                      email: str | None = None) -> dict[str, str]:
    """The metadata a channel attaches to a message whose sender it verified (empty when it verified nobody)."""
    if not phone and not email:
        return {}
    metadata = {VERIFIED_PHONE_KEY: phone} if phone else {VERIFIED_EMAIL_KEY: email}
    metadata[IDENTITY_SEAL_KEY] = identity_seal(key, channel, conversation_id, phone=phone, email=email)
    return metadata


def verified_sender(input_channel: str | None, metadata: dict[str, Any] | None, conversation_id: str,
                    key: str) -> VerifiedSender | None:
    """The proven identity behind a message in this conversation, or None when nothing proves it."""
    if not metadata or not input_channel:
        return None
    if input_channel in TRUSTED_EMAIL_CHANNELS:
        email = metadata.get(VERIFIED_EMAIL_KEY)
        if not isinstance(email, str) or "@" not in email or email != email.strip().lower():
            return None
        sender = VerifiedSender(channel=input_channel, email=email)
    elif input_channel in TRUSTED_PHONE_CHANNELS:
        phone = normalise_phone(metadata.get(VERIFIED_PHONE_KEY))
        if phone is None or phone != metadata.get(VERIFIED_PHONE_KEY):
            return None
        sender = VerifiedSender(channel=input_channel, phone=phone)
    else:
        return None
    seal = metadata.get(IDENTITY_SEAL_KEY)
    expected = identity_seal(key, input_channel, conversation_id, phone=sender.phone, email=sender.email)
    if not isinstance(seal, str) or not hmac.compare_digest(seal.encode(), expected.encode()):
        return None
    return sender if is_their_conversation(sender, conversation_id, key) else None


def is_their_conversation(sender: VerifiedSender, conversation_id: str, key: str) -> bool:
    """A second lock on the gate: our channels name a verified sender's conversation after what they verified
    (a keyed hash of the phone or email; Slack's of the Slack user, whose email the seal binds), so a proven
    identity turning up in any other conversation was not put there by our channel."""
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
