"""ATS access: choose the backend from settings, and call it with a time limit."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TypeVar

from bot.ats.base import ATS, ATSError, ATSUnavailable, Company
from bot.ats.embedded import EmbeddedATS
from bot.ats.http import ATSAuthError, ATSConfigError
from bot.ats.seed import SeedError, read_seed_file
from bot.settings import Settings

__all__ = ["ATS", "ATSAuthError", "ATSConfigError", "ATSError", "ATSUnavailable", "EmbeddedATS", "SeedError",
           "call_ats", "open_ats"]
BACKENDS = ("embedded", "greenhouse", "lever")

logger = logging.getLogger(__name__)
T = TypeVar("T")


def open_ats(settings: Settings, load_seed: bool = True) -> ATS:
    """The configured ATS (ATS_BACKEND): embedded, greenhouse or lever.

    The embedded ATS (re)loads ATS_SEED_FILE when it has changed. A hosted ATS reads candidates, jobs and
    applications from the vendor's API and schedules interviews in the local database, whose interviewers
    and interview plans come from ATS_SEED_FILE (bot/ats/hosted.py). Missing credentials raise
    ATSConfigError naming the setting; bad ones are found by `check_credentials()` (start-up, `python -m bot
    ats check`).
    """
    if settings.ats_backend not in BACKENDS:
        raise ATSConfigError(f"ATS_BACKEND={settings.ats_backend!r} is not supported (use: {', '.join(BACKENDS)})")
    local = EmbeddedATS(settings.ats_database, timeout=settings.ats_timeout_seconds)
    hosted = settings.ats_backend != "embedded"
    # Read once: to load it, and for a hosted ATS also for the company (which the vendors' APIs do not say).
    seed = (read_seed_file(settings.ats_seed_file)
            if settings.ats_seed_file is not None and (load_seed or hosted) else None)
    if load_seed and seed is not None and local.seed_fingerprint() != seed.fingerprint:
        local.load_seed(seed)
        logger.info("embedded ATS loaded from %s: %s", settings.ats_seed_file, local.counts())
    if not hosted:
        return local
    from bot.ats.greenhouse import GreenhouseATS
    from bot.ats.hosted import HostedATS, NoteQueue
    from bot.ats.lever import LeverATS
    from bot.store import open_state_db

    company = _hosted_company(settings, local, seed.company if seed is not None else None)
    vendor = GreenhouseATS if settings.ats_backend == "greenhouse" else LeverATS
    records = vendor.from_settings(settings, company)
    return HostedATS(records, local, NoteQueue(open_state_db(settings.state_database)))


def _hosted_company(settings: Settings, local: EmbeddedATS, seeded: Company | None) -> Company:
    """Neither vendor API says the company's name or time zone: COMPANY_* settings, else the seed file's."""
    if seeded is None:
        try:
            seeded = local.company()
        except ATSUnavailable:
            seeded = None
    name = settings.company_name or (seeded.name if seeded else None)
    if not name:
        raise ATSConfigError("a hosted ATS needs the company's name: set COMPANY_NAME (and COMPANY_TIMEZONE) "
                             "or give ATS_SEED_FILE a company section")
    return Company(name=name, timezone=settings.company_timezone or (seeded.timezone if seeded else "UTC"),
                   careers_email=settings.careers_email or (seeded.careers_email if seeded else None),
                   careers_url=seeded.careers_url if seeded else None)


async def call_ats(function: Callable[..., T], *args, timeout: float) -> T:
    """Run a blocking ATS call off the event loop; past `timeout` seconds it counts as unavailable."""
    try:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that arrives as the call
        # finishes, and a loop stopped with the server then runs on (it held Rasa's shutdown until SIGKILL).
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(functools.partial(function, *args))
    except TimeoutError as error:
        raise ATSUnavailable(f"ATS did not answer within {timeout:g}s") from error
