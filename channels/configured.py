"""Channels configured from the environment (bot/settings.py) rather than from credentials.yml values."""

from __future__ import annotations

from typing import Any

from rasa.core.channels.channel import InputChannel

from bot.settings import Settings


class ConfiguredChannel(InputChannel):
    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(Settings.from_env())
