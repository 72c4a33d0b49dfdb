"""bench.sabredav in a short run, so it cannot rot: without PLANERIX_BENCH_SABREDAV, SabreDAV is
reported as not available and Planerix runs alone; both mixes give latencies per operation kind
and an audit with no lost write. No timing is asserted."""
import pytest

from bench import sabredav


@pytest.mark.timeout(300)
def test_short_run_without_sabredav(tmp_path, database_server, monkeypatch):
    monkeypatch.delenv("PLANERIX_BENCH_SABREDAV", raising=False)
    out = tmp_path / "sabredav.json"
    results = sabredav.main(["--sizes", "120", "--seconds", "2", "--workers", "1",
                             "--database-server", database_server, "--out", str(out)])
    assert any("SabreDAV not available: PLANERIX_BENCH_SABREDAV is not set" in n for n in results["notes"])
    runs = results["sizes"]["120"]
    assert set(runs) == {"ops", "davx5"} and all(list(r) == ["Planerix 1 worker"] for r in runs.values())
    ops, davx5 = runs["ops"]["Planerix 1 worker"], runs["davx5"]["Planerix 1 worker"]
    assert {"week-query", "multiget", "sync-collection", "get"} <= set(ops["by_kind"]), ops["by_kind"]
    assert {"propfind-ctag", "sync-collection"} <= set(davx5["by_kind"]), davx5["by_kind"]
    for result in (ops, davx5):
        assert result["errors_5xx"] == 0 and result["audit"]["lost_writes"] == 0, result["audit"]
        assert result["audit"]["writes_rejected_other"] == 0, result["status_counts"]
    assert "### 120 items, mix `ops`" in out.with_suffix(".md").read_text()


def test_a_folder_without_the_server_is_reported(tmp_path, monkeypatch):
    from bench.servers import SabreDAVServer

    monkeypatch.setenv("PLANERIX_BENCH_SABREDAV", str(tmp_path))
    (tmp_path / "server.php").write_text("<?php\n")
    reason = SabreDAVServer(tmp_path / "work", {"bench": "x"}).unavailable_reason()
    assert reason.startswith("missing in PLANERIX_BENCH_SABREDAV:") and "pgsql.calendars.sql" in reason
    assert "server.php" not in reason
