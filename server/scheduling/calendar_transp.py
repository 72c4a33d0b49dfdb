"""``CALDAV:schedule-calendar-transp`` (RFC 6638 §9.1): whether a calendar's events count as
the owner's busy time. Clients set it with ``<C:opaque/>`` or ``<C:transparent/>`` inside the
property; Radicale keeps dead properties as text, so the element is stored as its name
(``storage_plugin.freebusy.TRANSP_PROP``) and written back as an element in answers. Unset
reads as opaque (``Collection.get_meta``)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from radicale import xmlutils

PROPERTY = xmlutils.make_clark("C:schedule-calendar-transp")
VALUES = ("opaque", "transparent")


def store_as_text(xml_request: ET.Element | None) -> None:
    """In a PROPPATCH or MKCALENDAR body, turn the property's child element into the text
    Radicale stores; ValueError with the reason when it holds neither value."""
    if xml_request is None:
        return
    for prop in xml_request.iter(PROPERTY):
        children = list(prop)
        if not children and not (prop.text or "").strip():
            continue  # in DAV:remove, or asked for by name
        names = [child.tag for child in children]
        chosen = [value for value in VALUES if names == [xmlutils.make_clark(f"C:{value}")]]
        if not chosen:
            raise ValueError("CALDAV:schedule-calendar-transp holds exactly one of <C:opaque/> or "
                             "<C:transparent/>")
        for child in children:
            prop.remove(child)
        prop.text = chosen[0]


def show_as_element(xml_content: ET.Element) -> None:
    """In a multistatus, the stored text back as the element clients expect."""
    for prop in xml_content.iter(PROPERTY):
        value = (prop.text or "").strip()
        if value in VALUES and not len(prop):
            prop.text = None
            ET.SubElement(prop, xmlutils.make_clark(f"C:{value}"))
