"""What an operation needs of its request besides its validated arguments: the conditional and
idempotency headers (the spec declares and validates them; Connexion hands handlers none) and the
app's settings. Bound per request by the app factory."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from starlette.datastructures import Headers

from db.changes import MAX_NUMBER
from handlers.settings import Settings

_request: ContextVar[tuple[Headers, Settings]] = ContextVar("request")
# One entity tag of a list: W/ marks a weak one. This service's tags are the quoted change number.
ENTITY_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')
ANY = None  # `*`: any current version


@contextmanager
def binding(scope, settings: Settings) -> Iterator[None]:
    token = _request.set((Headers(scope=scope), settings))
    try:
        yield
    finally:
        _request.reset(token)


def settings() -> Settings:
    return _request.get()[1]


def etag(version: int) -> str:
    return f'"{version}"'


def if_match() -> set[int] | None:
    """The versions If-Match names, compared strongly (weak tags never match); ANY for `*` or no header."""
    return _versions("if-match", weak=False)


def if_none_match() -> set[int] | None:
    """The versions If-None-Match names, compared weakly; ANY for `*`; an empty set for no header."""
    if "if-none-match" not in _request.get()[0]:
        return set()
    return _versions("if-none-match", weak=True)


def idempotency_key() -> str | None:
    return _request.get()[0].get("idempotency-key")


def _versions(header: str, *, weak: bool) -> set[int] | None:
    value = _request.get()[0].get(header)
    if value is None or value.strip() == "*":
        return ANY
    versions = {int(tag) for is_weak, tag in ENTITY_TAG.findall(value)
                if tag.isascii() and tag.isdigit() and (weak or not is_weak)}
    return {version for version in versions if version <= MAX_NUMBER}  # a larger tag names no version
