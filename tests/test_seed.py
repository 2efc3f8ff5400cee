"""The seed file format: the documented shape loads, and every mistake is named clearly."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from bot.ats.embedded import EmbeddedATS
from bot.ats.seed import SeedError, parse_seed, read_seed_file

MINIMAL = textwrap.dedent("""
    company: {name: Acme Robotics, timezone: America/New_York}
    recruiters:
      - {id: r1, name: Dana Lee, email: dana@acme.example, slack_user_id: U0DANA}
    jobs:
      - id: j1
        title: Machine Learning Engineer
        location: Boston, MA
        remote: hybrid            # onsite | hybrid | remote
        salary: {min: 150000, max: 190000, currency: USD}
        description: Build and deploy ranking models ...
        stages: [Application Review, Recruiter Screen, Technical Interview, Onsite Loop, Offer]
    candidates:
      - id: c1
        name: Priya Nair
        email: priya@example.com
        phone: "+16175550101"
        applications:
          - {job: j1, stage: Technical Interview, stage_changed: 2026-11-10, recruiter: r1, status: active}
""")


def test_the_shape_from_the_issue_loads(tmp_path):
    seed = parse_seed(MINIMAL)
    ats = EmbeddedATS(tmp_path / "ats.db")
    ats.load_seed(seed)
    candidate = ats.find_candidate_by_phone("+16175550101")
    assert candidate is not None and candidate.name == "Priya Nair"
    [application] = ats.applications_for(candidate.id)
    assert application.job.title == "Machine Learning Engineer"
    assert application.stage == "Technical Interview"
    assert application.stage_changed == dt.date(2026, 11, 10)
    assert application.recruiter.name == "Dana Lee"
    assert application.status == "active" and application.rejection_communicated is False
    assert ats.get_job("j1").salary.max == 190000


def test_demo_seed_covers_every_status(demo_seed):
    statuses = {application.status for application in demo_seed.applications}
    assert statuses == {"active", "rejected", "hired", "withdrawn"}
    assert any(a.status == "rejected" and not a.rejection_communicated for a in demo_seed.applications)


def test_phone_numbers_are_stored_in_e164(demo_seed):
    james = next(c for c in demo_seed.candidates if c.id == "c2")
    assert james.phone == "+16175550102"  # written as "(617) 555-0102" in the file


def _broken(replace: str, with_: str) -> str:
    assert replace in MINIMAL
    return MINIMAL.replace(replace, with_)


@pytest.mark.parametrize(("text", "message"), [
    (_broken("job: j1, stage", "job: j9, stage"), "candidates[0].applications[0].job: unknown job 'j9'"),
    (_broken("stage: Technical Interview", "stage: Coffee Chat"), "'Coffee Chat' is not a stage of job j1"),
    (_broken("status: active", "status: pending"), "status: must be one of active, rejected, hired, withdrawn"),
    (_broken('"+16175550101"', '"12345"'), "candidates[0].phone: not a valid phone number"),
    (_broken("recruiter: r1", "recruiter: r7"), "unknown recruiter 'r7'"),
    (_broken("remote: hybrid", "remote: sometimes"), "jobs[0].remote: must be one of onsite, hybrid, remote"),
    (_broken("min: 150000", "min: 250000"), "jobs[0].salary: min 250000 is above max 190000"),
    (_broken("America/New_York", "Mars/Olympus"), "company.timezone: unknown time zone 'Mars/Olympus'"),
    (_broken("stage_changed: 2026-11-10", "stage_changed: last week"), "expected a date like 2026-11-10"),
    (_broken("name: Priya Nair", "name: ''"), "candidates[0].name: required"),
    ("company: [", "not valid YAML"),
    ("- just a list", "expected a mapping"),
])
def test_mistakes_are_named_with_their_place(text, message):
    with pytest.raises(SeedError) as caught:
        parse_seed(text)
    assert message in str(caught.value)


def test_duplicate_ids_and_numbers_are_refused():
    doubled = MINIMAL + '  - id: c2\n    name: Someone Else\n    phone: "+1 617 555 0101"\n'
    with pytest.raises(SeedError, match="same number as candidate c1"):
        parse_seed(doubled)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SeedError, match="no such file"):
        read_seed_file(tmp_path / "nope.yml")


def test_loading_again_replaces_everything(tmp_path, demo_seed):
    ats = EmbeddedATS(tmp_path / "ats.db")
    ats.load_seed(demo_seed)
    ats.load_seed(parse_seed(MINIMAL))
    assert ats.counts() == {"interviewers": 0, "recruiters": 1, "jobs": 1, "candidates": 1, "applications": 1}
    assert ats.find_candidate_by_phone("+16175550102") is None
