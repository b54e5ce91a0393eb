"""Connexion validators that answer with one entry per invalid field, and refuse bodies that are not
UTF-8 JSON the database could store. The rules themselves all come from the spec."""

import json

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException
from connexion.json_schema import Draft4RequestValidator
from connexion.uri_parsing import OpenAPIURIParser
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from starlette.datastructures import Headers

MAX_MESSAGE_CHARS = 200
MAX_FIELD_CHARS = 300  # a field name can be anything a client sent
MAX_ERRORS = 100  # the spec's bounds on a problem's `errors`


def invalid(errors: list[dict]) -> ProblemException:
    errors = [{**error, "field": error["field"][:MAX_FIELD_CHARS]} for error in errors[:MAX_ERRORS]]
    summary = "; ".join(f"{e['field'] or e['location']}: {e['message']}" for e in errors[:5])
    return ProblemException(status=400, detail=f"The request is invalid. {summary}",
                            ext={"errors": errors})


def malformed_body(message: str) -> ProblemException:
    return invalid([{"location": "body", "field": "", "message": message}])


def field_errors(error: ValidationError, location: str, prefix: str = "") -> list[dict]:
    """Turns one jsonschema error into entries naming the exact field, in words a client can act on."""
    path = ".".join(str(part) for part in (*([prefix] if prefix else []), *error.absolute_path))
    kind, limit = error.validator, error.validator_value
    if kind == "required":
        return [{"location": location, "field": _join(path, name), "message": "is required"}
                for name in limit if name not in error.instance]
    if kind == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        return [{"location": location, "field": _join(path, name), "message": "is not a known field"}
                for name in error.instance if name not in known]
    return [{"location": location, "field": path, "message": _describe(error)}]


def _describe(error: ValidationError) -> str:
    limit = error.validator_value
    plural = "" if limit == 1 else "s"
    match error.validator:
        case "maxLength":
            return f"must be at most {limit} characters"
        case "minLength":
            return f"must be at least {limit} character{plural}"
        case "maximum":
            return f"must be at most {limit}"
        case "minimum":
            return f"must be at least {limit}"
        case "enum":
            return "must be one of: " + ", ".join(map(str, limit))
        case "type":
            return f"must be of type {limit}" + (" or null" if error.schema.get("nullable") else "")
        case "maxItems":
            return f"must hold at most {limit} value{plural}"
        case "minProperties":
            return f"must have at least {limit} field{plural}"
        case "pattern":
            return error.schema.get("description") or f"must match the pattern {limit}"
        case "format" if limit == "date-time":
            return "must be an RFC 3339 date-time with a time zone, such as 2026-12-01T09:00:00Z"
    return error.message[:MAX_MESSAGE_CHARS]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _collect(validator, instance, location: str, prefix: str = "") -> list[dict]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [entry for error in errors for entry in field_errors(error, location, prefix)]


# Connexion builds its validators anew for every request, and with them a jsonschema validator per
# schema; the schemas are the spec's own long-lived objects, so one compiled validator each is enough.
_compiled: dict[int, tuple[dict, Draft4Validator]] = {}


def compiled(schema: dict, build) -> Draft4Validator:
    entry = _compiled.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = _compiled[id(schema)] = (schema, build(schema))
    return entry[1]


class JSONBodyValidator(JSONRequestBodyValidator):
    @property
    def _validator(self):
        return compiled(self._schema, lambda schema: Draft4RequestValidator(
            schema, format_checker=Draft4Validator.FORMAT_CHECKER))

    async def _parse(self, stream, scope):
        raw = b"".join([chunk async for chunk in stream])
        if not raw.strip():
            return None
        if not Headers(scope=scope).get("content-type"):
            # Connexion would validate it as JSON and then hand the handler raw bytes.
            raise ProblemException(status=415, detail="A request body needs Content-Type: application/json.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise malformed_body("is not valid UTF-8") from None
        try:
            body = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise malformed_body("is nested too deeply") from None
        except ValueError as error:
            message = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
            raise malformed_body(f"is not valid JSON: {message}") from None
        if "\\u" in text and not _encodable(body):
            raise malformed_body("contains a lone UTF-16 surrogate escape, which is not text")
        return body

    def _validate(self, body):
        if body is None and not self._nullable:
            raise malformed_body("a JSON body is required")
        errors = _collect(self._validator, body, "body")
        if errors:
            raise invalid(errors)


class FieldParameterValidator(ParameterValidator):
    def validate_request(self, request):
        if self.strict_validation:
            unknown = self.validate_query_parameter_list(request, security_params=self.security_query_params)
            if unknown:
                raise invalid([{"location": "query", "field": name, "message": "is not a known parameter"}
                               for name in sorted(unknown)])
        values = {
            "query": request.query_params,
            "path": request.path_params,
            "header": request.headers,
        }
        errors = []
        for location, params in self.parameters.items():
            for param in _unique(params):
                value = values.get(location, {}).get(param["name"])
                if value is None:
                    if param.get("required"):
                        errors.append({"location": location, "field": param["name"], "message": "is required"})
                    continue
                validator = compiled(param.get("schema", param), lambda schema: Draft4Validator(
                    schema, format_checker=Draft4Validator.FORMAT_CHECKER))
                errors += _collect(validator, value, location, param["name"])
        if errors:
            raise invalid(errors)


def _unique(params: list[dict]) -> list[dict]:
    """Each parameter once. Connexion appends the path item's parameters to the operation's own list in
    place each time it reads the operation (once per middleware), so a path's `user_id` arrived six
    times: validated six times over, and reported six times when invalid. The first of a name is the
    operation's own, which OpenAPI says overrides the path item's."""
    first = {}
    for param in params:
        first.setdefault(param["name"], param)
    return list(first.values())


class ExplodedArrays(OpenAPIURIParser):
    """Reads an exploded query array (`label=a&label=b`, the spec's style) as exactly the values sent.
    Connexion joins them with commas and splits them again, so `label=a,b` would pass as two labels
    although the spec makes it one label with a comma, which it refuses."""

    @staticmethod
    def _resolve_param_duplicates(values, param_defn, _in):
        if _in == "query" and param_defn.get("explode", param_defn.get("style", "form") == "form"):
            return values
        return OpenAPIURIParser._resolve_param_duplicates(values, param_defn, _in)

    @staticmethod
    def _split(value, param_defn, _in):
        return value if isinstance(value, list) else OpenAPIURIParser._split(value, param_defn, _in)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _encodable(value) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


VALIDATORS = {
    **VALIDATOR_MAP,
    "parameter": FieldParameterValidator,
    "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": JSONBodyValidator}),
}
