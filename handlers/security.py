"""The bearer-token check the spec names (`x-bearerInfoFunc`): the one place that knows about tokens.

Two verification modes, chosen by configuration, and a token is judged only by the mode its header's
`alg` belongs to: HS256 with BETTER_AUTH_SECRET, or the configured asymmetric algorithms with the
identity provider's published keys. The algorithm list is fixed by configuration, never by the token,
so an HS256 token is never checked against a public key nor an asymmetric one against the secret.

Connexion runs this on the event loop: everything here is CPU-only except a key-set fetch, which
handlers/jwks.py does in a thread. Handlers receive the verified subject as `user` and nothing else.
"""

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import jwt
from connexion.exceptions import ProblemException

from handlers.jwks import KeySet, KeysUnavailable
from handlers.settings import Settings

MAX_TOKEN_CHARS = 8192  # refuse absurd tokens before spending time decoding them
VERIFIED_CACHE_SIZE = 10_000
# JWS compact form: three unpadded base64url segments. PyJWT tolerates padding; the standard does not.
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._keys = KeySet(settings.jwks_url, refetch_seconds=settings.jwks_refetch_seconds) \
            if settings.jwks_url else None
        # token -> (claims, key-set generation): a client sends the same token many times over, and
        # checking a signature again is the costliest part of a request. `exp` is rechecked on every use,
        # and a change in the published keys voids what was verified against the old ones.
        self._verified: dict[str, tuple[dict, int]] = {}

    def _generation(self) -> int:
        return self._keys.generation if self._keys else 0

    async def claims(self, token: str) -> dict:
        """Verified claims, or jwt.InvalidTokenError; KeysUnavailable when the key set cannot be had."""
        cached = self._verified.get(token)
        if cached and cached[1] == self._generation() \
                and time.time() <= cached[0]["exp"] + self._settings.jwt_leeway_seconds:
            return cached[0]
        claims = await self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (claims, self._generation())
        return claims

    async def _verify(self, token: str) -> dict:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        settings = self._settings
        if algorithm == "HS256" and settings.jwt_secret:
            key, issuer, audience = settings.jwt_secret, settings.jwt_issuer, settings.jwt_audience
        elif algorithm in settings.jwt_algorithms and self._keys:
            key, issuer, audience = (await self._keys.key(header.get("kid"))).key, settings.jwks_issuer, \
                settings.jwks_audience
        else:
            raise jwt.InvalidAlgorithmError("the token's algorithm is not accepted here")
        required = ["exp", "iat", "sub"] + (["iss"] if issuer else []) + (["aud"] if audience else [])
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=issuer,
            audience=audience,
            leeway=settings.jwt_leeway_seconds,
            # PyJWT refuses any token carrying `aud` unless an audience is configured to check it against.
            options={"require": required, "verify_aud": audience is not None},
        )


_current_verifier: ContextVar[TokenVerifier] = ContextVar("verifier")


@contextmanager
def using(verifier: TokenVerifier) -> Iterator[None]:
    """Binds an app's verifier for one request; a context variable, so apps never share one."""
    token = _current_verifier.set(verifier)
    try:
        yield
    finally:
        _current_verifier.reset(token)


async def bearer_info(token: str, request) -> dict:
    if len(token) > MAX_TOKEN_CHARS:
        raise unauthorized("The token is too long.")
    if not COMPACT_JWS.fullmatch(token):
        raise unauthorized("The token is not a compact JWS.")
    try:
        claims = await _current_verifier.get().claims(token)
    except KeysUnavailable:
        raise ProblemException(status=503, headers={"Retry-After": "10"},
                               detail="The identity provider's keys cannot be fetched; try again shortly.") from None
    except jwt.ExpiredSignatureError:
        raise unauthorized("The token has expired.") from None
    except (jwt.PyJWTError, ValueError, TypeError):  # malformed or hostile input of any shape
        raise unauthorized("The token is not valid.") from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise unauthorized("The token's subject is not a user id.")
    path_user = request.scope.get("path_params", {}).get("user_id")
    if path_user is not None and path_user != subject:
        raise ProblemException(status=403, detail="The path's user_id is not the token's subject.")
    return {"sub": subject}


def unauthorized(detail: str) -> ProblemException:
    return ProblemException(status=401, detail=detail,
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
