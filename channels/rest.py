"""Rasa's REST channel for local tools (curl, scripts), proving nothing about who is writing.

Rasa's own RestInput takes `input_channel` and `metadata` from the request body, so a caller could name
our SMS channel and a "verified" phone number and be treated as that candidate. Here both are fixed: the
channel is always "rest" and no client metadata reaches the conversation, so the identity gate
(bot/identity.py) never sees a REST sender as verified. Its conversations are prefixed "rest-", so a caller
cannot write into a candidate's SMS, web or Slack conversation by naming its id.
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels.rest import RestInput
from sanic.request import Request


class LocalRest(RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"

    async def _extract_sender(self, req: Request) -> str | None:
        sender = await super()._extract_sender(req)
        return f"rest-{sender}" if sender else None

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        return None
