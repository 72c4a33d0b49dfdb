"""The CalDAV server keeps a connection open for the client's next request (server.keep_alive),
and closes it whenever the next request could not be told apart from this one's leftovers."""
from __future__ import annotations

import base64
import http.client
import socket
from urllib.parse import urlparse

from server.keep_alive import DRAIN_LIMIT
from test_two_processes import _event

PROPFIND = ('<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/>'
            '</d:prop></d:propfind>')


def _connection(base_url: str) -> http.client.HTTPConnection:
    address = urlparse(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.connect()
    return connection


def _auth(user) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user.name}:{user.password}".encode()).decode()}


def _send(connection, method: str, path: str, body: bytes | None = None, **headers):
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response, response.read()


def test_requests_follow_each_other_on_one_connection(user):
    calendar = user.mkcalendar("kept")
    connection = _connection(user.base_url)
    sock = connection.sock
    path = f"/{user.name}/{calendar}one.ics"
    put, _ = _send(connection, "PUT", path, _event("one", "first").encode(), **_auth(user),
                   **{"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"})
    assert put.status == 201 and put.version == 11 and put.getheader("Connection") is None
    get, body = _send(connection, "GET", path, **_auth(user))
    listing, listed = _send(connection, "PROPFIND", f"/{user.name}/{calendar}", PROPFIND.encode(), Depth="1",
                            **_auth(user), **{"Content-Type": "application/xml"})
    assert get.status == 200 and b"first" in body
    assert listing.status == 207 and b"one.ics" in listed
    assert connection.sock is sock  # never reconnected: the server kept the connection open
    connection.close()


def test_a_body_left_unread_does_not_become_the_next_request(user):
    """Refused before its body is read (no credentials): the body is skipped, and the next
    request on the connection is answered as sent."""
    calendar = user.mkcalendar("unread")
    connection = _connection(user.base_url)
    sock = connection.sock
    body = b"GET /not-a-request HTTP/1.1\r\n\r\n" + _event("x", "never stored").encode()
    refused, _ = _send(connection, "PUT", f"/{user.name}/{calendar}x.ics", body,
                       **{"Content-Type": "text/calendar; charset=utf-8"})
    assert refused.status == 401
    listing, listed = _send(connection, "PROPFIND", f"/{user.name}/{calendar}", PROPFIND.encode(), Depth="1",
                            **_auth(user), **{"Content-Type": "application/xml"})
    assert listing.status == 207 and b"x.ics" not in listed
    assert connection.sock is sock
    connection.close()


def _exchange(base_url: str, request: bytes) -> bytes:
    """Everything the server sends on a connection that carried ``request``, until it closes
    the connection (a server that keeps it open fails this by the socket's timeout)."""
    address = urlparse(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_large_unread_body_closes_the_connection(user):
    calendar = user.mkcalendar("large")
    body = b"x" * (DRAIN_LIMIT + 1)
    answer = _exchange(user.base_url, f"PUT /{user.name}/{calendar}big.ics HTTP/1.1\r\nHost: x\r\n"
                       f"Content-Type: text/calendar\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 401") and "Connection: close" in head


def test_the_client_may_ask_for_the_connection_to_be_closed(user):
    answer = _exchange(user.base_url, b"OPTIONS / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 200") and "Connection: close" in head


def test_an_http_1_0_client_gets_one_answer_per_connection(user):
    answer = _exchange(user.base_url, b"OPTIONS / HTTP/1.0\r\n\r\nOPTIONS / HTTP/1.0\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200") == 1  # closed after the first; the second never answered


def test_a_negative_or_chunked_length_closes_the_connection(user):
    """A body that Content-Length cannot delimit is refused (a chunked one with 411: it would be
    read as empty) and the connection closed, so what the client sent after the head is never
    read as a request of its own."""
    smuggled = b"OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n"
    for framing, status in ((b"Content-Length: -5\r\n", "400"), (b"Transfer-Encoding: chunked\r\n", "411")):
        authorization = f"Authorization: {_auth(user)['Authorization']}\r\n".encode()
        answer = _exchange(user.base_url, f"PUT /{user.name}/y.ics HTTP/1.1\r\nHost: x\r\n".encode()
                           + authorization + framing + b"\r\n" + smuggled)
        head = answer.split(b"\r\n\r\n", 1)[0].decode()
        assert head.startswith(f"HTTP/1.1 {status}") and "Connection: close" in head, head
        assert answer.count(b"HTTP/1.1 ") == 1, answer  # the smuggled OPTIONS got no answer
