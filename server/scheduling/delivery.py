"""After a client's PUT or DELETE has committed: deliver the iTIP jobs it queued and answer
with the Schedule-Tag (RFC 6638 §8.2)."""
from __future__ import annotations

import contextvars
import logging
import os
from http import client

from storage_plugin import request_state, scheduling

logger = logging.getLogger("planerix.scheduling")

# Test-only: exit right after the commit, before delivering, as a crash there would; the jobs
# are then the other processes' workers' to deliver (tests/test_scheduling_processes.py).
EXIT_AFTER_COMMIT_ENV = "PLANERIX_TEST_EXIT_AFTER_SCHEDULING_COMMIT"


def after_write(storage, response):
    state = request_state.current()
    if state is None or response is None:
        return response
    status, headers, answer, *rest = response
    if state.schedule_jobs:
        if os.environ.get(EXIT_AFTER_COMMIT_ENV) == "1":
            logger.warning("exiting after the commit of %d scheduling jobs (test hook)", len(state.schedule_jobs))
            os._exit(17)
        jobs, state.schedule_jobs = state.schedule_jobs, []
        # In a context of its own: deliveries are the server's writes, not this request's
        # (no rejection of theirs may change this request's answer).
        contextvars.Context().run(scheduling.deliver_all, storage, jobs)
    if status in (client.CREATED, client.NO_CONTENT) and isinstance(headers, dict):
        headers = dict(headers)
        if state.schedule_tag is not None:
            headers["Schedule-Tag"] = f'"{state.schedule_tag}"'
        if state.rewritten:  # RFC 4791 §5.3.4: the stored text is not what the client sent
            headers.pop("ETag", None)
    return (status, headers, answer, *rest)
