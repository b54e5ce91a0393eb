"""What the spec declares for each response, checked against real ones (conftest applies it to every
response any test client receives, so the whole suite is the sample).

- Every header a response carries is one the spec declares for that operation and status, apart from
  the transport's own.
- A problem's `title` is the one the spec's example gives for that status.
"""

import re

import yaml

from handlers.contract import SPEC_FILE

# The transport's and the browser's, not the API's: OpenAPI ignores a declared Content-Type, and
# Connection: close rides on answers after which the server closes the connection (413).
TRANSPORT = {"content-length", "date", "server", "content-type", "vary", "connection", "transfer-encoding"}
CORS = "access-control-"
NOT_THE_API = {"/openapi.json"}

_spec = yaml.safe_load(SPEC_FILE.read_text())


def _deref(node: dict) -> dict:
    if "$ref" in node:
        target = _spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _deref(target)
    return node


def _template(path: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")


PATHS = [(_template(path), item) for path, item in _spec["paths"].items()]
SHARED = {name: _deref(response) for name, response in _spec["components"]["responses"].items()}


def declared_response(method: str, path: str, status: int) -> dict | None:
    """The spec's response object for this answer, or None where the spec declares none."""
    for pattern, item in PATHS:
        if pattern.match(path):
            operation = item.get(method.lower())
            if operation is None:  # a method the spec does not declare here: the shared 405
                return SHARED["MethodNotAllowed"] if status == 405 else None
            responses = operation["responses"]
            found = responses.get(str(status), responses.get("default"))
            return _deref(found) if found else None
    return SHARED["NotFound"] if status == 404 else None  # no such endpoint


def check(response) -> None:
    request = response.request
    if request.method == "OPTIONS" or request.url.path in NOT_THE_API or request.url.path.startswith("/docs"):
        return  # a CORS preflight, the spec itself and Swagger UI: served by the middleware, not operations
    declared = declared_response(request.method, request.url.path, response.status_code)
    assert declared is not None, f"{request.method} {request.url.path}: {response.status_code} is not declared"
    allowed = {name.lower() for name in declared.get("headers", {})}
    undeclared = sorted(name for name in response.headers
                        if name not in allowed and name not in TRANSPORT and not name.startswith(CORS))
    assert not undeclared, (f"{request.method} {request.url.path} {response.status_code} sends headers the spec "
                            f"does not declare: {undeclared}")
    problem = declared.get("content", {}).get("application/problem+json", {})
    if "example" in problem and response.headers.get("content-type") == "application/problem+json":
        response.read()
        assert response.json()["title"] == problem["example"]["title"], response.text
