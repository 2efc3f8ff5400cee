"""Who may reach what: this machine (loopback), callers with a bearer token, and whether the server may start.

The local defaults are for one developer's machine only: `make run` works with no secrets at all (a built-in
conversation-id key, any CORS origin, and a demo page that signs a visitor in as a demo candidate). Each of
those would expose candidates on a server other people can reach. "Local use" is a server bound to a loopback
address whose PUBLIC_BASE_URL is a loopback URL; outside it, the server refuses to start while any of them is
still in place, and says which and what to set.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from bot.settings import LOCAL_CONVERSATION_ID_KEY, Settings

MIN_JWT_SECRET_BYTES = 32
LOCAL_HOSTNAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class UnsafeConfiguration(Exception):
    """The server would expose candidates as configured; the message says what to change."""


def is_loopback(host: str | None) -> bool:
    host = (host or "").strip().strip("[]").lower()
    if host in LOCAL_HOSTNAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bearer_matches(authorization: str | None, token: str | None) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time; never true while the token is unset."""
    scheme, _, given = (authorization or "").strip().partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    # bytes, not str: compare_digest refuses non-ASCII text, and a header may carry anything
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogatepass"), token.encode())


def is_local_url(url: str) -> bool:
    try:
        return is_loopback(urlsplit(url).hostname)
    except ValueError:
        return False


def local_use(settings: Settings, bind_host: str) -> bool:
    return is_loopback(bind_host) and is_local_url(settings.public_base_url)


def start_refusals(settings: Settings, bind_host: str) -> list[str]:
    """What stops this server from starting (empty: it may start)."""
    if local_use(settings, bind_host):
        return []
    where = (f"the server binds {bind_host}" if not is_loopback(bind_host)
             else f"PUBLIC_BASE_URL is {settings.public_base_url}")
    refusals = []
    if settings.web_demo_login:
        refusals.append("WEB_DEMO_LOGIN is on: the demo page signs visitors in as demo candidates; it is for `make "
                        "run` on your own machine only. Unset WEB_DEMO_LOGIN.")
    if settings.conversation_id_key == LOCAL_CONVERSATION_ID_KEY:
        refusals.append("CONVERSATION_ID_KEY is the built-in local value, which anyone can read in the source. Set "
                        "your own secret (`openssl rand -hex 32`) and keep it: it names conversations.")
    if settings.web_jwt_secret and len(settings.web_jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
        refusals.append(f"WEB_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes: a short HS256 secret can be "
                        "guessed offline from one token. Use a random secret of 32 bytes or more.")
    if "*" in settings.web_allowed_origins:
        refusals.append("WEB_ALLOWED_ORIGINS is * (any site may open the chat): set it to your careers site's "
                        "origin(s), e.g. https://careers.example.com.")
    return [f"{refusal} (Not local use: {where}.)" for refusal in refusals]


def check_safe_to_start(settings: Settings, bind_host: str) -> None:
    refusals = start_refusals(settings, bind_host)
    if refusals:
        raise UnsafeConfiguration("The assistant will not start as configured:\n- " + "\n- ".join(refusals))
