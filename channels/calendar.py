"""Calendar invites by link: GET /webhooks/calendar/invite/<token>.ics.

The token is an unguessable random string made at booking time and shown only to the candidate,
so the link works from any calendar app without a login. A moved interview keeps its link and
serves the new time (same UID, higher SEQUENCE). A cancelled one answers 404, as does any link
INVITE_LINK_DAYS_AFTER days after its interview ended (bot/invite.py, invite_link_open).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.ats import ATSUnavailable, call_ats, open_ats
from bot.clock import now_utc
from bot.invite import interview_invite, invite_link_open
from bot.settings import Settings
from channels.configured import ConfiguredChannel

logger = logging.getLogger(__name__)


class CalendarInvites(ConfiguredChannel):
    @classmethod
    def name(cls) -> str:
        return "calendar"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ats = open_ats(settings, load_seed=False)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        invites = Blueprint("calendar_invites", __name__)

        @invites.route("/invite/<token:str>", methods=["GET"])
        async def invite(_: Request, token: str) -> HTTPResponse:
            token = token.removesuffix(".ics")
            if not token or len(token) > 64:
                return response.text("not found", status=404)
            try:
                booking = await call_ats(self.ats.booking_for_invite, token, timeout=self.settings.ats_timeout_seconds)
                company = await call_ats(self.ats.company, timeout=self.settings.ats_timeout_seconds)
            except ATSUnavailable:
                return response.text("the scheduling system is unavailable, please try again shortly", status=503)
            if not invite_link_open(booking, now=now_utc(), days_after=self.settings.invite_link_days_after):
                return response.text("not found", status=404)  # the same answer as a token never issued
            return response.raw(interview_invite(booking, company), content_type="text/calendar; charset=utf-8",
                                headers={"Content-Disposition": 'attachment; filename="interview.ics"',
                                         "Cache-Control": "no-store"})

        return invites
