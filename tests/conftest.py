"""Shared fixtures: the demo seed, a real embedded ATS on a temporary SQLite file, state DBs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.ats.embedded import EmbeddedATS
from bot.ats.seed import DEMO_SEED, read_seed_file
from bot.store import open_state_db

DEMO_TODAY = dt.date(2026, 11, 22)  # the demo data's stage dates are written relative to this day


@pytest.fixture()
def demo_seed():
    return read_seed_file(DEMO_SEED)


@pytest.fixture()
def ats(tmp_path: Path, demo_seed) -> EmbeddedATS:
    embedded = EmbeddedATS(tmp_path / "ats.db", timeout=0.5)
    embedded.load_seed(demo_seed)
    return embedded


@pytest.fixture()
def state_engine(tmp_path: Path):
    return open_state_db(tmp_path / "state.db")


@pytest.fixture(scope="session")
def twilio_api():
    """The fake Twilio REST API the stack sends out-of-band SMS to (reminders)."""
    from tests.fakes.twilio_api import FakeTwilioAPI

    fake = FakeTwilioAPI().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory, twilio_api):
    """The real action server and Rasa server, started once for every integration test."""
    from tests.stack_fixture import start_stack

    running = start_stack(tmp_path_factory.mktemp("stack"), twilio_api=twilio_api)
    yield running
    running.stack.stop()
