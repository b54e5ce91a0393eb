"""The identity provider's public keys (a JWKS endpoint, as Better Auth publishes), cached by `kid`.

Verification stays on the event loop and CPU-only: a key that is cached is used at once. A `kid`
that is not cached triggers one refetch, in a worker thread, shared by every request waiting for it,
and never more often than once every `refetch_seconds`, so rotation needs no restart and a flood of
made-up `kid`s cannot hammer the identity provider. A key set older than `max_age_seconds` is also
refreshed, in the background, so a withdrawn key is not trusted for ever.
"""

import asyncio
import logging
import math
import time

import jwt
from jwt import PyJWK, PyJWKClient

from handlers import metrics

log = logging.getLogger("tasks_api.jwks")


class KeysUnavailable(Exception):
    """The key set could not be fetched: the request cannot be judged, which is not the caller's fault."""


class KeySet:
    def __init__(self, url: str, *, refetch_seconds: float, max_age_seconds: float = 300,
                 timeout_seconds: float = 5) -> None:
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout_seconds)
        self._refetch_seconds = refetch_seconds
        self._max_age_seconds = max_age_seconds
        self._keys: dict[str, PyJWK] = {}
        self.generation = 0  # bumped whenever the published keys change
        self._fetched_at = -math.inf
        self._last_fetch_failed = False
        self._fetch: asyncio.Task | None = None

    async def key(self, kid: str | None) -> PyJWK:
        if kid in self._keys:
            if self._fetch is None and time.monotonic() - self._fetched_at >= self._max_age_seconds:
                # Refresh in the background: a key the provider has withdrawn stops working once it lands.
                self._fetch = asyncio.ensure_future(self._refetch())
            return self._keys[kid]
        if self._fetch is None and time.monotonic() - self._fetched_at >= self._refetch_seconds:
            self._fetch = asyncio.ensure_future(self._refetch())
        if self._fetch is not None:
            await asyncio.shield(self._fetch)
        if self._last_fetch_failed:
            raise KeysUnavailable
        if kid in self._keys:
            return self._keys[kid]
        raise jwt.InvalidTokenError("the token's key id is not in the identity provider's key set")

    async def _refetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            key_set = await asyncio.to_thread(self._client.get_jwk_set)
            keys = {key.key_id: key for key in key_set.keys if key.key_id}
            if keys.keys() != self._keys.keys():
                self.generation += 1
            self._keys = keys
            self._last_fetch_failed = False
            metrics.JWKS_FETCHES.labels("ok").inc()
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, OSError) as error:
            metrics.JWKS_FETCHES.labels("failed").inc()
            log.warning("could not fetch the key set: %s", type(error).__name__)
            self._last_fetch_failed = True
        finally:
            self._fetch = None
