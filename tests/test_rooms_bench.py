"""bench.rooms in smoke mode, so it cannot rot: on the embedded PostgreSQL (whose btree_gist the
exclusion constraint needs) rooms are filled by invitations and every probe is answered as
expected (the harness checks each answer); no timing is asserted."""
import pytest

from bench import rooms


@pytest.mark.timeout(600)
def test_smoke_run_books_and_declines_on_the_embedded_database(tmp_path):
    results = rooms.main(["--smoke", "--out", str(tmp_path)])
    planerix = results["planerix"]
    assert planerix["status"] == "ok", planerix.get("reason")
    assert set(planerix["sizes"]) == {"20", "200"}
    for size in planerix["sizes"].values():
        assert size["free"]["runs"] >= 1 and size["conflict"]["runs"] >= 1
    assert "bookings on the room" in (tmp_path / "rooms.md").read_text()
