"""Generic HTTP/JSON machinery of the sidecar: problems, request parsing, pagination, OpenAPI.
Nothing here knows about goals."""
