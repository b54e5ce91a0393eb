"""RFC 9457 problem details: the one error shape, for handlers and for the app's error handlers."""

from http import HTTPStatus

MEDIA_TYPE = "application/problem+json"
MAX_DETAIL_CHARS = 2000  # as the spec bounds it; details may quote what a client sent


def problem_body(status: int, detail: str, title: str | None = None, **extensions) -> dict:
    return {"type": "about:blank", "title": title or HTTPStatus(status).phrase, "status": status,
            "detail": detail[:MAX_DETAIL_CHARS], **extensions}


def problem(status: int, detail: str, **extensions) -> tuple[dict, int, dict]:
    """A handler's return value for an expected failure such as a missing task."""
    return problem_body(status, detail, **extensions), status, {"Content-Type": MEDIA_TYPE}
