"""`tasks-api`: serve, migrate, token."""

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from db.session import is_sqlite
from handlers import logs
from handlers.settings import ConfigError, Settings

log = logging.getLogger("tasks_api")


def port_number(text: str) -> int:
    if not text.strip().isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tasks-api", description="The contract-first Tasks API.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service")
    # Hosting platforms (Heroku-style: Render, Railway, Fly) hand the port in PORT and expect the
    # service on every interface; locally, without PORT, it stays on loopback. Flags win.
    serve.add_argument("--host", default=os.environ.get("HOST") or ("0.0.0.0" if os.environ.get("PORT") else "127.0.0.1"),
                       help="the address to listen on (default: $HOST; else 0.0.0.0 if $PORT is set, else 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=os.environ.get("PORT") or "8000",
                       help="the port to listen on (default: $PORT, else 8000)")
    serve.add_argument("--workers", type=int, default=1)
    commands.add_parser("migrate", help="upgrade DATABASE_URL's schema to the newest revision")
    token = commands.add_parser("token", help="print a signed token for local use")
    token.add_argument("--user", required=True, help="the user id, used as the token's sub")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    args = parser.parse_args(argv)

    logs.configure(os.environ.get("LOG_FORMAT", "").strip().lower())  # Settings says if it is not one it knows
    try:
        settings = Settings.from_env(verifying_tokens=args.command != "migrate")
    except ConfigError as error:
        log.error("configuration error: %s", error)
        return 2
    try:
        return {"serve": _serve, "migrate": _migrate, "token": _token}[args.command](settings, args)
    except DBAPIError as error:  # the database refused us (no TLS, a wrong password, not there at all)
        log.error("database %s: %s", masked(settings.database_url), driver_message(error, settings.database_url))
        return 1


def masked(url: str) -> str:
    parsed = make_url(url)
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True)


def driver_message(error: DBAPIError, url: str) -> str:
    """The driver's own first line ("server does not support SSL, but SSL was required"): what follows
    it can quote SQL, and SQLAlchemy's rendering of the error adds the statement and a link."""
    message = " ".join((str(error.orig).strip().splitlines() or [type(error.orig).__name__])[0].split())
    parsed = make_url(url)
    for secret in (parsed.password, parsed.query.get("password")):
        if secret:
            message = message.replace(str(secret), "***")
    return message


# Imports stay inside the commands, so that each loads only what it uses: `token` none of the web stack,
# `migrate` none of the server.


def _serve(settings: Settings, args) -> int:
    from db import migrations

    if settings.metrics_port == args.port:
        log.error("configuration error: METRICS_PORT %d is the API's own port; give the metrics a port of their own.",
                  args.port)
        return 2

    if settings.metrics_port:
        # Before prometheus-client is first imported: it picks its multiprocess mode then.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_directory = tempfile.mkdtemp(prefix="tasks-api-metrics-")
    logs.quiet_migrations()
    if is_sqlite(settings.database_url):
        migrations.upgrade(settings.database_url)
    elif not migrations.is_current(settings.database_url, connect_timeout=settings.db_connect_timeout_seconds):
        log.error("the database schema is not up to date; run `tasks-api migrate` first.")
        return 2
    log.info("database %s, schema up to date", masked(settings.database_url))
    log.info("tokens: %s", token_modes(settings))
    if settings.dev_secret_file:
        log.warning("*** DEVELOPMENT MODE: BETTER_AUTH_SECRET is not set; tokens are signed with a generated "
                    "secret stored in %s. Set BETTER_AUTH_SECRET for anything but local use. ***",
                    settings.dev_secret_file)
    from handlers import server

    try:
        server.serve(settings, host=args.host, port=args.port, workers=args.workers)
    finally:
        if settings.metrics_port:
            shutil.rmtree(metrics_directory, ignore_errors=True)
    return 0


def token_modes(settings: Settings) -> str:
    modes = []
    if settings.jwt_secret:
        modes.append("HS256 with " + ("a generated development secret" if settings.dev_secret_file else
                                      "BETTER_AUTH_SECRET"))
    if settings.jwks_url:
        modes.append(f"{'/'.join(settings.jwt_algorithms)} from the key set at {settings.jwks_url}")
    return " and ".join(modes)


def _migrate(settings: Settings, _args) -> int:
    from db import migrations

    migrations.upgrade(settings.database_url, connect_timeout=settings.db_connect_timeout_seconds)
    print("tasks-api: database schema is up to date.")
    return 0


def _token(settings: Settings, args) -> int:
    import jwt

    if not settings.jwt_secret:
        print("tasks-api: `token` signs with BETTER_AUTH_SECRET, which is not set; in JWKS mode tokens come "
              "from the identity provider.", file=sys.stderr)
        return 2
    now = int(time.time())
    claims = {"sub": args.user, "iat": now, "exp": now + args.ttl}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    print(jwt.encode(claims, settings.jwt_secret, algorithm="HS256"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
