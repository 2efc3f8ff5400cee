"""Settings from the environment, with defaults that run the whole assistant on one machine."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# For `make run` only: the server refuses to start with it anywhere else (bot/access.py).
LOCAL_CONVERSATION_ID_KEY = "candidate-assistant-local"


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError as error:
        raise ValueError(f"{name} must be a number, got {raw!r}") from error


def _env_limit(name: str, default: int) -> int:
    """A whole number of hits per window; 0 turns the limit off."""
    value = _env_float(name, default)
    if value < 0 or value != int(value):
        raise ValueError(f"{name} must be a whole number, 0 for no limit, got {value!r}")
    return int(value)


def _env_durations(name: str, default: str) -> tuple[dt.timedelta, ...]:
    """ "24h,1h,30m" as durations, longest first; an empty value turns reminders off."""
    raw = os.environ.get(name, default)
    durations = []
    for part in filter(None, (p.strip().lower() for p in raw.split(","))):
        unit = {"d": "days", "h": "hours", "m": "minutes"}.get(part[-1:])
        try:
            amount = float(part[:-1])
        except ValueError:
            unit = None
        if unit is None or amount <= 0:
            raise ValueError(f"{name} must be durations like 24h,1h or 30m, got {raw!r}")
        durations.append(dt.timedelta(**{unit: amount}))
    return tuple(sorted(durations, reverse=True))


def _env_path(name: str, default: str) -> Path:
    path = Path(os.environ.get(name) or default)
    return path if path.is_absolute() else PROJECT_ROOT / path


SMTP_TLS_MODES = ("starttls", "tls", "none")


def is_loopback_host(host: str) -> bool:
    try:
        return host.strip().lower() == "localhost" or ipaddress.ip_address(host.strip()).is_loopback
    except ValueError:
        return False


def smtp_tls_mode(host: str | None, raw: str | None = None) -> str:
    """SMTP_TLS (default starttls); SMTP_STARTTLS=false, the old switch, still means none. Mail leaves without
    TLS only to a server on this machine: codes read off the wire would verify anyone."""
    raw = os.environ.get("SMTP_TLS") if raw is None else raw
    if raw is None or not raw.strip():
        mode = "starttls" if _env_bool("SMTP_STARTTLS", True) else "none"
    else:
        mode = raw.strip().lower()
    if mode not in SMTP_TLS_MODES:
        raise ValueError(f"SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}, got {raw!r}")
    if mode == "none" and host and not is_loopback_host(host):
        raise ValueError(f"SMTP_TLS=none (or SMTP_STARTTLS=false) is allowed only for a mail server on this "
                         f"machine, not SMTP_HOST={host}: use starttls or tls")
    return mode


@dataclass(frozen=True)
class Settings:
    ats_backend: str
    ats_database: Path
    ats_seed_file: Path | None
    ats_timeout_seconds: float
    state_database: Path
    twilio_auth_token: str | None
    twilio_webhook_url: str | None
    twilio_manages_opt_out: bool
    conversation_id_key: str
    default_phone_region: str
    knowledge_file: Path
    knowledge_threshold: float
    public_base_url: str
    booking_min_notice_hours: float
    booking_horizon_days: float
    booking_offer_count: int
    reminder_offsets: tuple[dt.timedelta, ...]
    twilio_account_sid: str | None
    twilio_from_number: str | None
    twilio_messaging_service_sid: str | None
    twilio_api_base_url: str
    delivery_poll_seconds: float
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_handoff_channel: str | None = None
    slack_fallback_channel: str | None = None
    handoff_claim_minutes: float = 15.0
    recruiting_hours: str = "Mon-Fri 09:00-17:00"
    web_jwt_secret: str | None = None
    web_allowed_origins: tuple[str, ...] = ("*",)
    web_demo_login: bool = False
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: str = "starttls"  # starttls | tls | none (loopback hosts only), see smtp_tls_mode()
    smtp_from: str = "careers-assistant@localhost"
    email_outbox_dir: Path = PROJECT_ROOT / "var" / "email-outbox"
    email_code_minutes: float = 10.0
    email_code_limit_per_client: int = 10  # codes an hour asked from one client address
    email_code_limit_global: int = 500  # codes an hour asked by everyone together
    email_code_max_failures: int = 10  # wrong codes a day from one client address, or in one conversation
    web_verification_days: float = 30.0  # how long a web conversation verified by an email code stays verified
    ats_request_timeout_seconds: float = 5.0
    ats_job_cache_seconds: float = 300.0
    greenhouse_api_key: str | None = None
    greenhouse_base_url: str = "https://harvest.greenhouse.io/v1"
    greenhouse_user_id: str | None = None  # On-Behalf-Of for notes the assistant writes
    greenhouse_webhook_secret: str | None = None
    lever_api_key: str | None = None
    lever_base_url: str = "https://api.lever.co/v1"
    lever_user_id: str | None = None  # perform_as for notes the assistant writes
    lever_webhook_token: str | None = None
    ats_webhook_secret: str | None = None  # the generic JSON webhook
    status_updates: bool = True
    status_update_rejections: bool = False
    quiet_hours: str = "21:00-08:00"
    stale_application_days: float = 7.0
    stale_check_minutes: float = 60.0
    company_name: str | None = None  # hosted ATS only (the embedded one has it in its seed)
    company_timezone: str | None = None
    careers_email: str | None = None
    data_retention_days: float = 0.0  # conversations idle longer are purged (python -m bot purge); 0 keeps them
    rest_channel_token: str | None = None  # the REST channel answers loopback callers, or this Bearer token
    # Limits per conversation or per client (bot/rate_limits.py); 0 turns one off.
    rate_limit_messages_per_minute: int = 20
    rate_limit_web_sessions_per_hour: int = 30
    rate_limit_handoffs_per_hour: int = 3
    rate_limit_client_handoffs_per_hour: int = 10
    ops_token: str | None = None  # Bearer token for the status pages' queue counts; unset: never served over HTTP
    invite_link_days_after: float = 7.0  # a calendar link answers 404 this many days after its interview ended
    # Greenhouse signs no time: a delivery is remembered this long, and one whose event is older is refused.
    greenhouse_webhook_max_age_days: float = 7.0

    @property
    def slack_configured(self) -> bool:
        """Handoffs go to Slack only when the app can both post there and verify what Slack sends."""
        return bool(self.slack_bot_token and self.slack_signing_secret and self.slack_handoff_channel)

    @property
    def sms_sending_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token
                    and (self.twilio_from_number or self.twilio_messaging_service_sid))

    @classmethod
    def from_env(cls) -> Settings:
        seed = os.environ.get("ATS_SEED_FILE")
        smtp_tls = smtp_tls_mode(os.environ.get("SMTP_HOST") or None)
        return cls(
            ats_backend=(os.environ.get("ATS_BACKEND") or "embedded").strip().lower(),
            ats_database=_env_path("ATS_DATABASE", "var/ats.db"),
            ats_seed_file=_env_path("ATS_SEED_FILE", seed) if seed else None,
            # The whole ATS call, retries included: a hosted API gets more time than the local database.
            ats_timeout_seconds=_env_float("ATS_TIMEOUT_SECONDS",
                                           3.0 if (os.environ.get("ATS_BACKEND") or "embedded").strip().lower()
                                           == "embedded" else 8.0),
            state_database=_env_path("STATE_DATABASE", "var/state.db"),
            twilio_auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or None,
            twilio_webhook_url=os.environ.get("TWILIO_WEBHOOK_URL") or None,
            twilio_manages_opt_out=_env_bool("TWILIO_MANAGES_OPT_OUT", False),
            # Conversation ids are keyed hashes of phone numbers, keeping numbers out of Rasa's logs.
            conversation_id_key=os.environ.get("CONVERSATION_ID_KEY") or LOCAL_CONVERSATION_ID_KEY,
            default_phone_region=(os.environ.get("DEFAULT_PHONE_REGION") or "US").upper(),
            knowledge_file=_env_path("KNOWLEDGE_FILE", "data/knowledge/faqs.yml"),
            knowledge_threshold=_env_float("KNOWLEDGE_THRESHOLD", 0.40),
            # Where candidates reach this server from outside (calendar invite links).
            public_base_url=(os.environ.get("PUBLIC_BASE_URL") or "http://localhost:5005").rstrip("/"),
            booking_min_notice_hours=_env_float("BOOKING_MIN_NOTICE_HOURS", 12.0),
            booking_horizon_days=_env_float("BOOKING_HORIZON_DAYS", 14.0),
            booking_offer_count=int(_env_float("BOOKING_OFFER_COUNT", 5)),
            reminder_offsets=_env_durations("INTERVIEW_REMINDERS", "24h,1h"),
            twilio_account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or None,
            twilio_from_number=os.environ.get("TWILIO_FROM_NUMBER") or None,
            twilio_messaging_service_sid=os.environ.get("TWILIO_MESSAGING_SERVICE_SID") or None,
            twilio_api_base_url=(os.environ.get("TWILIO_API_BASE_URL") or "https://api.twilio.com").rstrip("/"),
            delivery_poll_seconds=_env_float("DELIVERY_POLL_SECONDS", 5.0),
            slack_bot_token=os.environ.get("SLACK_BOT_TOKEN") or None,
            slack_signing_secret=os.environ.get("SLACK_SIGNING_SECRET") or None,
            slack_api_url=(os.environ.get("SLACK_API_URL") or "https://slack.com/api").rstrip("/") + "/",
            slack_handoff_channel=os.environ.get("SLACK_HANDOFF_CHANNEL") or None,
            slack_fallback_channel=(os.environ.get("SLACK_FALLBACK_CHANNEL")
                                    or os.environ.get("SLACK_HANDOFF_CHANNEL") or None),
            handoff_claim_minutes=_env_float("HANDOFF_CLAIM_MINUTES", 15.0),
            recruiting_hours=os.environ.get("RECRUITING_HOURS") or "Mon-Fri 09:00-17:00",
            web_jwt_secret=os.environ.get("WEB_JWT_SECRET") or None,
            web_demo_login=_env_bool("WEB_DEMO_LOGIN", False),
            smtp_host=os.environ.get("SMTP_HOST") or None,
            smtp_port=int(_env_float("SMTP_PORT", 465 if smtp_tls == "tls" else 587)),
            smtp_user=os.environ.get("SMTP_USER") or None,
            smtp_password=os.environ.get("SMTP_PASSWORD") or None,
            smtp_tls=smtp_tls,
            smtp_from=os.environ.get("SMTP_FROM") or "careers-assistant@localhost",
            email_outbox_dir=_env_path("EMAIL_OUTBOX_DIR", "var/email-outbox"),
            email_code_minutes=_env_float("EMAIL_CODE_MINUTES", 10.0),
            email_code_limit_per_client=_env_limit("EMAIL_CODE_LIMIT_PER_CLIENT", 10),
            email_code_limit_global=_env_limit("EMAIL_CODE_LIMIT_GLOBAL", 500),
            email_code_max_failures=_env_limit("EMAIL_CODE_MAX_FAILURES", 10),
            web_verification_days=_env_float("WEB_VERIFICATION_DAYS", 30.0),
            ats_request_timeout_seconds=_env_float("ATS_REQUEST_TIMEOUT_SECONDS", 5.0),
            ats_job_cache_seconds=_env_float("ATS_JOB_CACHE_SECONDS", 300.0),
            greenhouse_api_key=os.environ.get("GREENHOUSE_API_KEY") or None,
            greenhouse_base_url=(os.environ.get("GREENHOUSE_BASE_URL")
                                 or "https://harvest.greenhouse.io/v1").rstrip("/"),
            greenhouse_user_id=os.environ.get("GREENHOUSE_USER_ID") or None,
            greenhouse_webhook_secret=os.environ.get("GREENHOUSE_WEBHOOK_SECRET") or None,
            lever_api_key=os.environ.get("LEVER_API_KEY") or None,
            lever_base_url=(os.environ.get("LEVER_BASE_URL") or "https://api.lever.co/v1").rstrip("/"),
            lever_user_id=os.environ.get("LEVER_USER_ID") or None,
            lever_webhook_token=os.environ.get("LEVER_WEBHOOK_TOKEN") or None,
            ats_webhook_secret=os.environ.get("ATS_WEBHOOK_SECRET") or None,
            status_updates=_env_bool("STATUS_UPDATES", True),
            status_update_rejections=_env_bool("STATUS_UPDATE_REJECTIONS", False),
            quiet_hours=os.environ.get("QUIET_HOURS") or "21:00-08:00",
            stale_application_days=_env_float("STALE_APPLICATION_DAYS", 7.0),
            stale_check_minutes=_env_float("STALE_CHECK_MINUTES", 60.0),
            company_name=os.environ.get("COMPANY_NAME") or None,
            company_timezone=os.environ.get("COMPANY_TIMEZONE") or None,
            careers_email=os.environ.get("CAREERS_EMAIL") or None,
            data_retention_days=_env_float("DATA_RETENTION_DAYS", 0.0),
            rest_channel_token=os.environ.get("REST_CHANNEL_TOKEN") or None,
            rate_limit_messages_per_minute=_env_limit("RATE_LIMIT_MESSAGES_PER_MINUTE", 20),
            rate_limit_web_sessions_per_hour=_env_limit("RATE_LIMIT_WEB_SESSIONS_PER_HOUR", 30),
            rate_limit_handoffs_per_hour=_env_limit("RATE_LIMIT_HANDOFFS_PER_HOUR", 3),
            rate_limit_client_handoffs_per_hour=_env_limit("RATE_LIMIT_CLIENT_HANDOFFS_PER_HOUR", 10),
            ops_token=os.environ.get("OPS_TOKEN") or None,
            invite_link_days_after=_env_float("INVITE_LINK_DAYS_AFTER", 7.0),
            greenhouse_webhook_max_age_days=_env_float("GREENHOUSE_WEBHOOK_MAX_AGE_DAYS", 7.0),
            web_allowed_origins=tuple(o.strip() for o in (os.environ.get("WEB_ALLOWED_ORIGINS") or "*").split(",")
                                      if o.strip()) or ("*",),
        )
