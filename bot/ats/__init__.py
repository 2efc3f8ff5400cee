"""ATS access: choose the backend from settings, and call it with a time limit."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TypeVar

from bot.ats.base import ATS, ATSError, ATSUnavailable
from bot.ats.embedded import EmbeddedATS
from bot.ats.seed import SeedError, read_seed_file
from bot.settings import Settings

__all__ = ["ATS", "ATSError", "ATSUnavailable", "EmbeddedATS", "SeedError", "open_ats", "call_ats"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


def open_ats(settings: Settings, load_seed: bool = True) -> ATS:
    """The configured ATS; for the embedded one, (re)load ATS_SEED_FILE when it has changed."""
    if settings.ats_backend != "embedded":
        raise ValueError(f"ATS_BACKEND={settings.ats_backend!r} is not supported (supported: embedded)")
    ats = EmbeddedATS(settings.ats_database, timeout=settings.ats_timeout_seconds)
    if load_seed and settings.ats_seed_file is not None:
        seed = read_seed_file(settings.ats_seed_file)
        if ats.seed_fingerprint() != seed.fingerprint:
            ats.load_seed(seed)
            logger.info("embedded ATS loaded from %s: %s", settings.ats_seed_file, ats.counts())
    return ats


async def call_ats(function: Callable[..., T], *args, timeout: float) -> T:
    """Run a blocking ATS call off the event loop; past `timeout` seconds it counts as unavailable."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(functools.partial(function, *args)), timeout)
    except asyncio.TimeoutError as error:
        raise ATSUnavailable(f"ATS did not answer within {timeout:g}s") from error
