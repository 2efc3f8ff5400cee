"""HTTP for hosted ATS APIs (Greenhouse Harvest, Lever): timeouts, retries, rate limits, clear errors.

Rules, the same for every vendor:
- every request has a connect/read timeout (ATS_TIMEOUT_SECONDS) and the whole call a deadline
  (ATS_CALL_DEADLINE_SECONDS), so a slow ATS costs a bounded wait, never a hung conversation;
- 429 Too Many Requests: wait what Retry-After says (capped by the deadline), then try again; the
  request was not processed, so this holds for writes too;
- network errors, timeouts and 5xx: GETs are retried with exponential backoff and jitter; writes are
  not (the ATS may have applied them), except when the connection was never made;
- 401/403 raise ATSAuthError naming the setting to fix; 404 answers None; other 4xx raise ATSError
  with the vendor's message; whatever stays unreachable raises ATSUnavailable.
No request or response body is logged (they carry candidates' personal data).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import requests

from bot.ats.base import ATSError, ATSUnavailable

logger = logging.getLogger(__name__)
T = TypeVar("T")
USER_AGENT = "candidate-assistant/1.0 (+https://github.com/; ATS adapter)"


class ATSAuthError(ATSError):
    """The ATS refused our credentials (401) or their permissions (403)."""


class ATSConfigError(ATSError):
    """The ATS backend is missing settings it needs."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any  # parsed JSON (None for an empty body)
    headers: dict[str, str]


class ApiClient:
    """One vendor API: base URL, Basic credentials, and the rules above."""

    def __init__(self, base_url: str, auth: tuple[str, str], *, vendor: str, credential_setting: str,
                 timeout: float = 5.0, deadline: float = 20.0, retries: int = 3, backoff: float = 0.25,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.vendor = vendor
        self.credential_setting = credential_setting
        self.timeout = timeout
        self.deadline = deadline
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._local = threading.local()  # requests.Session is not thread-safe; ATS calls run in threads
        self._auth = auth
        self._session = session

    @property
    def session(self) -> requests.Session:
        if self._session is not None:
            return self._session
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.auth = self._auth
            session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        return session

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def get(self, path: str, params: dict[str, Any] | None = None) -> HttpAnswer | None:
        """GET (idempotent: retried); None when the record does not exist (404)."""
        return self._request("GET", path, params=params, idempotent=True)

    def post(self, path: str, json_body: Any, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> HttpAnswer:
        answer = self._request("POST", path, params=params, json_body=json_body, headers=headers, idempotent=False)
        if answer is None:
            raise ATSError(f"{self.vendor}: {path} was not found")
        return answer

    def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
                 headers: dict[str, str] | None = None, idempotent: bool) -> HttpAnswer | None:
        url = self.url(path)
        give_up_at = time.monotonic() + self.deadline
        failures = 0
        while True:
            remaining = give_up_at - time.monotonic()
            if remaining <= 0:
                raise ATSUnavailable(f"{self.vendor} did not answer within {self.deadline:g}s")
            try:
                response = self.session.request(method, url, params=params, json=json_body, headers=headers,
                                                timeout=min(self.timeout, remaining))
            except requests.ConnectionError as error:
                # Refused before anything was sent is safe to retry even for a write.
                never_sent = isinstance(error, requests.ConnectTimeout) or "refused" in str(error).lower()
                problem = f"{self.vendor} unreachable ({type(error).__name__})"
                if not (idempotent or never_sent):
                    raise ATSUnavailable(problem) from error
                failures = self._back_off(failures, problem, give_up_at)
                continue
            except requests.Timeout as error:
                problem = f"{self.vendor} timed out after {min(self.timeout, remaining):g}s"
                if not idempotent:
                    raise ATSUnavailable(problem) from error
                failures = self._back_off(failures, problem, give_up_at)
                continue
            except requests.RequestException as error:
                raise ATSUnavailable(f"{self.vendor} request failed ({type(error).__name__})") from error

            status = response.status_code
            if status == 429:
                wait = _retry_after(response.headers.get("Retry-After"), default=1.0)
                logger.warning("%s rate limit reached (429); waiting %.1fs", self.vendor, wait)
                if time.monotonic() + wait >= give_up_at:
                    raise ATSUnavailable(f"{self.vendor} rate limit: asked to wait {wait:g}s, past our deadline")
                self._sleep(wait)
                continue
            if status >= 500:
                problem = f"{self.vendor} answered {status}"
                if not idempotent:
                    raise ATSUnavailable(problem)
                failures = self._back_off(failures, problem, give_up_at)
                continue
            if status in (401, 403):
                raise ATSAuthError(
                    f"{self.vendor} refused the credentials in {self.credential_setting} ({status}: "
                    f"{_message(response)}); check the key and its permissions")
            if status == 404:
                return None
            if status >= 400:
                raise ATSError(f"{self.vendor} refused {method} {path.split('?')[0]} ({status}: {_message(response)})")
            return HttpAnswer(status, _json(response), dict(response.headers))

    def _back_off(self, failures: int, problem: str, give_up_at: float) -> int:
        failures += 1
        if failures > self.retries:
            raise ATSUnavailable(f"{problem}; gave up after {failures} attempts")
        delay = self.backoff * (2 ** (failures - 1)) * (0.5 + random.random())  # noqa: S311 - jitter, not crypto
        if time.monotonic() + delay >= give_up_at:
            raise ATSUnavailable(f"{problem}; no time left to retry")
        logger.info("%s; retry %d in %.2fs", problem, failures, delay)
        self._sleep(delay)
        return failures


class TTLCache(Generic[T]):
    """A small thread-safe cache of values that may be a little stale (job data: title, stages, pay)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._values: dict[Any, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get_or_load(self, key: Any, load: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = load()
        if self.seconds > 0:
            with self._lock:
                self._values[key] = (now + self.seconds, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def _retry_after(raw: str | None, default: float) -> float:
    """Retry-After in seconds (HTTP-date form is rare for APIs; treated as the default)."""
    try:
        return max(0.0, float(raw)) if raw is not None else default
    except ValueError:
        return default


def _json(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as error:
        raise ATSUnavailable(f"answer was not JSON ({response.headers.get('Content-Type')})") from error


def _message(response: requests.Response) -> str:
    """The vendor's error message, short (Greenhouse {"message"}, Lever {"code", "message"})."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or "no message"
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body.get("code") or "no message")[:200]
    return "no message"
