"""The fake Lever Data API behaves like Lever's documented v1 API (auth, pages, errors, notes, seed data)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.fakes.lever_api import HIRED_REASON, REJECTED_REASON, WITHDREW_REASON, FakeLeverAPI, lever_id

SEED = yaml.safe_load((Path(__file__).resolve().parent.parent / "data" / "demo" / "ats_seed.yml").read_text())


@pytest.fixture()
def lever():
    fake = FakeLeverAPI.from_seed(SEED).start()
    yield fake
    fake.stop()


def _get(fake: FakeLeverAPI, path: str, timeout: float = 5, **params) -> requests.Response:
    return requests.get(fake.base_url + path, params=params, auth=(fake.api_key, ""), timeout=timeout)


def _all(fake: FakeLeverAPI, path: str, **params) -> list[dict]:
    items: list[dict] = []
    offset = None
    for _ in range(100):
        response = _get(fake, path, **params, **({"offset": offset} if offset else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["data"])
        if not body["hasNext"]:
            assert "next" not in body
            return items
        offset = body["next"]
    raise AssertionError("pagination never ended")


def test_every_request_needs_the_api_key_as_basic_username(lever):
    missing = requests.get(lever.base_url + "/opportunities", timeout=5)
    wrong = requests.get(lever.base_url + "/opportunities", auth=("not-the-key", ""), timeout=5)
    with_password = requests.get(lever.base_url + "/opportunities", auth=(lever.api_key, "x"), timeout=5)
    for response in (missing, wrong, with_password):
        assert response.status_code == 401
        assert response.json()["code"] == "UnauthorizedError" and response.json()["message"]
    assert _get(lever, "/opportunities").status_code == 200


def test_pagination_follows_next_until_has_next_is_false(lever):
    first = _get(lever, "/opportunities", limit=2).json()
    assert len(first["data"]) == 2 and first["hasNext"] is True and isinstance(first["next"], str)
    paged = _all(lever, "/opportunities", limit=2)
    assert [o["id"] for o in paged] == [o["id"] for o in lever.opportunities]
    assert len({o["id"] for o in paged}) == len(paged) == 12  # 11 applications, and Nora with none
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"offset": "garbage"}):
        response = _get(lever, "/opportunities", **bad)
        assert response.status_code == 400 and response.json()["code"] == "BadRequestError"


def test_email_posting_and_archived_filters(lever):
    james = _all(lever, "/opportunities", email="James.Carter@example.com")
    assert len(james) == 2 and {o["name"] for o in james} == {"James Carter"}
    assert len({o["contact"] for o in james}) == 1  # one person, two candidacies
    assert _all(lever, "/opportunities", email="nobody@example.com") == []

    j5 = lever.ids["posting:j5"]
    on_j5 = _all(lever, "/opportunities", posting_id=j5)
    assert {o["name"] for o in on_j5} == {"James Carter", "Tom Becker", "Lena Fischer"}
    archived = _all(lever, "/opportunities", archived="true")
    assert {o["name"] for o in archived} == {"Mei Tanaka", "Luis Romero", "Tom Becker", "Omar Haddad"}
    active = _all(lever, "/opportunities", archived="false")
    assert len(active) + len(archived) == len(lever.opportunities)


def test_updated_at_filters_are_inclusive_milliseconds(lever):
    moments = sorted({o["updatedAt"] for o in lever.opportunities})
    middle = moments[len(moments) // 2]
    since = _all(lever, "/opportunities", updated_at_start=middle)
    until = _all(lever, "/opportunities", updated_at_end=middle)
    assert since and all(o["updatedAt"] >= middle for o in since)
    assert until and all(o["updatedAt"] <= middle for o in until)
    assert len(since) + len(until) == len(lever.opportunities) + sum(o["updatedAt"] == middle
                                                                      for o in lever.opportunities)
    exactly = _all(lever, "/opportunities", updated_at_start=middle, updated_at_end=middle)
    assert {o["id"] for o in exactly} == {o["id"] for o in lever.opportunities if o["updatedAt"] == middle}
    assert _get(lever, "/opportunities", updated_at_start="yesterday").status_code == 400


def test_expand_applications_replaces_the_ids_with_the_applications(lever):
    priya_id = lever.ids["opportunity:c1-j1-0"]
    plain = _get(lever, f"/opportunities/{priya_id}").json()["data"]
    assert plain["applications"] == [lever.ids["application:c1-j1-0"]]
    expanded = _get(lever, f"/opportunities/{priya_id}", expand="applications").json()["data"]
    [application] = expanded["applications"]
    assert application == _get(lever, f"/opportunities/{priya_id}/applications").json()["data"][0]
    assert application["posting"] == lever.ids["posting:j1"]
    listed = _all(lever, "/opportunities", expand="applications", limit=5)
    assert all(isinstance(a, dict) and a["opportunityId"] == o["id"] for o in listed for a in o["applications"])
    assert [len(o["applications"]) for o in listed] == [len(o["applications"]) for o in lever.opportunities]
    assert all(isinstance(a, str) for o in lever.opportunities for a in o["applications"])  # stored as ids still


def test_429_with_retry_after_then_success(lever):
    lever.fail_next(1, "429")
    limited = _get(lever, "/stages")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert _get(lever, "/stages").status_code == 200


def test_500_then_success(lever):
    lever.fail_next(1, "500")
    assert _get(lever, "/users").status_code == 500
    assert _get(lever, "/users").status_code == 200
    assert len(lever.requests_log) == 2


def test_a_hang_times_the_client_out(lever):
    lever.fail_next(1, "hang")
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        _get(lever, "/postings", timeout=1)
    assert time.monotonic() - started < 5
    assert _get(lever, "/postings").status_code == 200


def test_from_seed_matches_the_demo_seed(lever):
    seed_candidates = {c["id"]: c for c in SEED["candidates"]}
    by_email = {}
    for opportunity in _all(lever, "/opportunities"):
        by_email.setdefault(opportunity["emails"][0], []).append(opportunity)
    for candidate in seed_candidates.values():
        opportunities = by_email[candidate["email"]]
        assert len(opportunities) == max(1, len(candidate["applications"]))
        for opportunity in opportunities:
            assert opportunity["name"] == candidate["name"]
            assert opportunity["phones"] == [{"type": "mobile", "value": candidate["phone"]}]
            assert opportunity["contact"] == lever.ids[f"contact:{candidate['id']}"] == lever_id(
                "contact", candidate["id"])

    stage_names = {s["text"] for s in _all(lever, "/stages")}
    seed_names = {s if isinstance(s, str) else s["name"] for job in SEED["jobs"] for s in job["stages"]}
    assert stage_names == seed_names and len(lever.stages) == len(seed_names)
    stages = {s["id"]: s["text"] for s in lever.stages}
    reasons = {r["id"]: r for r in _all(lever, "/archive_reasons")}

    priya = _get(lever, f"/opportunities/{lever.ids['opportunity:c1-j1-0']}").json()["data"]
    assert stages[priya["stage"]] == "Technical Interview" and priya["archived"] is None
    assert priya["owner"] == lever.ids["user:r1"] and priya["stageChanges"][-1]["toStageId"] == priya["stage"]
    assert priya["stageChanges"][-1]["updatedAt"] == 1794286800000  # 2026-11-10 00:00 America/New_York, in ms
    applications = _get(lever, f"/opportunities/{priya['id']}/applications").json()["data"]
    assert [a["posting"] for a in applications] == [lever.ids["posting:j1"]]
    posting = _get(lever, f"/postings/{lever.ids['posting:j1']}").json()["data"]
    assert posting["text"] == "Machine Learning Engineer" and posting["categories"]["location"] == "Boston, MA"
    assert posting["workplaceType"] == "hybrid" and posting["salaryRange"]["min"] == 150000
    dana = _get(lever, f"/users/{lever.ids['user:r1']}").json()["data"]
    assert (dana["name"], dana["email"]) == ("Dana Lee", "dana@acme.example")

    def reason_of(key: str) -> dict:
        opportunity = _get(lever, f"/opportunities/{lever.ids[key]}").json()["data"]
        return reasons[opportunity["archived"]["reason"]]

    assert reason_of("opportunity:c6-j5-0")["text"] == HIRED_REASON
    assert reason_of("opportunity:c6-j5-0")["type"] == "hired"
    assert reason_of("opportunity:c3-j3-0")["text"] == REJECTED_REASON
    assert reason_of("opportunity:c3-j3-0")["type"] == "non-hired"
    assert reason_of("opportunity:c8-j2-1")["text"] == WITHDREW_REASON
    assert FakeLeverAPI.from_seed(SEED).ids == lever.ids  # deterministic


def test_unknown_ids_are_404(lever):
    for path in ("/opportunities/nope", "/opportunities/nope/applications", "/postings/nope", "/stages/nope",
                 "/users/nope", "/nothing-here"):
        response = _get(lever, path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "ResourceNotFound" and response.json()["message"]


def test_creating_a_note_needs_perform_as(lever):
    opportunity = lever.ids["opportunity:c1-j1-0"]
    url = f"{lever.base_url}/opportunities/{opportunity}/notes"
    auth = (lever.api_key, "")
    missing = requests.post(url, json={"value": "Asked about salary"}, auth=auth, timeout=5)
    assert missing.status_code == 400 and missing.json()["code"] == "BadRequestError"
    unknown_user = requests.post(url, params={"perform_as": "nobody"}, json={"value": "x"}, auth=auth, timeout=5)
    assert unknown_user.status_code == 400
    no_value = requests.post(url, params={"perform_as": lever.ids["user:r1"]}, json={}, auth=auth, timeout=5)
    assert no_value.status_code == 400
    assert lever.notes == []

    created = requests.post(url, params={"perform_as": lever.ids["user:r1"]}, json={"value": "Asked about salary"},
                            auth=auth, timeout=5)
    assert created.status_code == 201
    note_id = created.json()["data"]["noteId"]
    assert lever.notes_on(opportunity) == ["Asked about salary"]
    listed = _get(lever, f"/opportunities/{opportunity}/notes").json()["data"]
    assert [(n["id"], n["user"]) for n in listed] == [(note_id, lever.ids["user:r1"])]
    gone = requests.post(f"{lever.base_url}/opportunities/nope/notes", params={"perform_as": lever.ids["user:r1"]},
                         json={"value": "x"}, auth=auth, timeout=5)
    assert gone.status_code == 404
