"""bench.invitations in smoke mode, so it cannot rot: on both servers an invitation to 1 and to
3 local attendees reaches every attendee's default calendar (the harness polls each one and
fails otherwise); no timing is asserted."""
import os

import pytest

from bench import invitations


@pytest.mark.timeout(600)
def test_smoke_run_against_planerix_and_xandikos(tmp_path):
    results = invitations.main(["--smoke", "--out", str(tmp_path)])
    assert "| planerix |" in (tmp_path / "invitations.md").read_text()
    for name in ("planerix", "xandikos"):
        entry = results["servers"][name]
        assert entry["status"] == "ok", (name, entry.get("reason"))
        assert sorted(entry["sizes"]) == ["1", "3"]
        put, seen = entry["sizes"]["3"]["samples_s"][0]
        assert 0 < put <= seen
    assert "PLANERIX_DIRECTORY_SCOPE" not in os.environ  # the run's setting does not leak


def test_the_invitation_names_the_organizer_and_each_attendee():
    text = invitations.invitation("u1", "org", ["att000", "att001"])
    assert "ORGANIZER:mailto:org@example.org" in text
    assert text.count("ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:att00") == 2
