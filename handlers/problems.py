"""RFC 9457 problem details: the one error shape, for handlers and for the app's error handlers."""

from http import HTTPStatus

MEDIA_TYPE = "application/problem+json"
MAX_DETAIL_CHARS = 2000  # as the spec bounds it; details may quote what a client sent
# RFC 9110's names where Python 3.11's HTTPStatus still has RFC 7231's.
RFC_9110_TITLES = {413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable",
                   422: "Unprocessable Content"}


def title_for(status: int) -> str:
    return RFC_9110_TITLES.get(status) or HTTPStatus(status).phrase


def problem_body(status: int, detail: str, **extensions) -> dict:
    return {"type": "about:blank", "title": title_for(status), "status": status,
            "detail": detail[:MAX_DETAIL_CHARS], **extensions}


def problem(status: int, detail: str, **extensions) -> tuple[dict, int, dict]:
    """A handler's return value for an expected failure such as a missing task."""
    return problem_body(status, detail, **extensions), status, {"Content-Type": MEDIA_TYPE}
