"""The request body limit, shared by the application (aiohttp's ``client_max_size``) and the
body reader, so both refuse the same bodies with the same reason."""
from __future__ import annotations

MAX_BODY = 8 * 1024 * 1024  # a 50,000-point KPI ingest (about 3 MB of JSON) fits
TOO_LARGE = (f"the body is larger than {MAX_BODY} bytes (8 MiB), the limit of one request; "
             "send less per request (e.g. split the measurements into several batches)")
