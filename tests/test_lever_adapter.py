"""What only the Lever adapter does: archive reasons as statuses, phones stored as typed and the phone index,
Lever's page tokens, expanded applications, notes written as a user, and its settings. The shared behaviour is
in tests/test_ats_contract.py; these run against the same fake Lever API (tests/fakes/lever_api.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from bot.ats.base import ATS, Company
from bot.ats.http import ApiClient, ATSAuthError, ATSConfigError
from bot.ats.lever import LeverATS
from bot.settings import PROJECT_ROOT, Settings
from tests.fakes.lever_api import WITHDREW_REASON, FakeLeverAPI

SEED = yaml.safe_load((PROJECT_ROOT / "data" / "demo" / "ats_seed.yml").read_text())
COMPANY = Company(name="Acme Robotics", timezone="America/New_York")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def fake() -> Iterator[FakeLeverAPI]:
    api = FakeLeverAPI.from_seed(SEED).start()
    yield api
    api.stop()


def client(fake: FakeLeverAPI, key: str | None = None) -> ApiClient:
    return ApiClient(fake.base_url, (key or fake.api_key, ""), vendor="Lever", credential_setting="LEVER_API_KEY",
                     timeout=2.0, deadline=6.0)


def lever(fake: FakeLeverAPI, **options) -> LeverATS:
    options.setdefault("perform_as", fake.ids["user:r1"])
    return LeverATS(client(fake), COMPANY, **options)


def opportunity(fake: FakeLeverAPI, seed_application: str) -> dict:
    return next(o for o in fake.opportunities if o["id"] == fake.ids[f"opportunity:{seed_application}"])


def add_reason(fake: FakeLeverAPI, text: str, kind: str) -> str:
    reason_id = str(uuid.uuid4())
    fake.archive_reasons.append({"id": reason_id, "text": text, "status": "active", "type": kind})
    return reason_id


def queries(fake: FakeLeverAPI, method: str = "GET") -> list[tuple[str, dict[str, list[str]]]]:
    parsed = [urllib.parse.urlsplit(path) for logged_method, path in fake.requests_log if logged_method == method]
    return [(url.path, urllib.parse.parse_qs(url.query)) for url in parsed]


def opportunities_of(fake: FakeLeverAPI, seed_candidate: str) -> list[dict]:
    return [o for o in fake.opportunities if o["contact"] == fake.ids[f"contact:{seed_candidate}"]]


def index_reads(fake: FakeLeverAPI) -> list[dict[str, list[str]]]:
    """The opportunity lists read for the phone index (re-reads of a hit ask for a contact_id)."""
    return [query for path, query in queries(fake) if path == "/v1/opportunities" and "contact_id" not in query]


# --- statuses from archive reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "kind", "status"), [
    ("Hired", "hired", "hired"),
    ("Accepted our offer", "hired", "hired"),  # the reason's type says hired, whatever its name
    ("Withdrew", "non-hired", "withdrawn"),
    ("Candidate withdrew", "non-hired", "withdrawn"),
    ("Underqualified", "non-hired", "rejected"),
    ("Position closed", "non-hired", "rejected"),
])
def test_archive_reason_decides_the_status(fake: FakeLeverAPI, text: str, kind: str, status: str) -> None:
    priya = opportunity(fake, "c1-j1-0")
    priya["archived"] = {"archivedAt": priya["updatedAt"], "reason": add_reason(fake, text, kind)}
    [application] = lever(fake).applications_for(fake.ids["contact:c1"])
    assert (application.stage, application.status) == ("Technical Interview", status)


def test_an_unarchived_opportunity_is_active_and_an_unknown_reason_counts_as_rejected(fake: FakeLeverAPI) -> None:
    ats = lever(fake)
    assert ats.get_application(fake.ids["opportunity:c1-j1-0"]).status == "active"
    opportunity(fake, "c1-j1-0")["archived"] = {"archivedAt": 0, "reason": str(uuid.uuid4())}
    assert ats.get_application(fake.ids["opportunity:c1-j1-0"]).status == "rejected"


def test_archived_date_is_when_the_status_changed(fake: FakeLeverAPI) -> None:
    omar = opportunity(fake, "c8-j2-1")
    assert fake.archive_reasons and omar["archived"]["reason"] == fake.ids[f"archive_reason:{WITHDREW_REASON}"]
    omar["archived"]["archivedAt"] = _ms(dt.datetime(2026, 10, 25, 15, tzinfo=dt.timezone.utc))
    withdrawn = lever(fake).get_application(omar["id"])
    assert (withdrawn.status, withdrawn.stage_changed) == ("withdrawn", dt.date(2026, 10, 25))


# --- dates --------------------------------------------------------------------------------------------------------


def test_dates_are_days_in_the_company_time_zone(fake: FakeLeverAPI) -> None:
    priya = opportunity(fake, "c1-j1-0")
    late_evening_in_boston = _ms(dt.datetime(2026, 11, 12, 3, 30, tzinfo=dt.timezone.utc))  # 22:30 on the 11th
    priya["stageChanges"][-1]["updatedAt"] = late_evening_in_boston
    application = lever(fake).get_application(priya["id"])
    assert application.stage_changed == dt.date(2026, 11, 11)
    assert application.applied_on is not None and application.applied_on <= application.stage_changed


# --- phones as recruiters typed them ------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["(617) 555-0101", "617.555.0101", " +1 617 555 0101 ", "1-617-555-0101"])
def test_a_phone_stored_unnormalised_still_matches(fake: FakeLeverAPI, typed: str) -> None:
    for found in fake.opportunities:
        if found["contact"] == fake.ids["contact:c1"]:
            found["phones"] = [{"type": "mobile", "value": typed}]
    priya = lever(fake).find_candidate_by_phone("+16175550101")
    assert priya is not None and priya.id == fake.ids["contact:c1"] and priya.phone == "+16175550101"
    assert lever(fake).get_candidate(priya.id).phone == "+16175550101"  # shown in E.164, as the embedded ATS


def test_a_foreign_number_typed_without_country_code_matches_that_country(fake: FakeLeverAPI) -> None:
    for found in fake.opportunities:
        if found["contact"] == fake.ids["contact:c9"]:
            found["phones"] = [{"type": "mobile", "value": "0151 12345678"}]  # not a valid US number
    ats = lever(fake)
    lena = ats.find_candidate_by_phone("+4915112345678")
    assert lena is not None and (lena.name, lena.phone) == ("Lena Fischer", "+4915112345678")
    before = len(fake.requests_log)
    assert ats.find_candidate_by_phone("+16175555678") is None  # same last digits, but a US number: not her
    assert ats.find_candidate_by_phone("+4915112340000") is None
    assert len(fake.requests_log) == before


def test_a_phone_or_email_shared_by_two_contacts_finds_no_one(fake: FakeLeverAPI) -> None:
    ats = lever(fake)
    for found in fake.opportunities:
        if found["contact"] == fake.ids["contact:c3"]:
            found["phones"] = [{"type": "home", "value": "+1 (617) 555-0101"}]  # Priya's number
            found["emails"] = ["priya@example.com"]
    assert ats.find_candidate_by_phone("+16175550101") is None
    assert ats.find_candidate_by_email("priya@example.com") is None
    assert ats.find_candidate_by_phone("+16175550102").name == "James Carter"


def test_the_first_phone_lookup_reads_every_page_because_lever_cannot_filter_by_phone(fake: FakeLeverAPI) -> None:
    ats = lever(fake, page_size=5)
    assert ats.find_candidate_by_phone("+16175550199") is None
    pages = [query for path, query in queries(fake) if path == "/v1/opportunities"]
    assert len(pages) == 3  # 12 opportunities, 5 a page
    assert all("phone" not in query for query in pages)


# --- the phone index --------------------------------------------------------------------------------------


def test_later_phone_lookups_use_the_index_and_reread_only_the_hit(fake: FakeLeverAPI) -> None:
    ats = lever(fake, clock=Clock(), page_size=5)
    assert ats.find_candidate_by_phone("+16175550101").name == "Priya Nair"
    assert len(fake.requests_log) == 3 + 1  # every page, then the hit re-read

    before = len(fake.requests_log)
    james = ats.find_candidate_by_phone("+16175550102")  # typed "(617) 555-0102", on two opportunities
    assert james is not None and (james.name, james.phone) == ("James Carter", "+16175550102")
    [(path, query)] = queries(fake)[before:]  # one request: the hit re-read, for its contact
    assert path == "/v1/opportunities" and query["contact_id"] == [fake.ids["contact:c2"]]

    before = len(fake.requests_log)
    assert ats.find_candidate_by_phone("+16175550199") is None  # a number nobody has costs no request
    assert ats.find_candidate_by_phone("+16175550101").name == "Priya Nair"
    assert len(fake.requests_log) - before == 1
    assert len(index_reads(fake)) == 3


def test_a_new_opportunity_is_found_once_the_index_is_brought_up_to_date(fake: FakeLeverAPI) -> None:
    clock = Clock()
    ats = lever(fake, clock=clock, phone_index_seconds=60, phone_rebuild_seconds=3600)
    assert ats.find_candidate_by_phone("+16175550199") is None
    newest = max(o["updatedAt"] for o in fake.opportunities)
    added = {**opportunities_of(fake, "c7")[0], "id": str(uuid.uuid4()), "contact": str(uuid.uuid4()),
             "name": "Ada Brooks", "emails": ["ada@example.com"],
             "phones": [{"type": "mobile", "value": "617-555-0199"}],
             "createdAt": newest + 5_000, "updatedAt": newest + 5_000}
    fake.opportunities.append(added)

    # Not known before the index is due ...
    clock.now += 59
    assert ats.find_candidate_by_phone("+16175550199") is None
    assert len(index_reads(fake)) == 1
    # ... then one request for what changed since the newest update seen (on Lever's clock), and the re-read.
    clock.now += 2
    before = len(fake.requests_log)
    ada = ats.find_candidate_by_phone("+16175550199")
    assert ada is not None and (ada.id, ada.name, ada.phone) == (added["contact"], "Ada Brooks", "+16175550199")
    assert len(fake.requests_log) - before == 2
    refresh = index_reads(fake)[-1]
    assert int(refresh["updated_at_start"][0]) <= newest  # from the newest seen, with some overlap
    assert len(index_reads(fake)) == 2


def test_an_edited_number_is_found_after_the_refresh(fake: FakeLeverAPI) -> None:
    clock = Clock()
    ats = lever(fake, clock=clock)
    assert ats.find_candidate_by_phone("+16175550199") is None
    for found in opportunities_of(fake, "c7"):
        found["phones"] = [{"type": "mobile", "value": "(617) 555-0199"}]
        found["updatedAt"] = max(o["updatedAt"] for o in fake.opportunities) + 1
    clock.now += 61
    assert ats.find_candidate_by_phone("+16175550199").name == "Nora Quinn"


def test_the_index_is_rebuilt_from_every_page_now_and_then(fake: FakeLeverAPI) -> None:
    clock = Clock()
    ats = lever(fake, clock=clock, page_size=5, phone_index_seconds=60, phone_rebuild_seconds=3600)
    ats.warm_phone_index()
    assert len(index_reads(fake)) == 3
    for found in opportunities_of(fake, "c7"):
        found["phones"] = [{"type": "mobile", "value": "+1 617 555 0199"}]  # updatedAt not moved
    clock.now += 61
    assert ats.find_candidate_by_phone("+16175550199") is None  # the refresh cannot see it ...
    assert len(index_reads(fake)) == 4 and "updated_at_start" in index_reads(fake)[-1]
    clock.now += 3600
    assert ats.find_candidate_by_phone("+16175550199").name == "Nora Quinn"  # ... the rebuild does
    assert [query for query in index_reads(fake)[4:] if "updated_at_start" not in query] == index_reads(fake)[4:]
    assert len(index_reads(fake)) == 4 + 3


def test_a_number_removed_since_the_index_was_built_finds_nobody(fake: FakeLeverAPI) -> None:
    ats = lever(fake, clock=Clock())
    assert ats.find_candidate_by_phone("+16175550101").name == "Priya Nair"
    for found in opportunities_of(fake, "c1"):
        found["phones"] = []  # the index still has it (updatedAt not moved); the profile no longer does
    assert ats.find_candidate_by_phone("+16175550101") is None
    before = len(fake.requests_log)
    assert ats.find_candidate_by_phone("+16175550101") is None
    assert len(fake.requests_log) == before  # the re-read put the index right


def test_a_number_moved_to_someone_else_finds_them(fake: FakeLeverAPI) -> None:
    clock = Clock()
    ats = lever(fake, clock=clock)
    assert ats.find_candidate_by_phone("+16175550101").name == "Priya Nair"
    for found in opportunities_of(fake, "c1"):
        found["phones"] = []
    for found in opportunities_of(fake, "c7"):
        found["phones"] = [{"type": "mobile", "value": "+16175550101"}]
        found["updatedAt"] = max(o["updatedAt"] for o in fake.opportunities) + 1
    assert ats.find_candidate_by_phone("+16175550101") is None  # not yet known to be Nora's: nobody
    clock.now += 61
    assert ats.find_candidate_by_phone("+16175550101").name == "Nora Quinn"


def test_a_number_that_becomes_shared_by_two_contacts_finds_no_one(fake: FakeLeverAPI) -> None:
    clock = Clock()
    ats = lever(fake, clock=clock)
    assert ats.find_candidate_by_phone("+16175550101").name == "Priya Nair"
    for found in opportunities_of(fake, "c3"):
        found["phones"] = [{"type": "home", "value": "+1 (617) 555-0101"}]
        found["updatedAt"] = max(o["updatedAt"] for o in fake.opportunities) + 1
    clock.now += 61
    before = len(fake.requests_log)
    assert ats.find_candidate_by_phone("+16175550101") is None
    assert len(fake.requests_log) - before == 2  # the refresh, and one re-read for both contacts
    assert sorted(queries(fake)[-1][1]["contact_id"]) == sorted([fake.ids["contact:c1"], fake.ids["contact:c3"]])


def test_concurrent_first_lookups_build_the_index_once(fake: FakeLeverAPI) -> None:
    ats = lever(fake, clock=Clock(), page_size=5)
    numbers = {"+16175550101": "Priya Nair", "+16175550102": "James Carter", "+4915112345678": "Lena Fischer",
               "+16175550199": None}
    start = threading.Barrier(8)

    def look_up(number: str) -> str | None:
        start.wait()
        found = ats.find_candidate_by_phone(number)
        return found.name if found else None

    wanted = [*numbers] * 2
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(look_up, wanted))
    assert answers == [numbers[n] for n in wanted]
    assert len(index_reads(fake)) == 3  # one build, whoever came first


def test_a_number_that_is_not_one_costs_no_request(fake: FakeLeverAPI) -> None:
    ats = lever(fake)
    assert ats.find_candidate_by_phone("12") is None
    assert ats.find_candidate_by_email("not an email") is None
    assert fake.requests_log == []


# --- pagination -----------------------------------------------------------------------------------------------


def test_lists_follow_lever_next_tokens(fake: FakeLeverAPI) -> None:
    ats = lever(fake, page_size=2)
    assert len(ats.active_applications()) == sum(o["archived"] is None and bool(o["applications"])
                                                 for o in fake.opportunities)
    assert sorted(job.title for job in ats.list_jobs()) == sorted(job["title"] for job in SEED["jobs"])
    pages = [query for path, query in queries(fake) if path == "/v1/opportunities"]
    assert len(pages) == 4  # 8 active opportunities, 2 a page
    assert all(query["limit"] == ["2"] and query["archived"] == ["false"] for query in pages)
    assert "offset" not in pages[0] and all(len(query["offset"]) == 1 for query in pages[1:])
    assert len({query["offset"][0] for query in pages[1:]}) == 3  # each page's own token, copied from `next`


def test_page_size_is_within_lever_limits(fake: FakeLeverAPI) -> None:
    for wrong in (0, 101):
        with pytest.raises(ValueError):
            lever(fake, page_size=wrong)


# --- lookups --------------------------------------------------------------------------------------------------


def test_empty_or_impossible_ids_answer_none_without_a_request(fake: FakeLeverAPI) -> None:
    ats = lever(fake)
    for bad in ("", "   ", "../users", "a b", "id?x=1"):
        assert ats.get_candidate(bad) is None
        assert ats.applications_for(bad) == []
        assert ats.get_application(bad) is None
        assert ats.get_job(bad) is None
        assert ats.get_recruiter(bad) is None
    assert fake.requests_log == []


def test_an_unknown_contact_is_none(fake: FakeLeverAPI) -> None:
    assert lever(fake).get_candidate(str(uuid.uuid4())) is None
    assert lever(fake).applications_for(str(uuid.uuid4())) == []


def test_a_candidate_with_no_posting_has_no_applications(fake: FakeLeverAPI) -> None:
    nora = lever(fake).find_candidate_by_email("nora.quinn@example.com")
    assert nora is not None and nora.id == fake.ids["contact:c7"]
    assert lever(fake).applications_for(nora.id) == []


def test_expanded_applications_need_no_extra_request(fake: FakeLeverAPI) -> None:
    ats = lever(fake)
    [application] = ats.applications_for(fake.ids["contact:c1"])
    assert application.job.id == fake.ids["posting:j1"]
    assert ats.get_application(application.id).job.id == fake.ids["posting:j1"]
    assert not any(path.endswith("/applications") for path, _ in queries(fake))
    assert all(query.get("expand") == ["applications"] for path, query in queries(fake)
               if path.startswith("/v1/opportunities"))


def test_active_applications_read_pages_of_opportunities_only(fake: FakeLeverAPI) -> None:
    ats = lever(fake, page_size=3)
    active = ats.active_applications()
    assert len(active) == sum(o["archived"] is None and bool(o["applications"]) for o in fake.opportunities)
    assert {a.job.id for a in active} <= {p["id"] for p in fake.postings}
    opportunity_reads = [(path, query) for path, query in queries(fake) if path.startswith("/v1/opportunities")]
    assert len(opportunity_reads) == 3  # 8 active opportunities, 3 a page: no read per opportunity
    assert all(path == "/v1/opportunities" and query["expand"] == ["applications"]
               for path, query in opportunity_reads)


def test_an_answer_without_expanded_applications_reads_them_separately(fake: FakeLeverAPI,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake, "_with_applications", lambda found: found)  # a Lever that ignored `expand`
    [application] = lever(fake).applications_for(fake.ids["contact:c1"])
    assert application.job.id == fake.ids["posting:j1"]
    assert [path for path, _ in queries(fake) if path.endswith("/applications")] == [
        f"/v1/opportunities/{fake.ids['opportunity:c1-j1-0']}/applications"]


def test_a_deactivated_recruiter_is_nobody_to_contact(fake: FakeLeverAPI) -> None:
    next(u for u in fake.users if u["id"] == fake.ids["user:r1"])["deactivatedAt"] = 1
    ats = lever(fake)
    assert ats.get_recruiter(fake.ids["user:r1"]) is None
    assert ats.applications_for(fake.ids["contact:c1"])[0].recruiter is None


# --- jobs ---------------------------------------------------------------------------------------------------------


def test_every_job_has_the_company_pipeline_in_lever_order(fake: FakeLeverAPI) -> None:
    pipeline = [stage["text"] for stage in fake.stages]
    for job in lever(fake).list_jobs():
        assert [stage.name for stage in job.stages] == pipeline
        seeded = next(j for j in SEED["jobs"] if j["title"] == job.title)
        names = [s if isinstance(s, str) else s["name"] for s in seeded["stages"]]
        assert sorted(names, key=pipeline.index) == names  # the job's own steps keep their order


@pytest.mark.parametrize(("workplace", "remote"), [
    ("onsite", "onsite"), ("hybrid", "hybrid"), ("remote", "remote"), ("unspecified", None), ("", None),
    (None, None), ("floating", None),
])
def test_workplace_type_maps_to_remote_policy(fake: FakeLeverAPI, workplace: str | None, remote: str | None) -> None:
    fake.postings[0]["workplaceType"] = workplace
    assert lever(fake).get_job(fake.postings[0]["id"]).remote == remote


def test_only_a_yearly_salary_range_is_quoted(fake: FakeLeverAPI) -> None:
    posting = fake.postings[0]
    posting["salaryRange"] = {"min": 150000, "max": 190000, "currency": "usd", "interval": "per-year-salary"}
    assert lever(fake, job_cache_seconds=0).get_job(posting["id"]).salary.currency == "USD"
    posting["salaryRange"] = {"min": 70, "max": 90, "currency": "USD", "interval": "per-hour-wage"}
    assert lever(fake, job_cache_seconds=0).get_job(posting["id"]).salary is None
    posting["salaryRange"] = None
    assert lever(fake, job_cache_seconds=0).get_job(posting["id"]).salary is None


def test_list_jobs_shows_only_published_public_postings(fake: FakeLeverAPI) -> None:
    fake.postings[0]["state"] = "draft"
    fake.postings[1]["distributionChannels"] = ["internal"]
    ats = lever(fake)
    listed = {job.id for job in ats.list_jobs()}
    assert listed == {p["id"] for p in fake.postings[2:]}
    assert ats.get_job(fake.postings[0]["id"]) is not None  # a candidate's own job, whatever its state
    assert [query.get("state") for path, query in queries(fake) if path == "/v1/postings"] == [["published"]]


def test_job_data_expires_after_the_cache_time(fake: FakeLeverAPI) -> None:
    ats = lever(fake, job_cache_seconds=0)
    posting = fake.postings[0]
    assert ats.get_job(posting["id"]).title == "Machine Learning Engineer"
    posting["text"] = "Senior Machine Learning Engineer"
    assert ats.get_job(posting["id"]).title == "Senior Machine Learning Engineer"


# --- notes ----------------------------------------------------------------------------------------------------


def test_notes_are_written_as_the_perform_as_user(fake: FakeLeverAPI) -> None:
    priya = fake.ids["opportunity:c1-j1-0"]
    lever(fake, perform_as=fake.ids["user:r2"]).add_note(priya, "Interview booked: Tue 1 Dec 10:00 EST")
    assert fake.notes_on(priya) == ["Interview booked: Tue 1 Dec 10:00 EST"]
    [(path, query)] = queries(fake, "POST")
    assert path == f"/v1/opportunities/{priya}/notes" and query == {"perform_as": [fake.ids["user:r2"]]}
    assert fake.notes[0]["user"] == fake.ids["user:r2"]


def test_a_note_without_perform_as_is_a_configuration_error(fake: FakeLeverAPI) -> None:
    with pytest.raises(ATSConfigError, match="LEVER_USER_ID"):
        lever(fake, perform_as=None).add_note(fake.ids["opportunity:c1-j1-0"], "Interview booked")
    assert fake.requests_log == []


# --- settings and credentials ------------------------------------------------------------------------------


def settings(monkeypatch: pytest.MonkeyPatch, **values) -> Settings:
    for name in ("LEVER_API_KEY", "LEVER_BASE_URL", "LEVER_USER_ID"):
        monkeypatch.delenv(name, raising=False)
    return dataclasses.replace(Settings.from_env(), **values)


def test_from_settings_without_a_key_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ATSConfigError, match="LEVER_API_KEY"):
        LeverATS.from_settings(settings(monkeypatch), COMPANY)


def test_from_settings_builds_a_working_adapter(monkeypatch: pytest.MonkeyPatch, fake: FakeLeverAPI) -> None:
    ats = LeverATS.from_settings(settings(monkeypatch, lever_api_key=fake.api_key, lever_base_url=fake.base_url,
                                          lever_user_id=fake.ids["user:r1"], ats_request_timeout_seconds=1.5,
                                          ats_timeout_seconds=4.0), COMPANY)
    assert isinstance(ats, ATS) and ats.company() == COMPANY
    assert (ats.client.timeout, ats.client.deadline, ats.client.credential_setting) == (1.5, 4.0, "LEVER_API_KEY")
    ats.check_credentials()
    assert ats.find_candidate_by_email("priya@example.com").name == "Priya Nair"
    ats.add_note(fake.ids["opportunity:c1-j1-0"], "Interview booked")
    assert fake.notes_on(fake.ids["opportunity:c1-j1-0"]) == ["Interview booked"]


def test_check_credentials(fake: FakeLeverAPI) -> None:
    with pytest.raises(ATSAuthError, match="LEVER_API_KEY"):
        LeverATS(client(fake, key="wrong"), COMPANY).check_credentials()
    wrong_root = ApiClient(fake.base_url.removesuffix("/v1"), (fake.api_key, ""), vendor="Lever",
                           credential_setting="LEVER_API_KEY", timeout=2.0, deadline=6.0)
    with pytest.raises(ATSConfigError, match="LEVER_BASE_URL"):
        LeverATS(wrong_root, COMPANY).check_credentials()
    lever(fake).check_credentials()
    assert queries(fake)[-1] == ("/v1/users", {"limit": ["1"]})


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)
