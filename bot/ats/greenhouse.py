"""The ATS interface on Greenhouse's Harvest API (v1): candidates, applications, jobs, recruiters, notes.

Reads go through bot.ats.http.ApiClient (timeouts, a deadline, retries for reads only, 429 Retry-After,
404 -> None) and follow Harvest's Link-header pagination. Ids are Greenhouse's integer ids as strings.

What Harvest does not have, and what this adapter does instead:
- no phone search: an in-memory index of every candidate's numbers in E.164, brought up to date at most once
  a minute (see find_candidate_by_phone);
- no company record: the Company comes from configuration;
- no "withdrawn" status: a rejection for a reason of the type "They rejected us" (such as "Withdrew");
- no date a stage was entered: the date of the application's last activity (see _application);
- no "the candidate has been told" flag for rejections: always False, so the assistant never breaks the news.

Nothing personal (phones, emails, names, note text) is logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from requests.utils import parse_header_links

from bot.ats.base import (
    REMOTE_POLICIES,
    Application,
    ATSError,
    ATSUnavailable,
    Candidate,
    Company,
    Job,
    Recruiter,
    SalaryRange,
    Stage,
)
from bot.ats.http import ApiClient, ATSAuthError, ATSConfigError, TTLCache
from bot.ats.phone_index import PhoneEntry, PhoneIndex
from bot.phone import normalise_phone
from bot.settings import Settings

logger = logging.getLogger(__name__)

MAX_PER_PAGE = 500  # Harvest's limit for per_page
CANDIDATE_IDS_PER_REQUEST = 50  # Harvest answers at most 50 candidates for a candidate_ids filter
REMEMBERED_APPLICATIONS = 10_000  # application -> candidate ids kept for notes (two integers each)
# Job custom fields this project reads (an organisation creates them in Greenhouse with these keys).
SALARY_FIELD = "salary_range"  # currency_range: {"min_value", "max_value", "unit"}
REMOTE_FIELD = "remote_policy"  # single_select: onsite | hybrid | remote
# Rejection reasons whose type is this one are the candidate's decision, not the company's.
CANDIDATE_SIDE_REJECTION = "they rejected us"


class GreenhouseATS:
    """Greenhouse Harvest as the assistant's ATS.

    `on_behalf_of` is the Greenhouse user id notes are written as (Harvest requires one for writes).
    The phone index (see find_candidate_by_phone) is brought up to date when it is older than
    `phone_index_seconds`, and rebuilt from scratch every `phone_rebuild_seconds`. `clock` is for tests.
    """

    def __init__(self, client: ApiClient, company: Company, *, on_behalf_of: str | None = None,
                 page_size: int = 500, job_cache_seconds: float = 300.0, phone_region: str = "US",
                 phone_index_seconds: float = 60.0, phone_rebuild_seconds: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._company = company
        self.on_behalf_of = on_behalf_of
        self.page_size = max(1, min(MAX_PER_PAGE, page_size))
        self.phone_region = phone_region
        try:
            self._timezone: dt.tzinfo = ZoneInfo(company.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self._timezone = dt.timezone.utc
        self._jobs: TTLCache[tuple[Job, str | None] | None] = TTLCache(job_cache_seconds, clock)
        self._open_jobs: TTLCache[list[Job]] = TTLCache(job_cache_seconds, clock)
        self._users: TTLCache[Recruiter | None] = TTLCache(job_cache_seconds, clock)
        self._phone_index: PhoneIndex[_UpdatedAt] = PhoneIndex(
            every_record=lambda: self._list("candidates"), updated_since=self._candidates_updated_since,
            entry_of=self._phone_entry, updated_at=_updated_at, refresh_seconds=phone_index_seconds,
            rebuild_seconds=phone_rebuild_seconds, clock=clock,
            wait_for_update=True,  # a lookup never answers from an index that is due: it waits for the update
            logger=logger, built_message="Greenhouse phone index built: %(records)d candidates, %(keys)d numbers",
            updated_message="Greenhouse phone index updated: %(changed)d candidates changed")
        self._candidate_of: dict[int, int] = {}  # application id -> candidate id, oldest first
        self._candidate_of_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, company: Company) -> GreenhouseATS:
        if not settings.greenhouse_api_key:
            raise ATSConfigError("ATS_BACKEND=greenhouse needs GREENHOUSE_API_KEY (a Harvest API key; Greenhouse: "
                                 "Configure > Dev Center > API Credential Management)")
        if settings.greenhouse_user_id is not None and not _is_id(settings.greenhouse_user_id):
            raise ATSConfigError("GREENHOUSE_USER_ID must be a Greenhouse user id (digits only)")
        client = ApiClient(settings.greenhouse_base_url, (settings.greenhouse_api_key, ""), vendor="Greenhouse",
                           credential_setting="GREENHOUSE_API_KEY", timeout=settings.ats_request_timeout_seconds,
                           deadline=settings.ats_timeout_seconds)
        return cls(client, company, on_behalf_of=settings.greenhouse_user_id,
                   job_cache_seconds=settings.ats_job_cache_seconds, phone_region=settings.default_phone_region)

    def check_credentials(self) -> None:
        """One cheap read, so a wrong key is named at start-up (ATSAuthError) rather than mid-conversation.

        With a note author configured, the read is that user, so a wrong GREENHOUSE_USER_ID shows up too.
        """
        if self.on_behalf_of is None:
            self.client.get("users", params={"per_page": 1})
        elif not _is_id(self.on_behalf_of) or self.client.get(f"users/{int(self.on_behalf_of)}") is None:
            raise ATSConfigError("GREENHOUSE_USER_ID is not the id of a Greenhouse user (it writes the assistant's "
                                 "notes)")

    # --- the ATS interface ---------------------------------------------------------------------

    def company(self) -> Company:
        return self._company  # Harvest has no endpoint for the organisation itself

    def find_candidate_by_phone(self, phone_e164: str) -> Candidate | None:
        """The candidate with this number, through an index of every candidate's numbers.

        Harvest cannot search candidates by phone, and stores numbers as typed ("(617) 555-0102"). So the
        adapter pages through all candidates once, normalises each number to E.164 (numbers without a
        country code are read in `phone_region`) and keeps that index in memory (numbers and ids only).
        When the index is older than `phone_index_seconds`, one request for the candidates updated since
        (updated_after, from the newest updated_at seen, so on Greenhouse's clock) brings it up to date;
        every `phone_rebuild_seconds` it is rebuilt from every page, catching anything that did not move
        a profile's updated_at.
        Trade-off: a busy SMS line costs at most one small request a minute instead of a walk of every
        candidate per message, but a number added in Greenhouse within the last `phone_index_seconds` is
        not found yet (the sender is treated as unknown and can verify by email instead), and the first
        lookup, or one after a rebuild is due, pages through every candidate (call warm_phone_index at
        start-up for a large organisation). A hit is always re-read from Greenhouse, so a number removed
        from a profile since never reveals that profile. A number on profiles with different names
        matches nobody.
        """
        wanted = normalise_phone(phone_e164, self.phone_region)
        if wanted is None:
            return None
        matches = []
        for candidate_id in self._phone_index.current().find(wanted):
            record = self._candidate_record(candidate_id)
            if record is not None and wanted in self._phones_of(record):
                matches.append(record)
        return self._one_person(matches, phone=wanted)

    def find_candidate_by_email(self, email: str) -> Candidate | None:
        """The candidate with this email (any of their addresses), ignoring case and surrounding spaces.

        Several profiles with the address (duplicates, common in Greenhouse) are one person: whoever
        proved the address owns them all, so the most recently active profile answers.
        """
        wanted = email.strip().lower()
        if not wanted:
            return None
        found = self._list("candidates", {"email": wanted})
        matches = [record for record in found if wanted in _emails_of(record)]
        if not matches:
            return None
        newest = max(matches, key=lambda r: (r.get("last_activity") or r.get("updated_at") or "", r["id"]))
        return self._candidate(newest, email=wanted)

    def get_candidate(self, candidate_id: str) -> Candidate | None:
        record = self._candidate_record(candidate_id)
        return self._candidate(record) if record is not None else None

    def applications_for(self, candidate_id: str) -> list[Application]:
        record = self._candidate_record(candidate_id)  # Harvest embeds the candidate's applications
        if record is None:
            return []
        return _newest_first(filter(None, (self._application(raw, record.get("recruiter"))
                                           for raw in record.get("applications") or ())))

    def get_application(self, application_id: str) -> Application | None:
        if not _is_id(application_id):
            return None
        answer = self.client.get(f"applications/{int(application_id)}")
        if answer is None or not isinstance(answer.body, dict):
            return None
        candidate = self._candidate_record(str(answer.body.get("candidate_id", "")))
        return self._application(answer.body, candidate.get("recruiter") if candidate else None)

    def active_applications(self) -> list[Application]:
        raw_applications = [a for a in self._list("applications", {"status": "active"}) if not a.get("prospect")]
        # The recruiter is kept on the candidate: read the candidates in batches rather than one by one.
        candidate_ids = sorted({a["candidate_id"] for a in raw_applications})
        recruiters: dict[int, Any] = {}
        for start in range(0, len(candidate_ids), CANDIDATE_IDS_PER_REQUEST):
            batch = candidate_ids[start:start + CANDIDATE_IDS_PER_REQUEST]
            for record in self._list("candidates", {"candidate_ids": ",".join(map(str, batch))}):
                recruiters[record["id"]] = record.get("recruiter")
        return _newest_first(filter(None, (self._application(a, recruiters.get(a["candidate_id"]))
                                           for a in raw_applications)))

    def get_job(self, job_id: str) -> Job | None:
        loaded = self._job(job_id)
        return loaded[0] if loaded is not None else None

    def list_jobs(self) -> list[Job]:
        """Open jobs a candidate can ask about: not confidential ones, nor templates."""
        return self._open_jobs.get_or_load("open", self._load_open_jobs)

    def get_recruiter(self, recruiter_id: str) -> Recruiter | None:
        if not _is_id(recruiter_id):
            return None
        return self._users.get_or_load(int(recruiter_id), lambda: self._load_user(int(recruiter_id)))

    def add_note(self, application_id: str, text: str) -> None:
        """A note on the candidate's profile (Harvest keeps notes on candidates), visible to admins only.

        Written as the `on_behalf_of` user. The candidate is known from an earlier read of the application
        (the assistant has read it before it books anything), else read first. A write that may have
        reached Greenhouse (timeout, 5xx) is never tried again, so a note is never written twice.
        """
        if self.on_behalf_of is None:
            raise ATSConfigError("Greenhouse notes need GREENHOUSE_USER_ID: the id of the Greenhouse user the "
                                 "assistant writes notes as")
        if not _is_id(application_id):
            raise ATSError(f"Greenhouse has no application {application_id!r}")
        remembered = self._candidate_of.get(int(application_id))
        candidate_id = remembered if remembered is not None else self._read_candidate_of(int(application_id))
        try:
            self._post_note(candidate_id, text)
        except ATSUnavailable:
            raise  # the note may have been written: not tried again
        except ATSAuthError as error:
            raise ATSAuthError(f"{error}; for notes, also check that GREENHOUSE_USER_ID is a Greenhouse user "
                               "allowed to add notes") from error
        except ATSError:
            if remembered is None:
                raise
            # Refused (4xx), so not written. Merging duplicate profiles moves applications to the kept
            # candidate: ask which candidate holds the application now, and write there if it moved.
            current = self._read_candidate_of(int(application_id))
            if current == remembered:
                raise
            self._post_note(current, text)

    def _post_note(self, candidate_id: int, text: str) -> None:
        assert self.on_behalf_of is not None
        self.client.post(f"candidates/{candidate_id}/activity_feed/notes",
                         {"user_id": self.on_behalf_of, "body": text, "visibility": "admin_only"},
                         headers={"On-Behalf-Of": self.on_behalf_of})

    def _read_candidate_of(self, application_id: int) -> int:
        with self._candidate_of_lock:
            self._candidate_of.pop(application_id, None)
        answer = self.client.get(f"applications/{application_id}")
        if answer is None or not isinstance(answer.body, dict):
            raise ATSError(f"Greenhouse has no application {application_id}")
        self._remember(answer.body)
        return int(answer.body["candidate_id"])

    def _remember(self, raw: dict) -> None:
        """Which candidate an application belongs to, so writing a note on it needs no extra read."""
        with self._candidate_of_lock:
            self._candidate_of[int(raw["id"])] = int(raw["candidate_id"])
            while len(self._candidate_of) > REMEMBERED_APPLICATIONS:
                self._candidate_of.pop(next(iter(self._candidate_of)))

    # --- reading Harvest -----------------------------------------------------------------------

    def _list(self, path: str, params: dict[str, Any] | None = None) -> list[dict]:
        """Every record of a list endpoint, following rel="next" links to the last page."""
        records: list[dict] = []
        answer = self.client.get(path, {**(params or {}), "per_page": self.page_size, "skip_count": "true"})
        seen: set[str] = set()
        while answer is not None:
            if not isinstance(answer.body, list):
                raise ATSError(f"Greenhouse answered {path} with something other than a list")
            records.extend(item for item in answer.body if isinstance(item, dict))
            next_url = _next_link(answer.headers)
            if next_url is None or next_url in seen:
                break
            if not self._same_origin(next_url):
                # The client sends the API key with every request: never to a host we were not configured with.
                raise ATSError(f"Greenhouse pointed {path} pagination at another host; not followed")
            seen.add(next_url)
            answer = self.client.get(next_url)
        return records

    def _same_origin(self, url: str) -> bool:
        ours, theirs = urllib.parse.urlsplit(self.client.base_url), urllib.parse.urlsplit(url)
        return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)

    def _candidate_record(self, candidate_id: str) -> dict | None:
        if not _is_id(candidate_id):
            return None
        answer = self.client.get(f"candidates/{int(candidate_id)}")
        return answer.body if answer is not None and isinstance(answer.body, dict) else None

    def warm_phone_index(self) -> None:
        """Build the phone index now (at start-up), so no candidate's first text waits for every page."""
        self._phone_index.current()

    def _candidates_updated_since(self, since: _UpdatedAt | None) -> list[dict]:
        return self._list("candidates", {"updated_after": since.text} if since is not None else {})

    def _phone_entry(self, record: dict) -> PhoneEntry:
        candidate_id = str(record["id"])
        return PhoneEntry(candidate_id, candidate_id, self._phones_of(record))

    def _phones_of(self, record: dict) -> list[str]:
        """The candidate's numbers in E.164, mobile numbers first; numbers that are not valid are left out."""
        entries = sorted((p for p in record.get("phone_numbers") or () if isinstance(p, dict)),
                         key=lambda p: p.get("type") != "mobile")
        phones = [normalise_phone(str(p.get("value") or ""), self.phone_region) for p in entries]
        return list(dict.fromkeys(p for p in phones if p))

    def _one_person(self, records: list[dict], *, phone: str) -> Candidate | None:
        if not records:
            return None
        if len({_name_of(r).casefold() for r in records}) > 1:
            logger.warning("a phone number is on %d Greenhouse profiles of different people; not matched",
                           len(records))
            return None
        newest = max(records, key=lambda r: (r.get("last_activity") or r.get("updated_at") or "", r["id"]))
        return self._candidate(newest, phone=phone)

    def _candidate(self, record: dict, *, phone: str | None = None, email: str | None = None) -> Candidate:
        phones = self._phones_of(record)
        emails = _emails_of(record)
        return Candidate(id=str(record["id"]), name=_name_of(record),
                         email=email if email in emails else next(iter(emails), None),
                         phone=phone if phone in phones else next(iter(phones), None),
                         timezone=None)  # Harvest keeps no time zone for a candidate

    def _application(self, raw: dict, recruiter_ref: dict | None) -> Application | None:
        """One candidate application in the assistant's terms, or None for what is not one.

        Prospect applications (the person has not applied) and "converted" ones (a prospect application
        replaced by the candidate application it became, which is listed itself) are left out.
        """
        self._remember(raw)
        status = raw.get("status")
        if raw.get("prospect") or status not in ("active", "hired", "rejected") or not raw.get("jobs"):
            return None
        job_ref = raw["jobs"][0]  # a candidate application has exactly one job
        loaded = self._job(str(job_ref.get("id", "")))
        job, job_recruiter_id = loaded if loaded is not None else (Job(str(job_ref.get("id")), job_ref["name"]), None)
        reason = raw.get("rejection_reason") or {}
        if status == "rejected" and _is_candidate_side(reason):
            status = "withdrawn"
        # Harvest does not say when an application entered its current stage (only the activity feed
        # does, one call per candidate). last_activity_at is at or after that moment, so "days in this
        # stage" can only be under-counted: a stale-application nudge comes late, never early. A
        # rejection has its own exact date, which later activity (a note, an email) does not move.
        changed = raw.get("rejected_at") if status in ("rejected", "withdrawn") else None
        stage_changed = self._date(changed or raw.get("last_activity_at") or raw.get("applied_at"))
        recruiter_id = (recruiter_ref or {}).get("id") or job_recruiter_id
        return Application(
            id=str(raw["id"]),
            candidate_id=str(raw["candidate_id"]),
            job=job,
            stage=(raw.get("current_stage") or {}).get("name") or "",
            stage_changed=stage_changed or dt.datetime.now(self._timezone).date(),
            status=status,
            recruiter=self.get_recruiter(str(recruiter_id)) if recruiter_id is not None else None,
            # Harvest has no documented record that a rejection was told to the candidate (a rejection
            # email may or may not have been sent): False keeps the assistant from breaking the news.
            rejection_communicated=False,
            applied_on=self._date(raw.get("applied_at")),
        )

    def _job(self, job_id: str) -> tuple[Job, str | None] | None:
        """The job and its responsible recruiter's user id, cached for job_cache_seconds."""
        if not _is_id(job_id):
            return None

        def load() -> tuple[Job, str | None] | None:
            answer = self.client.get(f"jobs/{int(job_id)}")
            if answer is None or not isinstance(answer.body, dict):
                return None
            return self._job_from(answer.body)

        return self._jobs.get_or_load(int(job_id), load)

    def _load_open_jobs(self) -> list[Job]:
        jobs = []
        for record in self._list("jobs", {"status": "open"}):
            if record.get("confidential") or record.get("is_template"):
                continue
            # The per-job cache is filled too, so a question about one of these jobs reads no stages again.
            loaded = self._jobs.get_or_load(record["id"], lambda record=record: self._job_from(record))
            if loaded is not None:
                jobs.append(loaded[0])
        return sorted(jobs, key=lambda job: (job.title.casefold(), job.id))

    def _job_from(self, record: dict) -> tuple[Job, str | None]:
        stages = self.client.get(f"jobs/{int(record['id'])}/stages")
        raw_stages = stages.body if stages is not None and isinstance(stages.body, list) else []
        raw_stages = sorted((s for s in raw_stages if isinstance(s, dict) and s.get("active", True)),
                            key=lambda s: (s.get("priority") is None, s.get("priority") or 0, s.get("id") or 0))
        custom = record.get("custom_fields") or {}
        offices = [(o.get("location") or {}).get("name") or o.get("name") for o in record.get("offices") or ()]
        departments = [d.get("name") for d in record.get("departments") or () if d.get("name")]
        remote = str(custom.get(REMOTE_FIELD) or "").strip().lower()
        responsible = next((str(r["id"]) for r in (record.get("hiring_team") or {}).get("recruiters") or ()
                            if r.get("responsible") and r.get("id") is not None), None)
        job = Job(
            id=str(record["id"]),
            title=record.get("name") or "",
            location=" / ".join(dict.fromkeys(o for o in offices if o)) or None,
            remote=remote if remote in REMOTE_POLICIES else None,
            salary=_salary(custom.get(SALARY_FIELD)),
            # Not the job's `notes`: in Greenhouse those are the hiring team's internal notes.
            description=None,
            stages=tuple(Stage(name=s["name"]) for s in raw_stages if s.get("name")),
            department=departments[0] if departments else None,
        )
        return job, responsible

    def _load_user(self, user_id: int) -> Recruiter | None:
        answer = self.client.get(f"users/{user_id}")
        if answer is None or not isinstance(answer.body, dict):
            return None
        user = answer.body
        email = user.get("primary_email_address") or next(iter(user.get("emails") or ()), None) or ""
        return Recruiter(id=str(user["id"]), name=_name_of(user), email=email)

    def _date(self, timestamp: str | None) -> dt.date | None:
        """A Harvest timestamp as a date in the company's time zone (the day the recruiters saw it happen)."""
        moment = _timestamp(timestamp)
        return moment.astimezone(self._timezone).date() if moment is not None else None


@dataclasses.dataclass(frozen=True, order=True)
class _UpdatedAt:
    """A candidate's `updated_at` as Greenhouse wrote it (sent back as is), ordered by the moment it names."""

    moment: dt.datetime
    text: str = dataclasses.field(compare=False)


def _updated_at(record: dict) -> _UpdatedAt | None:
    text = record.get("updated_at")
    moment = _timestamp(text)
    return _UpdatedAt(moment, text) if moment is not None else None


def _timestamp(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:  # Python 3.10 takes only 3 or 6 digits of a second's fraction: the whole seconds will do
            moment = dt.datetime.fromisoformat(value.strip()[:19])
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def _is_id(value: Any) -> bool:
    """Greenhouse ids are positive integers; anything else cannot name a record (and is not sent)."""
    return isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0


def _next_link(headers: dict[str, str]) -> str | None:
    raw = next((value for name, value in headers.items() if name.lower() == "link"), None)
    if not raw:
        return None
    return next((link.get("url") for link in parse_header_links(raw) if link.get("rel") == "next"), None)


def _name_of(record: dict) -> str:
    full = " ".join(p.strip() for p in (record.get("first_name") or "", record.get("last_name") or "") if p.strip())
    return full or (record.get("name") or "").strip()


def _emails_of(record: dict) -> list[str]:
    found = (str(e.get("value") or "").strip().lower() for e in record.get("email_addresses") or ()
             if isinstance(e, dict))
    return list(dict.fromkeys(e for e in found if e))


def _is_candidate_side(reason: dict) -> bool:
    """A rejection the candidate chose: the documented type "They rejected us", or a reason named "Withdrew"."""
    kind = str((reason.get("type") or {}).get("name") or "").strip().casefold()
    return kind == CANDIDATE_SIDE_REJECTION or str(reason.get("name") or "").strip().casefold() == "withdrew"


def _salary(value: Any) -> SalaryRange | None:
    if not isinstance(value, dict):
        return None
    try:
        low, high = int(float(value["min_value"])), int(float(value["max_value"]))
    except (KeyError, TypeError, ValueError):
        return None
    return SalaryRange(min=low, max=high, currency=str(value.get("unit") or "USD").upper())


def _newest_first(applications: Iterable[Application]) -> list[Application]:
    """Most recent stage change first, as the embedded ATS orders them; ties by id."""
    return sorted(applications, key=lambda a: (-a.stage_changed.toordinal(), int(a.id)))
