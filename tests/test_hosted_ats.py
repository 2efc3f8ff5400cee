"""A hosted ATS with local scheduling: records from Greenhouse/Lever (fakes), interviews booked here,
bookings written back as notes (queued when the ATS is down), and open_ats choosing it from settings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from bot.ats import ATSConfigError, EmbeddedATS, open_ats
from bot.ats.base import NotInterviewStage
from bot.ats.greenhouse import GreenhouseATS
from bot.ats.hosted import HostedATS, NoteQueue
from bot.ats.http import ATSAuthError
from bot.ats.lever import LeverATS
from bot.ats.seed import read_seed_file
from bot.clock import UTC
from bot.settings import PROJECT_ROOT, Settings
from bot.store import open_state_db
from tests.fakes.greenhouse_api import FakeGreenhouseAPI
from tests.fakes.lever_api import FakeLeverAPI
from tests.test_ats_contract import SEED_FILE, greenhouse_client, lever_client, seed_application

SEED = read_seed_file(SEED_FILE)
WINDOW = (dt.datetime(2026, 11, 30, tzinfo=UTC), dt.datetime(2026, 12, 5, tzinfo=UTC))


@pytest.fixture()
def greenhouse() -> Iterator[FakeGreenhouseAPI]:
    fake = FakeGreenhouseAPI.from_seed(SEED).start()
    yield fake
    fake.stop()


def _local(tmp_path: Path) -> EmbeddedATS:
    local = EmbeddedATS(tmp_path / "ats.db")
    local.load_seed(SEED)  # interviewers, their hours and the interview plans
    return local


def _hosted(tmp_path: Path, fake: FakeGreenhouseAPI) -> HostedATS:
    records = GreenhouseATS(greenhouse_client(fake), SEED.company, on_behalf_of=str(fake.ids["r1"]))
    return HostedATS(records, _local(tmp_path), NoteQueue(open_state_db(tmp_path / "state.db")))


def test_hosted_applications_carry_the_seed_interview_plans(tmp_path: Path, greenhouse) -> None:
    hosted = _hosted(tmp_path, greenhouse)
    priya = hosted.find_candidate_by_phone("+16175550101")
    application = hosted.applications_for(priya.id)[0]
    assert application.id == str(greenhouse.ids[seed_application("c1", "j1").id])
    plan = application.job.stage_named("Technical Interview").interview
    assert plan is not None and plan.interviewer_ids == ("i-alex", "i-sam") and plan.duration_minutes == 60


def test_booking_on_a_hosted_ats_is_written_back_as_a_note(tmp_path: Path, greenhouse) -> None:
    hosted = _hosted(tmp_path, greenhouse)
    application = hosted.get_application(str(greenhouse.ids[seed_application("c1", "j1").id]))
    free = hosted.free_slots(application.job.id, application.stage, *WINDOW)
    assert free, "the seed's interviewers have hours in that week"
    booking = hosted.book_interview(application.id, free[0], candidate_timezone="America/New_York",
                                    conversation_id="sms-x", channel="twilio")
    assert booking.application_id == application.id and booking.job_title == application.job.title
    assert free[0] not in hosted.free_slots(application.job.id, application.stage, *WINDOW)
    candidate_id = int(application.candidate_id)
    notes = greenhouse.notes_for(candidate_id)
    assert len(notes) == 1 and "booked" in notes[0] and "Technical Interview" in notes[0]

    moved = hosted.reschedule_interview(booking.id, free[1])
    hosted.cancel_interview(moved.id)
    notes = greenhouse.notes_for(candidate_id)
    assert len(notes) == 3 and "moved" in notes[1] and "cancelled" in notes[2]
    assert hosted.bookings_for(application.candidate_id) == []


def test_a_note_the_ats_cannot_take_waits_and_goes_later(tmp_path: Path, greenhouse) -> None:
    hosted = _hosted(tmp_path, greenhouse)
    application = hosted.get_application(str(greenhouse.ids[seed_application("c10", "j1").id]))
    free = hosted.free_slots(application.job.id, application.stage, *WINDOW)
    write_note = hosted.records.add_note

    def failing_once(application_id: str, text: str) -> None:
        hosted.records.add_note = write_note
        greenhouse.fail_next(1, "500")  # Greenhouse answers the note's POST with a 500
        write_note(application_id, text)

    hosted.records.add_note = failing_once  # the booking stands
    booking = hosted.book_interview(application.id, free[0], candidate_timezone="America/Los_Angeles")
    assert hosted.get_booking(booking.id).status == "booked"
    candidate_id = int(application.candidate_id)
    assert greenhouse.notes_for(candidate_id) == []
    greenhouse.fail_next(1, "500")  # still down at the first retry: kept for the next
    assert hosted.notes.deliver(hosted) == 0
    with hosted.notes.engine.begin() as connection:  # its backoff passes
        connection.execute(hosted.notes.table.update().values(next_attempt_at=dt.datetime(2000, 1, 1)))
    assert hosted.notes.deliver(hosted) == 1
    assert hosted.notes.deliver(hosted) == 0  # written once
    assert len(greenhouse.notes_for(candidate_id)) == 1


def test_an_application_the_ats_moved_out_of_interviews_cannot_be_booked(tmp_path: Path, greenhouse) -> None:
    hosted = _hosted(tmp_path, greenhouse)
    application_id = greenhouse.ids[seed_application("c10", "j1").id]
    free = hosted.free_slots(str(greenhouse.ids["j1"]), "Technical Interview", *WINDOW)
    with greenhouse._lock:  # a recruiter moves the candidate on in Greenhouse
        record = next(a for a in greenhouse.applications if a["id"] == application_id)
        record["current_stage"] = {"id": greenhouse.ids["j1/Offer"], "name": "Offer"}
    with pytest.raises(NotInterviewStage):
        hosted.book_interview(str(application_id), free[0], candidate_timezone="America/New_York")


def test_lever_jobs_get_their_own_stages_from_the_seed(tmp_path: Path) -> None:
    fake = FakeLeverAPI.from_seed(yaml.safe_load(SEED_FILE.read_text())).start()
    try:
        records = LeverATS(lever_client(fake), SEED.company, perform_as=fake.ids["user:r1"])
        hosted = HostedATS(records, _local(tmp_path))
        job = hosted.get_job(fake.ids["posting:j1"])
        seeded = next(j for j in SEED.jobs if j.id == "j1")
        assert [s.name for s in job.stages] == [s.name for s in seeded.stages]
        assert job.stage_after("Recruiter Screen").name == seeded.stage_after("Recruiter Screen").name
    finally:
        fake.stop()


def _settings(tmp_path: Path, **changes) -> Settings:
    base = Settings.from_env()
    return dataclasses.replace(base, ats_database=tmp_path / "ats.db", state_database=tmp_path / "state.db",
                               ats_seed_file=SEED_FILE, **changes)


def test_open_ats_builds_the_configured_backend(tmp_path: Path, greenhouse) -> None:
    settings = _settings(tmp_path, ats_backend="greenhouse", greenhouse_api_key=greenhouse.api_key,
                         greenhouse_base_url=greenhouse.base_url + "/v1")
    ats = open_ats(settings)
    assert isinstance(ats, HostedATS) and isinstance(ats.records, GreenhouseATS)
    assert ats.company().name == "Acme Robotics"  # from the seed's company section
    ats.check_credentials()
    assert open_ats(dataclasses.replace(settings, ats_backend="embedded")).company().name == "Acme Robotics"


def test_open_ats_names_what_is_missing_or_wrong(tmp_path: Path, greenhouse) -> None:
    with pytest.raises(ATSConfigError, match="ATS_BACKEND"):
        open_ats(_settings(tmp_path, ats_backend="workday"))
    with pytest.raises(ATSConfigError, match="GREENHOUSE_API_KEY"):
        open_ats(_settings(tmp_path, ats_backend="greenhouse", greenhouse_api_key=None))
    with pytest.raises(ATSConfigError, match="LEVER_API_KEY"):
        open_ats(_settings(tmp_path, ats_backend="lever", lever_api_key=None))
    wrong = open_ats(_settings(tmp_path, ats_backend="greenhouse", greenhouse_api_key="wrong",
                               greenhouse_base_url=greenhouse.base_url + "/v1"))
    with pytest.raises(ATSAuthError, match="GREENHOUSE_API_KEY"):
        wrong.check_credentials()


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env={**os.environ, **env}, timeout=120)


def test_cli_ats_connect_says_whether_the_credentials_work(tmp_path: Path, greenhouse) -> None:
    env = {"ATS_BACKEND": "greenhouse", "GREENHOUSE_BASE_URL": greenhouse.base_url + "/v1",
           "ATS_DATABASE": str(tmp_path / "ats.db"), "STATE_DATABASE": str(tmp_path / "state.db"),
           "ATS_SEED_FILE": str(SEED_FILE)}
    good = _cli("ats", "connect", env={**env, "GREENHOUSE_API_KEY": greenhouse.api_key})
    assert good.returncode == 0, good.stderr
    assert "connected; Acme Robotics, 5 jobs" in good.stdout
    bad = _cli("ats", "connect", env={**env, "GREENHOUSE_API_KEY": "not-the-key"})
    assert bad.returncode == 1 and "GREENHOUSE_API_KEY" in bad.stderr and "Traceback" not in bad.stderr
    missing = _cli("ats", "connect", env={**env, "GREENHOUSE_API_KEY": ""})
    assert missing.returncode == 1 and "needs GREENHOUSE_API_KEY" in missing.stderr


def test_cli_ats_move_queues_the_update(tmp_path: Path) -> None:
    env = {"ATS_DATABASE": str(tmp_path / "ats.db"), "STATE_DATABASE": str(tmp_path / "state.db"),
           "ATS_BACKEND": "embedded"}
    EmbeddedATS(tmp_path / "ats.db").load_seed(SEED)
    application = seed_application("c1", "j1")
    moved = _cli("ats", "move", application.id, "Onsite Loop", env=env)
    assert moved.returncode == 0, moved.stderr
    assert EmbeddedATS(tmp_path / "ats.db").get_application(application.id).stage == "Onsite Loop"
    events = NoteQueue(open_state_db(tmp_path / "state.db"))  # any queue reads the same database
    with events.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT source, application_id, status FROM ats_events")).all()
    assert rows == [("cli", application.id, "pending")]
    wrong = _cli("ats", "move", application.id, "Lunch", env=env)
    assert wrong.returncode == 1 and "has no stage 'Lunch'" in wrong.stderr
