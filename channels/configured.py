"""Channels configured from the environment (bot/settings.py) rather than from credentials.yml values.

Rasa builds its channels before it loads the model, so this is also where a server configured unsafely for
anything but local use (bot/access.py) stops, at once and with a message naming what to set.
"""

from __future__ import annotations

import sys
from typing import Any

from rasa.core.channels.channel import InputChannel
from rasa.shared.exceptions import RasaException

from bot.access import UnsafeConfiguration, check_safe_to_start
from bot.settings import Settings

RASA_DEFAULT_INTERFACE = "0.0.0.0"  # noqa: S104 - what `rasa run` binds unless told otherwise


class UnsafeToStart(RasaException):
    """Rasa prints a RasaException's message and exits 1, without a traceback."""


def bind_interface(argv: list[str] | None = None) -> str:
    """The address `rasa run` was told to bind (-i/--interface), else Rasa's default, every interface."""
    argv = sys.argv if argv is None else argv
    for index, arg in enumerate(argv):
        if arg in ("-i", "--interface") and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--interface="):
            return arg.partition("=")[2]
    return RASA_DEFAULT_INTERFACE


def safe_settings() -> Settings:
    """The settings from the environment, once they are safe for where this server is reachable."""
    settings = Settings.from_env()
    try:
        check_safe_to_start(settings, bind_interface())
    except UnsafeConfiguration as error:
        raise UnsafeToStart(str(error)) from error
    return settings


class ConfiguredChannel(InputChannel):
    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(safe_settings())
