"""Sending SMS through Twilio's REST API (POST /2010-04-01/Accounts/{AccountSid}/Messages.json).

Used for messages that are not a reply to an inbound text (reminders, and later recruiter replies).
The base URL is configurable (TWILIO_API_BASE_URL) so tests and staging can point at a fake server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from bot.settings import Settings

# Twilio error codes that will not change on a retry: the number cannot receive, or has opted out.
PERMANENT_ERRORS = {21211, 21408, 21610, 21612, 21614, 30004, 30005, 30006}


class TwilioSendError(Exception):
    def __init__(self, message: str, retryable: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


@dataclass(frozen=True)
class TwilioMessagingAPI:
    account_sid: str
    auth_token: str
    base_url: str = "https://api.twilio.com"
    from_number: str | None = None
    messaging_service_sid: str | None = None
    timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioMessagingAPI | None:
        if not settings.sms_sending_configured:
            return None
        return cls(account_sid=settings.twilio_account_sid or "", auth_token=settings.twilio_auth_token or "",
                   base_url=settings.twilio_api_base_url, from_number=settings.twilio_from_number,
                   messaging_service_sid=settings.twilio_messaging_service_sid)

    async def send(self, to: str, body: str) -> str:
        """Send one message; returns Twilio's message SID. Raises TwilioSendError (retryable or not)."""
        form = {"To": to, "Body": body}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = self.from_number or ""
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
            auth = aiohttp.BasicAuth(self.account_sid, self.auth_token)
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.post(url, data=form, auth=auth) as response:
                payload = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise TwilioSendError(f"Twilio API unreachable: {type(error).__name__}", retryable=True) from error
        if status in (200, 201) and isinstance(payload, dict) and payload.get("sid"):
            return str(payload["sid"])
        code = payload.get("code") if isinstance(payload, dict) else None
        retryable = status in (401, 429) or status >= 500  # 401: fixed credentials deliver what waited
        if code in PERMANENT_ERRORS:
            retryable = False
        raise TwilioSendError(f"Twilio API answered {status} (code {code})", retryable=retryable, code=code)
