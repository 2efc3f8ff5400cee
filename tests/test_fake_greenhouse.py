"""The fake Greenhouse Harvest API behaves as the Harvest docs say, so an adapter tested on it can be trusted."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import yaml

from bot.ats.seed import read_seed_file
from tests.fakes.greenhouse_api import FakeGreenhouseAPI

DEMO_SEED = Path(__file__).resolve().parent.parent / "data" / "demo" / "ats_seed.yml"


def _candidate(number: int, email: str) -> dict:
    return {"id": number, "first_name": f"First{number}", "last_name": f"Last{number}", "created_at":
            "2026-01-01T00:00:00.000Z", "updated_at": f"2026-01-{number:02d}T00:00:00.000Z",
            "phone_numbers": [{"value": f"+1617555{number:04d}", "type": "mobile"}],
            "email_addresses": [{"value": email, "type": "personal"}], "recruiter": None}


@pytest.fixture
def fake():
    api = FakeGreenhouseAPI(hang_seconds=3)
    api.candidates = [_candidate(n, f"person{n}@example.com") for n in range(1, 6)]
    api.users = [{"id": 77, "name": "Dana Lee", "first_name": "Dana", "last_name": "Lee",
                  "primary_email_address": "dana@acme.example", "emails": ["dana@acme.example"],
                  "employee_id": None, "created_at": "2026-01-01T00:00:00.000Z",
                  "updated_at": "2026-01-01T00:00:00.000Z"}]
    api.start()
    yield api
    api.stop()


@pytest.fixture
def demo():
    api = FakeGreenhouseAPI.from_seed(yaml.safe_load(DEMO_SEED.read_text(encoding="utf-8"))).start()
    yield api
    api.stop()


def _get(api: FakeGreenhouseAPI, path: str, **kwargs) -> requests.Response:
    url = path if path.startswith("http") else api.base_url + path
    return requests.get(url, auth=(api.api_key, ""), timeout=5, **kwargs)


def test_auth_is_basic_with_the_api_key_and_a_blank_password(fake):
    for auth in (None, ("wrong", ""), (fake.api_key, "not-blank")):
        answer = requests.get(fake.base_url + "/v1/candidates", auth=auth, timeout=5)
        assert answer.status_code == 401
        assert answer.json() == {"message": "Invalid Basic Auth credentials"}
    assert _get(fake, "/v1/candidates").status_code == 200


def test_following_link_next_collects_every_candidate_once(fake):
    first = _get(fake, "/v1/candidates", params={"per_page": 2})
    assert f'<{fake.base_url}/v1/candidates?page=2&per_page=2>; rel="next"' in first.headers["Link"]
    assert f'<{fake.base_url}/v1/candidates?page=3&per_page=2>; rel="last"' in first.headers["Link"]
    seen, pages, answer = [], 0, first
    while True:
        pages += 1
        assert answer.status_code == 200
        seen += [c["id"] for c in answer.json()]
        if "next" not in answer.links:
            break
        answer = _get(fake, answer.links["next"]["url"])
    assert pages == 3
    assert sorted(seen) == [1, 2, 3, 4, 5] and len(seen) == len(set(seen))
    assert answer.links["prev"]["url"].endswith("page=2&per_page=2")


def test_one_page_has_no_link_header_and_per_page_is_bounded(fake):
    answer = _get(fake, "/v1/candidates")
    assert "Link" not in answer.headers and len(answer.json()) == 5
    assert answer.headers["X-RateLimit-Limit"] == "50"
    assert _get(fake, "/v1/candidates", params={"per_page": 501}).status_code == 422


def test_email_filter_finds_only_that_candidate(fake):
    answer = _get(fake, "/v1/candidates", params={"email": "PERSON3@example.com"})
    assert [c["id"] for c in answer.json()] == [3]
    assert _get(fake, "/v1/candidates", params={"email": "nobody@example.com"}).json() == []
    assert [c["id"] for c in _get(fake, "/v1/candidates", params={"candidate_ids": "2,4"}).json()] == [2, 4]
    assert [c["id"] for c in _get(fake, "/v1/candidates", params={"updated_after": "2026-01-04T00:00:00Z"}).json()] \
        == [4, 5]


def test_429_carries_retry_after_and_the_next_call_succeeds(fake):
    fake.fail_next(1, "429")
    throttled = _get(fake, "/v1/candidates")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert "X-RateLimit-Remaining" not in throttled.headers
    assert _get(fake, "/v1/candidates").status_code == 200


def test_500_then_success(fake):
    fake.fail_next(1, "500")
    assert _get(fake, "/v1/candidates/1").status_code == 500
    assert _get(fake, "/v1/candidates/1").json()["id"] == 1


def test_a_hang_outlasts_the_client_timeout(fake):
    fake.fail_next(1, "hang")
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(fake.base_url + "/v1/candidates", auth=(fake.api_key, ""), timeout=1)
    assert _get(fake, "/v1/candidates").status_code == 200


def test_unknown_ids_are_404(demo):
    for path in ("/v1/candidates/1", "/v1/applications/1", "/v1/jobs/1", "/v1/jobs/1/stages", "/v1/users/1",
                 "/v1/candidates/abc", "/v1/nothing"):
        answer = _get(demo, path)
        assert answer.status_code == 404, path
        assert answer.json() == {"message": "Resource not found"}


def test_from_seed_matches_the_demo_seed(demo):
    seed = read_seed_file(DEMO_SEED)
    candidates = _get(demo, "/v1/candidates", params={"per_page": 500}).json()
    by_id = {c["id"]: c for c in candidates}
    assert len(candidates) == len(seed.candidates)
    for candidate in seed.candidates:
        record = by_id[demo.ids[candidate.id]]
        assert [p["value"] for p in record["phone_numbers"]] == [candidate.phone]
        assert [e["value"] for e in record["email_addresses"]] == [candidate.email]
        assert f'{record["first_name"]} {record["last_name"]}' == candidate.name
    assert by_id[demo.ids["c2"]]["phone_numbers"][0]["value"] == "+16175550102"  # "(617) 555-0102" normalised

    applications = _get(demo, "/v1/applications", params={"per_page": 500}).json()
    assert len(applications) == len(seed.applications)
    jobs = {j.id: j for j in seed.jobs}
    for application in seed.applications:
        record = _get(demo, f"/v1/applications/{demo.ids[application.id]}").json()
        assert record["current_stage"]["name"] == application.stage
        assert record["current_stage"]["id"] == demo.ids[f"{application.job_id}/{application.stage}"]
        assert record["candidate_id"] == demo.ids[application.candidate_id]
        assert record["jobs"] == [{"id": demo.ids[application.job_id], "name": jobs[application.job_id].title}]
        assert record["status"] == ("rejected" if application.status == "withdrawn" else application.status)
        assert record["last_activity_at"].startswith(application.stage_changed.isoformat())
        assert demo.ids[application.id] in by_id[record["candidate_id"]]["application_ids"]

    stages = _get(demo, f"/v1/jobs/{demo.ids['j1']}/stages").json()
    assert [s["name"] for s in stages] == [s.name for s in jobs["j1"].stages]
    assert stages[2]["interviews"][0]["estimated_minutes"] == 60
    assert {u["name"] for u in stages[2]["interviews"][0]["default_interviewer_users"]} == {"Alex Kim", "Sam Ortiz"}
    active_j1 = _get(demo, "/v1/applications", params={"job_id": demo.ids["j1"], "status": "active"}).json()
    assert sorted(a["id"] for a in active_j1) == sorted(
        demo.ids[a.id] for a in seed.applications if a.job_id == "j1" and a.status == "active")
    dana = _get(demo, f"/v1/users/{demo.ids['r1']}").json()
    assert dana["primary_email_address"] == "dana@acme.example" and demo.ids["i-dana"] == dana["id"]
    assert by_id[demo.ids["c1"]]["recruiter"]["name"] == "Dana Lee"


def test_a_note_needs_on_behalf_of(demo):
    candidate, user = demo.ids["c1"], demo.ids["r1"]
    url = f"{demo.base_url}/v1/candidates/{candidate}/activity_feed/notes"
    note = {"user_id": user, "body": "Booked a screen by SMS.", "visibility": "admin_only"}
    missing = requests.post(url, json=note, auth=(demo.api_key, ""), timeout=5)
    assert missing.status_code == 403
    assert demo.notes == []
    bad = requests.post(url, json={**note, "visibility": "everyone"}, auth=(demo.api_key, ""), timeout=5,
                        headers={"On-Behalf-Of": str(user)})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "visibility"
    made = requests.post(url, json=note, auth=(demo.api_key, ""), timeout=5, headers={"On-Behalf-Of": str(user)})
    assert made.status_code == 201
    assert made.json()["body"] == "Booked a screen by SMS." and made.json()["user"]["id"] == user
    assert demo.notes_for(candidate) == ["Booked a screen by SMS."]
    unknown = requests.post(f"{demo.base_url}/v1/candidates/1/activity_feed/notes", json=note,
                            auth=(demo.api_key, ""), timeout=5, headers={"On-Behalf-Of": str(user)})
    assert unknown.status_code == 404
