"""Request bodies as Radicale may read them: framed by a valid Content-Length, in a charset that
exists, and clean text.

Radicale turns a malformed Content-Length or an unknown charset into a 500 and, when a body is
not valid in its charset, silently decodes it as Latin-1 (NUL bytes pass through too), storing
something the client never sent. ``framing_problem`` checks the headers before anything runs;
``CheckedInput`` checks the bytes while Radicale reads them (after authentication), in one
incremental pass, and refuses the request with the reason instead of letting it be altered.
"""
from __future__ import annotations

import codecs
import io
import re

_DIGITS = re.compile(r"[0-9]+")
_CHARSET = re.compile(r"charset=([^;]*)", re.IGNORECASE)


class BadBody(RuntimeError):
    """The body is not text in its charset (Radicale answers its RuntimeErrors with 400)."""


def declared_charset(environ) -> str | None:
    """The charset parameter of Content-Type, unquoted (Radicale keeps the quotes and fails)."""
    match = _CHARSET.search(environ.get("CONTENT_TYPE") or "")
    return match.group(1).strip().strip('"').strip() if match else None


def framing_problem(environ) -> tuple[int, str] | None:
    """(status, reason) when the headers framing the body are unusable; None when they are fine.
    Also writes an unquoted charset back into Content-Type, the form Radicale understands."""
    if environ.get("HTTP_TRANSFER_ENCODING"):
        # Neither this server nor Radicale's decodes a chunked body: it would be read as empty.
        return 411, "send the body with a Content-Length (Transfer-Encoding is not supported)"
    length = environ.get("CONTENT_LENGTH")
    if length and not _DIGITS.fullmatch(length.strip()):
        return 400, f"Content-Length must be a whole number of bytes (0 or more), not {length!r}"
    charset = declared_charset(environ)
    if charset is not None and int(length or 0):  # only a body is decoded
        try:
            b"a".decode(charset, "replace")  # also refuses codecs that are not text encodings (base64)
        except LookupError:
            return 415, (f"unknown charset {charset!r} in Content-Type; send the body in UTF-8 "
                         "(Content-Type: ...; charset=utf-8)")
        environ["CONTENT_TYPE"] = _CHARSET.sub(f"charset={charset}", environ["CONTENT_TYPE"], count=1)
    return None


class CheckedInput(io.RawIOBase):
    """``wsgi.input`` that raises BadBody once the bytes read so far are not valid ``charset``
    or hold a NUL character (which neither iCalendar, vCard nor XML allow)."""

    def __init__(self, stream, charset: str, length: int, on_refusal=lambda reason: None) -> None:
        self._stream = stream
        self._on_refusal = on_refusal  # told the reason: Radicale's 400 for a RuntimeError has none
        self._charset = charset
        self._decoder = codecs.getincrementaldecoder(charset)(errors="strict")
        self._remaining = length
        self._offset = 0  # bytes checked so far, for the position in the reason

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(self._remaining if size is None or size < 0 else min(size, self._remaining))
        self._remaining -= len(chunk)
        self._check(chunk, final=self._remaining <= 0 or not chunk)
        self._offset += len(chunk)
        return chunk

    def _check(self, chunk: bytes, final: bool) -> None:
        try:
            self._check_text(chunk, final)
        except BadBody as e:
            self._on_refusal(str(e))
            raise

    def _check_text(self, chunk: bytes, final: bool) -> None:
        try:
            text = self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError as e:
            bad = e.object[e.start:e.end]
            raise BadBody(f"the body is not valid {self._charset_name()}: byte{'s' if len(bad) > 1 else ''} "
                          f"{' '.join(f'0x{b:02x}' for b in bad)} at offset {self._offset + e.start} "
                          f"({e.reason}); send it in {self._charset_name()} or name its charset in "
                          "Content-Type") from None
        if "\x00" in text:
            raise BadBody(f"the body contains a NUL character (near offset {self._offset}), "
                          "which iCalendar, vCard and XML do not allow")

    def _charset_name(self) -> str:
        name = codecs.lookup(self._charset).name
        return "UTF-8" if name == "utf-8" else name
