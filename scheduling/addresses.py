"""Calendar-user addresses: mailto: addresses compared whatever their case."""
from __future__ import annotations

import re

# Deliberately permissive (RFC 5321 local parts are); it only has to reject what is not an address.
EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


def normalise_address(address: str) -> str | None:
    """'MAILTO:Bob@Example.org' -> 'mailto:bob@example.org'; None for what is not a mailto: address."""
    address = str(address).strip()
    if address[:7].lower() != "mailto:":
        return None
    email = address[7:].strip()
    return "mailto:" + email.lower() if EMAIL.match(email) else None


def address_key(address: str) -> str:
    """The form two addresses are compared in: a normalised mailto:, else the text as it is
    (a principal URL such as /alice/)."""
    return normalise_address(address) or str(address).strip()
