"""A fake of Lever's Data API v1 (https://api.lever.co/v1), for tests of an ATS adapter.

Built from Lever's public API documentation (https://hire.lever.co/developer/documentation):
  * Authentication: HTTP Basic with an API key as the username and a blank password; every request
    must authenticate.
  * Responses: JSON; what was asked for is in the top-level `data` field. Errors are JSON
    {code, message} with the HTTP status saying what went wrong (400, 401, 404, 429, 500).
  * Rate limits: a token bucket per API key (10 requests/s steady, bursts of 20); over it the API
    answers 429 and clients should back off (this fake adds Retry-After: 1).
  * Pagination: list endpoints take `limit` (1 to 100, default 100) and `offset`, an opaque token
    copied from the previous page's `next`; a page is {"data": [...], "hasNext": bool, "next": token}
    (`next` only while hasNext is true).
  * GET /opportunities (filters email, posting_id, stage_id, contact_id, archived, archive_reason_id;
    a repeated parameter means "any of"; updated_at_start/updated_at_end, milliseconds, keep the
    opportunities whose `updatedAt` is at or after / at or before them), GET /opportunities/:id,
    GET /opportunities/:id/applications[/:id],
    GET and POST /opportunities/:id/notes (POST needs ?perform_as=<user id>, body {value, secret?, score?},
    answers {"data": {"noteId": ...}}), GET /postings[/:id], /stages[/:id], /users[/:id],
    /archive_reasons[/:id]. Timestamps are milliseconds since the Unix epoch.
  * Expansion ("Customizing the Response"): `expand=applications` on GET /opportunities and
    GET /opportunities/:id answers each opportunity with its `applications` ids replaced by the
    application objects, as GET /opportunities/:id/applications lists them (other expands are ignored).

An opportunity is one candidacy of a contact (a person): a candidate who applied to two jobs is two
opportunities sharing one `contact`. Opportunities leave the pipeline by being archived with a reason
(an archive reason of type "hired" or "non-hired"); an archived opportunity keeps its last stage.

Tests can make it fail the next N requests ("500", "429" or "hang" past the client's timeout).

Not confirmed from the documentation reachable here, so chosen: the error `code` strings, whether Lever sends
Retry-After with a 429, 201 (not 200) for a created note, 400 for a note without perform_as, 400 for an
updated_at_start/end that is not a whole number, both bounds inclusive, and the salaryRange and note fields.
This fake never moves `updatedAt` by itself (not even for a note): a test that edits an opportunity sets it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.http import FakeAPIServer

# Ids derived from seed ids are uuid5(LEVER_NAMESPACE, "<kind>:<seed id>"): the same seed gives the same ids.
LEVER_NAMESPACE = uuid.UUID("6c6576e5-7200-4a70-9b1d-000000000001")
HIRED_REASON = "Hired"
REJECTED_REASON = "Underqualified"
WITHDREW_REASON = "Withdrew"
MAX_LIMIT = 100
Answer = tuple[int, dict]


def lever_id(kind: str, seed_id: str) -> str:
    """The Lever-style id from_seed gives the seed record `seed_id` of `kind` (user, posting, stage, ...)."""
    return str(uuid.uuid5(LEVER_NAMESPACE, f"{kind}:{seed_id}"))


@dataclass
class FakeLeverAPI(FakeAPIServer):
    FAILURES = ("500", "429", "hang")

    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    opportunities: list[dict] = field(default_factory=list)
    applications: list[dict] = field(default_factory=list)
    postings: list[dict] = field(default_factory=list)
    stages: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    archive_reasons: list[dict] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    # "kind:seed id" -> Lever id, filled by from_seed (kinds: user, posting, stage, contact, opportunity,
    # application, archive_reason; opportunity and application are keyed by the seed application id).
    ids: dict[str, str] = field(default_factory=dict)
    requests_log: list[tuple[str, str]] = field(default_factory=list)  # (method, path with query)

    # --- lifecycle: FakeAPIServer's, with the API root under /v1 -------------------------------------

    @property
    def base_url(self) -> str:
        """Where the API root is: use it as you would https://api.lever.co/v1."""
        return super().base_url + "/v1"

    def notes_on(self, opportunity_id: str) -> list[str]:
        with self._lock:
            return [n["value"] for n in self.notes if n["opportunityId"] == opportunity_id]

    # --- requests ------------------------------------------------------------------------------------

    def _record(self, method: str, target: str) -> None:
        self.requests_log.append((method, target))

    def _failure(self, how: str) -> tuple:
        if how == "429":
            return _json(429, _error("TooManyRequests", "Rate limit exceeded, retry later"))
        return _json(500, _error("InternalServerError", "An internal error occurred"))

    def _answer(self, method: str, target: str, headers: Any, raw: bytes) -> tuple:
        return _json(*self.handle(method, target, headers.get("Authorization"), raw))

    def handle(self, method: str, path: str, authorization: str | None, raw: bytes) -> Answer:
        if not self._authorized(authorization):
            return 401, _error("UnauthorizedError", "Invalid API key: provide it as the Basic auth username")
        url = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        if not parts or parts[0] != "v1":
            return _not_found("route", url.path)
        with self._lock:
            return self._route(method, parts[1:], query, raw)

    def _authorized(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(decoded, f"{self.api_key}:")

    def _route(self, method: str, parts: list[str], query: dict[str, list[str]], raw: bytes) -> Answer:
        collections = {"postings": self.postings, "stages": self.stages, "users": self.users,
                       "archive_reasons": self.archive_reasons}
        if method == "GET" and len(parts) in (1, 2) and parts[0] in collections:
            items = collections[parts[0]]
            if len(parts) == 1:
                return _page(items, query)
            return _one(items, parts[1], parts[0])
        if not parts or parts[0] != "opportunities":
            return _not_found("route", "/v1/" + "/".join(parts))
        if method == "GET" and len(parts) == 1:
            for bound in ("updated_at_start", "updated_at_end"):
                if any(not value.strip().isdigit() for value in query.get(bound, [])):
                    return 400, _error("BadRequestError", f"{bound} must be a timestamp in milliseconds")
            status, body = _page([o for o in self.opportunities if _matches(o, query, self.applications)], query)
            if status == 200 and _expands(query, "applications"):
                body["data"] = [self._with_applications(o) for o in body["data"]]
            return status, body
        opportunity = next((o for o in self.opportunities if o["id"] == parts[1]), None) if len(parts) > 1 else None
        if opportunity is None:
            return _not_found("opportunity", parts[1] if len(parts) > 1 else "")
        if method == "GET" and len(parts) == 2:
            return 200, {"data": self._with_applications(opportunity) if _expands(query, "applications")
                         else opportunity}
        if len(parts) in (3, 4) and parts[2] == "applications" and method == "GET":
            mine = [a for a in self.applications if a["opportunityId"] == opportunity["id"]]
            return _page(mine, query) if len(parts) == 3 else _one(mine, parts[3], "application")
        if len(parts) == 3 and parts[2] == "notes":
            if method == "GET":
                return _page([n for n in self.notes if n["opportunityId"] == opportunity["id"]], query)
            if method == "POST":
                return self._create_note(opportunity, query, raw)
        return _not_found("route", "/v1/" + "/".join(parts))

    def _with_applications(self, opportunity: dict) -> dict:
        """A copy of the opportunity with its application ids replaced by the applications (expand=applications)."""
        by_id = {a["id"]: a for a in self.applications if a["opportunityId"] == opportunity["id"]}
        expanded = [by_id.get(item, item) if isinstance(item, str) else item
                    for item in opportunity.get("applications") or []]
        return {**opportunity, "applications": expanded}

    def _create_note(self, opportunity: dict, query: dict[str, list[str]], raw: bytes) -> Answer:
        perform_as = (query.get("perform_as") or [""])[0]
        if not perform_as:
            return 400, _error("BadRequestError", "Missing required query parameter perform_as")
        if not any(u["id"] == perform_as for u in self.users):
            return 400, _error("BadRequestError", f"perform_as: no user with id {perform_as}")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, _error("BadRequestError", "The request body is not valid JSON")
        value = body.get("value") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value.strip():
            return 400, _error("BadRequestError", "value: a non-empty string is required")
        note_id = str(uuid.uuid4())
        now = _now_ms()
        self.notes.append({
            "id": note_id, "opportunityId": opportunity["id"], "value": value,
            "text": value, "fields": [{"type": "note", "text": "Note", "value": value}],
            "user": perform_as, "secret": bool(body.get("secret", False)), "score": body.get("score"),
            "createdAt": now, "completedAt": now, "deletedAt": None,
        })
        opportunity["lastInteractionAt"] = now
        return 201, {"data": {"noteId": note_id}}

    # --- seed ----------------------------------------------------------------------------------------

    @classmethod
    def from_seed(cls, seed: dict, **kwargs: Any) -> FakeLeverAPI:
        """A fake holding the data of an ATS seed (the YAML of data/demo/ats_seed.yml, loaded as a dict).

        Recruiters become users, jobs postings, each distinct stage name one Lever stage (ordered to fit
        every job's pipeline), each candidate a contact with one opportunity per application (or one
        without applications). hired/rejected/withdrawn applications are archived with the reasons
        HIRED_REASON/REJECTED_REASON/WITHDREW_REASON. `ids` maps "kind:seed id" to the Lever ids.
        """
        fake = cls(**kwargs)
        company = seed.get("company") or {}
        zone = ZoneInfo(company.get("timezone") or "UTC")
        ids = fake.ids

        def make_id(kind: str, seed_id: str) -> str:
            ids[f"{kind}:{seed_id}"] = lever_id(kind, seed_id)
            return ids[f"{kind}:{seed_id}"]

        for recruiter in seed.get("recruiters") or []:
            fake.users.append({
                "id": make_id("user", str(recruiter["id"])), "name": recruiter["name"],
                "username": str(recruiter["email"]).split("@")[0], "email": recruiter["email"],
                "accessRole": "team member", "photo": None, "createdAt": 0, "deactivatedAt": None,
                "externalDirectoryId": None, "linkedContactIds": None, "jobTitle": "Recruiter", "managerId": None,
            })

        for reason, kind in ((HIRED_REASON, "hired"), (REJECTED_REASON, "non-hired"), (WITHDREW_REASON, "non-hired")):
            fake.archive_reasons.append({"id": make_id("archive_reason", reason), "text": reason,
                                         "status": "active", "type": kind})

        jobs = seed.get("jobs") or []
        order: list[str] = []
        for job in jobs:
            previous = None
            for name in (_stage_name(s) for s in job.get("stages") or []):
                if name not in order:
                    order.insert(order.index(previous) + 1 if previous else 0, name)
                previous = name
        for name in order:
            fake.stages.append({"id": make_id("stage", name), "text": name})
        stage_index = {name: index for index, name in enumerate(order)}

        candidates = seed.get("candidates") or []
        owners: dict[str, str] = {}
        for candidate in candidates:
            for app in candidate.get("applications") or []:
                if app.get("recruiter"):
                    owners.setdefault(str(app["job"]), ids[f"user:{app['recruiter']}"])
        for job in jobs:
            job_id = str(job["id"])
            posting_id = make_id("posting", job_id)
            salary = job.get("salary")
            fake.postings.append({
                "id": posting_id, "text": job["title"], "createdAt": 0, "updatedAt": 0,
                "user": owners.get(job_id), "owner": owners.get(job_id), "hiringManager": None,
                "confidentiality": "non-confidential", "state": "published",
                "distributionChannels": ["public", "internal"],
                "categories": {"team": job.get("department"), "department": job.get("department"),
                               "location": job.get("location"), "allLocations": [job.get("location")],
                               "commitment": "Full-time"},
                "content": {"description": job.get("description") or "",
                            "descriptionHtml": job.get("description") or "",
                            "lists": [], "closing": "", "closingHtml": ""},
                "country": None, "followers": [], "tags": [], "reqCode": None, "requisitionCodes": [],
                "workplaceType": job.get("remote") or "unspecified",
                "salaryRange": ({"min": salary["min"], "max": salary["max"],
                                 "currency": str(salary.get("currency", "USD")).upper(),
                                 "interval": "per-year-salary"} if salary else None),
                "urls": {"list": "https://jobs.lever.co/fake", "show": f"https://jobs.lever.co/fake/{posting_id}",
                         "apply": f"https://jobs.lever.co/fake/{posting_id}/apply"},
            })

        for candidate in candidates:
            candidate_id = str(candidate["id"])
            contact = make_id("contact", candidate_id)
            person = {
                "name": candidate["name"], "headline": "", "contact": contact, "location": "",
                "emails": [candidate["email"]] if candidate.get("email") else [],
                "phones": [{"type": "mobile", "value": str(candidate["phone"])}] if candidate.get("phone") else [],
                "links": [], "confidentiality": "non-confidential", "tags": [], "sources": [],
                "snoozedUntil": None, "isAnonymized": False, "dataProtection": None,
            }
            applications = candidate.get("applications") or []
            if not applications:
                opportunity_id = make_id("opportunity", candidate_id)
                fake.opportunities.append({
                    "id": opportunity_id, **person, "stage": fake.stages[0]["id"] if fake.stages else None,
                    "stageChanges": [], "origin": "sourced", "owner": None, "followers": [], "applications": [],
                    "archived": None, "createdAt": 0, "updatedAt": 0, "lastInteractionAt": 0, "lastAdvancedAt": 0,
                    "urls": _opportunity_urls(opportunity_id),
                })
            for index, app in enumerate(applications):
                app_key = str(app.get("id") or f"{candidate_id}-{app['job']}-{index}")
                opportunity_id = make_id("opportunity", app_key)
                application_id = make_id("application", app_key)
                stage = str(app["stage"])
                changed = _ms(app["stage_changed"], zone)
                created = _ms(app["applied_on"], zone) if app.get("applied_on") else changed
                owner = ids.get(f"user:{app['recruiter']}") if app.get("recruiter") else None
                stage_changes = []
                job_stages = next((_stage_names(j) for j in jobs if str(j["id"]) == str(app["job"])), [stage])
                first = job_stages[0]
                if first != stage:
                    stage_changes.append({"toStageId": ids[f"stage:{first}"], "toStageIndex": stage_index[first],
                                          "updatedAt": min(created, changed), "userId": owner})
                stage_changes.append({"toStageId": ids[f"stage:{stage}"], "toStageIndex": stage_index[stage],
                                      "updatedAt": changed, "userId": owner})
                status = str(app.get("status") or "active").lower()
                reason = {"hired": HIRED_REASON, "rejected": REJECTED_REASON, "withdrawn": WITHDREW_REASON}.get(status)
                archived = ({"archivedAt": changed, "reason": ids[f"archive_reason:{reason}"]} if reason else None)
                posting_id = ids[f"posting:{app['job']}"]
                fake.opportunities.append({
                    "id": opportunity_id, **person, "stage": ids[f"stage:{stage}"], "stageChanges": stage_changes,
                    "origin": "applied", "owner": owner, "followers": [owner] if owner else [],
                    "applications": [application_id], "archived": archived, "createdAt": min(created, changed),
                    "updatedAt": changed, "lastInteractionAt": changed, "lastAdvancedAt": changed,
                    "urls": _opportunity_urls(opportunity_id),
                })
                fake.applications.append({
                    "id": application_id, "opportunityId": opportunity_id, "candidateId": opportunity_id,
                    "createdAt": min(created, changed), "type": "posting", "posting": posting_id,
                    "postingOwner": owners.get(str(app["job"])), "postingHiringManager": None, "user": None,
                    "name": candidate["name"], "email": candidate.get("email"),
                    "phone": {"type": "mobile", "value": str(candidate["phone"])} if candidate.get("phone") else None,
                    "archived": archived, "requisitionForHire": None, "customQuestions": [],
                })
        return fake


# --- helpers -----------------------------------------------------------------------------------------


def _json(status: int, payload: dict) -> tuple[int, bytes, str, dict[str, str]]:
    """An answer as the server sends it; a 429 tells the client to come back in a second."""
    extra = {"Retry-After": "1"} if status == 429 else {}
    return status, json.dumps(payload).encode(), "application/json", extra


def _error(code: str, message: str) -> dict:
    return {"code": code, "message": message}


def _not_found(kind: str, key: str) -> Answer:
    return 404, _error("ResourceNotFound", f"Could not find {kind} {key}")


def _one(items: list[dict], item_id: str, kind: str) -> Answer:
    item = next((i for i in items if i["id"] == item_id), None)
    return (200, {"data": item}) if item is not None else _not_found(kind.rstrip("s"), item_id)


def _encode_offset(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["fake", index]).encode()).decode().rstrip("=")


def _decode_offset(token: str) -> int | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        return None
    if isinstance(value, list) and len(value) == 2 and value[0] == "fake" and isinstance(value[1], int):
        return value[1] if value[1] >= 0 else None
    return None


def _page(items: list[dict], query: dict[str, list[str]]) -> Answer:
    raw_limit = (query.get("limit") or [str(MAX_LIMIT)])[0]
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        return 400, _error("BadRequestError", f"limit must be an integer between 1 and {MAX_LIMIT}")
    limit = int(raw_limit)
    start = 0
    if query.get("offset") and query["offset"][0]:
        decoded = _decode_offset(query["offset"][0])
        if decoded is None:
            return 400, _error("BadRequestError", "Invalid offset token")
        start = decoded
    page = items[start:start + limit]
    body: dict[str, Any] = {"data": page, "hasNext": start + limit < len(items)}
    if body["hasNext"]:
        body["next"] = _encode_offset(start + limit)
    return 200, body


def _matches(opportunity: dict, query: dict[str, list[str]], applications: list[dict]) -> bool:
    emails = {e.strip().lower() for e in query.get("email", []) if e.strip()}
    if emails and not emails & {e.lower() for e in opportunity["emails"]}:
        return False
    postings = set(query.get("posting_id", []))
    if postings:
        applied = {a["posting"] for a in applications if a["opportunityId"] == opportunity["id"]}
        if not postings & applied:
            return False
    if query.get("stage_id") and opportunity["stage"] not in query["stage_id"]:
        return False
    if query.get("contact_id") and opportunity["contact"] not in query["contact_id"]:
        return False
    archived = (query.get("archived") or [""])[0].lower()
    if archived in ("true", "false") and (opportunity["archived"] is not None) != (archived == "true"):
        return False
    reasons = set(query.get("archive_reason_id", []))
    if reasons and (opportunity["archived"] or {}).get("reason") not in reasons:
        return False
    updated = opportunity.get("updatedAt") or 0
    if any(updated < int(start) for start in query.get("updated_at_start", [])):
        return False
    return not any(updated > int(end) for end in query.get("updated_at_end", []))


def _expands(query: dict[str, list[str]], field_name: str) -> bool:
    """Whether `expand` asks for this field (Lever repeats the parameter for several: expand=a&expand=b)."""
    return field_name in query.get("expand", [])


def _stage_name(raw: Any) -> str:
    return str(raw if isinstance(raw, str) else raw["name"]).strip()


def _stage_names(job: dict) -> list[str]:
    return [_stage_name(s) for s in job.get("stages") or []]


def _ms(value: Any, zone: ZoneInfo) -> int:
    """A seed date (midnight in the company's time zone) as Lever's milliseconds since the epoch."""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value).strip())
    if isinstance(day, dt.datetime):
        day = day.date()
    return int(dt.datetime.combine(day, dt.time(), tzinfo=zone).timestamp() * 1000)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _opportunity_urls(opportunity_id: str) -> dict:
    return {"list": "https://hire.lever.co/candidates", "show": f"https://hire.lever.co/candidates/{opportunity_id}"}
