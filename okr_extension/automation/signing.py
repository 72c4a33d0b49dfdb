"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>" with the subscription's secret.

Sent as ``Planerix-Signature: t=<unix seconds>,v1=<hex digest>``. A receiver recomputes the
digest over the raw body, compares in constant time, and refuses timestamps too far from its
clock (replays of a captured request).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "Planerix-Signature"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


def verify(secret: str, value: str, body: bytes, now: float, tolerance: float = 300) -> bool:
    """The receiver's side (the README's recipe, used by the tests)."""
    try:
        parts = dict(item.split("=", 1) for item in value.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), digest(secret, timestamp, body))
