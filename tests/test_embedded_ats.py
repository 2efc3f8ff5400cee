"""The embedded ATS on real SQLite, including how it fails."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from bot.ats import ATSUnavailable, call_ats
from bot.ats.base import ATS
from bot.ats.embedded import EmbeddedATS


def test_it_implements_the_interface(ats):
    assert isinstance(ats, ATS)


def test_lookups(ats):
    assert ats.find_candidate_by_phone("+16175550101").id == "c1"
    assert ats.find_candidate_by_email("  PRIYA@Example.com ").id == "c1"
    assert ats.get_candidate("c2").name == "James Carter"
    assert ats.find_candidate_by_phone("+19999999999") is None
    assert ats.get_recruiter("r2").name == "Marcus Okafor"
    assert ats.company().name == "Acme Robotics"
    assert [job.title for job in ats.list_jobs()][0] == "Customer Success Manager"  # sorted by title


def test_applications_carry_job_stage_and_recruiter(ats):
    applications = ats.applications_for("c2")
    assert [a.job.id for a in applications] == ["j2", "j5"]  # most recent stage change first
    assert applications[0].recruiter.name == "Marcus Okafor"
    assert [s.name for s in applications[0].job.stages][:2] == ["Application Review", "Recruiter Screen"]
    assert ats.applications_for("c7") == []


def test_recruiter_written_stage_descriptions_survive_storage(ats):
    technical = ats.get_job("j1").stage_named("technical interview")
    assert technical.description.startswith("a 60-minute video interview")
    assert technical.typical_days == (5, 10)


def test_missing_database_is_unavailable(tmp_path):
    with pytest.raises(ATSUnavailable):
        EmbeddedATS(tmp_path / "absent.db", create=False)


def test_empty_database_says_how_to_load(tmp_path):
    with pytest.raises(ATSUnavailable, match="python -m bot ats load"):
        EmbeddedATS(tmp_path / "empty.db").company()


def test_a_locked_database_becomes_unavailable_within_the_timeout(ats):
    blocker = sqlite3.connect(ats.database_path)
    blocker.execute("BEGIN EXCLUSIVE")  # a real lock, as a long write from another process would hold
    try:
        started = time.monotonic()
        with pytest.raises(ATSUnavailable):
            ats.find_candidate_by_phone("+16175550101")
        assert time.monotonic() - started < 5
    finally:
        blocker.rollback()
        blocker.close()
    assert ats.find_candidate_by_phone("+16175550101").id == "c1"  # and it recovers by itself


def test_call_ats_turns_a_slow_call_into_unavailable():
    def slow_lookup() -> str:
        time.sleep(2)
        return "too late"

    with pytest.raises(ATSUnavailable, match="did not answer within 0.2s"):
        asyncio.run(call_ats(slow_lookup, timeout=0.2))


def test_move_application(ats):
    ats.move_application("c1-j1-0", "Onsite Loop")
    [application] = ats.applications_for("c1")
    assert application.stage == "Onsite Loop"
    with pytest.raises(KeyError):
        ats.move_application("nope", "Offer")
