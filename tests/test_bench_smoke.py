"""The benchmark harness in smoke mode (N = 200), so it cannot rot. No timing is asserted:
only that every server ran every workload and answered correctly, and that Planerix returned
no 5xx and lost nothing. A peer's 5xx or lost write is a finding the report records, not a
failure of ours (Xandikos answers the odd concurrent PUT with a 500)."""
import json
import sys

import pytest

from bench import run
from conftest import REPO

WORKLOADS = {"put_rate", "week_query", "sync_one_change", "initial_sync", "propfind_depth1",
             "multiget_50", "home_propfind"}


@pytest.mark.timeout(600)  # three servers, each started, filled and measured
def test_smoke_run_against_planerix_radicale_and_xandikos(tmp_path):
    results = run.main(["--smoke", "--out", str(tmp_path), "--concurrent-seconds", "2"])
    for name in ("results.md", "results.json", "latency.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "results.json").read_text())["meta"]["smoke"] is True
    assert set(results["servers"]) == {"planerix", "radicale", "xandikos"}
    for name, server in results["servers"].items():
        assert server["status"] == "ok", (name, server.get("notes"))
        size = server["sizes"]["200"]
        assert size["fill"]["errors"] == 0, name
        assert WORKLOADS <= set(size["workloads"]), (name, set(size["workloads"]))
        assert size["workloads"]["week_query"]["hrefs"] == 100, name
        assert size["workloads"]["sync_one_change"]["changes"] == 1, name
        concurrent = size["concurrent"]
        assert concurrent["requests"] > 0, (name, concurrent["status_counts"])
        assert concurrent["audit"]["writes_acknowledged"] > 0, (name, concurrent["audit"])
    # It measured this checkout, not another `planerix` on PATH.
    command = results["servers"]["planerix"]["command"]
    assert command["argv"][:3] == [sys.executable, "-m", "server"] and command["cwd"] == str(REPO), command
    planerix = results["servers"]["planerix"]["sizes"]["200"]["concurrent"]
    assert planerix["errors_5xx"] == 0, planerix["status_counts"]
    assert planerix["audit"]["lost_writes"] == 0, planerix["audit"]


def test_memory_breakdown_names_every_import():
    from bench import memory
    report = memory.import_costs()
    for name in memory.IMPORTS:
        assert f"{name} " in report, report


@pytest.mark.timeout(300)
def test_dashboard_bench_smoke(tmp_path):
    from bench import dashboard
    results = dashboard.main(["--sizes", "2,4", "--reps", "2", "--out", str(tmp_path)])
    assert set(results) == {"2", "4"}
    for size in results.values():
        assert set(size["workloads"]) == {
            "overview", "overview_live_json", "overview_filtered", "objective_page", "objective_live_json",
            "key_result_page", "key_result_live_json", "kpi_page", "kpi_live_json", "heatmap", "my_week",
            "settings", "overview_after_a_check_in"}
    # Under a page's bound, the overview shows every objective: more objectives, more bytes.
    assert results["4"]["workloads"]["overview"]["bytes"] > results["2"]["workloads"]["overview"]["bytes"]
    report = (tmp_path / "dashboard.md").read_text()
    assert "| overview |" in report and "| kpi live json |" in report and "N=4 / N=2" in report
    assert (tmp_path / "dashboard.json").exists()
