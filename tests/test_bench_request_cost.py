"""bench.request_cost in a short run, so it cannot rot: both servers answer every request of
every round, the ratios are computed in the run, and each server process's peak RSS is
recorded. No timing is asserted."""
import pytest

from bench import request_cost


@pytest.mark.timeout(300)
def test_short_run_against_planerix_and_radicale(tmp_path, database_server):
    results = request_cost.main(["--servers", "planerix,radicale", "--rounds", "3", "--burst", "2",
                                 "--database-url", database_server, "--out", str(tmp_path)])
    assert (tmp_path / "request_cost.md").stat().st_size > 0
    for name in ("planerix", "radicale"):
        server = results["servers"][name]
        assert server["status"] == "ok", server.get("reason")
        assert {w: s["runs"] for w, s in server["latency"].items()} == {w: 3 for w in request_cost.WORKLOADS}
        main = [proc for proc in server["memory"] if proc["main"]]
        assert len(main) == 1 and main[0]["peak_rss_bytes"] >= main[0]["rss_bytes"] > 0, server["memory"]
        assert any(proc["main"] for proc in server["memory_after_burst"]), server["memory_after_burst"]
    assert set(results["ratios"]) == set(request_cost.WORKLOADS)
    assert "Planerix ÷ Radicale" in (tmp_path / "request_cost.md").read_text()
