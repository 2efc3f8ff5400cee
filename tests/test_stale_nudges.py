"""Stale-application nudges: the status-update loop's check and its Slack delivery, run in-process against the
embedded ATS (real SQLite) and the fake Slack Web API; and finding a recruiter in Slack by email."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.ats.seed import read_seed_file
from bot.settings import Settings
from channels.ats_updates import ATSUpdates
from channels.recruiter_slack import recruiter_dm
from tests.fakes.slack_api import FakeSlackAPI
from tests.stack_fixture import DEMO_SEED, RECRUITING_CHANNEL

THRESHOLD_DAYS = 30
SEED = read_seed_file(DEMO_SEED)


@pytest.fixture()
def slack() -> Iterator[FakeSlackAPI]:
    fake = FakeSlackAPI().start()
    fake.users["U0DANA"] = {"real_name": "Dana Lee", "name": "dana", "email": "dana@acme.example"}
    yield fake
    fake.stop()


@pytest.fixture()
def updates(tmp_path: Path, slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch) -> ATSUpdates:
    for name, value in {"ATS_DATABASE": tmp_path / "ats.db", "STATE_DATABASE": tmp_path / "state.db",
                        "ATS_SEED_FILE": DEMO_SEED, "ATS_BACKEND": "embedded", "SLACK_BOT_TOKEN": slack.bot_token,
                        "SLACK_API_URL": slack.base_url + "/api/", "SLACK_HANDOFF_CHANNEL": RECRUITING_CHANNEL,
                        "STALE_APPLICATION_DAYS": THRESHOLD_DAYS, "STALE_CHECK_MINUTES": 60}.items():
        monkeypatch.setenv(name, str(value))
    return ATSUpdates(Settings.from_env())


def _expected_stale() -> dict[str, str]:
    """Seed application id -> candidate name, for active applications past the threshold today."""
    today = dt.datetime.now(ZoneInfo(SEED.company.timezone)).date()
    names = {c.id: c.name for c in SEED.candidates}
    return {a.id: names[a.candidate_id] for a in SEED.applications
            if a.status == "active" and (today - a.stage_changed).days >= THRESHOLD_DAYS}


def test_each_stale_application_nudges_its_recruiter_once(updates: ATSUpdates, slack: FakeSlackAPI) -> None:
    expected = _expected_stale()
    assert expected, "the demo data has applications older than the threshold"

    async def rounds() -> None:
        await updates.check_stale()
        await updates.deliver_nudges()
        updates._last_stale_scan = None  # the next hourly check: the same applications are still stale
        await updates.check_stale()
        await updates.deliver_nudges()

    asyncio.run(rounds())
    nudges = [m for m in slack.posted if "has been in" in (m.text or "")]
    assert len(nudges) == len(expected)
    for application_id, name in expected.items():
        assert sum(name in m.text and f"(application {application_id})" in m.text for m in nudges) == 1
    recruiters = {a.id: a.recruiter_id for a in SEED.applications}
    for message in nudges:
        application_id = message.text.rsplit("(application ", 1)[1].rstrip(")")
        # Dana is in this Slack workspace: her nudges come by DM; the others' go to the recruiting channel.
        assert (message.channel != RECRUITING_CHANNEL) == (recruiters[application_id] == "r1")


def test_a_nudge_slack_refused_is_retried_and_sent_once(updates: ATSUpdates, slack: FakeSlackAPI) -> None:
    slack.fail_next(1, "500")

    async def rounds() -> None:
        await updates.check_stale()
        await updates.deliver_nudges()  # the first post fails
        table = updates.updates.nudges.table
        with updates.updates.engine.begin() as connection:  # its backoff passes
            connection.execute(table.update().values(next_attempt_at=dt.datetime(2000, 1, 1)))
        await updates.deliver_nudges()

    asyncio.run(rounds())
    assert len([m for m in slack.posted if "has been in" in (m.text or "")]) == len(_expected_stale())
    assert updates.updates.nudges.counts() == {"sent": len(_expected_stale())}


def test_a_nudge_escapes_what_the_candidate_and_the_ats_wrote(updates: ATSUpdates, slack: FakeSlackAPI,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = "<!channel> <@U123> <https://evil.example|click>"
    ats, candidate, applications = updates.ats, updates.ats.get_candidate, updates.ats.active_applications
    monkeypatch.setattr(ats, "get_candidate", lambda candidate_id: dataclasses.replace(
        candidate(candidate_id), name=f"Eve {hostile}"))
    monkeypatch.setattr(ats, "active_applications", lambda: [dataclasses.replace(
        a, stage=f"{a.stage} <!here>", job=dataclasses.replace(a.job, title=f"{a.job.title} <!everyone>"))
        for a in applications()])

    async def rounds() -> None:
        await updates.check_stale()
        await updates.deliver_nudges()

    asyncio.run(rounds())
    nudges = [m.text or "" for m in slack.posted if "has been in" in (m.text or "")]
    assert nudges and all("Eve &lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|click&gt;" in text
                          for text in nudges)
    assert not any("<" in text or ">" in text for text in nudges)


def test_turned_off_no_nudges(updates: ATSUpdates, slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STALE_APPLICATION_DAYS", "0")
    off = ATSUpdates(Settings.from_env())
    asyncio.run(off.check_stale())
    assert off.updates.nudges.counts() == {}


def test_recruiters_are_found_in_slack_by_email(slack: FakeSlackAPI) -> None:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.base_url + "/api/")

    async def lookups() -> tuple:
        return (await recruiter_dm(client, None, "dana@acme.example"),
                await recruiter_dm(client, None, "nobody@acme.example"),
                await recruiter_dm(client, "U0NOTHERE", None),
                await recruiter_dm(client, None, None))

    by_email, unknown, gone, nothing = asyncio.run(lookups())
    assert by_email is not None and by_email.startswith("D")
    assert (unknown, gone, nothing) == (None, None, None)
