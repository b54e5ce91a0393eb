"""The bearer-token check the spec names (`x-bearerInfoFunc`): the one place that knows about tokens.

Connexion calls it inline on the event loop, so it stays CPU-only. Handlers receive the verified
subject as `user` and nothing else.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import jwt
from connexion.exceptions import ProblemException

from handlers.settings import Settings

ALGORITHMS = ["HS256"]  # fixed here, never taken from the token's header
MAX_TOKEN_CHARS = 8192  # refuse absurd tokens before spending time decoding them

_current_verifier: ContextVar[Callable[[str], dict]] = ContextVar("verifier")


def verifier(settings: Settings) -> Callable[[str], dict]:
    """Token -> claims, or jwt.InvalidTokenError. The one replaceable place that knows about keys."""
    required = ["exp", "sub"] + (["iss"] if settings.jwt_issuer else []) + (["aud"] if settings.jwt_audience else [])

    def verify(token: str) -> dict:
        return jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=ALGORITHMS,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
            # PyJWT refuses any token carrying `aud` unless an audience is configured to check it against.
            options={"require": required, "verify_aud": settings.jwt_audience is not None},
        )

    return verify


@contextmanager
def using(verify: Callable[[str], dict]) -> Iterator[None]:
    """Binds an app's verifier for one request; a context variable, so apps never share one."""
    token = _current_verifier.set(verify)
    try:
        yield
    finally:
        _current_verifier.reset(token)


def bearer_info(token: str, request) -> dict:
    if len(token) > MAX_TOKEN_CHARS:
        raise unauthorized("The token is too long.")
    try:
        claims = _current_verifier.get()(token)
    except jwt.ExpiredSignatureError:
        raise unauthorized("The token has expired.") from None
    except jwt.InvalidTokenError:
        raise unauthorized("The token is not valid.") from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise unauthorized("The token's subject is not a user id.")
    path_user = request.scope.get("path_params", {}).get("user_id")
    if path_user is not None and path_user != subject:
        raise ProblemException(status=403, title="Forbidden", detail="The path's user_id is not the token's subject.")
    return {"sub": subject}


def unauthorized(detail: str) -> ProblemException:
    return ProblemException(status=401, title="Unauthorized", detail=detail,
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
