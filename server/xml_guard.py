"""A linear pass over an XML request body before ElementTree and Radicale see it.

A deeply nested body crashes the process: the tree is built without recursion,
but freeing, copying and walking it recurse in C and in Radicale's filter code,
so a 14 MB body of nested elements overflows the C stack (a segfault, every
user's requests gone with it). Expat reads the body once, as a stream, and this
pass stops at the first element deeper than ``MAX_DEPTH`` and at any document
type declaration (no entities: no "billion laughs", no external entities).
"""
from __future__ import annotations

from xml.parsers import expat

# CalDAV filters nest about ten levels deep; nothing a client sends needs more.
MAX_DEPTH = 64


class XmlRefused(ValueError):
    """The body is refused before parsing; the message says why."""


def check_xml(body: bytes, max_depth: int = MAX_DEPTH) -> None:
    """``XmlRefused`` if ``body`` nests deeper than ``max_depth`` or declares a DTD or entities."""
    if not body.strip():
        return
    parser = expat.ParserCreate()
    depth = 0

    def start(_name, _attributes) -> None:
        nonlocal depth
        depth += 1
        if depth > max_depth:
            raise XmlRefused(f"the XML body nests elements more than {max_depth} levels deep")

    def end(_name) -> None:
        nonlocal depth
        depth -= 1

    def doctype(*_args) -> None:
        raise XmlRefused("the XML body declares a document type; DTDs and entity declarations "
                         "are not accepted")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(body, True)
    except expat.ExpatError:
        return  # malformed XML: ElementTree reports it with its own reason
