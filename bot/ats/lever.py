"""The ATS interface on Lever's Data API v1 (https://hire.lever.co/developer/documentation).

How Lever's model maps onto ours:
- a candidate is a Lever contact (one person); `Candidate.id` is the contact id;
- an application is an opportunity (one candidacy of a contact); `Application.id` is the opportunity id,
  its job is the posting of the opportunity's application, its recruiter the opportunity's owner;
- status: an opportunity that is not archived is active; archived with a reason of type "hired" (or named
  "Hired") is hired; with a reason naming a withdrawal ("Withdrew") withdrawn; with any other reason rejected;
- Lever has one pipeline for the whole company (GET /stages, in pipeline order), not one per job, so every
  job's `stages` is that company-wide list: `stage_after` names the next stage of the company pipeline,
  which a given job may skip;
- Lever keeps no "rejection communicated" flag, so it is always False (the assistant stays quiet about it),
  and no candidate time zone.

Finding a candidate by phone: the opportunities endpoint filters by email and contact_id but not by phone,
and Lever stores phone numbers as typed ("(617) 555-0102"). So the adapter keeps an in-memory index of every
opportunity's numbers in E.164 (see find_candidate_by_phone) and re-reads a hit from Lever before answering.
A number or email that matches more than one contact answers None: guessing between two people would tell
one of them about the other.

Job data (postings, stages, archive reasons, users) is cached for `job_cache_seconds`; candidates and
opportunities are always read fresh (the phone index holds numbers and ids, never a record). Lists of
opportunities ask for `expand=applications`, so an application's posting needs no request of its own.
Nothing personal is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from bot.ats.base import (
    Application,
    ATSError,
    Candidate,
    Company,
    Job,
    Recruiter,
    SalaryRange,
    Stage,
)
from bot.ats.http import ApiClient, ATSConfigError, TTLCache
from bot.ats.phone_index import PhoneEntry, PhoneIndex
from bot.phone import normalise_phone, region_of
from bot.settings import Settings

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100  # Lever's limit for `limit`
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # Lever ids are UUIDs; anything else cannot be one
# Lever's workplaceType onto bot.ats.base.REMOTE_POLICIES ("unspecified" and anything new answer None).
_WORKPLACE_TYPES = {"onsite": "onsite", "on-site": "onsite", "in-office": "onsite",
                    "hybrid": "hybrid", "remote": "remote"}
_YEARLY_INTERVALS = {None, "", "per-year-salary"}  # the assistant words pay as "a year"
# An update saved just before the newest one seen may reach Lever's lists after it: each refresh asks again
# for this much before the newest `updatedAt` it has seen.
REFRESH_OVERLAP_MS = 60_000


class LeverATS:
    """Read candidates, opportunities and postings from Lever; write notes as the user `perform_as`.

    The phone index (see find_candidate_by_phone) is brought up to date when it is older than
    `phone_index_seconds`, and rebuilt from every page every `phone_rebuild_seconds`. `clock` is for tests.
    """

    def __init__(self, client: ApiClient, company: Company, *, perform_as: str | None = None,
                 page_size: int = 100, job_cache_seconds: float = 300.0, phone_region: str = "US",
                 phone_index_seconds: float = 60.0, phone_rebuild_seconds: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        self.client = client
        self._company = company
        self.perform_as = perform_as
        self.page_size = page_size
        self.phone_region = phone_region.upper()  # how to read numbers stored without a country code
        try:
            self._zone: dt.tzinfo = ZoneInfo(company.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self._zone = dt.timezone.utc
        self._jobs: TTLCache[Any] = TTLCache(job_cache_seconds, clock)  # postings, stages, archive reasons
        self._users: TTLCache[Recruiter | None] = TTLCache(job_cache_seconds, clock)
        # Only the first lookup waits for the index; later ones use the one there is while another thread
        # updates it (never more than one reading Lever for it at a time).
        self._phone_index: PhoneIndex[int] = PhoneIndex(
            every_record=lambda: self._pages("opportunities", {}), updated_since=self._opportunities_updated_since,
            entry_of=self._phone_entry, updated_at=_updated_at, refresh_seconds=phone_index_seconds,
            rebuild_seconds=phone_rebuild_seconds, clock=clock, wait_for_update=False, logger=logger,
            built_message="Lever phone index built: %(records)d opportunities with numbers",
            updated_message="Lever phone index updated: %(changed)d opportunities changed")

    @classmethod
    def from_settings(cls, settings: Settings, company: Company) -> LeverATS:
        if not settings.lever_api_key:
            raise ATSConfigError("ATS_BACKEND=lever needs LEVER_API_KEY (a Lever API key, Settings > Integrations)")
        client = ApiClient(settings.lever_base_url, (settings.lever_api_key, ""), vendor="Lever",
                           credential_setting="LEVER_API_KEY", timeout=settings.ats_request_timeout_seconds,
                           deadline=settings.ats_timeout_seconds)
        return cls(client, company, perform_as=settings.lever_user_id,
                   job_cache_seconds=settings.ats_job_cache_seconds, phone_region=settings.default_phone_region)

    def check_credentials(self) -> None:
        """One cheap request at start-up, so a wrong key is named now (ATSAuthError), not mid-conversation."""
        if self.client.get("users", {"limit": 1}) is None:
            raise ATSConfigError(f"Lever has no /users at {self.client.base_url}: check LEVER_BASE_URL (ends in /v1)")

    # --- the ATS interface ---------------------------------------------------------------------------

    def company(self) -> Company:
        return self._company

    def find_candidate_by_phone(self, phone_e164: str) -> Candidate | None:
        """The contact with this number, through an index of every opportunity's numbers.

        Lever cannot search by phone and keeps numbers as typed. So the first lookup pages through every
        opportunity and keeps, in memory, each number in E.164 (read in `phone_region`) with the ids of the
        opportunities and contacts that carry it: numbers and ids, nothing else. A number that cannot be read
        without a country code is kept only as its last four digits, to be checked against a caller from
        another country (a German mobile typed "0151 12345678" is +49 151 12345678 when texting from Germany).
        When the index is older than `phone_index_seconds`, one request for the opportunities updated since
        (updated_at_start, from the newest updatedAt seen, so on Lever's clock) brings it up to date; every
        `phone_rebuild_seconds` it is rebuilt from every page, catching what did not move updatedAt (a deleted
        opportunity, an edit Lever does not count as an update). While one thread brings the index up to
        date, the others answer from the index they have; only the very first lookup waits for every page
        (call warm_phone_index at start-up for a large account).
        Every hit is re-read from Lever (one request for all the contacts it names) and counts only if the
        number is still on the contact, so a number removed from a profile never reveals that profile; a
        number added within the last `phone_index_seconds` is not found yet (the sender is treated as unknown
        and can verify by email instead).
        """
        wanted = normalise_phone(phone_e164, self.phone_region)
        if wanted is None:
            return None
        hint = region_of(wanted)  # a number stored without country code may be the candidate's own country's
        tail = _last_digits(wanted, self.phone_region) if hint and hint != self.phone_region else None
        index = self._phone_index.current()
        contact_of = index.find(wanted, tail) if tail else index.find(wanted)
        if not contact_of:
            return None
        matches: dict[str, dict] = {}
        reread = list(self._pages("opportunities", {"contact_id": sorted(set(contact_of.values()))}))
        for opportunity in reread:
            if opportunity.get("contact") and any(self._e164(raw, hint) == wanted
                                                  for raw in _phone_values(opportunity)):
                matches.setdefault(str(opportunity["contact"]), opportunity)
        # What was just read is newer than what the index had.
        index.update(reread, gone=contact_of.keys() - {str(o.get("id")) for o in reread})
        return self._only_candidate(matches, "phone", phone=wanted)

    def find_candidate_by_email(self, email: str) -> Candidate | None:
        wanted = (email or "").strip().lower()
        if "@" not in wanted:
            return None
        matches: dict[str, dict] = {}
        for opportunity in self._pages("opportunities", {"email": wanted}):
            if opportunity.get("contact") and wanted in (_text(e).strip().lower()
                                                         for e in opportunity.get("emails") or []):
                matches.setdefault(str(opportunity["contact"]), opportunity)
        return self._only_candidate(matches, "email", email=wanted)

    def get_candidate(self, candidate_id: str) -> Candidate | None:
        contact_id = _lever_id(candidate_id)
        if contact_id is None:
            return None
        answer = self.client.get("opportunities", {"contact_id": contact_id, "limit": 1})
        found = [o for o in _data(answer) or [] if isinstance(o, dict) and o.get("contact")]
        return self._candidate(found[0]) if found else None

    def applications_for(self, candidate_id: str) -> list[Application]:
        contact_id = _lever_id(candidate_id)
        if contact_id is None:
            return []
        return self._applications(self._pages("opportunities", {"contact_id": contact_id,
                                                                "expand": "applications"}))

    def get_application(self, application_id: str) -> Application | None:
        opportunity_id = _lever_id(application_id)
        if opportunity_id is None:
            return None
        opportunity = _data(self.client.get(f"opportunities/{opportunity_id}", {"expand": "applications"}))
        return self._application(opportunity) if isinstance(opportunity, dict) else None

    def active_applications(self) -> list[Application]:
        return self._applications(self._pages("opportunities", {"archived": "false", "expand": "applications"}))

    def get_job(self, job_id: str) -> Job | None:
        posting_id = _lever_id(job_id)
        if posting_id is None:
            return None
        return self._jobs.get_or_load(("posting", posting_id), lambda: self._load_job(posting_id))

    def list_jobs(self) -> list[Job]:
        """Published postings on the public job site: what a candidate may be told about."""
        return list(self._jobs.get_or_load("published postings", self._load_published_jobs))

    def get_recruiter(self, recruiter_id: str) -> Recruiter | None:
        user_id = _lever_id(recruiter_id)
        if user_id is None:
            return None
        return self._users.get_or_load(user_id, lambda: self._load_recruiter(user_id))

    def add_note(self, application_id: str, text: str) -> None:
        """A note on the opportunity, written as LEVER_USER_ID; never retried (Lever may have saved it)."""
        if not self.perform_as:
            raise ATSConfigError("writing notes to Lever needs LEVER_USER_ID (the Lever user notes are written as)")
        opportunity_id = _lever_id(application_id)
        if opportunity_id is None:
            raise ATSError(f"not a Lever opportunity id: {application_id!r}")
        if not text or not text.strip():
            raise ATSError("a Lever note needs some text")
        self.client.post(f"opportunities/{opportunity_id}/notes", {"value": text},
                         params={"perform_as": self.perform_as})

    # --- candidates ----------------------------------------------------------------------------------

    def _only_candidate(self, matches: dict[str, dict], by: str, *, phone: str | None = None,
                        email: str | None = None) -> Candidate | None:
        if len(matches) > 1:
            logger.warning("Lever: the %s matches %d different contacts; not choosing one", by, len(matches))
            return None
        if not matches:
            return None
        return self._candidate(next(iter(matches.values())), phone=phone, email=email)

    def _candidate(self, opportunity: dict, *, phone: str | None = None, email: str | None = None) -> Candidate:
        emails = [_text(e).strip() for e in opportunity.get("emails") or [] if _text(e).strip()]
        if phone is None:
            phone = next(filter(None, (self._e164(raw) for raw in _phone_values(opportunity))), None)
        return Candidate(id=str(opportunity["contact"]), name=_text(opportunity.get("name")).strip(),
                         email=email or (emails[0] if emails else None), phone=phone)

    # --- the phone index ------------------------------------------------------------------------------

    def warm_phone_index(self) -> None:
        """Build the phone index now (at start-up), so no candidate's first text waits for every page."""
        self._phone_index.current()

    def _opportunities_updated_since(self, since: int | None) -> Iterator[dict]:
        return self._pages("opportunities", {"updated_at_start": max(0, since - REFRESH_OVERLAP_MS)}
                           if since is not None else {})

    def _phone_entry(self, opportunity: dict) -> PhoneEntry | None:
        """The opportunity's numbers in E.164, and the last four digits of those that need a country code.

        An E.164 number starts with "+", so last digits are kept as keys of their own that match no number.
        """
        if not opportunity.get("id"):
            return None
        keys = [normalise_phone(raw, self.phone_region) or _last_digits(raw, self.phone_region)
                for raw in _phone_values(opportunity)]
        contact = opportunity.get("contact")
        return PhoneEntry(str(opportunity["id"]), str(contact) if contact else None, [k for k in keys if k])

    def _e164(self, raw: str, hint_region: str | None = None) -> str | None:
        number = normalise_phone(raw, self.phone_region)
        if number is None and hint_region and hint_region != self.phone_region:
            number = normalise_phone(raw, hint_region)
        return number

    # --- applications --------------------------------------------------------------------------------

    def _applications(self, opportunities: Iterator[dict]) -> list[Application]:
        found = [a for a in map(self._application, opportunities) if a is not None]
        found.sort(key=lambda a: a.id)
        found.sort(key=lambda a: a.stage_changed, reverse=True)  # newest first, as the embedded ATS
        return found

    def _application(self, opportunity: dict) -> Application | None:
        """The opportunity as an application; None for one with no posting (a sourced lead, say)."""
        applied = self._posting_application(opportunity)
        posting_id = _ref(applied.get("posting")) if applied else None
        job = self.get_job(posting_id) if posting_id else None
        if job is None:
            return None
        owner = _ref(opportunity.get("owner"))
        return Application(
            id=str(opportunity["id"]),
            candidate_id=str(opportunity["contact"]),
            job=job,
            stage=self._stage_name(_ref(opportunity.get("stage"))),
            stage_changed=self._stage_changed(opportunity),
            status=self._status(opportunity.get("archived")),
            recruiter=self.get_recruiter(owner) if owner else None,
            applied_on=self._date(applied.get("createdAt") or opportunity.get("createdAt")),
        )

    def _posting_application(self, opportunity: dict) -> dict | None:
        """The opportunity's application to a posting: expanded in place, or read separately when not."""
        listed = opportunity.get("applications") or []
        if listed and all(isinstance(item, dict) for item in listed):
            candidates = listed
        elif listed:
            candidates = list(self._pages(f"opportunities/{quote(str(opportunity['id']))}/applications", {}))
        else:
            return None
        return next((a for a in candidates if _ref(a.get("posting"))), None)

    def _stage_changed(self, opportunity: dict) -> dt.date:
        """When the stage (or, for an archived opportunity, the status) last changed."""
        moments = [change.get("updatedAt") for change in opportunity.get("stageChanges") or []]
        if not any(moments):
            moments = [opportunity.get("lastAdvancedAt") or opportunity.get("createdAt")]
        archived = opportunity.get("archived")
        if isinstance(archived, dict):
            moments.append(archived.get("archivedAt"))
        latest = max((m for m in moments if isinstance(m, int | float)), default=None)
        return self._date(latest) or dt.datetime.now(self._zone).date()

    def _status(self, archived: Any) -> str:
        if not archived:
            return "active"
        reason_id = _ref(archived.get("reason")) if isinstance(archived, dict) else None
        reason = self._archive_reasons().get(reason_id or "")
        if reason is None and isinstance(archived, dict) and isinstance(archived.get("reason"), dict):
            reason = archived["reason"]  # expanded in place
        reason = reason or {}
        text = _text(reason.get("text")).strip().casefold()
        if _text(reason.get("type")).casefold() == "hired" or text == "hired":
            return "hired"
        if "withdr" in text:  # "Withdrew", "Withdrawn", "Candidate withdrew"
            return "withdrawn"
        return "rejected"

    def _date(self, millis: Any) -> dt.date | None:
        if not _is_millis(millis):
            return None
        return dt.datetime.fromtimestamp(millis / 1000, tz=dt.timezone.utc).astimezone(self._zone).date()

    # --- job data (cached) ---------------------------------------------------------------------------

    def _load_job(self, posting_id: str) -> Job | None:
        posting = _data(self.client.get(f"postings/{posting_id}"))
        return self._job(posting) if isinstance(posting, dict) else None

    def _load_published_jobs(self) -> tuple[Job, ...]:
        jobs = []
        for posting in self._pages("postings", {"state": "published"}):
            channels = posting.get("distributionChannels")
            if posting.get("state") != "published" or (channels is not None and "public" not in channels):
                continue  # drafts, closed and internal-only postings are not for candidates
            job = self._job(posting)
            jobs.append(self._jobs.get_or_load(("posting", job.id), lambda job=job: job))
        return tuple(sorted(jobs, key=lambda j: j.title))

    def _job(self, posting: dict) -> Job:
        categories = posting.get("categories") or {}
        content = posting.get("content") or {}
        return Job(
            id=str(posting["id"]),
            title=_text(posting.get("text")).strip(),
            location=_text(categories.get("location")).strip() or None,
            remote=_WORKPLACE_TYPES.get(_text(posting.get("workplaceType")).strip().lower()),
            salary=_salary(posting.get("salaryRange")),
            description=_text(content.get("description")).strip() or None,
            stages=tuple(Stage(name=name) for name in self._pipeline().values()),
            department=_text(categories.get("department") or categories.get("team")).strip() or None,
        )

    def _pipeline(self) -> dict[str, str]:
        """Stage id -> name, in Lever's pipeline order (GET /stages lists them so)."""
        return self._jobs.get_or_load("stages", lambda: {str(s["id"]): _text(s.get("text")).strip()
                                                         for s in self._pages("stages", {})})

    def _stage_name(self, stage_id: str | None) -> str:
        if not stage_id:
            return ""
        name = self._pipeline().get(stage_id)
        if name is None:  # a stage added since the list was cached
            stage = self._jobs.get_or_load(("stage", stage_id),
                                           lambda: _data(self.client.get(f"stages/{quote(stage_id)}")))
            name = _text(stage.get("text")).strip() if isinstance(stage, dict) else ""
        return name

    def _archive_reasons(self) -> dict[str, dict]:
        return self._jobs.get_or_load("archive reasons", lambda: {str(r["id"]): r
                                                                  for r in self._pages("archive_reasons", {})})

    def _load_recruiter(self, user_id: str) -> Recruiter | None:
        user = _data(self.client.get(f"users/{user_id}"))
        if not isinstance(user, dict) or user.get("deactivatedAt"):
            return None  # someone who has left cannot be a candidate's contact
        return Recruiter(id=str(user["id"]), name=_text(user.get("name")).strip(),
                         email=_text(user.get("email")).strip())

    # --- HTTP ----------------------------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict]:
        """Every item of a list endpoint, following Lever's `next` offset tokens."""
        offset: str | None = None
        seen: set[str] = set()
        while True:
            page = {**params, "limit": self.page_size, **({"offset": offset} if offset else {})}
            answer = self.client.get(path, page)
            if answer is None or not isinstance(answer.body, dict):
                return
            yield from (item for item in answer.body.get("data") or [] if isinstance(item, dict))
            offset = answer.body.get("next")
            if not answer.body.get("hasNext") or not offset:
                return
            if offset in seen:
                raise ATSError(f"Lever returned the same page token twice for {path}")
            seen.add(offset)


# --- helpers -------------------------------------------------------------------------------------------


def _lever_id(value: Any) -> str | None:
    """A caller's id, if it can be a Lever id (also keeps ids from changing the request path)."""
    text = str(value).strip() if value is not None else ""
    return text if _SAFE_ID.match(text) else None


def _data(answer: Any) -> Any:
    return answer.body.get("data") if answer is not None and isinstance(answer.body, dict) else None


def _ref(value: Any) -> str | None:
    """An id, whether Lever sent it bare or expanded into an object."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _is_millis(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _updated_at(opportunity: dict) -> int | None:
    """When the opportunity was last updated, in Lever's milliseconds: the phone index's watermark."""
    updated = opportunity.get("updatedAt")
    return int(updated) if _is_millis(updated) else None


def _last_digits(raw: str, region: str) -> str | None:
    """The last four digits of the national number: what a number typed without its country code keeps."""
    try:
        national = str(phonenumbers.parse(raw, region).national_number)
    except phonenumbers.NumberParseException:
        return None
    return national[-4:] if len(national) >= 4 else None


def _phone_values(opportunity: dict) -> list[str]:
    phones = opportunity.get("phones") or []
    return [p.get("value") if isinstance(p, dict) else p for p in phones
            if isinstance(p, str) or (isinstance(p, dict) and isinstance(p.get("value"), str))]


def _salary(raw: Any) -> SalaryRange | None:
    if not isinstance(raw, dict) or raw.get("interval") not in _YEARLY_INTERVALS:
        return None  # hourly or monthly pay would be misquoted as a yearly salary
    low, high = raw.get("min"), raw.get("max")
    if not isinstance(low, int | float) or not isinstance(high, int | float) or low > high:
        return None
    return SalaryRange(min=int(low), max=int(high), currency=_text(raw.get("currency")).upper() or "USD")

