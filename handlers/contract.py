"""The spec, for the few values code applies beyond what Connexion's request validation can."""

import importlib.util
from functools import cache
from pathlib import Path

import yaml

# openapi/ ships as the package tasks_api_contract (pyproject.toml): the checkout's own directory in an
# editable install, the installed copy in a wheel's.
SPEC_FILE = Path(importlib.util.find_spec("tasks_api_contract").submodule_search_locations[0]) / "tasks-api.yaml"


@cache
def document() -> dict:
    return yaml.safe_load(SPEC_FILE.read_text())


def schema(name: str) -> dict:
    return document()["components"]["schemas"][name]


def parameter_schema(operation_id: str, name: str) -> dict:
    """The schema of an operation's own (not shared) parameter."""
    operations = (operation for path in document()["paths"].values() for operation in path.values()
                  if isinstance(operation, dict))
    operation = next(operation for operation in operations if operation.get("operationId") == operation_id)
    return next(parameter["schema"] for parameter in operation["parameters"] if parameter.get("name") == name)


def defaults(name: str) -> dict:
    """The defaults of a body schema's fields, which Connexion does not fill in."""
    return {field: spec["default"] for field, spec in schema(name)["properties"].items() if "default" in spec}
