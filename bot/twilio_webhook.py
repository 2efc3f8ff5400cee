"""Sending a message to the SMS webhook exactly as Twilio does: form-encoded and signed.

Used by the CLI (`python -m bot sms send`), the tests and the benchmark. The signature comes from
the twilio library's own RequestValidator, the reference implementation of Twilio's scheme.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET

from twilio.request_validator import RequestValidator


def inbound_params(sender: str, body: str, to: str = "+16175550000", message_sid: str | None = None) -> dict:
    return {
        "MessageSid": message_sid or "SM" + secrets.token_hex(16),
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
    }


def signature_for(url: str, params: dict, auth_token: str) -> str:
    return RequestValidator(auth_token).compute_signature(url, params)


def twiml_messages(twiml: str) -> list[str]:
    """The text of each <Message> in a TwiML response."""
    root = ET.fromstring(twiml)  # noqa: S314 - our own server's response, not untrusted input
    return ["".join(message.itertext()).strip() for message in root.iter("Message")]
