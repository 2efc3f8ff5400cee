"""The ATS contract: every implementation of bot.ats.base.ATS answers the same questions the same way.

Each backend holds the demo seed (data/demo/ats_seed.yml): the embedded SQLite ATS loads it, and the
Greenhouse and Lever adapters read it from fake servers of those APIs (tests/fakes/) built from it, so
one expectation, written in seed terms, holds for all three. Behaviour only a hosted API has (pagination,
rate limits, timeouts, retries, credentials) is checked for both adapters below the shared part.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.ats import ATS, ATSUnavailable, EmbeddedATS
from bot.ats.greenhouse import GreenhouseATS
from bot.ats.http import ApiClient, ATSAuthError
from bot.ats.lever import LeverATS
from bot.ats.seed import read_seed_file
from bot.settings import PROJECT_ROOT
from tests.fakes.greenhouse_api import FakeGreenhouseAPI
from tests.fakes.lever_api import FakeLeverAPI

SEED_FILE = PROJECT_ROOT / "data" / "demo" / "ats_seed.yml"
SEED = read_seed_file(SEED_FILE)


@dataclass
class Backend:
    name: str
    ats: Any  # an ATS
    id_of: Callable[[str, str], str]  # (kind, seed id) -> this ATS's id; kinds: candidate, application, job, recruiter
    notes: Callable[[str], list[str]]  # application id -> notes written on it
    fake: Any = None


def _embedded(tmp_path: Path) -> Backend:
    ats = EmbeddedATS(tmp_path / "ats.db")
    ats.load_seed(SEED)
    return Backend("embedded", ats, lambda _kind, seed_id: seed_id, ats.notes_for)


def greenhouse_client(fake: FakeGreenhouseAPI, key: str | None = None, timeout: float = 2.0,
                      deadline: float = 6.0) -> ApiClient:
    return ApiClient(fake.base_url + "/v1", (key or fake.api_key, ""), vendor="Greenhouse",
                     credential_setting="GREENHOUSE_API_KEY", timeout=timeout, deadline=deadline)


def lever_client(fake: FakeLeverAPI, key: str | None = None, timeout: float = 2.0, deadline: float = 6.0) -> ApiClient:
    return ApiClient(fake.base_url, (key or fake.api_key, ""), vendor="Lever", credential_setting="LEVER_API_KEY",
                     timeout=timeout, deadline=deadline)


def _greenhouse(page_size: int = 500, **client: Any) -> Backend:
    fake = FakeGreenhouseAPI.from_seed(SEED).start()
    recruiter_user = str(fake.ids["r1"])
    ats = GreenhouseATS(greenhouse_client(fake, **client), SEED.company, on_behalf_of=recruiter_user,
                        page_size=page_size)
    by_application = {str(a["id"]): a["candidate_id"] for a in fake.applications}
    return Backend("greenhouse", ats, lambda _kind, seed_id: str(fake.ids[seed_id]),
                   lambda application_id: fake.notes_for(by_application[application_id]), fake)


def _lever(page_size: int = 100, **client: Any) -> Backend:
    fake = FakeLeverAPI.from_seed(yaml.safe_load(SEED_FILE.read_text())).start()
    ats = LeverATS(lever_client(fake, **client), SEED.company, perform_as=fake.ids["user:r1"], page_size=page_size)
    kinds = {"candidate": "contact", "application": "opportunity", "job": "posting", "recruiter": "user"}

    def id_of(kind: str, seed_id: str) -> str:
        return fake.ids[f"{kinds[kind]}:{seed_id}"]

    return Backend("lever", ats, id_of, fake.notes_on, fake)


@pytest.fixture(params=["embedded", "greenhouse", "lever"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made = {"embedded": lambda: _embedded(tmp_path), "greenhouse": _greenhouse, "lever": _lever}[request.param]()
    yield made
    if made.fake is not None:
        made.fake.stop()


@pytest.fixture(params=["greenhouse", "lever"])
def hosted(request: pytest.FixtureRequest) -> Iterator[Callable[..., Backend]]:
    """A maker of hosted backends with chosen page size and client timeouts."""
    made: list[Backend] = []

    def make(**options: Any) -> Backend:
        made.append({"greenhouse": _greenhouse, "lever": _lever}[request.param](**options))
        return made[-1]

    yield make
    for item in made:
        item.fake.stop()


def seed_application(candidate_id: str, job_id: str):
    return next(a for a in SEED.applications if a.candidate_id == candidate_id and a.job_id == job_id)


def seed_job(job_id: str):
    return next(j for j in SEED.jobs if j.id == job_id)


# --- the shared contract -------------------------------------------------------------------------------


def test_every_backend_is_an_ats(backend: Backend) -> None:
    assert isinstance(backend.ats, ATS)


def test_company(backend: Backend) -> None:
    company = backend.ats.company()
    assert (company.name, company.timezone) == ("Acme Robotics", "America/New_York")


def test_find_candidate_by_phone_in_e164(backend: Backend) -> None:
    priya = backend.ats.find_candidate_by_phone("+16175550101")
    assert priya is not None and priya.name == "Priya Nair" and priya.id == backend.id_of("candidate", "c1")
    assert (priya.email, priya.phone) == ("priya@example.com", "+16175550101")
    james = backend.ats.find_candidate_by_phone("+16175550102")  # written "(617) 555-0102" in the ATS
    assert james is not None and james.name == "James Carter"
    lena = backend.ats.find_candidate_by_phone("+4915112345678")
    assert lena is not None and lena.name == "Lena Fischer"
    assert backend.ats.find_candidate_by_phone("+16175550199") is None


def test_find_candidate_by_email_ignores_case(backend: Backend) -> None:
    aisha = backend.ats.find_candidate_by_email("  Aisha.Bello@Example.co.UK ")
    assert aisha is not None and aisha.id == backend.id_of("candidate", "c5")
    assert backend.ats.find_candidate_by_email("nobody@example.com") is None


def test_get_candidate(backend: Backend) -> None:
    tom = backend.ats.get_candidate(backend.id_of("candidate", "c6"))
    assert tom is not None and tom.name == "Tom Becker" and tom.first_name == "Tom"
    for unknown in ("c-unknown", "999999999", ""):
        assert backend.ats.get_candidate(unknown) is None


def test_applications_carry_job_stage_date_status_and_recruiter(backend: Backend) -> None:
    applications = backend.ats.applications_for(backend.id_of("candidate", "c1"))
    assert len(applications) == 1
    application = applications[0]
    assert application.id == backend.id_of("application", seed_application("c1", "j1").id)
    assert application.candidate_id == backend.id_of("candidate", "c1")
    assert application.job.id == backend.id_of("job", "j1")
    assert application.job.title == seed_job("j1").title
    assert (application.stage, application.status) == ("Technical Interview", "active")
    assert application.stage_changed == dt.date(2026, 11, 10)
    assert application.recruiter is not None
    assert (application.recruiter.name, application.recruiter.email) == ("Dana Lee", "dana@acme.example")
    assert application.recruiter.id == backend.id_of("recruiter", "r1")


def test_applications_newest_stage_change_first(backend: Backend) -> None:
    applications = backend.ats.applications_for(backend.id_of("candidate", "c2"))
    assert [(a.job.title, a.stage, a.stage_changed) for a in applications] == [
        (seed_job("j2").title, "Recruiter Screen", dt.date(2026, 11, 19)),
        (seed_job("j5").title, "Application Review", dt.date(2026, 11, 17)),
    ]


def test_statuses(backend: Backend) -> None:
    def statuses(candidate: str) -> list[tuple[str, str]]:
        return [(a.stage, a.status) for a in backend.ats.applications_for(backend.id_of("candidate", candidate))]

    assert statuses("c4") == [("Hiring Manager Interview", "rejected")]
    assert statuses("c6") == [("Offer", "hired")]
    assert statuses("c5") == [("Offer", "active")]
    assert sorted(statuses("c8")) == [("Application Review", "active"), ("Recruiter Screen", "withdrawn")]
    assert statuses("c7") == []


def test_job_details(backend: Backend) -> None:
    seeded = seed_job("j1")
    job = backend.ats.get_job(backend.id_of("job", "j1"))
    assert job is not None
    assert (job.title, job.location, job.remote) == (seeded.title, seeded.location, seeded.remote)
    assert job.salary is not None and seeded.salary is not None
    assert (job.salary.min, job.salary.max, job.salary.currency) == (seeded.salary.min, seeded.salary.max,
                                                                     seeded.salary.currency)
    names = [stage.name for stage in job.stages]
    if backend.name == "lever":
        # Lever has one pipeline for the whole company: a job's stages come in order within it (the hosted
        # wrapper narrows it to the job's own stages where ATS_SEED_FILE lists them, see test_hosted_ats).
        assert [name for name in names if name in {s.name for s in seeded.stages}] == [s.name for s in seeded.stages]
    else:
        assert names == [stage.name for stage in seeded.stages]
        assert job.stage_after("Technical Interview").name == seeded.stage_after("Technical Interview").name
    assert backend.ats.get_job("j-unknown") is None


def test_list_jobs(backend: Backend) -> None:
    assert sorted(job.title for job in backend.ats.list_jobs()) == sorted(job.title for job in SEED.jobs)


def test_get_recruiter(backend: Backend) -> None:
    marcus = backend.ats.get_recruiter(backend.id_of("recruiter", "r2"))
    assert marcus is not None and (marcus.name, marcus.email) == ("Marcus Okafor", "marcus@acme.example")
    assert backend.ats.get_recruiter("r-unknown") is None


def test_get_application(backend: Backend) -> None:
    application_id = backend.id_of("application", seed_application("c10", "j1").id)
    application = backend.ats.get_application(application_id)
    assert application is not None
    assert (application.id, application.stage, application.status) == (application_id, "Technical Interview", "active")
    assert application.candidate_id == backend.id_of("candidate", "c10")
    assert application.job.title == seed_job("j1").title
    assert backend.ats.get_application("a-unknown") is None


def test_active_applications(backend: Backend) -> None:
    names = {c.id: c.name for c in SEED.candidates}
    expected = sorted((names[a.candidate_id], seed_job(a.job_id).title, a.stage, a.stage_changed)
                      for a in SEED.applications if a.status == "active")
    found = backend.ats.active_applications()
    assert all(a.status == "active" for a in found)
    by_candidate = {}
    for application in found:
        candidate = backend.ats.get_candidate(application.candidate_id)
        by_candidate.setdefault(candidate.name, []).append(application)
    assert sorted((name, a.job.title, a.stage, a.stage_changed)
                  for name, apps in by_candidate.items() for a in apps) == expected


def test_add_note(backend: Backend) -> None:
    application_id = backend.id_of("application", seed_application("c1", "j1").id)
    backend.ats.add_note(application_id, "Interview booked by the candidate assistant: Tue 1 Dec 10:00 EST")
    assert backend.notes(application_id) == ["Interview booked by the candidate assistant: Tue 1 Dec 10:00 EST"]


# --- hosted APIs: pagination, rate limits, faults, credentials ----------------------------------------------


def test_lists_follow_every_page(hosted: Callable[..., Backend]) -> None:
    backend = hosted(page_size=2)
    assert sorted(job.title for job in backend.ats.list_jobs()) == sorted(job.title for job in SEED.jobs)
    assert len(backend.ats.active_applications()) == sum(a.status == "active" for a in SEED.applications)
    assert len([1 for method, _ in backend.fake.requests_log if method == "GET"]) >= 3  # pages, not one call


def test_server_error_on_a_read_is_retried(hosted: Callable[..., Backend]) -> None:
    backend = hosted()
    backend.fake.fail_next(2, "500")
    assert backend.ats.find_candidate_by_phone("+16175550101").name == "Priya Nair"


def test_rate_limit_waits_for_retry_after(hosted: Callable[..., Backend]) -> None:
    backend = hosted()
    backend.fake.fail_next(1, "429")
    started = time.monotonic()
    assert backend.ats.get_recruiter(backend.id_of("recruiter", "r1")).name == "Dana Lee"
    assert time.monotonic() - started >= 0.9  # the fake says Retry-After: 1


def test_a_hanging_api_is_unavailable_within_the_deadline(hosted: Callable[..., Backend]) -> None:
    backend = hosted(timeout=0.3, deadline=1.0)
    backend.fake.fail_next(10, "hang")
    started = time.monotonic()
    with pytest.raises(ATSUnavailable):
        backend.ats.find_candidate_by_email("priya@example.com")
    assert time.monotonic() - started < 3


def test_a_failed_note_is_not_written_twice(hosted: Callable[..., Backend]) -> None:
    backend = hosted()
    application_id = backend.id_of("application", seed_application("c1", "j1").id)
    assert backend.ats.get_application(application_id) is not None  # read first, as before any booking
    backend.fake.fail_next(1, "500")
    with pytest.raises(ATSUnavailable):
        backend.ats.add_note(application_id, "Interview booked")
    assert backend.notes(application_id) == []
    assert [method for method, _ in backend.fake.requests_log].count("POST") == 1  # a write is not retried


def test_job_data_is_cached_briefly(hosted: Callable[..., Backend]) -> None:
    backend = hosted()
    job_id = backend.id_of("job", "j1")
    first = backend.ats.get_job(job_id)
    calls = len(backend.fake.requests_log)
    assert backend.ats.get_job(job_id) == first
    assert len(backend.fake.requests_log) == calls


def test_bad_credentials_are_named_at_start_up(hosted: Callable[..., Backend]) -> None:
    backend = hosted(key="not-the-key")
    with pytest.raises(ATSAuthError) as refused:
        backend.ats.check_credentials()
    assert "_API_KEY" in str(refused.value)
    good = hosted()
    good.ats.check_credentials()  # does not raise
