"""RSVP links' tokens: which event, which attendee, until when, signed with the server's secret.

A token is ``<payload>.<signature>``, both base64url: the payload is JSON naming its purpose
(only "rsvp" is accepted, so a token made for anything else never answers an invitation), the
organizer's account, the event's UID, the attendee's address and the expiry (POSIX seconds);
the signature is HMAC-SHA256 over the payload with a key derived from the server's secret for
this purpose alone. Nothing is stored per token: the link works until it expires or the
attendee is no longer invited.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone

PURPOSE = "rsvp"
MAX_TOKEN_LENGTH = 2048


class InvalidToken(Exception):
    """The link is damaged, forged, or was made for something else."""


class ExpiredToken(Exception):
    """The event is over: answers are no longer taken."""


@dataclass(frozen=True)
class Invitation:
    organizer_account: str
    uid: str
    attendee: str          # normalised mailto:
    expires: datetime


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), f"planerix {PURPOSE} link".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, invitation: Invitation) -> str:
    payload = _b64(json.dumps({"p": PURPOSE, "o": invitation.organizer_account, "u": invitation.uid,
                               "a": invitation.attendee, "x": int(invitation.expires.timestamp())},
                              separators=(",", ":")).encode())
    return f"{payload}.{_b64(hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest())}"


def verify(secret: str, token: str, now: datetime) -> Invitation:
    """The invitation a token answers; InvalidToken or ExpiredToken otherwise."""
    payload, _, signature = token.partition(".")
    if len(token) > MAX_TOKEN_LENGTH or not payload or not signature:
        raise InvalidToken("this link is incomplete: open the full link from the invitation email")
    expected = hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest()
    try:
        valid = hmac.compare_digest(expected, _unb64(signature))
        fields = json.loads(_unb64(payload)) if valid else None
    except (binascii.Error, ValueError):
        valid = False
    if not valid or not isinstance(fields, dict) or fields.get("p") != PURPOSE:
        raise InvalidToken("this link is not valid: open the link from the invitation email as it was sent")
    try:
        invitation = Invitation(str(fields["o"]), str(fields["u"]), str(fields["a"]),
                                datetime.fromtimestamp(int(fields["x"]), timezone.utc))
    except (KeyError, TypeError, ValueError, OverflowError):
        raise InvalidToken("this link is not valid: open the link from the invitation email as it was sent") from None
    if now >= invitation.expires:
        raise ExpiredToken("this event is over: answers are no longer taken")
    return invitation
