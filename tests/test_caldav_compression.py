"""gzip of CalDAV answers (server/compression.py): larger answers are gzipped for clients that
accept it, answers under ``MIN_SIZE`` go as they are."""
from __future__ import annotations

import gzip

import requests

from davutil import event
from server import compression


def _get(user, path: str, encoding: str) -> requests.Response:
    return requests.get(user.url(path), auth=(user.name, user.password),
                        headers={"Accept-Encoding": encoding}, stream=True)


def test_small_answers_go_as_they_are_larger_ones_gzipped(user):
    cal = user.mkcalendar("cal")
    assert user.put(f"{cal}small.ics", event("small", "Lunch")).status_code == 201
    long_text = "Agenda: " + "every item discussed at length; " * 100
    assert user.put(f"{cal}large.ics", event("large", "Review", extra=f"DESCRIPTION:{long_text}\r\n")).status_code == 201

    small = _get(user, f"{cal}small.ics", "gzip, deflate")
    body = small.raw.read()
    assert small.status_code == 200 and "Content-Encoding" not in small.headers
    assert len(body) < compression.MIN_SIZE and b"SUMMARY:Lunch" in body
    assert small.headers["Content-Length"] == str(len(body))

    large = _get(user, f"{cal}large.ics", "gzip, deflate")
    body = large.raw.read()
    assert large.status_code == 200 and large.headers["Content-Encoding"] == "gzip"
    assert large.headers["Content-Length"] == str(len(body))
    plain = gzip.decompress(body)
    assert b"SUMMARY:Review" in plain and len(plain) >= compression.MIN_SIZE
    # Without gzip accepted, the same answer as it is.
    identity = _get(user, f"{cal}large.ics", "identity")
    assert "Content-Encoding" not in identity.headers and identity.raw.read() == plain


def test_each_chunk_deflated_alone_and_a_named_one_once():
    """Chunks are deflated one by one into one gzip member (server.compression): the whole
    inflates to the answer, and a chunk that names its bytes (a group of a query's members)
    is deflated once per process and written from what was kept after that."""
    import uuid

    from storage_plugin.rendered import Group

    group = Group(b"<C:calendar-data>BEGIN:VCALENDAR</C:calendar-data>" * 300)
    group.key = ("test", uuid.uuid4().hex)
    chunks = [b"<D:multistatus>", group, b"</D:multistatus>"]
    headers, body = compression.compress([("Content-Type", "text/xml")], chunks)
    assert ("Content-Encoding", "gzip") in headers and gzip.decompress(b"".join(body)) == b"".join(chunks)
    kept = compression.DEFLATED.get(group.key)
    assert kept is not None and kept in body
    assert compression.compress([], chunks)[1] == body
    assert [type(chunk) for chunk in compression.plain(chunks)] == [bytes, bytes, bytes]
