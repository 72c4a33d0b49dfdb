"""GET/POST /rsvp/{token} (public pages, the token is the capability) and GET /api/email-invitations."""
from __future__ import annotations

from aiohttp import web

from okr_extension.api.operations import Operation
from okr_extension.api.requests import read_query
from okr_extension.api.responses import respond
from okr_extension.keys import CLOCK, USER
from okr_extension.rsvp import PAGE_ROUTE, pages, schemas, service
from okr_extension.transactions import transaction
from scheduling import imip, rsvp_token
from storage_plugin import email_outbox

TAG = "invitations"


def _answer_param(value: str | None) -> str | None:
    chosen = (value or "").strip().upper()
    return chosen if chosen in imip.ANSWERS else None


async def _load(request: web.Request):
    """(invited, None) or (None, the refusal page)."""
    token = request.match_info["token"]
    try:
        async with transaction(request) as conn:
            return await conn.run_sync(service.load, token, request.app[CLOCK]()), None
    except rsvp_token.InvalidToken as e:
        return None, pages.refused(404, str(e))
    except (rsvp_token.ExpiredToken, service.Unanswerable) as e:
        return None, pages.refused(410, str(e))


async def show(request: web.Request) -> web.Response:
    invited, refusal = await _load(request)
    if refusal is not None:
        return refusal
    return pages.question(invited.facts, invited.answer, _answer_param(request.query.get("answer")))


async def answer(request: web.Request) -> web.Response:
    form = await request.post()
    chosen = _answer_param(str(form.get("answer", "")))
    if chosen is None:
        return pages.refused(422, "choose accept, maybe or decline (the form's 'answer' was "
                                  f"{str(form.get('answer', ''))[:40]!r})")
    invited, refusal = await _load(request)
    if refusal is not None:
        return refusal
    async with transaction(request) as conn:
        await conn.run_sync(service.answer, invited, chosen, request.app[CLOCK]())
    return pages.answered(invited.facts, chosen)


async def list_email_invitations(request: web.Request) -> web.Response:
    params = read_query(request, schemas.EmailInvitationParams)
    async with transaction(request) as conn:
        rows = await conn.run_sync(email_outbox.of_organizer, request[USER], params.uid)
    return respond(schemas.EmailInvitations, {"emails": [{
        "id": r.id, "uid": r.uid, "recipient": r.recipient, "method": r.method, "created": r.created,
        "attempts": r.attempts, "next_attempt": None if r.done else r.next_run, "sent": r.sent,
        "schedule_status": r.last_status, "error": r.last_error} for r in rows]})


PAGES = [web.get(PAGE_ROUTE, show), web.post(PAGE_ROUTE, answer)]

OPERATIONS = [
    Operation("GET", "/api/email-invitations", list_email_invitations,
              "Invitation and cancellation emails your events sent to people outside Planerix, newest first "
              "(at most 200): whether each was sent, and why not", TAG,
              query=schemas.EmailInvitationParams, response=schemas.EmailInvitations, errors=(401, 422)),
]
