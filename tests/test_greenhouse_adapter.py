"""What only the Greenhouse adapter does: Harvest's shapes mapped to the assistant's, the phone index, notes.

The shared behaviour (the same answers as the embedded ATS, pagination, retries, timeouts) is in
tests/test_ats_contract.py; these run against the same fake Harvest API built from the demo seed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest

from bot.ats.base import ATSError
from bot.ats.greenhouse import GreenhouseATS
from bot.ats.http import ApiClient, ATSAuthError, ATSConfigError, HttpAnswer
from bot.ats.seed import read_seed_file
from bot.settings import PROJECT_ROOT, Settings
from tests.fakes.greenhouse_api import FakeGreenhouseAPI

SEED = read_seed_file(PROJECT_ROOT / "data" / "demo" / "ats_seed.yml")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeGreenhouseAPI]:
    api = FakeGreenhouseAPI.from_seed(SEED).start()
    yield api
    api.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def client_for(fake: FakeGreenhouseAPI) -> ApiClient:
    return ApiClient(fake.base_url + "/v1", (fake.api_key, ""), vendor="Greenhouse",
                     credential_setting="GREENHOUSE_API_KEY", timeout=2.0, deadline=6.0)


def adapter(fake: FakeGreenhouseAPI, clock: Clock | None = None, **options) -> GreenhouseATS:
    options.setdefault("on_behalf_of", str(fake.ids["r1"]))
    return GreenhouseATS(client_for(fake), SEED.company, clock=clock or Clock(), **options)


def application_of(fake: FakeGreenhouseAPI, candidate: str, job: str) -> dict:
    seed_id = next(a.id for a in SEED.applications if a.candidate_id == candidate and a.job_id == job)
    return next(a for a in fake.applications if a["id"] == fake.ids[seed_id])


def candidate_of(fake: FakeGreenhouseAPI, seed_id: str) -> dict:
    return next(c for c in fake.candidates if c["id"] == fake.ids[seed_id])


def list_requests(fake: FakeGreenhouseAPI, path: str) -> int:
    return sum(1 for method, target in fake.requests_log if method == "GET" and target.split("?")[0] == path)


# --- mapping Harvest's records ---------------------------------------------------------------------------


def test_a_rejection_the_candidate_chose_is_withdrawn(fake):
    ats = adapter(fake)
    omar = str(fake.ids["c8"])
    assert {a.job.id: a.status for a in ats.applications_for(omar)} == {
        str(fake.ids["j4"]): "active", str(fake.ids["j2"]): "withdrawn"}  # "Withdrew", "They rejected us"

    # Any reason of the candidate-side type is the candidate's decision; the company's reasons stay rejections.
    luis = application_of(fake, "c4", "j4")
    luis["rejection_reason"] = {"id": 9, "name": "Accepted another offer",
                                "type": {"id": 2, "name": "They rejected us"}}
    assert ats.get_application(str(luis["id"])).status == "withdrawn"
    luis["rejection_reason"] = {"id": 1, "name": "Not a fit", "type": {"id": 1, "name": "We rejected them"}}
    rejected = ats.get_application(str(luis["id"]))
    assert rejected.status == "rejected"
    # Harvest has no "the candidate was told" flag: the assistant must not be the one to say it.
    assert rejected.rejection_communicated is False


def test_prospect_and_converted_applications_are_not_the_candidates_applications(fake):
    ats = adapter(fake)
    priya = application_of(fake, "c1", "j1")
    fake.applications.append({**priya, "id": priya["id"] + 9000, "prospect": True, "status": "active"})
    fake.applications.append({**priya, "id": priya["id"] + 9001, "status": "converted"})
    assert [a.id for a in ats.applications_for(str(fake.ids["c1"]))] == [str(priya["id"])]
    assert ats.get_application(str(priya["id"] + 9001)) is None
    assert str(priya["id"] + 9000) not in {a.id for a in ats.active_applications()}


def test_stage_date_is_the_last_activity_in_the_company_time_zone(fake):
    ats = adapter(fake)
    priya = application_of(fake, "c1", "j1")
    priya["last_activity_at"] = "2026-11-10T03:30:00.000Z"  # still 9 November in New York
    application = ats.get_application(str(priya["id"]))
    assert application.stage_changed == dt.date(2026, 11, 9)
    assert application.applied_on == dt.date(2026, 11, 10)


def test_the_recruiter_falls_back_to_the_jobs_responsible_recruiter(fake):
    ats = adapter(fake)
    candidate_of(fake, "c1")["recruiter"] = None
    application = ats.applications_for(str(fake.ids["c1"]))[0]
    assert application.recruiter is not None and application.recruiter.name == "Dana Lee"
    assert application.recruiter.email == "dana@acme.example"  # read from users/{id}


def test_job_salary_remote_department_and_stages_in_order(fake):
    job = adapter(fake).get_job(str(fake.ids["j1"]))
    assert (job.location, job.remote, job.department) == ("Boston, MA", "hybrid", "AI Platform")
    assert (job.salary.min, job.salary.max, job.salary.currency) == (150000, 190000, "USD")
    assert job.description is None  # a Greenhouse job's notes are the hiring team's, not for candidates
    assert [s.name for s in job.stages][:2] == ["Application Review", "Recruiter Screen"]


def test_confidential_jobs_are_not_listed_to_candidates(fake):
    fake.jobs[0]["confidential"] = True
    titles = {job.title for job in adapter(fake).list_jobs()}
    assert fake.jobs[0]["name"] not in titles and len(titles) == len(SEED.jobs) - 1


# --- ids -------------------------------------------------------------------------------------------------


def test_an_id_that_is_not_a_greenhouse_id_makes_no_request(fake):
    ats = adapter(fake)
    for not_an_id in ("c1", "", " 12", "-1", "0", "1e3", "１２"):  # the last: full-width digits
        assert ats.get_candidate(not_an_id) is None
        assert ats.get_job(not_an_id) is None
        assert ats.get_recruiter(not_an_id) is None
        assert ats.get_application(not_an_id) is None
        assert ats.applications_for(not_an_id) == []
        with pytest.raises(ATSError):
            ats.add_note(not_an_id, "Interview booked")
    assert fake.requests_log == []


# --- the phone index -------------------------------------------------------------------------------------


def test_the_phone_index_is_reused_until_its_time_is_up(fake, clock):
    ats = adapter(fake, clock, phone_index_seconds=60, phone_rebuild_seconds=3600)
    assert ats.find_candidate_by_phone("+16175550101").name == "Priya Nair"
    assert ats.find_candidate_by_phone("+16175550102").name == "James Carter"
    assert ats.find_candidate_by_phone("+16175550199") is None  # an unknown number does not page either
    assert list_requests(fake, "/v1/candidates") == 1

    # A number written into Greenhouse now is not known until the index is brought up to date ...
    nora = candidate_of(fake, "c7")
    nora["phone_numbers"] = [{"value": "617.555.0199", "type": "mobile"}]
    nora["updated_at"] = "2026-12-01T09:00:00.000Z"
    clock.now += 59
    assert ats.find_candidate_by_phone("+16175550199") is None
    assert list_requests(fake, "/v1/candidates") == 1
    # ... once the index is older than its time, by asking only for the candidates updated since.
    clock.now += 2
    found = ats.find_candidate_by_phone("+16175550199")
    assert found is not None and found.name == "Nora Quinn" and found.phone == "+16175550199"
    assert list_requests(fake, "/v1/candidates") == 2
    assert "updated_after=" in [t for m, t in fake.requests_log if t.startswith("/v1/candidates?")][-1]


def test_the_phone_index_is_rebuilt_from_every_page_now_and_then(fake, clock):
    ats = adapter(fake, clock, phone_index_seconds=60, phone_rebuild_seconds=3600, page_size=4)
    ats.warm_phone_index()
    pages = list_requests(fake, "/v1/candidates")
    assert pages == 3  # ten candidates, four a page
    candidate_of(fake, "c7")["phone_numbers"] = [{"value": "+16175550199", "type": "mobile"}]  # updated_at kept
    clock.now += 3600
    assert ats.find_candidate_by_phone("+16175550199").name == "Nora Quinn"
    assert list_requests(fake, "/v1/candidates") == 2 * pages


def test_a_number_removed_since_the_index_was_built_finds_nobody(fake, clock):
    ats = adapter(fake, clock)
    assert ats.find_candidate_by_phone("+16175550101") is not None
    candidate_of(fake, "c1")["phone_numbers"] = []  # the index still has it; the profile no longer does
    assert ats.find_candidate_by_phone("+16175550101") is None


def test_a_number_on_profiles_of_two_different_people_finds_nobody(fake, clock):
    candidate_of(fake, "c7")["phone_numbers"] = [{"value": "+1 617 555 0101", "type": "home"}]
    assert adapter(fake, clock).find_candidate_by_phone("+16175550101") is None


def test_a_number_on_two_profiles_of_one_person_finds_the_latest(fake, clock):
    duplicate = {**candidate_of(fake, "c1"), "id": 499999, "last_activity": "2027-01-01T00:00:00.000Z"}
    fake.candidates.append(duplicate)
    assert adapter(fake, clock).find_candidate_by_phone("+16175550101").id == "499999"


# --- notes -----------------------------------------------------------------------------------------------


def test_notes_are_written_on_behalf_of_the_configured_user(fake):
    ats = adapter(fake, on_behalf_of=str(fake.ids["r2"]))
    application_id = str(application_of(fake, "c1", "j1")["id"])
    ats.add_note(application_id, "Interview booked by the candidate assistant")
    note = fake.notes[-1]  # the fake refuses a note without a valid On-Behalf-Of header (403)
    assert (note["candidate_id"], note["body"]) == (fake.ids["c1"], "Interview booked by the candidate assistant")
    assert (note["user"]["id"], note["visibility"]) == (fake.ids["r2"], "admin_only")


def test_a_note_needs_a_user_to_write_it_and_asks_nothing_without_one(fake):
    ats = adapter(fake, on_behalf_of=None)
    with pytest.raises(ATSConfigError, match="GREENHOUSE_USER_ID"):
        ats.add_note(str(application_of(fake, "c1", "j1")["id"]), "Interview booked")
    assert fake.requests_log == []


def test_a_note_author_greenhouse_refuses_names_the_setting(fake):
    ats = adapter(fake, on_behalf_of="123")  # no such user: the fake answers 403
    with pytest.raises(ATSAuthError, match="GREENHOUSE_USER_ID"):
        ats.add_note(str(application_of(fake, "c1", "j1")["id"]), "Interview booked")
    assert fake.notes == []


def test_a_note_after_reading_the_application_is_one_request(fake):
    ats = adapter(fake)
    application_id = str(application_of(fake, "c1", "j1")["id"])
    assert ats.applications_for(str(fake.ids["c1"]))
    before = len(fake.requests_log)
    ats.add_note(application_id, "Interview booked")
    assert [method for method, _ in fake.requests_log[before:]] == ["POST"]


def test_a_note_follows_an_application_moved_by_a_merge_of_profiles(fake):
    ats = adapter(fake)
    application = application_of(fake, "c1", "j1")
    assert ats.get_application(str(application["id"])) is not None
    fake.candidates = [c for c in fake.candidates if c["id"] != fake.ids["c1"]]  # merged into Nora's profile
    application["candidate_id"] = fake.ids["c7"]
    ats.add_note(str(application["id"]), "Interview booked")
    assert fake.notes_for(fake.ids["c7"]) == ["Interview booked"]
    assert [method for method, _ in fake.requests_log].count("POST") == 2  # the first was refused (404)


# --- configuration and pagination ------------------------------------------------------------------------


def test_from_settings_without_a_key_names_the_setting():
    settings = dataclasses.replace(Settings.from_env(), greenhouse_api_key=None)
    with pytest.raises(ATSConfigError, match="GREENHOUSE_API_KEY"):
        GreenhouseATS.from_settings(settings, SEED.company)


def test_from_settings_reads_the_fake_and_checks_the_note_author(fake):
    settings = dataclasses.replace(Settings.from_env(), greenhouse_api_key=fake.api_key,
                                   greenhouse_base_url=fake.base_url + "/v1", greenhouse_user_id=str(fake.ids["r1"]))
    ats = GreenhouseATS.from_settings(settings, SEED.company)
    ats.check_credentials()
    assert ats.client.deadline == settings.ats_timeout_seconds
    assert ats.get_recruiter(str(fake.ids["r1"])).name == "Dana Lee"
    wrong_user = GreenhouseATS.from_settings(dataclasses.replace(settings, greenhouse_user_id="123"), SEED.company)
    with pytest.raises(ATSConfigError, match="GREENHOUSE_USER_ID"):
        wrong_user.check_credentials()
    with pytest.raises(ATSConfigError, match="GREENHOUSE_USER_ID"):
        GreenhouseATS.from_settings(dataclasses.replace(settings, greenhouse_user_id="dana"), SEED.company)


def test_pagination_never_sends_the_key_to_another_host(fake, monkeypatch):
    ats = adapter(fake)
    followed = []
    first_page = HttpAnswer(200, [], {"link": '<https://elsewhere.example/v1/jobs?page=2>; rel="next"'})

    def get(path, params=None):
        followed.append(path)
        return first_page

    monkeypatch.setattr(ats.client, "get", get)
    with pytest.raises(ATSError, match="another host"):
        ats.list_jobs()
    assert followed == ["jobs"]
