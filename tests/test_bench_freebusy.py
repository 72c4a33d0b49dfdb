"""bench.freebusy in smoke mode, so it cannot rot: both servers answer every POST for every
recipient with busy periods (the harness checks each answer); no timing is asserted."""
import os

import pytest

from bench import freebusy


@pytest.mark.timeout(600)
def test_smoke_run_against_planerix_and_xandikos(tmp_path):
    results = freebusy.main(["--smoke", "--out", str(tmp_path)])
    assert (tmp_path / "freebusy.md").stat().st_size > 0
    planerix, xandikos = results["servers"]["planerix"], results["servers"]["xandikos"]
    assert planerix["status"] == "ok", planerix.get("reason")
    assert planerix["one_user"]["runs"] >= 1 and planerix["all_users"]["users"] == 3
    assert planerix["one_user_changed"]["runs"] >= 1 and planerix["all_users_changed"]["users"] == 3
    assert xandikos["status"] == "ok", xandikos.get("reason")
    assert xandikos["one_user"]["runs"] >= 1 and xandikos["all_users"] is None
    assert "PLANERIX_DIRECTORY_SCOPE" not in os.environ  # the run's setting does not leak


def test_the_data_set_is_the_same_for_every_server():
    assert freebusy.user_items(3, 50) == freebusy.user_items(3, 50)
    assert freebusy.user_items(3, 50) != freebusy.user_items(4, 50)
    whole = freebusy.whole_calendar(freebusy.user_items(0, 10))
    assert whole.count("BEGIN:VEVENT") == 10 and whole.count("BEGIN:VCALENDAR") == 1
