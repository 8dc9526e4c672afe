"""Corrections to the generated OpenAPI schema (`/api/schema/`), so that it says what the
API really does: a client, and the fuzz run in CI (`tests/fuzz/`), hold every answer to it.

- The 4xx answers that come from the shared machinery (authentication and permissions,
  the lookup of `{id}` and `{operation}`, filter and body validation, budgets), all shaped
  by `api/errors.py` as `{"message", "field"}`, documented once for every operation.
- What drf-spectacular leaves out of a serializer: null from a nullable relation, "" refused
  by a CharField that may not be blank.
- The report body as report_schema validates it: one report or a list, no unknown fields,
  no blank ids.

A view's or serializer's own declaration always wins: these only fill gaps. Registered in
`SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]` after drf-spectacular's enum hook, which
rebuilds the components and would drop edits made before it.
"""

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from rest_framework import serializers

from resilience import conf
from resilience.core.report_schema import EVENT_ID_RE, REPORT_FIELDS

ERROR_COMPONENT = "Error"
REPORT_COMPONENT = "Report"  # api/serializers.py ReportSerializer
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every 4xx answer: what is wrong, and the field it is about if any.",
    "properties": {
        "message": {"type": "string"},
        "field": {"type": "string", "nullable": True},
    },
    "required": ["message"],
}

# status → description, added where _applies() says so; a view's own declaration wins.
COMMON_ERRORS: dict[str, str] = {
    "400": "The request is malformed or a field is wrong; the message names it",
    "401": "No credentials, or credentials that are not known",
    "403": "These credentials may not do this (a service key on an operator's endpoint "
           "or the reverse, a missing permission, another service's object, a revoked key)",
    "404": "No such object, or one these credentials may not see",
    "429": "A budget per key or per client address is used up; Retry-After says when to "
           "send again",
}

# Answers a view sends but does not declare (its own `extend_schema` is the better home;
# this fills the gap until then, and never replaces a declaration).
UNDECLARED: dict[tuple[str, str], dict[str, str]] = {
    ("/api/v1/dead-letters/{id}/discard/", "post"): {
        "409": "The dead letter is already discarded",
    },
    ("/api/v1/dead-letters/{id}/edit-and-replay/", "post"): {
        "409": "The edit is saved but cannot be replayed (e.g. no enabled replay target); "
               "the message says why",
    },
}

_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def _applies(status: str, operation: dict[str, Any]) -> bool:
    parameters = operation.get("parameters", [])
    if status == "400":
        return "requestBody" in operation or any(p.get("in") == "query" for p in parameters)
    if status in ("401", "403", "429"):
        # 429: refused keys and tokens count against the client's address, and service
        # keys have budgets of their own (api/authentication.py, services/rate_limits.py).
        return bool(operation.get("security"))
    if status == "404":
        return any(p.get("in") == "path" for p in parameters)
    return False


def _error_response(description: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _add_error_responses(result: dict[str, Any]) -> None:
    for path, path_item in result.get("paths", {}).items():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in UNDECLARED.get((path, method), {}).items():
                responses.setdefault(status, _error_response(description))
            for status, description in COMMON_ERRORS.items():
                if status not in responses and _applies(status, operation):
                    responses[status] = _error_response(description)
            for status, response in responses.items():
                # A view that declared a 4xx with a description only still answers through
                # api/errors.py: say what the body is.
                if status.startswith("4") and "content" not in response:
                    response.update(_error_response(response.get("description", "")))


def _serializers(generator: Any) -> Iterator[tuple[str, serializers.Serializer]]:
    """(component name, serializer) for every serializer component."""
    # The registry has no public iterator; drf-spectacular's own enum hook reads it too.
    for component in generator.registry._components.values():
        if component.type == "schemas" and isinstance(component.object, serializers.Serializer):
            yield component.name, component.object


def _nullable_relations(result: dict[str, Any], generator: Any) -> None:
    """A read-only related field (a username, a slug) over a nullable foreign key answers
    null, which drf-spectacular does not mark for SlugRelatedField."""
    schemas = result.get("components", {}).get("schemas", {})
    for name, serializer in _serializers(generator):
        model = getattr(getattr(serializer, "Meta", None), "model", None)
        properties = schemas.get(name, {}).get("properties", {})
        if model is None or not properties:
            continue
        for field_name, field in serializer.fields.items():
            if not isinstance(field, serializers.RelatedField) or field_name not in properties:
                continue
            try:
                nullable = model._meta.get_field(field.source).null
            except FieldDoesNotExist:
                continue
            if nullable:
                properties[field_name]["nullable"] = True


def _request_components(result: dict[str, Any]) -> set[str]:
    names = set()
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                if ref.startswith("#/components/schemas/"):
                    names.add(ref.rsplit("/", 1)[1])
    return names


def _non_blank_inputs(result: dict[str, Any], generator: Any) -> None:
    """A CharField that may not be blank (DRF's default) refuses "" and, trimmed, "  ":
    minLength and a pattern say so, in request bodies (stored answers may hold "")."""
    schemas = result.get("components", {}).get("schemas", {})
    # Report's serializer only documents: report_schema validates it (see _report_shape).
    inputs = _request_components(result) - {REPORT_COMPONENT}
    for name, serializer in _serializers(generator):
        properties = schemas.get(name, {}).get("properties", {})
        if name not in inputs or not properties:
            continue
        for field_name, field in serializer.fields.items():
            if (type(field) is not serializers.CharField or field.read_only
                    or field.allow_blank or field_name not in properties):
                continue
            properties[field_name].setdefault("minLength", 1)
            if field.trim_whitespace:
                properties[field_name].setdefault("pattern", r"\S")


def _batch_reports(result: dict[str, Any]) -> None:
    """POST /api/v1/errors/ takes one report or a list of them, and answers in kind."""
    operation = result.get("paths", {}).get("/api/v1/errors/", {}).get("post")
    if not operation:
        return
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    created = operation.get("responses", {}).get("201", {}).get("content", {}).get(
        "application/json", {})
    for media in (body, created):
        schema = media.get("schema")
        if schema and set(schema) == {"$ref"}:  # not declared as one-or-many by the view
            many = {"type": "array", "items": schema, "minItems": 1,
                    "maxItems": conf.get("INGEST_MAX_BATCH")}
            media["schema"] = {"oneOf": [schema, many]}


def _report_shape(result: dict[str, Any]) -> None:
    """What report_schema refuses, said in the schema from the same table: unknown fields,
    blank ids and codes (`_check_id`), an event_id outside its alphabet."""
    report = result.get("components", {}).get("schemas", {}).get(REPORT_COMPONENT, {})
    properties = report.get("properties", {})
    if properties:
        report.setdefault("additionalProperties", False)
    for name, spec in REPORT_FIELDS.items():
        if spec.kind != "id" or name not in properties:
            continue
        properties[name].setdefault("minLength", 1)
        properties[name].setdefault("pattern", EVENT_ID_RE.pattern if name == "event_id"
                                    else r"\S")


def postprocess(result: dict[str, Any], generator: Any, request: Any,
                                public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        ERROR_COMPONENT, ERROR_SCHEMA)
    _add_error_responses(result)
    _nullable_relations(result, generator)
    _non_blank_inputs(result, generator)
    _batch_reports(result)
    _report_shape(result)
    return result
