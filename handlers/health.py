from datetime import UTC, datetime

from db.session import database_reachable

JSON = {"Content-Type": "application/json"}


def get_health():
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if database_reachable():
        return {"status": "ok", "database": "ok", "time": now}, 200, JSON
    return {"status": "unavailable", "database": "unreachable", "time": now}, 503, {**JSON, "Retry-After": "5"}
