"""The OpenAPI 3.1 document, built from the route table (Swagger UI shows it: ``api.docs``)."""
from __future__ import annotations

from pydantic.json_schema import models_json_schema

from okr_extension.api.operations import Operation

REF = "#/components/schemas/{model}"
PROBLEM = {
    "type": "object",
    "required": ["title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong and what to do"},
        "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"], "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
ERROR_TEXT = {304: "Not modified since your copy (ETag)", 400: "Malformed request", 401: "Missing or wrong credentials", 403: "Your role does not allow it",
              404: "Not found, or not in your organisations", 409: "Conflicts with the current state",
              412: "The resource changed (If-Match)", 413: "Body too large",
              415: "Body is not JSON", 422: "Invalid field values",
              429: "Too many failed logins for this account or address: retry after Retry-After seconds",
              503: "The database is unavailable: retry after Retry-After seconds"}


def _query_parameters(model) -> list[dict]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop,
             **({"description": prop["description"]} if "description" in prop else {})}
            for name, prop in schema.get("properties", {}).items()]


def _responses(op: Operation) -> dict:
    if op.status == 204:
        ok = {"description": "Done (no content)"}
    elif op.response is not None:
        ok = {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": REF.format(model=op.response.__name__)}}}}
    elif op.media_types == ("application/json",):
        raise ValueError(f"{op.method} {op.path}: declare the response model of a JSON answer")
    else:  # not JSON: a text or a file
        ok = {"description": "OK", "content": {media_type: {"schema": {"type": "string"}}
                                               for media_type in op.media_types}}
    # Any operation answers 503 while the database is unavailable.
    errors = set(op.errors) | ({413, 415, 422} if op.body else set()) | ({422} if op.query else set()) | {503}
    errors |= {429} if 401 in errors else set()  # password logins are throttled (storage_plugin.logins)
    problem = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    return {str(op.status): ok,
            **{str(code): {"description": ERROR_TEXT[code], **({"content": problem} if code >= 400 else {})}
               for code in sorted(errors)}}


def document(operations: list[Operation], title: str, version: str) -> dict:
    models = {(op.body, "validation") for op in operations if op.body}
    models |= {(op.response, "serialization") for op in operations if op.response}
    _, components = models_json_schema(sorted(models, key=lambda m: (m[0].__name__, m[1])), ref_template=REF)
    schemas = {**components.get("$defs", {}), "Problem": PROBLEM}
    paths: dict[str, dict] = {}
    for op in operations:
        entry = {"summary": op.summary, "tags": [op.tag], "operationId": op.handler.__name__,
                 "responses": _responses(op)}
        parameters = [{"name": name, "in": "path", "required": True, "schema": schema}
                      for name, schema in op.parameters().items()]
        if op.query:
            parameters += _query_parameters(op.query)
        if parameters:
            entry["parameters"] = parameters
        if op.public:
            entry["security"] = []
        else:
            entry["x-token-scope"] = op.needed_token_scope
        if op.body:
            entry["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF.format(model=op.body.__name__)}}}}
        paths.setdefault(op.documented_path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Objectives, key results, KPIs and their measurements. Authenticate with "
                                "HTTP Basic (your CalDAV user) or 'Authorization: Bearer <personal token>'. "
                                "A token needs the scope each operation names in x-token-scope."},
        "servers": [{"url": "/"}],
        "security": [{"basic": []}, {"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }
