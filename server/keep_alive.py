"""HTTP/1.1 persistent connections for the CalDAV server.

Radicale's handler (wsgiref's) answers one request per connection, over HTTP/1.0: every
request costs the client a new TCP connection and the server an accept and a new thread, all
done by the one accepting thread. Under 16 busy clients that thread spent two thirds of its
time waiting for its new threads to get the GIL and start (py-spy, bench/results/
sabredav-concurrent.md), so requests queued before any of their work began. Here a connection
stays open for the client's next request, served by the same thread.

A connection is closed after a response when the client asks for it (``Connection: close``,
HTTP/1.0), when the response has no ``Content-Length`` (its end is the end of the
connection), when the request's body was framed by anything else than ``Content-Length`` or
was left unread beyond ``DRAIN_LIMIT`` bytes (the next request would start inside it), and
once the server stops accepting. While a connection waits for its next request it does not
count as in flight, so a draining stop does not wait for idle clients.
"""
from __future__ import annotations

import contextlib

from radicale import server as radicale_server

# A request body the application did not read is skipped up to this size; beyond it the
# connection is closed instead of reading a large upload nobody wants.
DRAIN_LIMIT = 64 * 1024
_MAX_REQUEST_LINE = 65536


class _FramedInput:
    """The request body as the application sees it: at most ``Content-Length`` bytes of the
    connection, the rest of the stream kept for the next request."""

    def __init__(self, stream, length: int) -> None:
        self._stream, self.remaining = stream, length

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self._stream.read(size)
        self.remaining -= len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self._stream.readline(size)
        self.remaining -= len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")

    def drain(self, limit: int) -> bool:
        """Skip what the application left unread; False if that is more than ``limit`` bytes
        or the client stopped sending it (the connection cannot be reused)."""
        if self.remaining > limit:
            return False
        while self.remaining > 0:
            if not self.read(self.remaining):
                return False
        return True


class _ServerHandler(radicale_server.ServerHandler):
    http_version = "1.1"

    def cleanup_headers(self) -> None:
        super().cleanup_headers()  # sets Content-Length when the whole body is one piece
        handler = self.request_handler
        if ("Content-Length" not in self.headers or handler.server.stopping
                or not handler.body.drain(DRAIN_LIMIT)):
            handler.close_connection = True
        if handler.close_connection:
            self.headers["Connection"] = "close"


class KeepAliveRequestHandler(radicale_server.RequestHandler):
    """Radicale's request handler serving a connection's requests one after another. The
    server must offer ``stopping`` and ``waiting_for_request()`` (see caldav_server)."""

    protocol_version = "HTTP/1.1"
    # A response's head and body leave in one write (flushed after each response), and without
    # Nagle's delay: otherwise a kept-open connection waits for the client's delayed ACK
    # (40 ms on Linux) between the head and the body of every answer.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    body = _FramedInput(None, 0)

    def handle(self) -> None:
        self.close_connection = True
        line = self._request_line()
        while line:
            self._answer(line)
            if self.close_connection or self.server.stopping:
                return
            with self.server.waiting_for_request():
                line = self._request_line()

    def _request_line(self) -> bytes:
        try:
            return self.rfile.readline(_MAX_REQUEST_LINE + 1)
        except OSError:  # the client's timeout ([server] timeout) or a reset: the end of it
            return b""

    def _answer(self, line: bytes) -> None:
        self.raw_requestline = line
        if len(line) > _MAX_REQUEST_LINE:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():  # answered with an error and Connection: close
            return
        framing = self.headers.get("Transfer-Encoding")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0  # the application refuses it (server.request_body); the stream is lost
            self.close_connection = True
        if framing is not None or length < 0:
            self.close_connection = True  # not framed by a usable Content-Length: it cannot be skipped
        self.body = _FramedInput(self.rfile, max(length, 0))
        handler = _ServerHandler(self.body, self.wfile, self.get_stderr(), self.get_environ())
        handler.request_handler = self
        handler.run(self.server.get_app())
        with contextlib.suppress(OSError):
            self.wfile.flush()
