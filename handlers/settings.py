"""One settings object, read once from the environment, with safe defaults for local use."""

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from db.session import CONNECT_TIMEOUT_SECONDS, is_sqlite, resolve_url

MIN_SECRET_BYTES = 32
ASYMMETRIC_ALGORITHMS = {"EdDSA", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}


class ConfigError(ValueError):
    """A setting that would make the service unsafe or unable to run."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    jwt_secret: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    jwt_algorithms: tuple[str, ...] = ("EdDSA",)
    jwks_refetch_seconds: float = 10.0
    jwt_issuer: str | None = None  # JWT_ISSUER / JWT_AUDIENCE: every token must carry them
    jwt_audience: str | None = None
    jwks_issuer: str | None = None  # a token verified by the key set: those, or Better Auth's own
    jwks_audience: str | None = None
    jwt_leeway_seconds: int = 30
    allowed_origins: tuple[str, ...] = ()
    db_pool_size: int = 4
    db_max_overflow: int = 0
    db_connect_timeout_seconds: int = CONNECT_TIMEOUT_SECONDS
    db_statement_timeout_seconds: float = 5.0  # 0: no limit
    response_validation: bool = False
    dev_secret_file: Path | None = None
    idempotency_key_ttl_seconds: int = 86_400
    tombstone_retention_seconds: int = 30 * 86_400
    body_timeout_seconds: float = 10.0
    shutdown_grace_seconds: int = 30
    metrics_port: int | None = None  # Prometheus metrics on their own port; off unless set
    log_format: str = "text"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, *, verifying_tokens: bool = True) -> "Settings":
        """The settings in `environ`. Without `verifying_tokens` (`migrate`, which serves no request),
        no token verification mode is required and no development secret is made."""
        database_url = resolve_url(environ.get("DATABASE_URL"))
        auth_url = environ.get("BETTER_AUTH_URL", "").strip().rstrip("/") or None
        jwks_url = environ.get("JWKS_URL", "").strip() or (f"{auth_url}/api/auth/jwks" if auth_url else None)
        if jwks_url and urlsplit(jwks_url).scheme not in ("http", "https"):
            raise ConfigError(f"JWKS_URL must be an http(s) URL, not {jwks_url!r}.")
        algorithms = tuple(a.strip() for a in environ.get("JWT_ALGORITHMS", "EdDSA").split(",") if a.strip())
        if not algorithms or not set(algorithms) <= ASYMMETRIC_ALGORITHMS:
            raise ConfigError(f"JWT_ALGORITHMS must be a comma-separated subset of {sorted(ASYMMETRIC_ALGORITHMS)}; "
                              "HS256 is used when BETTER_AUTH_SECRET is set.")
        secret = environ.get("BETTER_AUTH_SECRET", "") or None
        dev_secret_file = None
        if verifying_tokens and not is_sqlite(database_url):
            if secret and len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(f"BETTER_AUTH_SECRET is shorter than {MIN_SECRET_BYTES} bytes; "
                                  "use a long random value with PostgreSQL.")
            if not secret and not jwks_url:
                raise ConfigError("BETTER_AUTH_SECRET is not set and neither is BETTER_AUTH_URL nor JWKS_URL: "
                                  "with PostgreSQL, tokens need a verification mode.")
        elif verifying_tokens and not secret and not jwks_url:
            dev_secret_file = _dev_secret_path(database_url)
            secret = _read_or_create_secret(dev_secret_file) if dev_secret_file else secrets.token_urlsafe(48)
        # Better Auth sets both `iss` and `aud` of the tokens it signs to its base URL. That default is
        # for tokens verified by its key set: HS256 tokens (the design documents' shared secret, kept
        # while moving to JWKS) are held only to an explicit JWT_ISSUER and JWT_AUDIENCE.
        issuer, audience = environ.get("JWT_ISSUER") or None, environ.get("JWT_AUDIENCE") or None
        default_claim = auth_url if jwks_url else None
        return cls(
            database_url=database_url,
            jwt_secret=secret,
            jwks_url=jwks_url,
            jwt_algorithms=algorithms,
            jwks_refetch_seconds=_number(environ, "JWKS_REFETCH_SECONDS", 10.0, minimum=0),
            jwt_issuer=issuer,
            jwt_audience=audience,
            jwks_issuer=issuer or default_claim,
            jwks_audience=audience or default_claim,
            jwt_leeway_seconds=_integer(environ, "JWT_LEEWAY_SECONDS", 30, minimum=0),
            allowed_origins=tuple(o.strip() for o in environ.get("ALLOWED_ORIGINS", "").split(",") if o.strip()),
            db_pool_size=_integer(environ, "DB_POOL_SIZE", 4, minimum=1),
            db_max_overflow=_integer(environ, "DB_MAX_OVERFLOW", 0, minimum=0),
            db_connect_timeout_seconds=_integer(environ, "DB_CONNECT_TIMEOUT", CONNECT_TIMEOUT_SECONDS, minimum=1),
            db_statement_timeout_seconds=_number(environ, "DB_STATEMENT_TIMEOUT", 5.0, minimum=0),
            response_validation=_boolean(environ, "RESPONSE_VALIDATION", False),
            dev_secret_file=dev_secret_file,
            idempotency_key_ttl_seconds=_integer(environ, "IDEMPOTENCY_KEY_TTL_SECONDS", 86_400, minimum=1),
            tombstone_retention_seconds=_integer(environ, "TOMBSTONE_RETENTION_SECONDS", 30 * 86_400, minimum=1),
            body_timeout_seconds=_number(environ, "BODY_TIMEOUT_SECONDS", 10.0, minimum=0.1),
            shutdown_grace_seconds=_integer(environ, "SHUTDOWN_GRACE_SECONDS", 30, minimum=1),
            metrics_port=_port(environ, "METRICS_PORT"),
            log_format=_choice(environ, "LOG_FORMAT", ("text", "json")),
        )


def _number(environ: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}.")
    return value


def _integer(environ: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}.")
    return value


def _port(environ: Mapping[str, str], name: str) -> int | None:
    raw = environ.get(name, "").strip()
    if raw and not (raw.isdigit() and 0 < int(raw) < 65536):
        raise ConfigError(f"{name} must be a port from 1 to 65535, not {raw!r}.")
    return int(raw) if raw else None


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices`; the first when unset."""
    raw = environ.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
    return raw


def _boolean(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}.")


def _dev_secret_path(database_url: str) -> Path | None:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return None
    return Path(database).resolve().with_name(Path(database).name + ".secret")


def _read_or_create_secret(path: Path) -> str:
    """Created once, owner-only, and atomically: a concurrent process (or worker) reads the same secret."""
    if not path.exists():
        draft = path.with_name(f"{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)  # fails if another process won the race; theirs is kept
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
