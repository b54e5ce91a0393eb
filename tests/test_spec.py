"""The spec as documentation: every example in it is valid against its own schema."""

import pytest
import yaml
from connexion.json_schema import Draft4RequestValidator, Draft4ResponseValidator
from jsonschema import Draft4Validator

from handlers.app import SPEC_FILE

SPEC = yaml.safe_load(SPEC_FILE.read_text())


def resolve(node, seen=()):
    """The node with every local $ref replaced by its target (the spec has no recursive schemas)."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            target = SPEC
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target, (*seen, ref))
        return {key: resolve(value, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, seen) for item in node]
    return node


def media_examples():
    """(where, schema, example, is_request) for every example attached to a request or response body."""
    found = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            bodies = [("request", operation.get("requestBody", {}))]
            bodies += [(f"response {status}", response) for status, response in operation["responses"].items()]
            for label, body in bodies:
                for media_type, media in resolve(body).get("content", {}).items():
                    examples = [media["example"]] if "example" in media else []
                    examples += [example["value"] for example in media.get("examples", {}).values()]
                    found += [(f"{method.upper()} {path} {label} {media_type}", media["schema"], example, label == "request")
                              for example in examples]
    return found


def schema_examples():
    return [(f"schema {name}", resolve(schema), schema["example"], False)
            for name, schema in SPEC["components"]["schemas"].items() if "example" in schema]


@pytest.mark.parametrize("where, schema, example, is_request", media_examples() + schema_examples(),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_every_example_matches_its_schema(where, schema, example, is_request):
    validator = Draft4RequestValidator if is_request else Draft4ResponseValidator
    errors = list(validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER).iter_errors(example))
    assert not errors, f"{where}: {[error.message for error in errors]}"


def test_the_examples_cover_every_operation_and_error_response():
    covered = {where.split(" response")[0].split(" request")[0] for where, *_ in media_examples()}
    operations = {f"{method.upper()} {path}" for path, item in SPEC["paths"].items() for method in item
                  if method in {"get", "post", "put", "patch", "delete"}}
    assert covered == operations
    assert all("example" in media for response in SPEC["components"]["responses"].values()
               for media in response.get("content", {}).values())  # a 304 has no content


def test_header_and_parameter_examples_match_their_schemas():
    declared = [*SPEC["components"]["headers"].items(), *SPEC["components"]["parameters"].items()]
    examples = [(name, item) for name, item in declared if "example" in item]
    assert len(examples) >= len(declared) - 1  # only Idempotency-Key has none, on purpose
    for name, item in examples:
        errors = list(Draft4Validator(item["schema"], format_checker=Draft4Validator.FORMAT_CHECKER)
                      .iter_errors(item["example"]))
        assert not errors, f"{name}: {[error.message for error in errors]}"
