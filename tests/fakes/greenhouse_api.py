"""A fake of Greenhouse's Harvest API (v1), for tests of an ATS adapter. Not used by other tests yet.

Built from Greenhouse's public Harvest docs (developers.greenhouse.io/harvest.html, source in
github.com/grnhse/greenhouse-api-docs, source/includes/harvest/*.md):
  - Auth: HTTP Basic, the API token as username and a blank password; anything else is a 401.
  - Pagination: list endpoints take per_page (1..500, default 100) and page, and answer with an RFC 5988
    `Link` header with rel="next", "prev" and "last" URLs; no header when there is only one page.
  - Throttling: X-RateLimit-Limit / X-RateLimit-Remaining on answers (per 10 seconds); over the limit is
    an HTTP 429 without those headers. Retry-After on the 429 is not in the v1 docs (third-party rate-limit
    summaries say Harvest sends it); the fake sends Retry-After: 1.
  - Errors: JSON {"message": ...}; 404 "Resource not found"; 422 {"message": "Validation error",
    "errors": [{"message", "field"}]}.
  - Endpoints: GET /v1/candidates (email, candidate_ids, job_id, created_/updated_ before/after),
    /v1/candidates/{id}, /v1/applications (job_id, status, created_before/after, last_activity_after),
    /v1/applications/{id}, /v1/jobs (status), /v1/jobs/{id}, /v1/jobs/{id}/stages, /v1/users (email),
    /v1/users/{id}; POST /v1/candidates/{id}/activity_feed/notes with an On-Behalf-Of user id header and a
    JSON body {user_id, body, visibility: admin_only|private|public}, answering 201 with the note.

Objects follow the docs' shapes (candidate, application, job, job stage, user), with the fields an
adapter needs filled and the rest null or empty. Candidates embed their applications, as Harvest does.

`FakeGreenhouseAPI.from_seed(seed)` builds the data from this project's ATS seed format (data/demo/
ats_seed.yml) through bot.ats.seed.parse_seed, so phones, emails, stage names and application ids are the
ones the embedded ATS sees; `ids` maps each seed id to the integer Greenhouse id given to it.

Tests can make it fail the next N requests ("500", "429" or "hang" past the client's timeout).

Not confirmed from the documentation reachable here, so chosen: the 401 body, Retry-After with a 429 (the v1
docs only say a 429 carries no X-RateLimit headers), 403 for a note without On-Behalf-Of, and that a withdrawn
application is "rejected" with the reason "Withdrew".
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.fakes.http import FakeAPIServer

RATE_LIMIT = 50  # requests per 10 seconds, the docs' example value (reported, not enforced)
NOTE_VISIBILITIES = ("admin_only", "private", "public")
APPLICATION_STATUSES = ("active", "converted", "hired", "rejected")
EPOCH = "2026-01-01T00:00:00.000Z"  # created_at of everything from_seed makes

# Base of the integer ids from_seed gives each kind of record, in seed order (1, 2, 3, ...).
ID_BASES = {"user": 100000, "job": 200000, "stage": 300000, "candidate": 400000, "application": 500000,
            "department": 600000, "office": 700000, "interview": 800000, "note": 900000}

@dataclass
class FakeGreenhouseAPI(FakeAPIServer):
    FAILURES = ("500", "429", "hang")

    api_key: str = field(default_factory=lambda: secrets.token_hex(16))
    candidates: list[dict] = field(default_factory=list)
    applications: list[dict] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)
    job_stages: list[dict] = field(default_factory=list)  # each with job_id, as in Harvest's job stage object
    users: list[dict] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)  # notes posted, each with the candidate_id it was posted on
    ids: dict[str, int] = field(default_factory=dict)  # from_seed: seed id -> Greenhouse id
    requests_log: list[tuple[str, str]] = field(default_factory=list)  # (method, path with query)
    per_page_max: int = 500
    _recent: deque = field(default_factory=deque)  # request times in the last 10 s, for X-RateLimit-Remaining

    def notes_for(self, candidate_id: int) -> list[str]:
        with self._lock:
            return [n["body"] for n in self.notes if n["candidate_id"] == candidate_id]

    # ---- requests -------------------------------------------------------------------------------

    def _record(self, method: str, target: str) -> None:
        self.requests_log.append((method, target))
        now = time.monotonic()
        self._recent.append(now)
        while self._recent and self._recent[0] < now - 10:
            self._recent.popleft()

    def _failure(self, how: str) -> tuple:
        if how == "429":
            return _json(429, {"message": "Rate limit exceeded"}, {"Retry-After": "1"})
        return _json(500, {"message": "Internal Server Error"}, self._rate())

    def _answer(self, method: str, target: str, headers: Any, raw: bytes) -> tuple:
        return _json(*self.handle(method, target, headers, raw))

    def _rate(self) -> dict[str, str]:
        with self._lock:
            remaining = max(0, RATE_LIMIT - len(self._recent))
        return {"X-RateLimit-Limit": str(RATE_LIMIT), "X-RateLimit-Remaining": str(remaining)}

    def handle(self, method: str, target: str, headers: Any, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        rate = self._rate()
        expected = "Basic " + base64.b64encode(f"{self.api_key}:".encode()).decode()
        if headers.get("Authorization") != expected:
            return 401, {"message": "Invalid Basic Auth credentials"}, rate
        parsed = urllib.parse.urlsplit(target)
        path = parsed.path.rstrip("/")
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        with self._lock:
            status, payload, extra = self._route(method, path, query, headers, raw)
        return status, payload, {**rate, **extra}

    def _route(self, method: str, path: str, query: dict[str, str], headers: Any,
               raw: bytes) -> tuple[int, Any, dict[str, str]]:
        if method == "POST":
            match = re.fullmatch(r"/v1/candidates/(\d+)/activity_feed/notes", path)
            if match:
                return self._add_note(int(match.group(1)), headers.get("On-Behalf-Of"), raw)
            return _not_found()
        if method != "GET":
            return _not_found()
        lists = {"/v1/candidates": self._list_candidates, "/v1/applications": self._list_applications,
                 "/v1/jobs": self._list_jobs, "/v1/users": self._list_users}
        if path in lists:
            return self._paginate(path, query, lists[path](query))
        match = re.fullmatch(r"/v1/jobs/(\d+)/stages", path)
        if match:
            job_id = int(match.group(1))
            if not any(j["id"] == job_id for j in self.jobs):
                return _not_found()
            stages = sorted((s for s in self.job_stages if s["job_id"] == job_id), key=lambda s: s["priority"])
            return 200, stages, {}
        match = re.fullmatch(r"/v1/(candidates|applications|jobs|users)/(\d+)", path)
        if match:
            kind, record_id = match.group(1), int(match.group(2))
            records = {"candidates": self.candidates, "applications": self.applications, "jobs": self.jobs,
                       "users": self.users}[kind]
            record = next((r for r in records if r["id"] == record_id), None)
            if record is None:
                return _not_found()
            return 200, self._candidate_view(record) if kind == "candidates" else record, {}
        return _not_found()

    def _paginate(self, path: str, query: dict[str, str], items: list | tuple) -> tuple[int, Any, dict[str, str]]:
        if isinstance(items, tuple):  # a validation error from the filter
            return items
        try:
            per_page = int(query.get("per_page") or 100)
            page = int(query.get("page") or 1)
        except ValueError:
            return _invalid("per_page", "Must be an integer")
        if not 1 <= per_page <= self.per_page_max:
            return _invalid("per_page", f"Must be an integer between 1 and {self.per_page_max}")
        if page < 1:
            return _invalid("page", "Must be a positive integer")
        last = max(1, -(-len(items) // per_page))
        body = items[(page - 1) * per_page: page * per_page]
        if last == 1:
            return 200, body, {}  # one page: no Link header
        others = {k: v for k, v in query.items() if k not in ("page", "per_page")}

        def url(number: int) -> str:
            params = {"page": number, "per_page": per_page, **others}
            return f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"

        links = []
        if page < last:
            links.append(f'<{url(page + 1)}>; rel="next"')
        if page > 1:
            links.append(f'<{url(min(page - 1, last))}>; rel="prev"')
        links.append(f'<{url(last)}>; rel="last"')
        return 200, body, {"Link": ",".join(links)}

    # ---- list filters (docs' querystring parameters) ----------------------------------------------

    def _list_candidates(self, query: dict[str, str]) -> list | tuple:
        found = list(self.candidates)
        if query.get("job_id"):
            job_id = _int(query["job_id"])
            with_job = {a["candidate_id"] for a in self.applications if any(j["id"] == job_id for j in a["jobs"])}
            found = [c for c in found if c["id"] in with_job]
        if query.get("email"):  # takes precedence over candidate_ids, per the docs
            wanted = query["email"].strip().lower()
            found = [c for c in found if any(e["value"].lower() == wanted for e in c["email_addresses"])]
        elif query.get("candidate_ids"):
            wanted_ids = {_int(i) for i in query["candidate_ids"].split(",") if i.strip()}
            found = [c for c in found if c["id"] in wanted_ids][:50]
        found = _time_filters(found, query, _created_updated("created_at", "updated_at"))
        if isinstance(found, tuple):
            return found
        return [self._candidate_view(c) for c in found]

    def _list_applications(self, query: dict[str, str]) -> list | tuple:
        found = list(self.applications)
        if query.get("job_id"):
            job_id = _int(query["job_id"])
            found = [a for a in found if any(j["id"] == job_id for j in a["jobs"])]
        if query.get("status"):  # an unknown status gives an empty list, not an error (docs)
            found = [a for a in found if a["status"] == query["status"]]
        return _time_filters(found, query, (("created_after", "applied_at", True),
                                            ("created_before", "applied_at", False),
                                            ("last_activity_after", "last_activity_at", True)))

    def _list_jobs(self, query: dict[str, str]) -> list | tuple:
        found = list(self.jobs)
        if query.get("status"):
            found = [j for j in found if j["status"] == query["status"]]
        return _time_filters(found, query, _created_updated("created_at", "updated_at"))

    def _list_users(self, query: dict[str, str]) -> list | tuple:
        found = list(self.users)
        if query.get("email"):
            wanted = query["email"].strip().lower()
            found = [u for u in found if wanted in (e.lower() for e in u["emails"])]
        return _time_filters(found, query, _created_updated("created_at", "updated_at"))

    def _candidate_view(self, candidate: dict) -> dict:
        applications = [a for a in self.applications if a["candidate_id"] == candidate["id"]]
        return {**candidate, "application_ids": [a["id"] for a in applications], "applications": applications}

    # ---- notes -------------------------------------------------------------------------------------

    def _add_note(self, candidate_id: int, on_behalf_of: str | None, raw: bytes) -> tuple[int, Any, dict]:
        if not any(c["id"] == candidate_id for c in self.candidates):
            return _not_found()
        acting = _int(on_behalf_of or "")
        if not any(u["id"] == acting for u in self.users):
            # The docs call the header required; the exact status for a missing one is not documented.
            return 403, {"message": "Missing or invalid On-Behalf-Of header: a Greenhouse user id is required"}, {}
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, {"message": "Invalid JSON body"}, {}
        if not isinstance(body, dict):
            return 400, {"message": "Invalid JSON body"}, {}
        errors = [{"message": "Is required", "field": name} for name in ("user_id", "body", "visibility")
                  if body.get(name) in (None, "")]
        if body.get("visibility") and body["visibility"] not in NOTE_VISIBILITIES:
            errors.append({"message": f"Must be one of: {', '.join(NOTE_VISIBILITIES)}", "field": "visibility"})
        author = next((u for u in self.users if u["id"] == _int(str(body.get("user_id", "")))), None)
        if body.get("user_id") not in (None, "") and author is None:
            errors.append({"message": "User not found", "field": "user_id"})
        if errors:
            return 422, {"message": "Validation error", "errors": errors}, {}
        assert author is not None
        note = {"id": ID_BASES["note"] + len(self.notes) + 1,
                "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "body": body["body"], "user": _user_ref(author), "private": body["visibility"] == "private",
                "visiblity": body["visibility"], "visibility": body["visibility"]}  # sic: Harvest's legacy typo
        self.notes.append({"candidate_id": candidate_id, **note})
        return 201, note, {}

    # ---- building from this project's ATS seed ---------------------------------------------------

    @classmethod
    def from_seed(cls, seed: Any, **kwargs: Any) -> FakeGreenhouseAPI:
        """The fake holding a seed's data: a dict as read from seed YAML, YAML text, or a parsed Seed.

        Ids are integers from ID_BASES in seed order; `ids` maps recruiter, interviewer, job, candidate and
        application seed ids, and "{job id}/{stage name}" for stages, to them.
        """
        from bot.ats.seed import Seed, parse_seed

        if isinstance(seed, dict):
            seed = parse_seed(yaml.safe_dump(seed, sort_keys=False), source="seed")
        elif isinstance(seed, str):
            seed = parse_seed(seed, source="seed")
        if not isinstance(seed, Seed):
            raise TypeError("from_seed takes a seed dict, seed YAML text or a bot.ats.seed.Seed")
        fake = cls(**kwargs)
        counters = dict.fromkeys(ID_BASES, 0)

        def new_id(kind: str, seed_id: str | None = None) -> int:
            counters[kind] += 1
            number = ID_BASES[kind] + counters[kind]
            if seed_id is not None:
                if seed_id in fake.ids:
                    raise ValueError(f"seed id {seed_id!r} is used by two kinds of record")
                fake.ids[seed_id] = number
            return number

        users_by_name: dict[str, dict] = {}
        for recruiter in seed.recruiters:
            user = _user(new_id("user", recruiter.id), recruiter.name, recruiter.email)
            fake.users.append(user)
            users_by_name[recruiter.name.casefold()] = user
        for interviewer in seed.interviewers:  # the same person as a recruiter shares the user
            user = users_by_name.get(interviewer.name.casefold())
            if user is None:
                user = _user(new_id("user"), interviewer.name, None)
                fake.users.append(user)
                users_by_name[interviewer.name.casefold()] = user
            fake.ids[interviewer.id] = user["id"]
        users_by_id = {u["id"]: u for u in fake.users}

        departments: dict[str, dict] = {}
        offices: dict[str, dict] = {}
        stage_ids: dict[tuple[str, str], int] = {}
        job_records: dict[str, dict] = {}
        for job in seed.jobs:
            job_id = new_id("job", job.id)
            if job.department and job.department not in departments:
                departments[job.department] = {"id": new_id("department"), "name": job.department,
                                               "parent_id": None, "child_ids": [], "external_id": None}
            if job.location and job.location not in offices:
                offices[job.location] = {"id": new_id("office"), "name": job.location,
                                         "location": {"name": job.location}, "primary_contact_user_id": None,
                                         "parent_id": None, "child_ids": [], "external_id": None}
            record = _job(job, job_id, departments.get(job.department or ""), offices.get(job.location or ""))
            fake.jobs.append(record)
            job_records[job.id] = record
            for priority, stage in enumerate(job.stages):
                stage_id = new_id("stage", f"{job.id}/{stage.name}")
                stage_ids[(job.id, stage.name)] = stage_id
                interviews = []
                if stage.interview is not None:
                    interviewers = [users_by_id[fake.ids[i]] for i in stage.interview.interviewer_ids]
                    interviews.append({
                        "id": new_id("interview"), "name": stage.name, "schedulable": True,
                        "estimated_minutes": stage.interview.duration_minutes,
                        "default_interviewer_users": [_user_ref(u) for u in interviewers],
                        "interview_kit": {"id": counters["interview"] + ID_BASES["interview"],
                                          "content": stage.description, "questions": []},
                    })
                fake.job_stages.append({"id": stage_id, "name": stage.name, "created_at": EPOCH,
                                        "updated_at": EPOCH, "active": True, "job_id": job_id,
                                        "priority": priority, "interviews": interviews})

        for candidate in seed.candidates:
            first, _, last = candidate.name.partition(" ")
            fake.candidates.append({
                "id": new_id("candidate", candidate.id), "first_name": first, "last_name": last or None,
                "company": None, "title": None, "created_at": EPOCH, "updated_at": EPOCH, "last_activity": EPOCH,
                "is_private": False, "photo_url": None, "attachments": [], "application_ids": [],
                "phone_numbers": [{"value": candidate.phone, "type": "mobile"}] if candidate.phone else [],
                "addresses": [],
                "email_addresses": [{"value": candidate.email, "type": "personal"}] if candidate.email else [],
                "website_addresses": [], "social_media_addresses": [], "recruiter": None, "coordinator": None,
                "can_email": True, "tags": [], "educations": [], "employments": [], "linked_user_ids": [],
                "custom_fields": {}, "keyed_custom_fields": {},
            })
        candidates_by_seed = {c.id: fake.candidates[i] for i, c in enumerate(seed.candidates)}

        for application in seed.applications:
            job = job_records[application.job_id]
            changed = f"{application.stage_changed.isoformat()}T12:00:00.000Z"
            applied = f"{(application.applied_on or application.stage_changed).isoformat()}T12:00:00.000Z"
            status, reason = application.status, None
            if status == "rejected":
                reason = {"id": 1, "name": "Not a fit", "type": {"id": 1, "name": "We rejected them"}}
            elif status == "withdrawn":  # Harvest has no "withdrawn": a rejection with a candidate-side reason
                status = "rejected"
                reason = {"id": 2, "name": "Withdrew", "type": {"id": 2, "name": "They rejected us"}}
            candidate = candidates_by_seed[application.candidate_id]
            fake.applications.append({
                "id": new_id("application", application.id), "candidate_id": candidate["id"], "prospect": False,
                "applied_at": applied, "rejected_at": changed if status == "rejected" else None,
                "last_activity_at": changed, "location": None, "source": None, "credited_to": None,
                "rejection_reason": reason, "rejection_details": None,
                "jobs": [{"id": job["id"], "name": job["name"]}], "job_post_id": None, "status": status,
                "current_stage": {"id": stage_ids[(application.job_id, application.stage)],
                                  "name": application.stage},
                "answers": [], "prospective_office": None, "prospective_department": None,
                "prospect_detail": {"prospect_pool": None, "prospect_stage": None, "prospect_owner": None},
                "custom_fields": {}, "keyed_custom_fields": {}, "attachments": [],
            })
            # Harvest keeps the recruiter on the candidate, not the application: the first one named wins.
            if candidate["recruiter"] is None and application.recruiter_id is not None:
                candidate["recruiter"] = _user_ref(users_by_id[fake.ids[application.recruiter_id]])
            if application.recruiter_id is not None:
                recruiters = job["hiring_team"]["recruiters"]
                user = users_by_id[fake.ids[application.recruiter_id]]
                if all(r["id"] != user["id"] for r in recruiters):
                    recruiters.append({**_user_ref(user), "responsible": not recruiters})
            if changed > candidate["updated_at"]:
                candidate["updated_at"] = candidate["last_activity"] = changed
        return fake


def _user(user_id: int, name: str, email: str | None) -> dict:
    first, _, last = name.partition(" ")
    return {"id": user_id, "name": name, "first_name": first, "last_name": last or None,
            "primary_email_address": email, "updated_at": EPOCH, "created_at": EPOCH, "disabled": False,
            "site_admin": False, "emails": [email] if email else [], "employee_id": None,
            "linked_candidate_ids": [], "offices": [], "departments": [], "custom_fields": {},
            "keyed_custom_fields": {}}


def _user_ref(user: dict) -> dict:
    return {k: user[k] for k in ("id", "first_name", "last_name", "name", "employee_id")}


def _job(job: Any, job_id: int, department: dict | None, office: dict | None) -> dict:
    custom: dict[str, Any] = {}
    keyed: dict[str, Any] = {}
    if job.salary is not None:  # a project-chosen custom field, as a Greenhouse org would configure one
        value = {"min_value": str(job.salary.min), "max_value": str(job.salary.max), "unit": job.salary.currency}
        custom["salary_range"] = value
        keyed["salary_range"] = {"name": "Salary Range", "type": "currency_range", "value": value}
    if job.remote is not None:
        custom["remote_policy"] = job.remote
        keyed["remote_policy"] = {"name": "Remote Policy", "type": "single_select", "value": job.remote}
    return {"id": job_id, "name": job.title, "requisition_id": None, "notes": job.description,
            "confidential": False, "status": "open", "created_at": EPOCH, "opened_at": EPOCH, "closed_at": None,
            "updated_at": EPOCH, "is_template": False, "copied_from_id": None,
            "departments": [department] if department else [], "offices": [office] if office else [],
            "hiring_team": {"hiring_managers": [], "recruiters": [], "coordinators": [], "sourcers": []},
            "custom_fields": custom, "keyed_custom_fields": keyed, "openings": []}


def _created_updated(created: str, updated: str) -> tuple[tuple[str, str, bool], ...]:
    """Harvest's usual time filters: (query parameter, record field, whether it is a lower bound)."""
    return (("created_after", created, True), ("created_before", created, False),
            ("updated_after", updated, True), ("updated_before", updated, False))


def _time_filters(records: list[dict], query: dict[str, str],
                  filters: tuple[tuple[str, str, bool], ...]) -> list | tuple:
    for param, key, after in filters:
        if query.get(param):
            moment = _parse_time(query[param])
            if moment is None:
                return _invalid(param, "Must be an ISO-8601 timestamp")
            records = [r for r in records
                       if (_parse_time(r[key]) >= moment if after else _parse_time(r[key]) < moment)]
    return records


def _parse_time(value: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


def _json(status: int, payload: Any, extra: dict[str, str]) -> tuple[int, bytes, str, dict[str, str]]:
    """An answer as the server sends it, Harvest's Link, Retry-After and X-RateLimit-* headers riding along."""
    return status, json.dumps(payload).encode(), "application/json; charset=utf-8", extra


def _not_found() -> tuple[int, dict, dict]:
    return 404, {"message": "Resource not found"}, {}


def _invalid(name: str, message: str) -> tuple[int, dict, dict]:
    return 422, {"message": "Validation error", "errors": [{"message": message, "field": name}]}, {}
