"""The action server, as rasa_sdk runs it, but answering only the Rasa server: `python -m actions.server`.

rasa_sdk 3.6 has no authentication of its own, binds 0.0.0.0, allows any CORS origin, and echoes the
whole posted tracker (messages, identities) in the body of a 500. An action server trusts the tracker
it is sent, so anyone who could reach it could ask for any candidate's status. Here:
- every call to /webhook and /actions must carry `Authorization: Bearer <ACTION_SERVER_TOKEN>`
  (endpoints.yml sends it), compared in constant time; without it, 401 and nothing runs;
- the server binds ACTION_SERVER_HOST (default 127.0.0.1; a container sets 0.0.0.0 and a network
  policy, deploy/), and refuses to start without a token;
- no CORS (only the Rasa server calls it, never a browser), and errors answer without the request.
GET /health stays open: it says only "ok", and load balancers and probes ask it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from rasa_sdk import utils
from rasa_sdk.constants import DEFAULT_SERVER_PORT
from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.access import bearer_matches

logger = logging.getLogger("actions.server")  # not __main__ under `python -m`
TOKEN_VARIABLE = "ACTION_SERVER_TOKEN"  # noqa: S105 - the variable's name, not its value
MIN_TOKEN_LENGTH = 32
OPEN_PATHS = frozenset({"/health"})


class ActionServerConfigError(Exception):
    """The action server cannot start safely as configured."""


def action_server_token(environ: os._Environ | dict[str, str] = os.environ) -> str:
    token = (environ.get(TOKEN_VARIABLE) or "").strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise ActionServerConfigError(
            f"{TOKEN_VARIABLE} must be set to a random secret of at least {MIN_TOKEN_LENGTH} characters (the Rasa "
            "server sends it, see endpoints.yml; `make run` makes a local one; generate one with `openssl rand -hex "
            "32`)")
    return token


def authenticated_app(token: str, action_package: str = "actions") -> Sanic:
    app = create_app(action_package, cors_origins=None)

    @app.middleware("request")
    async def require_token(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS or bearer_matches(request.headers.get("Authorization"), token):
            return None
        logger.warning("action server: a call to %s without the Rasa server's token was refused", request.path)
        return response.json({"error": "unauthorized"}, status=401)

    # rasa_sdk's handler puts the whole request body in the 500 (a tracker: messages and identities).
    @app.exception(Exception)
    async def without_request_body(request: Request, exception: Exception) -> HTTPResponse:
        logger.error("action server: %s in %s", type(exception).__name__, request.path, exc_info=exception)
        return response.json({"error": "the action failed"}, status=500)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The assistant's action server, answering only the Rasa server.")
    parser.add_argument("--actions", default="actions", help="the package the actions are in")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT") or DEFAULT_SERVER_PORT))
    parser.add_argument("--host", default=os.environ.get("ACTION_SERVER_HOST") or "127.0.0.1",
                        help="the address to bind (default 127.0.0.1; ACTION_SERVER_HOST)")
    utils.add_logging_level_option_arguments(parser)
    args = parser.parse_args(argv)
    utils.configure_colored_logging(args.loglevel)
    utils.update_sanic_log_level()
    try:
        token = action_server_token()
    except ActionServerConfigError as error:
        print(f"action server not started: {error}", file=sys.stderr)
        return 2
    app = authenticated_app(token, args.actions)
    logger.info("action server on http://%s:%s (calls need the Rasa server's token)", args.host, args.port)
    app.run(args.host, args.port, workers=utils.number_of_sanic_workers(), access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
