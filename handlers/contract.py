"""The spec, for the few values code applies beyond what Connexion's request validation can."""

from functools import cache
from pathlib import Path

import yaml

SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi" / "tasks-api.yaml"


@cache
def schema(name: str) -> dict:
    return yaml.safe_load(SPEC_FILE.read_text())["components"]["schemas"][name]


def defaults(name: str) -> dict:
    """The defaults of a body schema's fields, which Connexion does not fill in."""
    return {field: spec["default"] for field, spec in schema(name)["properties"].items() if "default" in spec}
