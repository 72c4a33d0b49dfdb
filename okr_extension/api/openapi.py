"""The OpenAPI 3.1 document and a human-readable page, both built from the route table."""
from __future__ import annotations

import html

from pydantic.json_schema import models_json_schema

from okr_extension.api.operations import Operation

REF = "#/components/schemas/{model}"
PROBLEM = {
    "type": "object",
    "required": ["title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong and what to do"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
ERROR_TEXT = {304: "Not modified since your copy (ETag)", 400: "Malformed request", 401: "Missing or wrong credentials", 403: "Your role does not allow it",
              404: "Not found, or not in your organisations", 409: "Conflicts with the current state",
              412: "The resource changed (If-Match)", 413: "Body too large",
              415: "Body is not JSON", 422: "Invalid field values",
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
    else:
        generic = {} if op.content_type == "application/json" else {"type": "string"}
        ok = {"description": "OK", "content": {op.content_type: {"schema": generic}}}
    # Any operation answers 503 while the database is unavailable.
    errors = set(op.errors) | ({415, 422} if op.body else set()) | ({422} if op.query else set()) | {503}
    problem = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    return {str(op.status): ok,
            **{str(code): {"description": ERROR_TEXT[code], **({"content": problem} if code >= 400 else {})}
               for code in sorted(errors)}}


def document(operations: list[Operation], title: str, version: str) -> dict:
    models = {(op.body, "validation") for op in operations if op.body and op.body is not dict}
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
        if op.body is dict:
            entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
        elif op.body:
            entry["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF.format(model=op.body.__name__)}}}}
        paths.setdefault(op.documented_path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Objectives, key results, KPIs and their measurements. Authenticate with "
                                "HTTP Basic (your CalDAV user) or 'Authorization: Bearer <personal token>'."},
        "servers": [{"url": "/"}],
        "security": [{"basic": []}, {"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _schema_text(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_schema_text(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(map(str, schema["enum"]))
    if schema.get("type") == "array":
        return f"list of {_schema_text(schema.get('items', {}))}"
    return schema.get("format", schema.get("type", "any"))


def page(doc: dict) -> str:
    """A plain HTML reference: every operation, its parameters, body and answers; then every schema."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(doc['info']['title'])}</title>"
             "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}code{background:#eee}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
             "h3{margin-bottom:.2em}</style></head><body>",
             f"<h1>{e(doc['info']['title'])} {e(doc['info']['version'])}</h1><p>{e(doc['info']['description'])}</p>",
             "<p>Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a></p>"]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parts.append(f"<h3 id='{e(op['operationId'])}'><code>{method.upper()} {e(path)}</code></h3>"
                         f"<p>{e(op['summary'])}</p>")
            if op.get("parameters"):
                rows = "".join(f"<tr><td>{e(p['name'])}</td><td>{p['in']}</td><td>{e(_schema_text(p['schema']))}</td>"
                               f"<td>{e(p.get('description', ''))}</td></tr>" for p in op["parameters"])
                parts.append(f"<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>{rows}</table>")
            if "requestBody" in op:
                parts.append(f"<p>Body: <a href='#schema-{e(_schema_text(op['requestBody']['content']['application/json']['schema']))}'>"
                             f"{e(_schema_text(op['requestBody']['content']['application/json']['schema']))}</a></p>")
            answers = ", ".join(f"{code} {e(r['description'])}" for code, r in op["responses"].items())
            parts.append(f"<p>Answers: {answers}</p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in doc["components"]["schemas"].items():
        rows = "".join(f"<tr><td>{e(field)}</td><td>{e(_schema_text(prop))}</td><td>{e(prop.get('description', ''))}</td></tr>"
                       for field, prop in schema.get("properties", {}).items())
        parts.append(f"<h3 id='schema-{e(name)}'>{e(name)}</h3><table><tr><th>field</th><th>type</th><th></th></tr>{rows}</table>")
    parts.append("</body></html>")
    return "".join(parts)
